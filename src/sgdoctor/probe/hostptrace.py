"""What decides whether one process may take a file descriptor from another with
pidfd_getfd(2): the Yama LSM's ptrace_scope, the caller's effective capabilities, and
whether a seccomp filter is installed (Docker's default profile allows pidfd_getfd only
with CAP_SYS_PTRACE)."""

from __future__ import annotations

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.parse.host import ProcStatus, parse_int, parse_status
from sgdoctor.probe.hostroot import HostRoot
from sgdoctor.records import dataclass, replace

__all__ = ["PtraceFacts", "ptrace_facts", "YAMA_SCOPE"]

YAMA_SCOPE = "/proc/sys/kernel/yama/ptrace_scope"


@dataclass(frozen=True)
class PtraceFacts:
    yama_path: str
    yama_present: bool
    yama_scope: int | None = None        # None: absent, unreadable or garbage
    yama_error: ProbeError | None = None
    status_path: str = ""
    status: ProcStatus | None = None
    status_error: ProbeError | None = None


def ptrace_facts(root: HostRoot, pid: str | None = None) -> PtraceFacts:
    """Never raises. ``pid`` None: ourselves on the node, else the node's pid 1."""
    status_rel = f"/proc/{pid or root.pid}/status"
    status: ProcStatus | None = None
    status_error: ProbeError | None = None
    try:
        status = parse_status(root.read_text(status_rel))
    except ProbeError as exc:
        status_error = exc
    base = PtraceFacts(root.path(YAMA_SCOPE), False, status_path=root.path(status_rel),
                       status=status, status_error=status_error)
    try:
        text = root.read_text(YAMA_SCOPE)
    except ProbeError as exc:
        if exc.kind is FailureKind.NOT_FOUND:
            return base
        return replace(base, yama_present=True, yama_error=exc)
    scope = parse_int(text)
    if scope is None:
        error = ProbeError(FailureKind.INVALID, f"{base.yama_path} reads {text[:40]!r}, "
                           "not a number")
        return replace(base, yama_present=True, yama_error=error)
    return replace(base, yama_present=True, yama_scope=scope)
