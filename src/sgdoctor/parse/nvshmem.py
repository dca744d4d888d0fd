"""NVSHMEM's own environment parsing (nvshmem env_defs_internal.h), mirrored exactly.

Sizes go through ``sscanf(value, "%lf%c", &p, &f)``: a C double, then ONE character that
must be a k/m/g/t suffix; whatever follows the suffix is ignored. Booleans look only at
the first character. Both are easy to get wrong by eye, hence a parser of glibc's rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sgdoctor.parse.verdict import Verdict, fail, human_bytes, ok, shown, warn

__all__ = ["ScanResult", "scan_double_char", "parse_size", "parse_bool", "DEFAULT_SIZE",
           "RELEASE"]

RELEASE = "3.8.0"  # the NVSHMEM release these rules were verified against
DEFAULT_SIZE = 1 << 30
_C_SPACE = " \t\n\v\f\r"
_DIGITS = "0123456789"
_HEX = "0123456789abcdefABCDEF"
_SUFFIX_SHIFT = {"k": 10, "m": 20, "g": 30, "t": 40}
SIZE_MAX = (1 << 64) - 1
TINY_SIZE = 1 << 20  # below 1 MiB per PE is almost surely a forgotten suffix


@dataclass(frozen=True)
class ScanResult:
    """What ``sscanf("%lf%c")`` returns: the count, the double, the character."""

    count: int  # -1 (EOF), 0, 1 or 2
    number: float | None = None
    char: str | None = None
    rest: str = ""  # what follows the character: NVSHMEM never looks at it


def _digits(text: str, i: int, alphabet: str) -> int:
    while i < len(text) and text[i] in alphabet:
        i += 1
    return i


def _word(text: str, i: int, word: str) -> bool:
    return text[i:i + len(word)].lower() == word


def _scan_number(text: str, i: int) -> tuple[float, int] | None:
    """glibc's %lf: the longest acceptable prefix; a dangling exponent marker is eaten
    but not used (``1ex`` reads 1 and leaves ``x``), a bare ``0x`` or ``inf``-prefix fails."""
    sign = -1.0 if i < len(text) and text[i] == "-" else 1.0
    if i < len(text) and text[i] in "+-":
        i += 1
    if _word(text, i, "inf"):
        i += 3
        if i < len(text) and text[i] in "iI":
            if not _word(text, i, "inity"):
                return None
            i += 5
        return sign * math.inf, i
    if _word(text, i, "nan"):
        return math.nan, i + 3
    if text[i:i + 2] in ("0x", "0X"):
        j = _digits(text, i + 2, _HEX)
        mant = text[i + 2:j]
        if j < len(text) and text[j] == ".":
            k = _digits(text, j + 1, _HEX)
            frac = text[j + 1:k]
            j = k
        else:
            frac = ""
        if not mant and not frac:
            return None
        exp = 0
        if j < len(text) and text[j] in "pP":
            k = j + 1
            if k < len(text) and text[k] in "+-":
                k += 1
            m = _digits(text, k, _DIGITS)
            if m > k:
                exp = int(text[j + 1:m])
            j = m
        value = float.fromhex(f"0x{mant or '0'}.{frac or '0'}p0")
        return sign * _scaled(value, exp), j
    j = _digits(text, i, _DIGITS)
    mant = text[i:j]
    frac = ""
    if j < len(text) and text[j] == ".":
        k = _digits(text, j + 1, _DIGITS)
        frac = text[j + 1:k]
        j = k
    if not mant and not frac:
        return None
    number = f"{mant or '0'}.{frac or '0'}"
    if j < len(text) and text[j] in "eE":
        k = j + 1
        if k < len(text) and text[k] in "+-":
            k += 1
        m = _digits(text, k, _DIGITS)
        if m > k:
            number += "e" + text[j + 1:m]
        j = m
    return sign * float(number), j


def _scaled(value: float, exp: int) -> float:
    try:
        return math.ldexp(value, max(-2000, min(2000, exp)))
    except OverflowError:
        return math.inf


def scan_double_char(text: str) -> ScanResult:
    """Emulate glibc ``sscanf(text, "%lf%c", &p, &f)``."""
    i = 0
    while i < len(text) and text[i] in _C_SPACE:
        i += 1
    if i == len(text):
        return ScanResult(-1)
    scanned = _scan_number(text, i)
    if scanned is None:
        return ScanResult(0)
    number, end = scanned
    if end < len(text):
        return ScanResult(2, number, text[end], text[end + 1:])
    return ScanResult(1, number)


def parse_size(text: str) -> Verdict:
    """NVSHMEM_SYMMETRIC_SIZE and the other size variables: bytes per PE."""
    scan = scan_double_char(text)
    remedy = "Write a number with an optional k/m/g/t suffix and no space, e.g. 3g or 2048m"
    if scan.count <= 0:
        what = ("an empty value" if scan.count < 0
                else f"'{shown(text)}' does not start with a number")
        return fail(f"{what}: NVSHMEM stops at init with 'Invalid size in environment variable'",
                    remedy)
    assert scan.number is not None
    shift = 0
    if scan.count == 2:
        assert scan.char is not None
        shift = _SUFFIX_SHIFT.get(scan.char.lower(), -1) if len(scan.char) == 1 else -1
        if shift < 0:
            what = ("a space between the number and the suffix" if scan.char in _C_SPACE
                    else f"'{shown(scan.char)}' after the number, not a k/m/g/t suffix")
            return fail(f"{what}: NVSHMEM stops at init with 'Invalid size in environment "
                        "variable'", remedy)
    if math.isnan(scan.number) or math.isinf(scan.number):
        return fail(f"'{shown(text)}' is not a finite number: NVSHMEM would compute a "
                    "meaningless size", remedy)
    if scan.number < 0:
        return fail("a negative size: NVSHMEM rejects it (or, with a suffix, converts it to a "
                    "meaningless huge size)", remedy)
    size = math.ceil(scan.number * (1 << shift))
    if size > SIZE_MAX:
        return fail(f"'{shown(text)}' is larger than a 64-bit size: NVSHMEM's conversion "
                    "overflows", remedy)
    if size == 0:
        return warn("0 bytes per PE: the symmetric heap has no room for nvshmem_malloc",
                    "Give a real size, e.g. 1g (the default) or more", 0)
    meaning = f"{human_bytes(size)} per PE"
    if size < TINY_SIZE:
        digits = text.strip(_C_SPACE)
        example = f"{digits}g" if digits.isascii() and digits.isdigit() else "1g"
        return warn(f"only {meaning}: a suffix is probably missing (NVSHMEM counts bytes)",
                    f"Add the unit, e.g. {example}", size)
    if scan.rest:
        meaning += f" (NVSHMEM ignores '{shown(scan.rest)}' after the {scan.char!r} suffix)"
    return ok(meaning, size)


_FALSE_FIRST = "0NnFf"
_TRUE_WORDS = {"1", "y", "yes", "t", "true", "on"}
_FALSE_WORDS = {"0", "n", "no", "f", "false"}


def parse_bool(text: str) -> Verdict:
    """NVSHMEM booleans: false iff the FIRST character is one of 0 N n F f."""
    value = not (text[:1] and text[0] in _FALSE_FIRST)
    word = "TRUE" if value else "FALSE"
    if text.lower() in _TRUE_WORDS | _FALSE_WORDS:
        return ok(f"NVSHMEM reads this as {word}", value)
    if not text:
        return warn("an empty value: NVSHMEM reads this as TRUE (any set value whose first "
                    "character is not 0/N/n/F/f is true)",
                    "Set 1 or 0 explicitly, or unset the variable for the default", value)
    return warn(f"NVSHMEM reads this as {word}: only the first character counts, and only "
                "0, N, n, F or f mean false",
                "Set 1 (true) or 0 (false) explicitly", value)
