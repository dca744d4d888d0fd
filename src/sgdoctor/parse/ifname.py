"""GLOO_SOCKET_IFNAME and NCCL_SOCKET_IFNAME / MCCL_SOCKET_IFNAME, as their consumers read them.

Gloo (PyTorch torch/csrc/distributed/c10d/init.cpp and ProcessGroupGloo.cpp, pytorch/gloo
gloo/transport/tcp/device.cc):
- the value is used only when it is longer than 1 character; otherwise the hostname decides;
- it is split on ``,`` like ``std::getline``: empty pieces are kept, except a trailing one;
- each piece is one device, matched EXACTLY (strcmp) against interface names; an empty piece
  (``,bond0``, ``bond0,,eth1``) aborts at once with GLOO_EMPTY_ERROR (verified against
  PyTorch 2.13: no hostname fallback);
- there is no ``^``/``=``/prefix syntax: such a piece is looked up literally and the process
  aborts with ``Unable to find address for: <piece>``;
- every rank makes one gloo context per piece: all ranks must list the same number.

NCCL (src/misc/socket.cc ``findInterfaces``, src/misc/utils.cc ``parseStringList``); MCCL is
MetaX's twin and is assumed to parse alike (facts.md):
- used only when longer than 1 character; a leading ``^`` excludes, then a leading ``=`` asks
  for exact names; otherwise every entry is a PREFIX; ``name:port`` entries keep the name;
- unset: ``ib*`` first, else anything but ``docker*`` and ``lo``, else ``docker*``, else ``lo``
  (NCCL_COMM_ID subnet matching is not modelled);
- only interfaces with an IPv4 or IPv6 address count (``::1`` never does), in getifaddrs order.

Everything here is pure: no I/O, and no input makes it raise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sgdoctor.records import dataclass

GLOO_ERROR = "Unable to find address for: {}"
GLOO_EMPTY_ERROR = "GlooDeviceFactory::makeTCPDevice(): interface or hostname can't be empty"
GLOO_NO_INTERFACE_ERROR = "Unable to find interface for: [{}]"
NCCL_SYNTAX = {
    "^": "'^' (NCCL's 'exclude these' marker)",
    "=": "'=' (NCCL's 'exact names' marker)",
    "*": "'*' (a wildcard)",
}


@dataclass(frozen=True)
class GlooEntry:
    """One device that gloo creates from GLOO_SOCKET_IFNAME."""

    name: str                       # looked up literally; "" aborts (GLOO_EMPTY_ERROR)
    nccl_syntax: str | None = None  # the NCCL-only character gloo takes literally
    whitespace: bool = False        # spaces are part of the name: no interface matches

    @property
    def empty(self) -> bool:
        return self.name == ""


@dataclass(frozen=True)
class GlooSpec:
    """GLOO_SOCKET_IFNAME as PyTorch reads it."""

    raw: str | None
    entries: tuple[GlooEntry, ...] = ()

    @property
    def used(self) -> bool:
        """False when gloo ignores the value (unset, or 1 character or less)."""
        return bool(self.entries)

    @property
    def ignored_short(self) -> bool:
        """Set, but too short to count: PyTorch silently uses the hostname."""
        return self.raw is not None and not self.entries

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.entries)

    @property
    def has_empty(self) -> bool:
        """An empty piece: PyTorch aborts before any device exists."""
        return any(entry.empty for entry in self.entries)

    @property
    def device_count(self) -> int:
        """How many gloo devices (and contexts) a rank makes: one per piece, else one."""
        return len(self.entries) or 1


def _byte_len(text: str) -> int:
    """``strlen`` of the value as the C consumer sees it (env bytes arrive surrogateescape'd)."""
    try:
        return len(text.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        return len(text.encode("utf-8", "surrogatepass"))


def parse_gloo(raw: str | None) -> GlooSpec:
    """Split GLOO_SOCKET_IFNAME exactly like PyTorch (``strlen > 1``, then ``getline(',')``)."""
    if raw is None or _byte_len(raw) <= 1:
        return GlooSpec(raw)
    pieces = raw.split(",")
    if pieces[-1] == "":
        pieces.pop()  # getline yields no item after a trailing separator
    entries = []
    for piece in pieces:
        marker = next((c for c in NCCL_SYNTAX if c in piece), None)
        entries.append(GlooEntry(piece, marker, any(c.isspace() for c in piece)))
    return GlooSpec(raw, tuple(entries))


@dataclass(frozen=True)
class NcclSpec:
    """NCCL_SOCKET_IFNAME (or MCCL's twin) as NCCL's findInterfaces reads it."""

    raw: str | None
    exclude: bool = False
    exact: bool = False
    entries: tuple[str, ...] = ()

    @property
    def used(self) -> bool:
        return self.raw is not None and _byte_len(self.raw) > 1

    def describe(self) -> str:
        if not self.used:
            return "default: ib*, else all but docker* and lo, else docker*, else lo"
        how = "exact names" if self.exact else "name prefixes"
        verb = "excludes" if self.exclude else "selects"
        return f"{verb} {how} {', '.join(self.entries) or '(none)'}"


def _parse_list(text: str) -> tuple[str, ...]:
    """NCCL's parseStringList: ``,``-separated, empty items dropped, ``:port`` cut off."""
    items = []
    for piece in text.split(","):
        name = piece.split(":", 1)[0]
        if name:
            items.append(name)
    return tuple(items)


def parse_nccl(raw: str | None) -> NcclSpec:
    if raw is None or _byte_len(raw) <= 1:
        return NcclSpec(raw)
    text = raw
    exclude = text.startswith("^")
    if exclude:
        text = text[1:]
    exact = text.startswith("=")
    if exact:
        text = text[1:]
    return NcclSpec(raw, exclude, exact, _parse_list(text))


def _matches(name: str, patterns: Iterable[str], exact: bool) -> bool:
    return any(name == p if exact else name.startswith(p) for p in patterns)


def _find(order: Sequence[tuple[str, str]], patterns: tuple[str, ...], *, exclude: bool,
          exact: bool) -> list[str]:
    found: list[str] = []
    for name, address in order:
        if address == "::1" or name in found:
            continue
        # An empty user list matches everything (matchIfList's exception).
        hit = _matches(name, patterns, exact) if patterns else True
        if hit != exclude:
            found.append(name)
    return found


def nccl_select(spec: NcclSpec, addresses: Sequence[tuple[str, str]]) -> list[str]:
    """The interfaces NCCL would use, in its order.

    ``addresses`` is every (interface, address) pair in getifaddrs order, IPv4 and IPv6 only.
    """
    if spec.used:
        return _find(addresses, spec.entries, exclude=spec.exclude, exact=spec.exact)
    for patterns, exclude in ((("ib",), False), (("docker", "lo"), True), (("docker",), False),
                              (("lo",), False)):
        found = _find(addresses, patterns, exclude=exclude, exact=False)
        if found:
            return found
    return []
