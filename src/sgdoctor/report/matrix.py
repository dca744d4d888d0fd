"""The Gloo reachability matrix `sgdoctor mesh` draws under its table."""

from __future__ import annotations

from collections.abc import Mapping

from sgdoctor.parse.mesh import FULL_ROWS, SUMMARY

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DRAWN = FULL_ROWS + 1   # nodes at most (each publishes every round trip): a wider grid says
                        # nothing


def matrix_text(matrix: Mapping[str, Mapping[str, Any]], *, unicode: bool = True) -> str:
    """Rows: the dialling node; columns: the node dialled; cells: RTT in ms, ✗ or ?."""
    names = sorted((set(matrix) | {n for row in matrix.values() for n in row}) - {SUMMARY})
    if len(names) < 2:
        return ""
    if len(names) > DRAWN:
        return (f"\nGloo reachability of {len(names)} nodes: not drawn above {DRAWN} "
                "(--format json has details.matrix and every failed pair)\n")
    bad, unknown, self_cell = ("✗", "?", "—") if unicode else ("x", "?", "-")
    cells = [[self_cell if src == dst else _cell(matrix.get(src, {}).get(dst), bad, unknown)
              for dst in names] for src in names]
    width = max(len(n) for n in names)
    col = max(width, *(len(c) for row in cells for c in row))
    arrow = "→" if unicode else "->"
    lines = ["", f"Gloo reachability (row {arrow} column: round trip in ms; {bad} cannot "
                 f"connect, {unknown} no result)",
             " " * width + "  " + "  ".join(n.rjust(col) for n in names)]
    for src, row in zip(names, cells, strict=True):
        lines.append(src.ljust(width) + "  " + "  ".join(c.rjust(col) for c in row))
    return "\n".join(lines) + "\n"


def _cell(value: Any, bad: str, unknown: str) -> str:
    if not isinstance(value, Mapping):
        return unknown
    rtt = value.get("rtt_ms")
    return f"{rtt:.2f}" if isinstance(rtt, (int, float)) else bad
