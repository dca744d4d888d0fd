"""DYN_LOG as Dynamo 1.6.1 reads it: tracing-subscriber 0.3.23's ``EnvFilter`` grammar.

Verified by running the real runtime (tests/test_differential_dynamo.py): the value is split
on ``,`` (empty pieces skipped, NOTHING trimmed). Each piece is a level (trace, debug, info,
warn, error, off, any case, or 0-5), else ``target[span{field=value}]=level`` split at its
first ``=`` outside brackets: an empty target is global, an empty level means error, a level
part that is no level drops the piece with "ignoring `…`" on stderr, and no ``=`` means the
target at trace. A target may hold ANY character, so `` info``, ``warning`` and
``dynamo.runtime=debug`` are targets that match nothing. Once any piece survives, targets no
directive names log only at the global level, and with no global level they log NOTHING;
``info`` applies only when no piece survives. A ``[span]`` selector makes Dynamo leave its
fast log filter (it prints a warning banner about request performance).
"""

from __future__ import annotations

from functools import lru_cache

from sgdoctor.api import Text
from sgdoctor.parse.verdict import Verdict, ok, shown, warn
from sgdoctor.records import dataclass

__all__ = ["Directive", "parse_directives", "parse_dyn_log", "effective_levels", "enabled",
           "LEVELS", "RELEASE"]

RELEASE = "1.6.1"  # Dynamo release (tracing-subscriber 0.3.23) this grammar was verified for
LEVELS = ("off", "error", "warn", "info", "debug", "trace")  # least to most verbose
_DIGIT_LEVELS = {"0": "off", "1": "error", "2": "warn", "3": "info", "4": "debug", "5": "trace"}
# Words people write for a level that tracing reads as a target name instead.
_NOT_LEVELS = {"warning": "warn", "warnings": "warn", "err": "error", "fatal": "error",
               "critical": "error", "information": "info", "verbose": "debug", "dbg": "debug",
               "notice": "info", "all": "trace", "none": "off", "trc": "trace"}


def _level(text: str) -> str | None:
    """A tracing level filter, or None when ``text`` is none (case-insensitive; 0-5)."""
    low = text.lower()
    if low in LEVELS:
        return low
    return _DIGIT_LEVELS.get(text)


@dataclass(frozen=True)
class Directive:
    """One comma-separated piece of the filter and how tracing reads it."""

    text: str
    position: int  # 1-based character position of the piece in the whole value
    valid: bool
    target: str | None = None  # None: a global directive
    span: str | None = None  # the [span{field=value}] selector, if any
    level: str | None = None
    problem: Text | None = None

    @property
    def is_global(self) -> bool:
        return self.valid and self.target is None and self.span is None


def _split_level(text: str) -> tuple[str, str | None]:
    """``target[span]`` and the level part after the first ``=`` outside brackets."""
    if "[" not in text and "{" not in text:
        head, equals, rest = text.partition("=")
        return (head, rest) if equals else (text, None)
    depth = 0
    for i, ch in enumerate(text):
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth = max(0, depth - 1)
        elif ch == "=" and depth == 0:
            return text[:i], text[i + 1:]
    return text, None


def _parse_one(text: str, position: int) -> Directive:
    return Directive(text, position, *_read(text))


@lru_cache(maxsize=4096)
def _read(text: str) -> tuple[bool, str | None, str | None, str | None, Text | None]:
    """valid, target, span, level and problem of one piece; cached, because a long value
    repeats its pieces and tracing reads every one of them."""
    level = _level(text)
    if level is not None:
        return True, None, None, level, None
    head, level_text = _split_level(text)
    if level_text is None:
        level = "trace"
    elif level_text == "":
        level = "error"
    else:
        level = _level(level_text)
        if level is None:
            word = level_text.lower()
            return False, None, None, None, Text(
                "'{level}' is not a level (use {instead}): Dynamo drops the piece (\"ignoring "
                "…\" on stderr)" if word in _NOT_LEVELS else
                "'{level}' is not a level: Dynamo drops the piece (\"ignoring …\" on stderr)",
                level=shown(level_text, 40), instead=_NOT_LEVELS.get(word, ""))
    target, bracket, span = head.partition("[")
    span_text = span[:-1] if span.endswith("]") else span
    return True, target or None, span_text if bracket else None, level, None


def parse_directives(text: str) -> list[Directive]:
    """Split exactly as tracing does and read every non-empty piece."""
    out, position = [], 1
    for piece in text.split(","):
        if piece:
            out.append(_parse_one(piece, position))
        position += len(piece) + 1
    return out


def effective_levels(text: str) -> tuple[str, dict[str, str]]:
    """What Dynamo logs: the level of every unnamed target ('off' for nothing), and the
    level of each named target (the last directive for a target wins)."""
    return _effective(parse_directives(text))


def _effective(directives: list[Directive]) -> tuple[str, dict[str, str]]:
    valid = [d for d in directives if d.valid]
    if not valid:
        return "info", {}
    default = "off"
    targets: dict[str, str] = {}
    for d in valid:
        if d.is_global:
            default = d.level or "off"
        elif d.span is None and d.target is not None:
            targets[d.target] = d.level or "off"
    return default, targets


def enabled(text: str, target: str, level: str) -> bool:
    """Whether Dynamo prints an event of ``target`` at ``level`` (outside any span): the
    longest directive target that ``target`` starts with decides, else the global level."""
    default, targets = effective_levels(text)
    best = max((t for t in targets if target.startswith(t)), key=len, default=None)
    allowed = targets[best] if best is not None else default
    return LEVELS.index(level) <= LEVELS.index(allowed)


_LISTED = 8  # directives or problems spelled out before "and N more"


def _first(items: list[Text]) -> Text:
    if len(items) > _LISTED:
        items = [*items[:_LISTED], Text("and {count} more", count=len(items) - _LISTED)]
    return Text.join("; ", items)


def _at(level: str) -> Text:
    return Text("nothing") if level == "off" else Text("{level} and above", level=level)


def _describe(default: str, targets: dict[str, str], spans: list[Directive]) -> Text:
    named = [Text("target '{target}': {at}", target=shown(t, 40), at=_at(level))
             for t, level in targets.items()]
    named += [Text("inside span [{span}] of '{target}': {at}" if d.target else
                   "inside span [{span}]: {at}", span=shown(d.span or "", 40),
                   target=shown(d.target or "", 40), at=_at(d.level or ""))
              for d in spans]
    if not named:
        return _at(default)
    if default == "off":
        return Text("nothing except {named}", named=_first(named))
    return _first([Text("everything else: {at}", at=_at(default)), *named])


def _repair(d: Directive) -> str | None:
    """The piece as it was probably meant, or None when there is no obvious fix."""
    text = "".join(d.text.split())
    if d.valid and text == d.text:
        if d.target and d.target.lower() in _NOT_LEVELS and "=" not in d.text:
            return _NOT_LEVELS[d.target.lower()]
        return d.text
    head, level_text = _split_level(text)
    if level_text is not None:
        text = f"{head}={_NOT_LEVELS.get(level_text.lower(), level_text)}"
    elif text.lower() in _NOT_LEVELS:
        text = _NOT_LEVELS[text.lower()]
    return text if text and _parse_one(text, d.position).valid else None


def _suggest(directives: list[Directive]) -> str:
    distinct = {d.text: d for d in directives}.values()  # a repair depends on the text only
    pieces = [p for p in (_repair(d) for d in distinct) if p]
    if not any(_parse_one(p, 1).is_global for p in pieces):
        pieces.insert(0, "info")
    return ",".join(dict.fromkeys(pieces))


def parse_dyn_log(text: str) -> Verdict:
    """What Dynamo will log with this DYN_LOG."""
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        return warn(Text("not valid UTF-8: Dynamo ignores DYN_LOG entirely and logs at info"),
                    Text("Use plain ASCII directives, e.g. DYN_LOG=info"), "info",
                    code="dyn_log_not_utf8")
    directives = parse_directives(text)
    if not directives:
        return ok(Text("no directives: Dynamo logs info and above (its default)"), value="info")
    valid = [d for d in directives if d.valid]
    invalid = [d for d in directives if not d.valid]
    problems = [Text("'{piece}' at position {position}: {problem}", piece=shown(d.text, 40),
                     position=d.position, problem=d.problem) for d in invalid]
    for d in valid:
        if d.target is None:
            continue
        if any(ch.isspace() for ch in d.target):
            problems.append(Text("'{piece}' at position {position} has whitespace: tracing "
                                 "reads it as a TARGET that matches nothing (Dynamo does not "
                                 "trim)", piece=shown(d.text, 40), position=d.position))
        elif d.target.lower() in _NOT_LEVELS or _level(d.target.strip()) is not None:
            problems.append(Text("'{target}' is not a level here: tracing reads it as a TARGET "
                                 "name", target=shown(d.target, 40)))
    default, targets = _effective(directives)
    spans = [d for d in valid if d.span is not None]
    suggestion = shown(_suggest(directives), 80)
    if not valid:
        return warn(Text("no piece survives, so Dynamo logs info and above: {problems}",
                         problems=_first(problems)),
                    Text("Use a level (trace, debug, info, warn, error, off), optionally "
                         "followed by target=level pieces, e.g. DYN_LOG={suggestion}",
                         suggestion=suggestion), "info", code="dyn_log_no_valid_directive")
    effective = _describe(default, targets, spans)
    if default == "off" and not any(d.is_global for d in valid):
        problems.append(Text("no global level: every target not named, Dynamo's own included, "
                             "logs NOTHING"))
    if spans:
        problems.append(Text("a [span] selector makes Dynamo leave its fast log filter (it "
                             "warns that this can severely degrade request performance)"))
    if problems:
        return warn(Text("Dynamo logs {effective}; {problems}", effective=effective,
                         problems=_first(problems)),
                    Text("Start with a global level and fix the pieces above, e.g. "
                         "DYN_LOG={suggestion}", suggestion=suggestion), str(effective),
                    code="dyn_log_misread")
    return ok(Text("Dynamo logs {effective}", effective=effective), str(effective))
