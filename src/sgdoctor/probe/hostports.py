"""Facts about local TCP ports: the kernel's ephemeral range and reserved ports, the sockets
that already hold a port (sock_diag in this namespace, else /proc/net/tcp{,6}), which process
owns them, and whether a real bind succeeds (only in this process's own network namespace:
under --host-root the node's namespace is not ours to bind in).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.parse.host import Socket, parse_port_range, parse_proc_net, parse_reserved_ports
from sgdoctor.probe.hostroot import HostRoot
from sgdoctor.records import dataclass, field

__all__ = ["PortFacts", "port_facts", "BindResult", "try_bind", "socket_owners",
           "RANGE_PATH", "RESERVED_PATH"]

RANGE_PATH = "/proc/sys/net/ipv4/ip_local_port_range"
RESERVED_PATH = "/proc/sys/net/ipv4/ip_local_reserved_ports"


@dataclass(frozen=True)
class PortFacts:
    range: tuple[int, int] | None = None
    range_error: ProbeError | None = None
    reserved: frozenset[int] = frozenset()
    reserved_error: ProbeError | None = None
    sockets: list[Socket] = field(default_factory=list)
    socket_errors: list[ProbeError] = field(default_factory=list)


def port_facts(root: HostRoot, deadline: float | None = None, *,
               sockets: bool = True) -> PortFacts:
    """Never raises. ``deadline`` (time.monotonic()) bounds the sock_diag dump; without
    ``sockets`` the socket table is not read (the dump walks the kernel's whole established
    hash however few sockets there are: about 2.5 ms on a node of 262,144 buckets)."""
    port_range: tuple[int, int] | None = None
    range_error = reserved_error = None
    reserved: set[int] = set()
    try:
        text = root.read_text(RANGE_PATH)
        port_range = parse_port_range(text)
        if port_range is None:
            range_error = ProbeError(FailureKind.INVALID, f"{root.path(RANGE_PATH)} reads "
                                     f"{text[:40]!r}")
    except ProbeError as exc:
        range_error = exc
    try:
        text = root.read_text(RESERVED_PATH)
        parsed = parse_reserved_ports(text)
        if parsed is None:
            reserved_error = ProbeError(FailureKind.INVALID, f"{root.path(RESERVED_PATH)} "
                                        f"reads {text[:40]!r}")
        else:
            reserved = parsed
    except ProbeError as exc:
        if exc.kind is not FailureKind.NOT_FOUND:     # old kernels have no such file
            reserved_error = exc
    table, errors = (_sockets(root, time.monotonic() + 2.0 if deadline is None else deadline)
                     if sockets else ([], []))
    return PortFacts(port_range, range_error, frozenset(reserved), reserved_error, table,
                     errors)


def _sockets(root: HostRoot, deadline: float) -> tuple[list[Socket], list[ProbeError]]:
    """The socket table: sock_diag for this namespace, /proc when it will not answer (a
    seccomp filter, a kernel without it) and for another root's namespace."""
    if root.on_host:
        from sgdoctor.probe.sockdiag import SockDiagError, tcp_sockets

        try:
            return tcp_sockets(deadline), []
        except SockDiagError:
            pass
    sockets: list[Socket] = []
    errors: list[ProbeError] = []
    for name in ("tcp", "tcp6"):
        try:
            sockets += parse_proc_net(root.read_text(f"/proc/{root.pid}/net/{name}",
                                                     cap=64 << 20), v6=name == "tcp6")
        except ProbeError as exc:
            if not (name == "tcp6" and exc.kind is FailureKind.NOT_FOUND):   # no IPv6
                errors.append(exc)
    return sockets, errors


@dataclass(frozen=True)
class BindResult:
    ok: bool
    errno: int | None = None
    message: str = ""


def try_bind(port: int) -> BindResult:
    """Bind 0.0.0.0:port as a server does (SO_REUSEADDR, no listen), then let go."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", port))
    except OSError as exc:
        return BindResult(False, exc.errno, exc.strerror or str(exc))
    finally:
        sock.close()
    return BindResult(True)


def socket_owners(root: HostRoot, inodes: Iterable[int], deadline: float) -> dict[int, str]:
    """inode → ``pid (comm)`` for the given socket inodes, by reading /proc/<pid>/fd links
    until the deadline; processes we may not inspect are passed over."""
    wanted = {f"socket:[{inode}]": inode for inode in inodes if inode}
    owners: dict[int, str] = {}
    if not wanted:
        return owners
    try:
        pids = [p for p in os.listdir(root.path("/proc")) if p.isdigit()]
    except OSError:
        return owners
    for pid in pids:
        if time.monotonic() > deadline or len(owners) == len(wanted):
            break
        fd_dir = root.path(f"/proc/{pid}/fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:          # gone meanwhile, or not ours to read
                continue
            inode = wanted.get(target)
            if inode is not None and inode not in owners:
                try:
                    comm = root.read_text(f"/proc/{pid}/comm").strip()
                except ProbeError:
                    comm = "?"
                owners[inode] = f"pid {pid} ({comm})"
    return owners
