"""The common answer of every value parser: what the consumer will do with the value.

A parser never raises on any input; it returns a Verdict whose ``status`` is ok, warn or
fail and whose ``meaning`` says, in plain words, what the program reading the variable
will actually do (``3 GiB per PE``, ``NVSHMEM reads this as TRUE``).
"""

from __future__ import annotations

from sgdoctor.api import Status, Text
from sgdoctor.records import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Verdict", "ok", "warn", "fail", "shown", "human_bytes", "approx_bytes", "SHOWN_LIMIT",
           "PATH_LIMIT"]

SHOWN_LIMIT = 120
# Paths are cut only when absurd: a remedy such as `chown nobody <path>` or
# `export MACA_PATH=<path>` is of use only with the whole path. Longer ones are mistakes or
# attacks, and a summary naming two of them still fits the report's text cap.
PATH_LIMIT = 1024


@dataclass(frozen=True)
class Verdict:
    """``meaning`` is the effective behaviour; ``remedy`` what to change when not ok (both
    English); ``text`` and ``remedy_text`` are the templates they were made from, which a
    check puts into its findings so that reporters can translate them."""

    status: Status
    meaning: str
    remedy: str | None = None
    value: Any = None
    code: str | None = None  # a stable finding code when the parser knows a specific one
    text: Text = field(default=Text(""), compare=False, repr=False)
    remedy_text: Text | None = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


def _make(status: Status, meaning: str | Text, remedy: str | Text | None, value: Any,
          code: str | None) -> Verdict:
    text = meaning if isinstance(meaning, Text) else Text(meaning)
    remedy_text = remedy if isinstance(remedy, Text) or remedy is None else Text(remedy)
    return Verdict(status, str(text), None if remedy_text is None else str(remedy_text), value,
                   code, text, remedy_text)


def ok(meaning: str | Text, value: Any = None) -> Verdict:
    return _make(Status.OK, meaning, None, value, None)


def warn(meaning: str | Text, remedy: str | Text, value: Any = None, *,
         code: str | None = None) -> Verdict:
    return _make(Status.WARN, meaning, remedy, value, code)


def fail(meaning: str | Text, remedy: str | Text, value: Any = None, *,
         code: str | None = None) -> Verdict:
    return _make(Status.FAIL, meaning, remedy, value, code)


def shown(text: str, limit: int = SHOWN_LIMIT) -> str:
    """A value made safe to print: undecodable bytes and control characters escaped,
    huge values cut, so a hostile environment cannot garble a report or a terminal.

    THE escaping helper: every check and probe shows values through it (paths with
    ``limit=PATH_LIMIT``)."""
    out = []
    for ch in text[: limit + 1]:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a raw byte kept by surrogateescape
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    result = "".join(out)
    if len(text) > limit:
        result = result[:limit] + f"… ({len(text)} characters)"
    return result


_UNITS = ((40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB"))


def human_bytes(size: int) -> str:
    """``3221225472`` → ``3 GiB``; exact when the size is a whole or half unit."""
    for shift, unit in _UNITS:
        scale = 1 << shift
        if size >= scale:
            whole, rest = divmod(size, scale)
            if rest == 0:
                return f"{whole} {unit}"
            return f"{size / scale:.2f} {unit} ({size} bytes)"
    return f"{size} bytes" if size != 1 else "1 byte"


def approx_bytes(n: int) -> str:
    """Rounded to one decimal, for sizes that change by the second (free space), where exact
    bytes would be noise; human_bytes is the exact form, for values a user typed."""
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
