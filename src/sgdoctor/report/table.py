"""The operator's table: a row per check, the remedy under every problem, counts last."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from sgdoctor.api import Status
from sgdoctor.report import ORDER, Report

STYLE = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "bold red",
         Status.SKIP: "dim", Status.ERROR: "magenta"}
GLYPH = {Status.OK: "✓", Status.WARN: "!", Status.FAIL: "✗", Status.SKIP: "-", Status.ERROR: "?"}


def render(report: Report, *, color: bool = False, width: int | None = None,
           unicode: bool = True, show_skipped: bool = False) -> str:
    """Skipped checks are one line unless asked for: not applicable is not news."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=color, no_color=not color, color_system=(
        "standard" if color else None), width=width or 100, emoji=False, highlight=False,
        legacy_windows=False)
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False,
                  expand=False)
    table.add_column("status", no_wrap=True)
    table.add_column("check", overflow="fold", max_width=28)
    table.add_column("finding", overflow="fold", ratio=1)
    skipped = [c for c in report.checks if c.status is Status.SKIP]
    for c in report.checks:
        if c.status is Status.SKIP and not show_skipped:
            continue
        label = f"{GLYPH[c.status]} {c.status.value}" if unicode else c.status.value.upper()
        finding = Text(c.summary)
        if c.remedy and c.status in (Status.WARN, Status.FAIL, Status.ERROR):
            finding.append("\n→ " if unicode else "\n-> ", style="bold")
            finding.append(c.remedy)
        table.add_row(Text(label, style=STYLE[c.status]), Text(c.id), finding)
    console.print(table)
    if skipped and not show_skipped:
        console.print(Text(f"skipped (not applicable here; --verbose says why): "
                           f"{', '.join(c.id for c in skipped)}", style="dim"))
    counts = report.counts
    parts = [f"{counts[s.value]} {s.value}" for s in ORDER if counts[s.value]]
    closing = Text(f"{report.status.value.upper()}: ", style=STYLE[report.status])
    closing.append(", ".join(parts) or "no checks")
    closing.append(f" in {report.duration_ms:.0f} ms on {report.hostname}")
    console.print(closing)
    text = out.getvalue()
    return text if color else "\n".join(line.rstrip() for line in text.split("\n"))
