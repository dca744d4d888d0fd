"""HCA selections (NCCL_IB_HCA, MCCL_IB_HCA, NVSHMEM_HCA_LIST) and the sysfs values of an HCA
port, as their consumers read them.

NCCL_IB_HCA (NCCL src/transport/net_ib.cc ``ncclIbInit``, src/misc/utils.cc
``parseStringList`` and ``matchIfList``); MCCL_IB_HCA is MetaX's twin, assumed to parse alike
(UNCONFIRMED):
- a leading ``^`` excludes, then a leading ``=`` asks for exact names; otherwise every entry is
  a name PREFIX (``mlx5_1`` also selects ``mlx5_10`` ... ``mlx5_17``);
- entries are split on ``,``; ``name:port`` keeps the port (``atoi``: ``mlx5_0:x`` is port 0,
  which no port is); empty entries are dropped; an empty list matches every device;
- only ACTIVE ports with an InfiniBand or Ethernet (RoCE) link layer are used.

NVSHMEM_HCA_LIST (NVSHMEM src/modules/transport/common/transport_common.cpp
``nvshmemt_parse_hca_list`` and transport_ib_common.cpp ``nvshmemt_ib_common_enumerate_devices``):
- a leading ``^`` excludes the whole list; entries ``name[:port[:count]]`` split on ``,``;
  names match EXACTLY (``strcmp``), there is no ``=`` and no prefix matching;
- the documentation (and recent source) apply it only with NVSHMEM_ENABLE_NIC_PE_MAPPING=1;
  older releases applied it regardless (which release changed that is UNCONFIRMED);
- a listed HCA that does not exist is skipped with a warning ("could not find user specified
  HCA name"); inactive ports are skipped.

Everything here is pure: no I/O, and no input makes it raise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from sgdoctor.api import Text
from sgdoctor.records import dataclass

NCCL_HCA_VARS = ("NCCL_IB_HCA", "MCCL_IB_HCA")
NVSHMEM_HCA_VAR = "NVSHMEM_HCA_LIST"
NVSHMEM_PE_MAPPING_VAR = "NVSHMEM_HCA_PE_MAPPING"
# Port states and physical states of the kernel's sysfs ABI (sysfs-class-infiniband).
PORT_STATES = {0: "NOP", 1: "DOWN", 2: "INIT", 3: "ARMED", 4: "ACTIVE", 5: "ACTIVE_DEFER"}
PHYS_STATES = {1: "Sleep", 2: "Polling", 3: "Disabled", 4: "PortConfigurationTraining",
               5: "LinkUp", 6: "LinkErrorRecovery", 7: "Phy Test"}
_STATE = re.compile(r"^\s*(\d+)\s*:\s*(\S.*?)\s*$")
_HEX_GID = re.compile(r"^[0-9a-fA-F]{4}(?::[0-9a-fA-F]{4}){7}$")


@dataclass(frozen=True)
class HcaEntry:
    name: str
    port: int | None = None  # None: every port


@dataclass(frozen=True)
class HcaSpec:
    """One HCA selection variable as its consumer reads it."""

    variable: str
    raw: str
    exclude: bool = False
    exact: bool = False
    entries: tuple[HcaEntry, ...] = ()

    def describe(self) -> str:
        how = "exact names" if self.exact else "name prefixes"
        verb = "excludes" if self.exclude else "selects"
        listed = ", ".join(e.name + (f":{e.port}" if e.port is not None else "")
                           for e in self.entries)
        return f"{verb} {how} {listed or '(none: every device)'}"

    def matches(self, entry: HcaEntry, hca: str, port: int) -> bool:
        name_ok = hca == entry.name if self.exact else hca.startswith(entry.name)
        return name_ok and (entry.port is None or entry.port == port)

    def selects(self, hca: str, port: int) -> bool:
        """Whether the consumer would consider this (device, port) at all."""
        if not self.entries:
            return not self.exclude
        hit = any(self.matches(e, hca, port) for e in self.entries)
        return hit != self.exclude


def _atoi(text: str) -> int:
    """C's atoi: leading whitespace, a sign, digits; anything else is 0."""
    match = re.match(r"\s*([+-]?\d+)", text)
    return int(match.group(1)) if match else 0


def parse_nccl_hca(variable: str, raw: str) -> HcaSpec:
    text = raw
    exclude = text.startswith("^")
    if exclude:
        text = text[1:]
    exact = text.startswith("=")
    if exact:
        text = text[1:]
    entries = []
    for piece in text.split(","):
        name, sep, port = piece.partition(":")
        if name:
            entries.append(HcaEntry(name, _atoi(port) if sep else None))
    return HcaSpec(variable, raw, exclude, exact, tuple(entries))


def parse_nvshmem_hca(raw: str, variable: str = NVSHMEM_HCA_VAR) -> HcaSpec:
    """NVSHMEM_HCA_LIST (or NVSHMEM_HCA_PE_MAPPING, ``name:port:count``, where a leading ``^``
    is skipped but excludes nothing)."""
    text = raw[1:] if raw.startswith("^") else raw
    entries = []
    for piece in text.split(","):
        parts = piece.split(":")
        if parts[0]:
            entries.append(HcaEntry(parts[0], _atoi(parts[1]) if len(parts) > 1 else None))
    exclude = raw.startswith("^") and variable == NVSHMEM_HCA_VAR
    return HcaSpec(variable, raw, exclude, True, tuple(entries))


def nvshmem_true(value: str | None) -> bool:
    """NVSHMEM's booleans: false iff the first character is one of 0 N n F f (facts.md)."""
    return value is not None and value[:1] not in ("0", "N", "n", "F", "f")


def hca_specs(env: Mapping[str, str]) -> list[HcaSpec]:
    specs = [parse_nccl_hca(v, env[v]) for v in NCCL_HCA_VARS if v in env]
    if NVSHMEM_HCA_VAR in env:
        specs.append(parse_nvshmem_hca(env[NVSHMEM_HCA_VAR]))
    elif NVSHMEM_PE_MAPPING_VAR in env:   # NVSHMEM ignores the mapping when the list is set
        specs.append(parse_nvshmem_hca(env[NVSHMEM_PE_MAPPING_VAR], NVSHMEM_PE_MAPPING_VAR))
    return specs


# Variables whose value asks for RDMA (or for GPUDirect RDMA), and how.
def rdma_requests(env: Mapping[str, str]) -> list[str | Text]:
    """Why this configuration wants RDMA, one reason per variable ([] when nothing asks)."""
    reasons: list[str | Text] = [
        Text("{variable} is set", variable=v)
        for v in (*NCCL_HCA_VARS, NVSHMEM_HCA_VAR, "NVSHMEM_HCA_PE_MAPPING") if v in env]
    for var in ("NCCL_NET", "MCCL_NET"):
        if env.get(var, "").strip().lower() == "ib":
            reasons.append(f"{var}={env[var]}")
    if nvshmem_true(env.get("NVSHMEM_IB_ENABLE_IBGDA")):
        reasons.append(Text("NVSHMEM_IB_ENABLE_IBGDA is true"))
    transport = env.get("NVSHMEM_REMOTE_TRANSPORT", "").strip().lower()
    if transport in ("ibrc", "ibgda", "ibdevx"):
        reasons.append(f"NVSHMEM_REMOTE_TRANSPORT={transport}")
    return reasons


def gpudirect_requests(env: Mapping[str, str]) -> list[str | Text]:
    """Why this configuration wants GPUDirect RDMA (the GPU's memory registered with the HCA)."""
    reasons: list[str | Text] = []
    for var in ("NCCL_NET_GDR_LEVEL", "MCCL_NET_GDR_LEVEL"):
        value = env.get(var, "").strip()
        if value and value.upper() not in ("0", "LOC"):
            reasons.append(f"{var}={value}")
    if nvshmem_true(env.get("NVSHMEM_IB_ENABLE_IBGDA")):
        reasons.append(Text("NVSHMEM_IB_ENABLE_IBGDA is true (IBGDA registers GPU memory)"))
    return reasons


def rdma_disabled(env: Mapping[str, str]) -> list[str]:
    return [f"{v}={env[v]}" for v in ("NCCL_IB_DISABLE", "MCCL_IB_DISABLE")
            if env.get(v, "").strip() not in ("", "0")]


def parse_port_state(text: str, table: Mapping[int, str]) -> tuple[int | None, str]:
    """``4: ACTIVE`` → (4, "ACTIVE"); anything else → (None, the text as found)."""
    match = _STATE.match(text)
    if not match:
        return None, text.strip()
    number = int(match.group(1))
    return number, table.get(number, match.group(2))


def parse_gid(text: str) -> str | None:
    """A GID as sysfs prints it (8 groups of 4 hex digits); None for garbage."""
    value = text.strip()
    return value.lower() if _HEX_GID.match(value) else None


def is_zero_gid(gid: str) -> bool:
    return set(gid.replace(":", "")) <= {"0"}


def ipv4_of_gid(gid: str) -> str | None:
    """The IPv4 address of a RoCE GID built from one (``::ffff:a.b.c.d``), else None."""
    groups = gid.split(":")
    if len(groups) != 8 or any(g != "0000" for g in groups[:5]) or groups[5] != "ffff":
        return None
    value = int(groups[6] + groups[7], 16)
    return ".".join(str((value >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def prefix_overreach(spec: HcaSpec, devices: Iterable[str]) -> dict[str, list[str]]:
    """Prefix entries that also select other devices than the one they spell out exactly."""
    if spec.exact or spec.exclude:
        return {}
    names = sorted(set(devices))
    out = {}
    for entry in spec.entries:
        if entry.name in names:
            others = [d for d in names if d != entry.name and d.startswith(entry.name)]
            if others:
                out[entry.name] = others
    return out
