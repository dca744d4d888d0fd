"""The operator's table: a row per check, every remedy on its own line under the problem,
counts last. Check ids, paths and commands are never split (report.layout); an id wider
than its column gets the row's first line to itself."""

from __future__ import annotations

import re

from sgdoctor.api import Status, Text
from sgdoctor.i18n import N_, tr, tr_parts
from sgdoctor.report import ORDER, CheckReport, RenderOptions, Report, Reporter
from sgdoctor.report.layout import longest_atom, style, width_of, wrap

STYLE = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "bold red",
         Status.SKIP: "dim", Status.ERROR: "magenta"}
GLYPH = {Status.OK: "✓", Status.WARN: "!", Status.FAIL: "✗", Status.SKIP: "-", Status.ERROR: "?"}
ID_MAX = 28      # widest check column; longer ids take a line of their own
MIN_TEXT = 30    # the finding column never gets narrower than this (if the terminal allows)
OUTDENT = 4      # where a remedy goes when a command in it is too wide for the column
PROBLEMS = (Status.WARN, Status.FAIL, Status.ERROR)
HEADERS = (N_("status"), N_("check"), N_("finding"))
# How probe.consumers chose the server's interpreter (besides "the interpreter of X").
HOWS = (N_("first python3 on PATH"), N_("--python / config python"))
# The status words a translated table shows (the label, and the verdict of the last line).
WORDS = (N_("ok"), N_("warn"), N_("fail"), N_("skip"), N_("error"), N_("OK"), N_("WARN"),
         N_("FAIL"), N_("ERROR"))


def _label(status: Status, unicode: bool, lang: str = "en") -> str:
    if lang != "en":
        return f"{GLYPH[status]} {tr(lang, status.value)}" if unicode else tr(lang, status.value)
    return f"{GLYPH[status]} {status.value}" if unicode else status.value.upper()


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - width_of(text))


def localized(c: CheckReport, lang: str) -> tuple[str, str | None]:
    """A check's summary and remedy in `lang`, from its templates and fields."""
    summary = tr_parts(lang, c.summary_parts, c.summary, "; ")
    remedy = tr_parts(lang, c.remedy_parts, c.remedy, "\n") if c.remedy else None
    return summary, remedy


def remedy_lines(remedy: str, indent: int, width: int, arrow: str,
                 color: bool = False) -> list[str]:
    """One arrow line per remedy (remedies are joined by newlines), wrapped at spaces under
    the arrow at column `indent` of a `width`-column line. When a command in one of them is
    too wide for that column they all start further left instead (flutter doctor's way),
    so the command stays whole on one line. Also used by `sgdoctor env`."""
    items = [item for item in (r.strip() for r in remedy.splitlines()) if item]
    pad = width_of(arrow) + 1
    if any(longest_atom(item) > width - indent - pad for item in items):
        indent = min(indent, OUTDENT)
    lines = []
    for item in items:
        wrapped = wrap(item, width - indent - pad)
        lines.append(" " * indent + style(arrow, "bold", color) + " " + wrapped[0])
        lines += [" " * (indent + pad) + line for line in wrapped[1:]]
    return lines


def _how(how: str) -> Text | str:
    """How the server's interpreter was chosen (probe.consumers' words), as a template."""
    match = re.fullmatch(r"the interpreter of (.+)", how)
    if match:
        return Text(N_("the interpreter of {program}"), program=match.group(1))
    return Text(how) if how in HOWS else how


def consumers_note(report: Report, lang: str) -> str:
    """The footer: each consumer's release or that it was not found, and the interpreter
    whose packages were read (every table has it: a verdict's release comes from there)."""
    consumers = report.consumers or {}
    found = ", ".join(f"{name} {info['version']}" for name, info in consumers.items() if info)
    missing = ", ".join(name for name, info in consumers.items() if not info)
    fields = {"python": report.server_python, "how": _how(report.server_how or ""),
              "found": found, "missing": missing, "error": report.consumers_error}
    if report.server_python is None:
        template = (N_("consumers: no python3 on PATH to read them from; pinned: {found}")
                    if found else N_("consumers: no python3 on PATH to read them from"))
    elif report.consumers_error:
        template = (N_("consumers of {python} ({how}): not read ({error}); pinned: {found}")
                    if found else N_("consumers of {python} ({how}): not read ({error})"))
    elif not found:
        template = N_("consumers of {python} ({how}): none found ({missing})")
    elif missing:
        template = N_("consumers of {python} ({how}): {found}; not found: {missing}")
    else:
        template = N_("consumers of {python} ({how}): {found}")
    return tr(lang, template, fields)


def render(report: Report, options: RenderOptions | None = None) -> str:
    """Skipped checks are one line unless asked for (verbose): not applicable is not news."""
    opts = options or RenderOptions()
    lang = opts.lang
    width, color = opts.width or 100, opts.color
    arrow = "→" if opts.unicode else "->"
    shown = [c for c in report.checks if c.status is not Status.SKIP or opts.verbose]
    heads = [tr(lang, h) for h in HEADERS]
    status_w = max([width_of(heads[0]),
                    *(width_of(_label(c.status, opts.unicode, lang)) for c in shown)])
    longest = max([width_of(heads[1]), *(len(c.id) for c in shown)])
    id_w = max(width_of(heads[1]), min(longest, ID_MAX, width - status_w - 4 - MIN_TEXT))
    column = status_w + 2 + id_w + 2
    indent = " " * column
    text_w = max(10, width - column)
    out = [style(_pad(heads[0], status_w) + "  " + _pad(heads[1], id_w) + "  " + heads[2],
                 "bold", color)]
    for c in shown:
        summary, remedy = localized(c, lang)
        body = wrap(summary, text_w)
        label = _label(c.status, opts.unicode, lang)
        head = style(label, STYLE[c.status], color) + " " * (status_w - width_of(label) + 2)
        if len(c.id) > id_w:
            out.append(head + c.id)
        else:
            out.append(head + c.id.ljust(id_w) + "  " + body.pop(0))
        out += [indent + line for line in body]
        if remedy and c.status in PROBLEMS:
            out += remedy_lines(remedy, column, max(width, column + 10), arrow, color)
        trace = c.details.get("traceback") if opts.verbose else None
        if isinstance(trace, str):  # --verbose: the crash as Python printed it, unwrapped
            out += [" " * OUTDENT + line for line in trace.rstrip().splitlines()]
    skipped = [c.id for c in report.checks if c.status is Status.SKIP]
    if skipped and not opts.verbose:
        text = tr(lang, "skipped (not applicable here; --verbose says why): {ids}",
                  {"ids": ", ".join(skipped)})
        out += [style(line, "dim", color) for line in wrap(text, width)]
    if report.consumers is not None:
        out += [style(line, "dim", color) for line in wrap(consumers_note(report, lang), width)]
    counts = report.counts
    parts = [tr(lang, "{n} " + s.value, {"n": counts[s.value]})
             for s in ORDER if counts[s.value]]
    verdict = (f"{report.status.value.upper()}:" if lang == "en"
               else tr(lang, report.status.value.upper()) + "：")
    closing = wrap(tr(lang, "{verdict} {counts} in {ms} ms on {host}",
                      {"verdict": verdict,
                       "counts": (", " if lang == "en" else "，").join(parts)
                       or tr(lang, "no checks"),
                       "ms": f"{report.duration_ms:.0f}", "host": report.hostname}), width)
    closing[0] = style(verdict, STYLE[report.status], color) + closing[0][len(verdict):]
    out += closing
    return "\n".join(line.rstrip() for line in out) + "\n"


REPORTER = Reporter("table", "text/plain; charset=utf-8", render)
