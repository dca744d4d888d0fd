"""Prometheus text exposition, valid for node_exporter's textfile collector.

One series per status per check, so an alert is `sgdoctor_check_status{status="fail"} == 1`
with no regex.
"""

from __future__ import annotations

from sgdoctor.report import ORDER, RenderOptions, Report, Reporter


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(report: Report, options: RenderOptions | None = None) -> str:
    lines = [
        "# HELP sgdoctor_check_status 1 when the check ended in that status, else 0.",
        "# TYPE sgdoctor_check_status gauge",
    ]
    for c in report.checks:
        for status in ORDER:
            value = 1 if c.status is status else 0
            lines.append(f'sgdoctor_check_status{{check="{_label(c.id)}",'
                         f'status="{status.value}"}} {value}')
    lines += [
        "# HELP sgdoctor_check_duration_seconds How long the check took.",
        "# TYPE sgdoctor_check_duration_seconds gauge",
    ]
    for c in report.checks:
        lines.append(f'sgdoctor_check_duration_seconds{{check="{_label(c.id)}"}} '
                     f"{c.duration_ms / 1000:.6f}")
    lines += [
        "# HELP sgdoctor_run_timestamp_seconds When the run started (Unix time).",
        "# TYPE sgdoctor_run_timestamp_seconds gauge",
        f"sgdoctor_run_timestamp_seconds {report.started_at:.3f}",
        "# HELP sgdoctor_run_duration_seconds How long the whole run took.",
        "# TYPE sgdoctor_run_duration_seconds gauge",
        f"sgdoctor_run_duration_seconds {report.duration_ms / 1000:.6f}",
        "# HELP sgdoctor_up 1 when the run completed (whatever its verdicts).",
        "# TYPE sgdoctor_up gauge",
        "sgdoctor_up 1",
    ]
    return "\n".join(lines) + "\n"


REPORTER = Reporter("prometheus", "text/plain; version=0.0.4; charset=utf-8", render)
