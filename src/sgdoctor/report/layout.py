"""Plain-text layout for the terminal reporters: display widths, ANSI styles, and wrapping
that never splits a check id, a path or a command.

Text wraps at spaces only. A backtick span (`ip link set eth1 up`) and `export NAME=VALUE`
are single atoms, and an atom wider than the line is printed whole on a line of its own:
a terminal soft-wraps it, and what is copied or grepped is still one piece.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

_ATOM = re.compile(r"\S*`[^`]*`\S*|export\s+\S+|\S+")
_WIDE = re.compile(r"[\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]|"
                   r"[^\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]+")
_CODES = {"green": "32", "yellow": "33", "bold red": "1;31", "dim": "2", "magenta": "35",
          "bold": "1"}


def width_of(text: str) -> int:
    """Terminal columns `text` takes (East Asian wide and full-width characters take 2)."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(ch) else
               2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def style(text: str, name: str | None, color: bool) -> str:
    if not color or not name or not text:
        return text
    return f"\x1b[{_CODES[name]}m{text}\x1b[0m"


def _pieces(text: str, width: int, fold: bool) -> Iterator[tuple[str, bool]]:
    """(piece, joined) pairs; `joined` pieces follow the previous one without a space."""
    for atom in _ATOM.findall(text):
        # A wide script (Chinese) wraps between characters; with `fold`, a word longer than
        # the line is cut into line-sized pieces.
        runs = _WIDE.findall(atom) if not atom.isascii() else [atom]
        chunks = [piece for run in runs for piece in
                  ([run[i:i + width] for i in range(0, len(run), width)]
                   if fold and width_of(run) > width else [run])]
        for n, chunk in enumerate(chunks):
            yield chunk, n > 0


def longest_atom(text: str) -> int:
    """Columns of the widest piece `wrap` will not split (0 for empty text)."""
    return max((width_of(piece) for piece, _ in _pieces(text, 1 << 30, False)), default=0)


def wrap(text: str, width: int, *, fold: bool = False) -> list[str]:
    """Lines of at most `width` columns, broken at spaces; with `fold`, a word longer than
    the line is cut (for values, never for ids or remedies). Each "\n" starts a line."""
    width = max(1, width)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, used = "", 0
        for piece, joined in _pieces(paragraph, width, fold):
            size = width_of(piece)
            gap = 0 if not line or joined else 1
            if line and used + gap + size > width:
                lines.append(line)
                line, used, gap = "", 0, 0
            line += " " * gap + piece
            used += gap + size
        lines.append(line)
    return lines
