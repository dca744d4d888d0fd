"""DYN_LOG: a tracing-subscriber ``EnvFilter`` as Dynamo builds it (lib/runtime/src/logging.rs).

Dynamo calls ``EnvFilter::builder().with_default_directive(info).from_env_lossy()``: the value
is split on ``,`` (empty pieces skipped, NOTHING trimmed), each piece must match the
directive grammar or it is dropped with a note on stderr, and the default ``info`` applies
only when no directive survives. A filter of targets alone therefore silences every other
target, and ``warning`` is not a level but a target name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sgdoctor.parse.verdict import Verdict, ok, shown, warn

__all__ = ["Directive", "parse_directives", "parse_dyn_log", "LEVELS"]

LEVELS = ("trace", "debug", "info", "warn", "error", "off")
_DIGIT_LEVELS = {"0": "off", "1": "error", "2": "warn", "3": "info", "4": "debug", "5": "trace"}
_LEVEL = r"(?i:trace|debug|info|warn|error|off|[0-5])"
_GLOBAL = re.compile(rf"{_LEVEL}\Z")
_DIRECTIVE = re.compile(
    rf"(?:(?P<target>[\w:-]+)|(?P<span>\[[^\]]*\])){{1,2}}(?:=(?P<level>{_LEVEL})?)?\Z")
# Words people write for a level that tracing reads as a target name instead.
_NOT_LEVELS = {"warning": "warn", "warnings": "warn", "err": "error", "fatal": "error",
               "critical": "error", "information": "info", "verbose": "debug", "dbg": "debug",
               "notice": "info", "all": "trace", "none": "off", "trc": "trace"}


def _level(text: str) -> str:
    low = text.lower()
    return _DIGIT_LEVELS.get(low, low)


@dataclass(frozen=True)
class Directive:
    """One comma-separated piece of the filter and how tracing reads it."""

    text: str
    position: int  # 1-based character position of the piece in the whole value
    valid: bool
    target: str | None = None
    level: str | None = None
    problem: str | None = None

    @property
    def is_global(self) -> bool:
        return self.valid and self.target is None and not self.text.startswith("[")


def _parse_one(text: str, position: int) -> Directive:
    if _GLOBAL.match(text):
        return Directive(text, position, True, None, _level(text))
    match = _DIRECTIVE.match(text)
    if not match:
        space = next((i for i, ch in enumerate(text) if ch.isspace()), None)
        if space is not None:
            problem = (f"whitespace at position {position + space} (Dynamo does not trim "
                       "directives)")
        elif "=" in text and text.rsplit("=", 1)[1].lower() in _NOT_LEVELS:
            word = text.rsplit("=", 1)[1]
            problem = f"{word!r} is not a level (use {_NOT_LEVELS[word.lower()]})"
        else:
            problem = "not a valid directive (level, or target=level)"
        return Directive(text, position, False, problem=problem)
    target = match.group("target")
    if target is not None and _GLOBAL.match(target):
        target = None  # tracing: a "target" that parses as a level is not a target
    level = _level(match.group("level")) if match.group("level") else "trace"
    return Directive(text, position, True, target, level)


def parse_directives(text: str) -> list[Directive]:
    """Split exactly as tracing does and judge every non-empty piece."""
    out, position = [], 1
    for piece in text.split(","):
        if piece:
            out.append(_parse_one(piece, position))
        position += len(piece) + 1
    return out


_LISTED = 8  # directives or problems spelled out before "and N more"


def _first(items: list[str]) -> str:
    if len(items) > _LISTED:
        items = [*items[:_LISTED], f"and {len(items) - _LISTED} more"]
    return "; ".join(items)


def _describe(valid: list[Directive]) -> str:
    parts = []
    for d in valid:
        who = ("all targets" if d.is_global
               else f"target {shown(d.target or d.text.split('=')[0], 40)}")
        parts.append(f"{who} at {d.level}")
    return _first(parts)


def _repair(d: Directive) -> str | None:
    """The piece as it was probably meant, or None when there is no obvious fix."""
    if d.valid:
        if d.target and d.target.lower() in _NOT_LEVELS and "=" not in d.text:
            return _NOT_LEVELS[d.target.lower()]
        return d.text
    text = "".join(d.text.split())
    if "=" in text:
        head, _, word = text.rpartition("=")
        text = f"{head}={_NOT_LEVELS.get(word.lower(), word)}"
    return text if _parse_one(text, d.position).valid else None


def _suggest(directives: list[Directive]) -> str:
    pieces = [p for p in (_repair(d) for d in directives) if p]
    if not any(_parse_one(p, 1).is_global for p in pieces):
        pieces.insert(0, "info")
    return ",".join(dict.fromkeys(pieces))


def parse_dyn_log(text: str) -> Verdict:
    """What Dynamo will log with this DYN_LOG."""
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        return warn("not valid UTF-8: Dynamo ignores DYN_LOG entirely and logs at info",
                    "Use plain ASCII directives, e.g. DYN_LOG=info", "info")
    directives = parse_directives(text)
    if not directives:
        return ok("no directives: Dynamo logs at info (its default)", "info")
    valid = [d for d in directives if d.valid]
    invalid = [d for d in directives if not d.valid]
    problems = [f"'{shown(d.text, 40)}' at position {d.position}: {d.problem}" for d in invalid]
    misread = [t for t in (d.target for d in valid) if t and t.lower() in _NOT_LEVELS]
    problems += [f"'{shown(t, 40)}' is not a level: tracing reads it as a TARGET name "
                 f"(use {_NOT_LEVELS[t.lower()]})" for t in misread]
    if not valid:
        return warn("no valid directive, Dynamo drops them all and logs at info: "
                    + _first(problems), "Use a level (trace, debug, info, warn, error, off), "
                    "optionally followed by target=level pieces, e.g. "
                    f"DYN_LOG={shown(_suggest(directives), 80)}", "info")
    effective = _describe(valid)
    if not any(d.is_global for d in valid):
        problems.append("no global level, so every other target (Dynamo's own included) "
                        "is silent")
    if problems:
        return warn(f"logs {effective}; " + _first(problems),
                    f"Start with a global level and fix the pieces above, e.g. "
                    f"DYN_LOG={shown(_suggest(directives), 80)}", effective)
    return ok(f"logs {effective}", effective)
