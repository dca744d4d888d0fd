"""Pure parsers for the MetaX (MACA) stack: Version.txt, MACA_VISIBLE_DEVICES, `mx-smi -L`.

Each parser mirrors its consumer where the consumer is public, and says UNCONFIRMED where
it is not. None of them raises on any input: malformed text becomes a finding.
"""

from __future__ import annotations

import re

from sgdoctor.api import Text
from sgdoctor.records import dataclass, field

__all__ = [
    "MacaVersion", "parse_version_text", "release_tuple", "below_minimum", "is_master_version",
    "VisibleDevices", "parse_visible_devices",
    "SmiGpu", "SmiListing", "parse_smi_list",
]

# mcoplib (MetaX-MACA/mcoplib setup.py, `_MASTER_VERSION_RE`): date-based "master" builds
# look like YYYYMMDD[.build] and are exempt from its minimum-version check. facts.md does not
# cover this; it is mcoplib's BUILD-time rule, and that other consumers treat master builds
# the same way is UNCONFIRMED.
_MASTER_RE = re.compile(r"^\s*\d{8}(?:\.\d+)?\s*$")
_LEADING_DIGITS = re.compile(r"\d+")
_NEWLINE = re.compile(r"\r\n|\r|\n")
# A version that at least starts like one: digits, then anything version-ish.
_VERSIONISH = re.compile(r"^\d+(?:[.\-+_~][0-9A-Za-z]+)*$")

# The libraries an SGLang-on-MACA node needs (facts.md): maca.libs' default, and the
# library set `sgdoctor mesh` compares across the fleet.
DEFAULT_MACA_DIR = "/opt/maca"          # MACA_PATH's usual value (often a symlink)
DEFAULT_DRIVER_DIR = "/opt/mxdriver"    # driver user space: libmxsml.so, bin/mx-smi
MACA_LIBRARIES = ("libmcruntime.so", "libmxc-runtime64.so", "libmccl.so", "libmcblas.so",
                  "libmxsml.so")


@dataclass(frozen=True)
class MacaVersion:
    """The first line of ``$MACA_PATH/Version.txt``, read the way mcoplib reads it."""

    raw: str                  # the text after the last ':' of the first line, stripped
    first_line: str           # the first line as found (stripped), for messages
    master: bool              # date-based build (YYYYMMDD[.n]): mcoplib skips its floor
    release: tuple[int, int, int]   # major.minor.patch as mcoplib compares them
    looks_valid: bool         # the value has the shape of a version at all


def release_tuple(ver: str) -> tuple[int, int, int]:
    """major.minor.patch exactly as mcoplib's ``parse_maca_version_3tup`` computes them.

    Only the first three dot-separated parts count, each reduced to its leading digits
    (``0`` when it has none); missing parts are ``0``. So ``3.8.0.3-c600u`` is (3, 8, 0)
    and garbage is (0, 0, 0) — below any floor, which is how mcoplib treats it.
    """
    nums: list[int] = []
    for part in ver.strip().split(".")[:3]:
        m = _LEADING_DIGITS.match(part)
        # int() of a huge digit run is fine in value but slow past 4300 digits on
        # Python >= 3.11 (it raises); cap it: such a "version" is garbage anyway.
        nums.append(int(m.group(0)[:18]) if m else 0)
    while len(nums) < 3:
        nums.append(0)
    return (nums[0], nums[1], nums[2])


def below_minimum(version: MacaVersion, minimum: str) -> bool:
    """mcoplib's floor test: master builds pass; releases compare major.minor.patch only."""
    if version.master:
        return False
    return version.release < release_tuple(minimum)


def is_master_version(ver: str) -> bool:
    """A date-based MACA build (``20251011.746``), which mcoplib does not compare."""
    return _MASTER_RE.match(ver) is not None


def parse_version_text(text: str) -> MacaVersion | None:
    """Parse Version.txt's text; ``None`` when its first line is blank (no version at all).

    mcoplib takes ``readline().strip().split(":")[-1]`` — the part after the LAST colon of
    the first line — and strips it again before comparing, so ``Version: 3.7.1.5`` and
    ``3.7.1.5`` (no prefix) both read as 3.7.1.
    """
    # Text-mode readline() ends a line at \n, \r or \r\n only (not at \v, \f, U+2028...).
    first = _NEWLINE.split(text, maxsplit=1)[0].strip()
    if not first:
        return None
    value = first.split(":")[-1].strip()
    return MacaVersion(
        raw=value,
        first_line=first,
        master=is_master_version(value),
        release=release_tuple(value),
        looks_valid=bool(_VERSIONISH.match(value)),
    )


# --------------------------------------------------------------------------------------
# MACA_VISIBLE_DEVICES


@dataclass(frozen=True)
class VisibleDevices:
    """MACA_VISIBLE_DEVICES split into what we can check and what we cannot."""

    indices: tuple[int, ...] = ()
    uuids: tuple[str, ...] = ()
    problems: tuple[Text, ...] = ()     # shapes the runtime may reject (UNCONFIRMED)
    duplicates: tuple[str, ...] = ()
    empty: bool = False                 # set but empty: probably hides every GPU


# As a string, compiled (and cached by re) on first use, not at every start.
_UUID_SHAPE = r"(?i)^(?:GPU|MXC|MX)-[0-9A-Za-z][0-9A-Za-z\-]*$"


def parse_visible_devices(value: str) -> VisibleDevices:
    """Split MACA_VISIBLE_DEVICES on ``,``: non-negative integers are device indices.

    The MACA runtime is closed source: we assume it follows CUDA_VISIBLE_DEVICES (a comma
    list of indices; an empty value hides every device). UUID-like entries (``GPU-…``) are
    kept apart and other shapes reported — both UNCONFIRMED.
    """
    if value.strip() == "":
        return VisibleDevices(empty=True)
    indices: list[int] = []
    uuids: list[str] = []
    problems: list[Text] = []
    seen: set[str] = set()
    dups: dict[str, str] = {}
    for raw in value.split(","):
        item = raw.strip()
        key = item.lower()
        if key in seen:
            dups.setdefault(key, item)
        seen.add(key)
        if item != raw:
            problems.append(Text("{entry} has spaces around it", entry=repr(raw)))
        if item.isascii() and item.isdigit():
            # Anything past 18 digits is out of range anyway; never int() a huge string.
            indices.append(int(item) if len(item) <= 18 else 10**18)
        elif re.match(_UUID_SHAPE, item):
            uuids.append(item)
        elif item == "":
            problems.append(Text("an empty entry"))
        else:
            problems.append(Text("{entry} is neither a device index nor a GPU UUID",
                                 entry=repr(item)))
    return VisibleDevices(tuple(indices), tuple(uuids), tuple(problems), tuple(dups.values()))


# --------------------------------------------------------------------------------------
# mx-smi -L


@dataclass(frozen=True)
class SmiGpu:
    """One ``GPU#<n>`` line of ``mx-smi -L``."""

    index: int
    model: str
    bus_id: str | None
    available: bool
    state: str            # "Available", or the whole "Not Available(…)" text
    reason: str | None    # the text inside "Not Available(…)"
    uuid: str | None


@dataclass(frozen=True)
class SmiListing:
    gpus: tuple[SmiGpu, ...] = ()
    unparsed: tuple[str, ...] = field(default=())   # GPU# lines we could not read

    @property
    def unavailable(self) -> tuple[SmiGpu, ...]:
        return tuple(g for g in self.gpus if not g.available)


# As strings, compiled (and cached by re) on first use: a run without mx-smi never reads them.
_GPU_LINE = r"^\s*GPU\s*#\s*(\d{1,6})\s*:?\s+(.*)$"
_BUS = r"\b([0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\b"
_NOT_AVAILABLE = r"(?i)\b(?:Not\s+Available|Unavailable)\b\s*(?:\(([^)]*)\)?)?"
_AVAILABLE = r"(?i)\bAvailable\b"
_UUID = r"(?i)\(\s*UUID\s*:?\s*([^)\s]+)\s*\)"


def parse_smi_list(text: str) -> SmiListing:
    """Read ``mx-smi -L``: ``GPU#0    MXC500      0000:0e:00.0   Available``.

    A GPU is usable only when its line says ``Available`` and not ``Not Available(…)``
    (facts.md; ``Unavailable`` is read the same way, its shape UNCONFIRMED). A trailing
    ``(UUID: GPU-…)``, seen on newer mx-smi (UNCONFIRMED), is kept when present. Header
    lines (``mx-smi  version: …``) are ignored; a ``GPU#`` line without either state is
    returned as unparsed, never guessed.
    """
    gpus: list[SmiGpu] = []
    unparsed: list[str] = []
    for line in text.splitlines():
        m = re.match(_GPU_LINE, line)
        if not m:
            continue
        rest = m.group(2)
        uuid_m = re.search(_UUID, rest)
        body = re.sub(_UUID, " ", rest) if uuid_m else rest
        bus_m = re.search(_BUS, body)
        na = re.search(_NOT_AVAILABLE, body)
        if na:
            state_at = na.start()
            available = False
            reason = (na.group(1) or "").strip() or None
            state = body[state_at:].strip()
        else:
            ok = re.search(_AVAILABLE, body)
            if not ok:
                unparsed.append(line.strip()[:200])
                continue
            state_at = ok.start()
            available = True
            reason = None
            state = "Available"
        head = body[:bus_m.start()] if bus_m and bus_m.start() < state_at else body[:state_at]
        gpus.append(SmiGpu(
            index=int(m.group(1)),
            model=head.strip()[:100],
            bus_id=bus_m.group(1) if bus_m else None,
            available=available,
            state=state[:200],
            reason=reason[:200] if reason else None,
            uuid=uuid_m.group(1)[:100] if uuid_m else None,
        ))
    return SmiListing(tuple(gpus), tuple(unparsed))

