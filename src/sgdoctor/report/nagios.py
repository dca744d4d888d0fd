"""Nagios plugin output: a status line with perfdata, then one long-output line per problem.

Nagios rewrites ';' to ':' and cuts at '|', so neither appears in the text. Problems come
worst first (fail, error, warn), each with its remedies on the lines after it.

The text is always encodable: undecodable bytes (kept as surrogates) are shown as \\xNN,
and where the output cannot take UTF-8 every non-ASCII character as a backslash escape, so
the status line is never lost to an encoding error. The text is in the run's language;
the state word (OK, CRITICAL …) and perfdata never are.
"""

from __future__ import annotations

from sgdoctor.api import SEVERITY, Status
from sgdoctor.i18n import tr, tr_parts
from sgdoctor.report import RenderOptions, Report, Reporter

NAGIOS_CODES = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}
PROBLEMS = (Status.FAIL, Status.ERROR, Status.WARN)


def state(report: Report, fail_on: str = "fail") -> str:
    counts = report.counts
    if counts["fail"] or (fail_on == "warn" and counts["warn"]):
        return "CRITICAL"
    if counts["error"]:
        return "UNKNOWN"
    if counts["warn"]:
        return "WARNING"
    return "OK"


def _clean(text: str) -> str:
    return " ".join(text.replace("|", "/").replace(";", ",").split())


def encodable(text: str, unicode: bool = True) -> str:
    """`text` with what UTF-8 (or, without `unicode`, ASCII) cannot carry escaped."""
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate not from undecodable bytes
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if unicode else text.encode("ascii", "backslashreplace").decode("ascii")


def render(report: Report, options: RenderOptions | None = None) -> str:
    opts = options or RenderOptions()
    fail_on, lang = opts.fail_on, opts.lang
    worst = sorted((c for c in report.checks if c.status in PROBLEMS),
                   key=lambda c: -SEVERITY[c.status])
    summary = {c.id: _clean(tr_parts(lang, c.summary_parts, c.summary, "; ")) for c in worst}
    counts = report.counts
    text = " / ".join(f"{c.id}: {summary[c.id]}" for c in worst) or \
        tr(lang, "{ok} ok, {skip} skipped", {"ok": counts["ok"], "skip": counts["skip"]})
    perf = " ".join(f"{k}={v}" for k, v in counts.items())
    lines = [f"SGDOCTOR {state(report, fail_on)} - {text} | {perf} "
             f"duration={report.duration_ms / 1000:.3f}s"]
    for c in worst:
        lines.append(f"{c.status.value.upper()} {c.id}: {summary[c.id]}")
        remedy = tr_parts(lang, c.remedy_parts, c.remedy, "\n") if c.remedy else ""
        lines += ["  " + tr(lang, "fix: {remedy}", {"remedy": _clean(line)})
                  for line in remedy.splitlines() if line.strip()]
    return encodable("\n".join(lines), opts.unicode) + "\n"


def _exit_code(report: Report, options: RenderOptions) -> int:
    return NAGIOS_CODES[state(report, options.fail_on)]


REPORTER = Reporter("nagios", "text/plain; charset=utf-8", render, _exit_code)
