"""One Nagios status line with perfdata; the CLI exits with Nagios codes for this format."""

from __future__ import annotations

from sgdoctor.api import Status
from sgdoctor.report import Report

NAGIOS_CODES = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}


def state(report: Report, fail_on: str = "fail") -> str:
    counts = report.counts
    if counts["fail"] or (fail_on == "warn" and counts["warn"]):
        return "CRITICAL"
    if counts["error"]:
        return "UNKNOWN"
    if counts["warn"]:
        return "WARNING"
    return "OK"


def render(report: Report, fail_on: str = "fail") -> str:
    label = state(report, fail_on)
    worst = [c for c in report.checks if c.status in (Status.FAIL, Status.ERROR, Status.WARN)]
    counts = report.counts
    text = "; ".join(f"{c.id}: {c.summary}" for c in worst) or \
        f"{counts['ok']} ok, {counts['skip']} skipped"
    text = text.replace("|", "/").replace("\n", " ")
    perf = " ".join(f"{k}={v}" for k, v in counts.items())
    return f"SGDOCTOR {label} - {text} | {perf} duration={report.duration_ms / 1000:.3f}s\n"
