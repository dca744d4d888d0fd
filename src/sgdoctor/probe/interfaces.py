"""Network interfaces as gloo and NCCL see them: getifaddrs (through netifaces) plus link state.

Addresses keep getifaddrs' order, because gloo's lookupAddrForIface takes the FIRST IPv4 or
IPv6 entry of the interface: on Linux that is its first IPv4 address, else its first IPv6 one
(the kernel dumps IPv4 before IPv6, and global IPv6 before link-local). Link state comes from
the SIOCGIFFLAGS and SIOCGIFMTU ioctls, for the devices /proc/net/dev lists (what psutil's
net_if_stats asks, without importing psutil: about 30 ms), and from
/sys/class/net/<name>/{operstate,carrier}; never from `ip` output.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping

from sgdoctor.records import dataclass, field

SYS_NET = "/sys/class/net"
PROC_NET_DEV = "/proc/net/dev"
_SIOCGIFFLAGS = 0x8913
_SIOCGIFMTU = 0x8921
_IFF_UP = 0x1
_IFF_LOOPBACK = 0x8
_IFREQ_SIZE = 40  # struct ifreq on 64-bit Linux: a 16-byte name, then a 24-byte union


@dataclass(frozen=True)
class Interface:
    name: str
    admin_up: bool              # IFF_UP
    operstate: str              # "up", "down", "unknown" (loopback, tun), "dormant", ...
    carrier: bool | None        # None when unreadable (the interface is administratively down)
    loopback: bool
    mtu: int | None
    addresses: tuple[str, ...] = ()   # IPv4 and IPv6 in getifaddrs order, scope id stripped
    ipv4: tuple[str, ...] = field(default=())
    ipv6: tuple[str, ...] = field(default=())

    @property
    def up(self) -> bool:
        """Administratively up and the link is up (``unknown`` counts: lo and tun say so)."""
        return (self.admin_up and self.operstate in ("up", "unknown")
                and self.carrier is not False)

    @property
    def gloo_address(self) -> str | None:
        """The address gloo's lookupAddrForIface would take."""
        return self.addresses[0] if self.addresses else None

    def state(self) -> str:
        if not self.admin_up:
            return "administratively down"
        if self.carrier is False:
            return f"no carrier (operstate {self.operstate})"
        return f"operstate {self.operstate}"

    def as_details(self) -> dict:
        return {"up": self.up, "operstate": self.operstate, "carrier": self.carrier,
                "loopback": self.loopback, "ipv4": list(self.ipv4), "ipv6": list(self.ipv6),
                "mtu": self.mtu}


def is_link_local(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_link_local
    except ValueError:
        return False


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return None


def _strip_scope(address: str) -> str:
    return address.split("%", 1)[0]


def _devices() -> set[str]:
    """The network devices of this namespace, as /proc/net/dev names them (not the address
    labels getifaddrs also returns, such as ``eth0:1``)."""
    try:
        with open(PROC_NET_DEV, encoding="utf-8", errors="surrogateescape") as fh:
            lines = fh.readlines()[2:]
    except OSError:
        return set()
    return {line[:line.rfind(":")].strip() for line in lines if line.rfind(":") > 0}


def _link(sock: int, name: str) -> tuple[int, int] | None:
    """(IFF_* flags, MTU) of device ``name``; None when the kernel will not say."""
    import fcntl
    import struct

    request = os.fsencode(name)[:15].ljust(_IFREQ_SIZE, b"\0")
    try:
        flags = struct.unpack_from("H", fcntl.ioctl(sock, _SIOCGIFFLAGS, request), 16)[0]
        mtu = struct.unpack_from("i", fcntl.ioctl(sock, _SIOCGIFMTU, request), 16)[0]
    except (OSError, ValueError):
        return None
    return flags, mtu


def list_interfaces() -> dict[str, Interface]:
    """Every interface of this network namespace, by name, in getifaddrs order."""
    import socket

    import netifaces

    devices = _devices()
    result: dict[str, Interface] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for name in netifaces.interfaces():
            by_family = netifaces.ifaddresses(name)
            ipv4 = tuple(_strip_scope(a["addr"]) for a in by_family.get(netifaces.AF_INET, ())
                         if a.get("addr"))
            ipv6 = tuple(_strip_scope(a["addr"]) for a in by_family.get(netifaces.AF_INET6, ())
                         if a.get("addr"))
            flags, mtu = (_link(sock.fileno(), name) if name in devices else None) or (0, 0)
            carrier = _read(f"{SYS_NET}/{name}/carrier")
            result[name] = Interface(
                name=name,
                admin_up=bool(flags & _IFF_UP),  # the administrative state, not IFF_RUNNING
                operstate=_read(f"{SYS_NET}/{name}/operstate") or "unknown",
                carrier=None if carrier is None else carrier == "1",
                loopback=bool(flags & _IFF_LOOPBACK) or name == "lo",
                mtu=mtu or None,
                addresses=ipv4 + ipv6,
                ipv4=ipv4,
                ipv6=ipv6,
            )
    return result


def address_owner(interfaces: Mapping[str, Interface], address: str) -> str | None:
    """The interface holding ``address`` (any 127.x belongs to the loopback interface)."""
    address = _strip_scope(address)
    for iface in interfaces.values():
        if address in iface.addresses:
            return iface.name
    if is_loopback(address):
        return next((i.name for i in interfaces.values() if i.loopback), None)
    return None


def getifaddrs_order(interfaces: Mapping[str, Interface]) -> list[tuple[str, str]]:
    """(interface, address) pairs as NCCL walks getifaddrs: every IPv4, then every IPv6."""
    pairs = [(i.name, a) for i in interfaces.values() for a in i.ipv4]
    pairs += [(i.name, a) for i in interfaces.values() for a in i.ipv6]
    return pairs
