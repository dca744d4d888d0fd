"""Log lines: one line per check that is not ok or skipped, then the verdict; greppable in
container logs (what `exec` writes to a stderr that is not a terminal)."""

from __future__ import annotations

from sgdoctor.report import RenderOptions, Report, Reporter


def render(report: Report, options: RenderOptions | None = None) -> str:
    lines = []
    for c in report.checks:
        if c.status.value in ("ok", "skip"):
            continue
        line = f"sgdoctor: {c.status.value} {c.id}: {c.summary}"
        if c.remedy:
            line += " -- fix: " + " / ".join(r for r in c.remedy.splitlines() if r.strip())
        lines.append(line.replace("\n", " "))
    counts = ", ".join(f"{v} {k}" for k, v in report.counts.items() if v)
    lines.append(f"sgdoctor: {report.status.value}: {counts or 'no checks'}")
    return "\n".join(lines) + "\n"


REPORTER = Reporter("lines", "text/plain; charset=utf-8", render)
