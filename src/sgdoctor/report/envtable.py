"""`sgdoctor env`'s table: per variable a line with its verdict, name and value, then its
effect (remedies under it, one per line) and its meaning, indented. Fits any width from 40
columns: names and remedies are never split, values fold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sgdoctor.api import Status
from sgdoctor.i18n import N_, tr
from sgdoctor.report.layout import style, width_of, wrap
from sgdoctor.report.table import STYLE, remedy_lines

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HEADERS = {"en": ("variable", "value", "verdict", "effect", "meaning"),
           "zh": ("变量", "值", "结论", "实际效果", "含义")}
UNSET = {"en": "(unset)", "zh": "（未设置）"}
VERDICT_W = 8
# The verdict of a variable no check of its own judges: "see" the check that reads it.
SEE = N_("see")


def render(rows: Sequence[Mapping[str, Any]], lang: str, width: int, *,
           color: bool = False, unicode: bool = True) -> str:
    """Rows as `cli_env.rows` makes them (already redacted)."""
    head = HEADERS[lang]
    arrow = "→" if unicode else "->"
    indent = " " * VERDICT_W
    text_w = max(20, width - VERDICT_W)
    out = [style(_pad(head[2], VERDICT_W) + f"{head[0]} = {head[1]}", "bold", color)]
    for row in rows:
        status = row["status"]
        label = tr(lang, status or SEE)
        value = f"= {row['value']}" if row["set"] else UNSET[lang]
        if len(row["name"]) > text_w:  # the name whole on its line; the value under it
            first, rest = row["name"], wrap(value, text_w, fold=True)
        else:  # the name is the first word: folding cuts only the value
            first, *rest = wrap(f"{row['name']} {value}", text_w, fold=True)
        name_style = STYLE[Status(status)] if status else "dim"
        out.append(style(label, name_style, color) + " " * (VERDICT_W - width_of(label))
                   + first)
        out += [indent + part for part in rest]
        out += [indent + part for part in wrap(f"{head[3]}: {row['effect']}", text_w)]
        if row["remedy"] and status in ("warn", "fail"):
            out += remedy_lines(row["remedy"], VERDICT_W, VERDICT_W + text_w, arrow, color)
        out += [indent + part for part in wrap(f"{head[4]}: {row['meaning']}", text_w)]
    return "\n".join(line.rstrip() for line in out) + "\n"


def _pad(text: str, width: int) -> str:
    return text + " " * max(1, width - width_of(text))
