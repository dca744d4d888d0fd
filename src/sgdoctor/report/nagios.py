"""Nagios plugin output: a status line with perfdata, then one long-output line per problem.

Nagios rewrites ';' to ':' and cuts at '|', so neither appears in the text. Problems come
worst first (fail, error, warn), each with its remedies on the lines after it.
"""

from __future__ import annotations

from sgdoctor.api import SEVERITY, Status
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


def render(report: Report, options: RenderOptions | None = None) -> str:
    fail_on = (options or RenderOptions()).fail_on
    worst = sorted((c for c in report.checks if c.status in PROBLEMS),
                   key=lambda c: -SEVERITY[c.status])
    counts = report.counts
    text = " / ".join(f"{c.id}: {_clean(c.summary)}" for c in worst) or \
        f"{counts['ok']} ok, {counts['skip']} skipped"
    perf = " ".join(f"{k}={v}" for k, v in counts.items())
    lines = [f"SGDOCTOR {state(report, fail_on)} - {text} | {perf} "
             f"duration={report.duration_ms / 1000:.3f}s"]
    for c in worst:
        lines.append(f"{c.status.value.upper()} {c.id}: {_clean(c.summary)}")
        lines += [f"  fix: {_clean(line)}" for line in (c.remedy or "").splitlines()
                  if line.strip()]
    return "\n".join(lines) + "\n"


def _exit_code(report: Report, options: RenderOptions) -> int:
    return NAGIOS_CODES[state(report, options.fail_on)]


REPORTER = Reporter("nagios", "text/plain; charset=utf-8", render, _exit_code)
