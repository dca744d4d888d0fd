"""NVSHMEM's own environment parsing (nvshmem env_defs_internal.h), mirrored exactly.

Sizes go through ``sscanf(value, "%lf%c", &p, &f)``: a C double, then ONE character that
must be a k/m/g/t suffix; whatever follows the suffix is ignored. Booleans look only at
the first character. Both are easy to get wrong by eye, hence a parser of glibc's rules.
NVSHMEM 3.8.0 reads configuration files BEFORE the environment ($NVSHMEM_CONF_FILE,
~/.nvshmem.conf, /etc/nvshmem.conf, in that order). Every rule here was checked against
the library itself (tests/test_differential_nvshmem.py).
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Mapping, Sequence

from sgdoctor.api import Text
from sgdoctor.parse.verdict import Verdict, fail, human_bytes, ok, shown, warn
from sgdoctor.records import dataclass

__all__ = ["ScanResult", "scan_double_char", "parse_size", "parse_bool", "size_t_of",
           "parse_conf", "ConfText", "Setting", "conf_paths", "effective", "DEFAULT_SIZE",
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


_TWO_63 = float(1 << 63)
_INDEFINITE = 1 << 63  # what cvttsd2si gives for a double out of int64's range


def _cvttsd2si(x: float) -> int:
    if math.isnan(x) or not -_TWO_63 <= x < _TWO_63:
        return -_INDEFINITE
    return int(x)


def size_t_of(number: float) -> int:
    """The size_t NVSHMEM 3.8.0 stores for a scaled double: ceil, then the compiler's
    double-to-unsigned conversion (a negative wraps, 2**64 and above or inf become 0)."""
    if math.isfinite(number) and abs(number) < 2.0 ** 52:
        number = float(math.ceil(number))
    if number >= _TWO_63:
        return (_cvttsd2si(number - _TWO_63) & SIZE_MAX) ^ (1 << 63)
    return _cvttsd2si(number) & SIZE_MAX


def parse_size(text: str) -> Verdict:
    """NVSHMEM_SYMMETRIC_SIZE and the other size variables: bytes per PE, as NVSHMEM 3.8.0's
    ``nvshmemi_getenv_size`` computes them (``value`` is that size whenever NVSHMEM accepts
    the text, even when the size is meaningless)."""
    scan = scan_double_char(text)
    remedy = Text("Write a number with an optional k/m/g/t suffix and no space, e.g. 3g or 2048m")
    if scan.count <= 0:
        what = (Text("an empty value") if scan.count < 0
                else Text("'{value}' does not start with a number", value=shown(text)))
        return fail(Text("{what}: NVSHMEM stops at init with 'Invalid size in environment "
                         "variable'", what=what), remedy, code="invalid_size")
    assert scan.number is not None
    shift = 0
    if scan.count == 2:
        assert scan.char is not None
        shift = _SUFFIX_SHIFT.get(scan.char.lower(), -1) if len(scan.char) == 1 else -1
        if shift < 0:
            what = (Text("a space between the number and the suffix") if scan.char in _C_SPACE
                    else Text("'{char}' after the number, not a k/m/g/t suffix",
                              char=shown(scan.char)))
            return fail(Text("{what}: NVSHMEM stops at init with 'Invalid size in environment "
                             "variable'", what=what), remedy, code="invalid_size")
    elif scan.number < 0:
        return fail(Text("a negative size: NVSHMEM stops at init with 'Invalid size in "
                         "environment variable'"), remedy, code="invalid_size")
    size = size_t_of(scan.number * (1 << shift))
    if not math.isfinite(scan.number) or scan.number < 0 or scan.number * (1 << shift) >= 2.0**64:
        return fail(Text("'{value}' is not a finite number: NVSHMEM converts it to {size} bytes "
                         "per PE, a meaningless heap size" if not math.isfinite(scan.number)
                         else "'{value}' is negative: NVSHMEM converts it to {size} bytes per "
                         "PE, a meaningless heap size" if scan.number < 0
                         else "'{value}' does not fit in 64 bits: NVSHMEM converts it to {size} "
                         "bytes per PE, a meaningless heap size", value=shown(text), size=size),
                    remedy, size, code="meaningless_size")
    if size == 0:
        return warn(Text("0 bytes per PE: the symmetric heap has no room for nvshmem_malloc"),
                    Text("Give a real size, e.g. 1g (the default) or more"), 0, code="zero_size")
    if size < TINY_SIZE:
        digits = text.strip(_C_SPACE)
        example = f"{digits}g" if digits.isascii() and digits.isdigit() else "1g"
        return warn(Text("only {size} per PE: a suffix is probably missing (NVSHMEM counts "
                         "bytes)", size=human_bytes(size)),
                    Text("Add the unit, e.g. {example}", example=example), size, code="tiny_size")
    if scan.rest:
        return ok(Text("{size} per PE (NVSHMEM ignores '{rest}' after the {suffix} suffix)",
                       size=human_bytes(size), rest=shown(scan.rest), suffix=repr(scan.char)),
                  size)
    return ok(Text("{size} per PE", size=human_bytes(size)), size)


_FALSE_FIRST = "0NnFf"
_TRUE_WORDS = {"1", "y", "yes", "t", "true", "on"}
_FALSE_WORDS = {"0", "n", "no", "f", "false"}


def parse_bool(text: str) -> Verdict:
    """NVSHMEM booleans: false iff the FIRST character is one of 0 N n F f."""
    value = not (text[:1] and text[0] in _FALSE_FIRST)
    if text.lower() in _TRUE_WORDS | _FALSE_WORDS:
        return ok(Text("NVSHMEM reads this as TRUE" if value else "NVSHMEM reads this as FALSE"),
                  value)
    if not text:
        return warn(Text("an empty value: NVSHMEM reads this as TRUE (any set value whose first "
                         "character is not 0/N/n/F/f is true)"),
                    Text("Set 1 or 0 explicitly, or unset the variable for the default"), value)
    return warn(Text("NVSHMEM reads this as TRUE: only the first character counts, and only 0, "
                     "N, n, F or f mean false" if value else
                     "NVSHMEM reads this as FALSE: only the first character counts, and only "
                     "0, N, n, F or f mean false"),
                Text("Set 1 (true) or 0 (false) explicitly"), value)


# --- configuration files (NVSHMEM 3.8.0: nvshmemi_conf_parse_file, nvshmemi_getenv_helper) --
_ISSPACE = " \t\n\v\f\r"


def parse_conf(text: str) -> dict[str, str]:
    """``NAME=value`` lines as NVSHMEM 3.8.0 reads them: each line trimmed; empty lines and
    lines starting with ``#`` skipped; split at the first ``=``, both sides trimmed; a line
    without ``=`` (``NAME value``) ignored; quotes kept; a later line wins."""
    values: dict[str, str] = {}
    for line in text.split("\n"):
        line = line.strip(_ISSPACE)
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if sep:
            values[name.strip(_ISSPACE)] = value.strip(_ISSPACE)
    return values


@dataclass(frozen=True)
class ConfText:
    """One configuration file as the probe read it (``text`` None: absent or unreadable)."""

    path: str
    text: str | None
    error: str | None = None  # why an existing file could not be read


@dataclass(frozen=True)
class Setting:
    """The value NVSHMEM uses for one variable and where it comes from."""

    name: str
    value: str | None  # None: unset everywhere, the default applies
    source: str  # "the environment", a file path, or "default"
    env_value: str | None = None  # the environment's value when a file overrides it


def conf_paths(env: Mapping[str, str]) -> list[str]:
    """The files NVSHMEM 3.8.0 reads, highest precedence first."""
    paths = []
    if env.get("NVSHMEM_CONF_FILE"):
        paths.append(env["NVSHMEM_CONF_FILE"])
    if env.get("HOME"):
        paths.append(posixpath.join(env["HOME"], ".nvshmem.conf"))
    paths.append("/etc/nvshmem.conf")
    return paths


def effective(name: str, env: Mapping[str, str], files: Sequence[ConfText]) -> Setting:
    """NVSHMEM 3.8.0's precedence: $NVSHMEM_CONF_FILE, then ~/.nvshmem.conf, then
    /etc/nvshmem.conf, then the environment (``files`` in that order)."""
    for conf in files:
        if conf.text is None:
            continue
        values = parse_conf(conf.text)
        if name in values:
            return Setting(name, values[name], conf.path, env.get(name))
    if name in env:
        return Setting(name, env[name], "the environment")
    return Setting(name, None, "default")
