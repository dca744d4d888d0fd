"""The resource limits the server will inherit, and whether the node has RDMA devices.

On the node itself the limits are this process's own (getrlimit: the server started by
``sgdoctor exec`` inherits exactly these); under another --host-root, or for a named pid,
they are read from ``/proc/<pid>/limits`` as the kernel prints them.
"""

from __future__ import annotations

import resource

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.parse.host import Limit, parse_limits
from sgdoctor.probe.hostroot import HostRoot
from sgdoctor.records import dataclass, field

__all__ = ["ProcessLimits", "process_limits", "rdma_devices", "runtime_process", "MEMLOCK",
           "NOFILE", "RUNTIMES"]

MEMLOCK, NOFILE = "Max locked memory", "Max open files"
# Container runtimes whose limits the containers they start inherit (through their shims),
# in the order they are looked for.
RUNTIMES = ("containerd", "crio", "dockerd")
_RLIMITS = {MEMLOCK: resource.RLIMIT_MEMLOCK, NOFILE: resource.RLIMIT_NOFILE}


@dataclass(frozen=True)
class ProcessLimits:
    source: str                                  # "getrlimit" or the limits file read
    limits: dict[str, Limit] = field(default_factory=dict)
    garbage: dict[str, str] = field(default_factory=dict)   # name -> the unreadable line
    error: ProbeError | None = None              # the whole file could not be read


def _value(raw: int) -> int | None:
    return None if raw == resource.RLIM_INFINITY else raw


def process_limits(root: HostRoot, pid: str | None = None) -> ProcessLimits:
    """Never raises. ``pid`` None means "the node's": ourselves on the node, else pid 1."""
    pid = pid or root.pid
    if root.on_host and pid == "self":
        limits = {}
        for name, which in _RLIMITS.items():
            soft, hard = resource.getrlimit(which)
            limits[name] = Limit(_value(soft), _value(hard), "bytes" if which ==
                                 resource.RLIMIT_MEMLOCK else "files")
        return ProcessLimits("getrlimit", limits)
    path = f"/proc/{pid}/limits"
    source = root.path(path)
    try:
        text = root.read_text(path)
    except ProbeError as exc:
        return ProcessLimits(source, error=exc)
    parsed = parse_limits(text)
    limits = {k: v for k, v in parsed.items() if k in _RLIMITS and isinstance(v, Limit)}
    garbage = {k: v for k, v in parsed.items() if k in _RLIMITS and isinstance(v, str)}
    for name in _RLIMITS:
        if name not in limits and name not in garbage:
            garbage[name] = "(no such line)"
    return ProcessLimits(source, limits, garbage)


def rdma_devices(root: HostRoot) -> list[str]:
    """The HCAs in /sys/class/infiniband (none when the class is absent); ProbeError when
    the directory exists but cannot be listed."""
    try:
        return root.listdir("/sys/class/infiniband")
    except ProbeError as exc:
        if exc.kind is FailureKind.NOT_FOUND:
            return []
        raise


def runtime_process(root: HostRoot) -> tuple[str, str] | None:
    """(pid, name) of the node's container runtime, from /proc/<pid>/comm; None if none runs
    (or /proc cannot be listed). Pods inherit its limits, not those of the node's pid 1."""
    try:
        pids = [p for p in root.listdir("/proc") if p.isdigit()]
    except ProbeError:
        return None
    found: dict[str, str] = {}
    for pid in sorted(pids, key=int):
        try:
            comm = root.read_text(f"/proc/{pid}/comm", cap=64).strip()
        except ProbeError:
            continue
        if comm in RUNTIMES and comm not in found:
            found[comm] = pid
    for name in RUNTIMES:
        if name in found:
            return found[name], name
    return None
