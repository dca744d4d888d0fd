"""The kernel's own text for host resources, parsed as proc(5) documents it; no I/O here.

Each parser takes the file's text and never raises: what it cannot read comes back as None
(or is left out), so a check can say "garbage" instead of crashing on a hostile /proc.
"""

from __future__ import annotations

import re

from sgdoctor.records import dataclass

__all__ = ["Limit", "parse_limits", "parse_status", "ProcStatus", "parse_port_range",
           "parse_reserved_ports", "parse_proc_net", "Socket", "CAP_SYS_PTRACE",
           "TCP_LISTEN", "TCP_TIME_WAIT", "TCP_CLOSE", "parse_int"]

CAP_SYS_PTRACE = 19                  # linux/capability.h
TCP_LISTEN, TCP_TIME_WAIT, TCP_CLOSE = 0x0A, 0x06, 0x07    # include/net/tcp_states.h
_UNLIMITED = "unlimited"


def parse_int(text: str) -> int | None:
    """A whole file holding one decimal integer (``0\\n``); None for anything else."""
    value = text.strip()
    if not value or len(value) > 20 or not value.lstrip("-").isdigit() or not value.isascii():
        return None
    return int(value)


@dataclass(frozen=True)
class Limit:
    """One line of /proc/<pid>/limits: ``None`` means unlimited (RLIM_INFINITY)."""

    soft: int | None
    hard: int | None
    unit: str


def _limit_value(text: str) -> int | None | str:
    if text == _UNLIMITED:
        return None
    number = parse_int(text)
    return "garbage" if number is None or number < 0 else number


def parse_limits(text: str) -> dict[str, Limit | str]:
    """/proc/<pid>/limits: ``Max locked memory  8388608  8388608  bytes`` → name → Limit.

    Names are the kernel's ("Max open files"). A line whose values are not numbers nor
    ``unlimited`` maps to the raw line, so the caller can quote it.
    """
    limits: dict[str, Limit | str] = {}
    for line in text.splitlines()[1:]:      # the first line is the header
        match = re.match(r"(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)\s*(\S*)\s*$", line)
        if not match:
            if line.startswith("Max "):
                limits[" ".join(line.split()[:3])] = line
            continue
        name, soft, hard, unit = match.groups()
        soft_v, hard_v = _limit_value(soft), _limit_value(hard)
        if isinstance(soft_v, str) or isinstance(hard_v, str):
            limits[name] = line
        else:
            limits[name] = Limit(soft_v, hard_v, unit)
    return limits


@dataclass(frozen=True)
class ProcStatus:
    """What /proc/<pid>/status says of capabilities and seccomp (None: line absent/garbage)."""

    cap_eff: int | None
    seccomp: int | None


def parse_status(text: str) -> ProcStatus:
    cap_eff: int | None = None
    seccomp: int | None = None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        value = value.strip()
        if key == "CapEff" and re.fullmatch(r"[0-9a-fA-F]{1,16}", value):
            cap_eff = int(value, 16)
        elif key == "Seccomp":
            seccomp = parse_int(value)
    return ProcStatus(cap_eff, seccomp)


def parse_port_range(text: str) -> tuple[int, int] | None:
    """ip_local_port_range: two numbers separated by blanks (``32768\\t60999``)."""
    parts = text.split()
    if len(parts) != 2:
        return None
    low, high = (parse_int(p) for p in parts)
    if low is None or high is None or not 0 < low <= high <= 65535:
        return None
    return low, high


def parse_reserved_ports(text: str) -> set[int] | None:
    """ip_local_reserved_ports: ``8080,30000-30010`` (empty: none); None for garbage."""
    ports: set[int] = set()
    for item in text.strip().split(","):
        item = item.strip()
        if not item:
            continue
        low_s, _, high_s = item.partition("-")
        low = parse_int(low_s)
        high = parse_int(high_s) if high_s else low
        if low is None or high is None or not 0 < low <= high <= 65535:
            return None
        ports.update(range(low, high + 1))
    return ports


@dataclass(frozen=True)
class Socket:
    """A socket of /proc/net/tcp{,6}: its local address (the kernel's hex), port, TCP state
    and inode."""

    local_address: str
    port: int
    state: int
    inode: int
    v6: bool = False

    @property
    def blocks_ipv4_any(self) -> bool:
        """Whether it stops a bind to 0.0.0.0 on its port: any IPv4 socket does; an IPv6 one
        only on :: (dual-stack) or a v4-mapped address, not on ::1 or another v6 address."""
        if not self.v6:
            return True
        address = self.local_address.upper()
        return address == "0" * 32 or address[:24] == "0000000000000000FFFF0000"


def parse_proc_net(text: str, *, v6: bool = False) -> list[Socket]:
    """/proc/net/tcp or tcp6: ``sl local_address rem_address st ... inode``; bad lines skipped."""
    sockets = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        address, _, port = fields[1].partition(":")
        try:
            sockets.append(Socket(address, int(port, 16), int(fields[3], 16), int(fields[9]),
                                  v6))
        except ValueError:
            continue
    return sockets
