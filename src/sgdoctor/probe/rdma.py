"""RDMA devices as the kernel's sysfs ABI and /dev show them (no libibverbs needed).

Documentation/ABI/stable/sysfs-class-infiniband:
- /sys/class/infiniband/<hca>/ports/<n>/{state,phys_state,link_layer,rate} — ``4: ACTIVE``,
  ``5: LinkUp``, ``InfiniBand``/``Ethernet``, ``100 Gb/sec (4X EDR)``;
- /sys/class/infiniband/<hca>/ports/<n>/gids/<i> — the GID table (all zero when unused);
- /sys/class/infiniband_verbs/uverbs<k>/ibdev — the HCA behind /dev/infiniband/uverbs<k>,
  the character device libibverbs opens (O_RDWR) for every verbs context.
GPUDirect's peer-memory module is looked for where NVSHMEM looks (memory_peers) and in
/proc/modules and /sys/module (nvidia_peermem, nv_peer_mem; MetaX's equivalent is UNCONFIRMED,
so any loaded module whose name says peer memory is reported).

Every path goes through :class:`HostRoot`, so ``--host-root`` points the probe at a prepared
tree or at the node's / mounted into a DaemonSet. Reads never block and never raise: an
unreadable or garbage file becomes a recorded problem.
"""

from __future__ import annotations

import errno
import os
import re
import stat

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.parse.hca import (
    PHYS_STATES,
    PORT_STATES,
    ipv4_of_gid,
    is_zero_gid,
    parse_gid,
    parse_port_state,
)
from sgdoctor.probe.hostroot import HostRoot
from sgdoctor.records import dataclass, field

IB_CLASS = "/sys/class/infiniband"
VERBS_CLASS = "/sys/class/infiniband_verbs"
DEV_IB = "/dev/infiniband"
MAX_HCAS = 64
MAX_PORTS = 16
MAX_GIDS = 256
PEERMEM_MODULES = ("nvidia_peermem", "nv_peer_mem")
PEERMEM_MARKERS = ("/sys/kernel/mm/memory_peers/nv_mem/version",
                   "/sys/kernel/mm/memory_peers/nvidia-peermem/version",
                   "/sys/module/nvidia_peermem/version")
_PEERISH = re.compile(r"peer_?mem", re.IGNORECASE)
_NUMBER = re.compile(r"^\d{1,4}$")


@dataclass(frozen=True)
class Port:
    number: int
    state: str | None = None          # "ACTIVE", ... (None: unreadable)
    state_code: int | None = None
    phys_state: str | None = None     # "LinkUp", ...
    link_layer: str | None = None     # "InfiniBand" or "Ethernet"
    rate: str | None = None           # "100 Gb/sec (4X EDR)"
    gids: tuple[str, ...] = ()        # non-zero GIDs, in table order
    problems: tuple[str, ...] = ()    # files that could not be read, or held garbage

    @property
    def active(self) -> bool:
        return self.state_code == 4

    @property
    def ipv4_gids(self) -> tuple[str, ...]:
        return tuple(a for a in (ipv4_of_gid(g) for g in self.gids) if a)

    def rate_gbps(self) -> float | None:
        match = re.match(r"\s*(\d+(?:\.\d+)?)\s*Gb/sec", self.rate or "")
        return float(match.group(1)) if match else None

    def as_details(self) -> dict:
        return {"state": self.state, "phys_state": self.phys_state,
                "link_layer": self.link_layer, "rate": self.rate, "gids": list(self.gids),
                "ipv4_gids": list(self.ipv4_gids), "problems": list(self.problems)}


@dataclass(frozen=True)
class Hca:
    name: str
    ports: tuple[Port, ...] = ()
    uverbs: str | None = None         # "uverbs0"
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class VerbsDevice:
    """One /dev/infiniband/uverbs* node and whether this process can open it."""

    name: str
    path: str
    char_device: bool = False
    openable: bool = False
    error: str | None = None
    kind: FailureKind | None = None


@dataclass(frozen=True)
class PeerMem:
    loaded: tuple[str, ...] = ()      # peer-memory modules found (module names or markers)
    other: tuple[str, ...] = ()       # other loaded modules whose name says peer memory
    problem: str | None = None        # /proc/modules unreadable


@dataclass
class RdmaFacts:
    hcas: dict[str, Hca] = field(default_factory=dict)
    verbs: list[VerbsDevice] = field(default_factory=list)
    peermem: PeerMem = field(default_factory=PeerMem)
    class_problem: str | None = None  # /sys/class/infiniband exists but cannot be listed
    dev_problem: str | None = None    # /dev/infiniband exists but cannot be listed


def _read(root: HostRoot, path: str, problems: list[str], what: str) -> str | None:
    try:
        return root.read_text(path, cap=4096).strip()
    except ProbeError as exc:
        if exc.kind is not FailureKind.NOT_FOUND or what:
            problems.append(f"{what or path}: {exc.message}")
        return None


def _list(root: HostRoot, path: str) -> tuple[list[str], str | None]:
    """Entries of a directory; ([], None) when it does not exist."""
    try:
        return root.listdir(path), None
    except ProbeError as exc:
        return [], None if exc.kind is FailureKind.NOT_FOUND else exc.message


def _port(root: HostRoot, base: str, number: int) -> Port:
    problems: list[str] = []
    values = {}
    for name in ("state", "phys_state", "link_layer", "rate"):
        values[name] = _read(root, f"{base}/{name}", problems, name)
    code, state = parse_port_state(values["state"], PORT_STATES) if values["state"] else \
        (None, None)
    if values["state"] is not None and code is None:
        problems.append(f"state: {values['state'][:60]!r} is not '<number>: <name>'")
        state = None
    phys = parse_port_state(values["phys_state"], PHYS_STATES)[1] if values["phys_state"] \
        else None
    gids: list[str] = []
    names, problem = _list(root, f"{base}/gids")
    if problem:
        problems.append(f"gids: {problem}")
    for index in sorted((n for n in names if _NUMBER.match(n)), key=int)[:MAX_GIDS]:
        try:
            text = root.read_text(f"{base}/gids/{index}", cap=128)
        except ProbeError:
            continue  # unused entries of some drivers refuse reads (EINVAL): not a problem
        gid = parse_gid(text)
        if gid and not is_zero_gid(gid):
            gids.append(gid)
    return Port(number, state, code, phys, values["link_layer"], values["rate"], tuple(gids),
                tuple(problems))


def _uverbs_map(root: HostRoot) -> dict[str, str]:
    """HCA name → uverbs device name, from /sys/class/infiniband_verbs/*/ibdev."""
    names, _ = _list(root, VERBS_CLASS)
    out: dict[str, str] = {}
    for name in names:
        if not name.startswith("uverbs"):
            continue
        try:
            ibdev = root.read_text(f"{VERBS_CLASS}/{name}/ibdev", cap=256).strip()
        except ProbeError:
            continue
        if ibdev:
            out.setdefault(ibdev, name)
    return out


def _verbs_device(root: HostRoot, name: str) -> VerbsDevice:
    local = root.path(f"{DEV_IB}/{name}")
    try:
        st = os.lstat(local)
    except OSError as exc:
        return VerbsDevice(name, local, error=exc.strerror or str(exc), kind=FailureKind.IO)
    if not stat.S_ISCHR(st.st_mode):
        what = "a named pipe" if stat.S_ISFIFO(st.st_mode) else \
            "a directory" if stat.S_ISDIR(st.st_mode) else \
            "a symbolic link" if stat.S_ISLNK(st.st_mode) else "a regular file" \
            if stat.S_ISREG(st.st_mode) else "not a device"
        return VerbsDevice(name, local, error=f"{what}, not a character device",
                           kind=FailureKind.NOT_A_FILE)
    try:
        fd = os.open(local, os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        kind = FailureKind.PERMISSION if exc.errno in (errno.EACCES, errno.EPERM) else \
            FailureKind.NOT_FOUND if exc.errno in (errno.ENXIO, errno.ENODEV) else FailureKind.IO
        return VerbsDevice(name, local, True, error=exc.strerror or str(exc), kind=kind)
    os.close(fd)
    return VerbsDevice(name, local, True, True)


def _peermem(root: HostRoot) -> PeerMem:
    loaded: list[str] = []
    other: list[str] = []
    problem = None
    try:
        modules = root.read_text("/proc/modules")
    except ProbeError as exc:
        modules = ""
        if exc.kind is not FailureKind.NOT_FOUND:
            problem = exc.message
    for line in modules.splitlines():
        name = line.split(" ", 1)[0]
        if name in PEERMEM_MODULES:
            loaded.append(name)
        elif _PEERISH.search(name):
            other.append(name)
    for name in PEERMEM_MODULES:
        if name not in loaded and root.exists(f"/sys/module/{name}"):
            loaded.append(name)
    for marker in PEERMEM_MARKERS:
        if root.exists(marker) and not any(m in marker for m in loaded):
            loaded.append(marker)
    return PeerMem(tuple(dict.fromkeys(loaded)), tuple(dict.fromkeys(other)), problem)


def probe_rdma(root: HostRoot) -> RdmaFacts:
    facts = RdmaFacts()
    names, facts.class_problem = _list(root, IB_CLASS)
    uverbs = _uverbs_map(root)
    for name in names[:MAX_HCAS]:
        problems: list[str] = []
        ports: list[Port] = []
        port_names, problem = _list(root, f"{IB_CLASS}/{name}/ports")
        if problem:
            problems.append(f"ports: {problem}")
        for number in sorted(int(p) for p in port_names if _NUMBER.match(p))[:MAX_PORTS]:
            ports.append(_port(root, f"{IB_CLASS}/{name}/ports/{number}", number))
        if not ports and not problem:
            problems.append("no ports listed")
        facts.hcas[name] = Hca(name, tuple(ports), uverbs.get(name), tuple(problems))
    dev_names, facts.dev_problem = _list(root, DEV_IB)
    facts.verbs = [_verbs_device(root, n) for n in dev_names if n.startswith("uverbs")]
    facts.peermem = _peermem(root)
    return facts
