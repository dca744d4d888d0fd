"""Which interface each consumer would pick on this host, as facts for host.ip and nccl.interface.

- :func:`interface_kinds`: what an interface is (bridge, veth, wireless, docker, loopback),
  from /sys/class/net and the ethtool driver name (SIOCETHTOOL, no `ethtool` binary needed);
- :func:`cluster_peers`: the etcd/NATS servers this configuration uses and the interface the
  kernel routes through to reach each (UDP ``connect()`` + ``getsockname()``: no packet);
- :func:`gloo_interfaces`: the interfaces PyTorch's gloo binds (GLOO_SOCKET_IFNAME's exact
  names, else the hostname's first bindable address);
- :func:`nccl_choice`: NCCL_SOCKET_IFNAME / MCCL_SOCKET_IFNAME through parse.ifname's rules.

Interfaces are those of this process's network namespace (``--host-root`` does not apply: a
DaemonSet inspects the node's interfaces with ``hostNetwork: true``).
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from sgdoctor.parse.endpoints import etcd_endpoints, etcd_usage, nats_servers, nats_usage
from sgdoctor.parse.ifname import nccl_select, parse_gloo, parse_nccl
from sgdoctor.probe.interfaces import Interface, address_owner, getifaddrs_order, is_loopback

SYS_NET = "/sys/class/net"
SIOCETHTOOL = 0x8946
ETHTOOL_GDRVINFO = 0x00000003
_DRVINFO_SIZE = 196  # struct ethtool_drvinfo
KINDS_OF_CONCERN = ("veth", "bridge", "docker", "wireless")


def ethtool_driver(name: str) -> str | None:
    """The kernel driver behind an interface (``veth``, ``bridge``, ``mlx5_core``...), or None."""
    import array

    if not name or len(name.encode("utf-8", "surrogateescape")) > 15:
        return None
    buf = array.array("B", struct.pack("I", ETHTOOL_GDRVINFO) + b"\0" * (_DRVINFO_SIZE - 4))
    address, _ = buf.buffer_info()
    ifreq = struct.pack("16sP", name.encode("utf-8", "surrogateescape"), address)
    ifreq += b"\0" * (40 - len(ifreq))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
    except OSError:
        return None
    driver = bytes(buf[4:36]).split(b"\0", 1)[0].decode("ascii", "replace")
    return driver or None


def interface_kind(name: str, *, loopback: bool = False, sys_net: str = SYS_NET) -> str:
    """One word for what the interface is: loopback, wireless, docker, bridge, veth or other."""
    if loopback:
        return "loopback"
    base = os.path.join(sys_net, name)
    if os.path.exists(os.path.join(base, "wireless")) or \
            os.path.lexists(os.path.join(base, "phy80211")):
        return "wireless"
    bridge = os.path.isdir(os.path.join(base, "bridge"))
    if name.startswith("docker") or (bridge and name.startswith("br-")):
        return "docker"
    if bridge:
        return "bridge"
    if name.startswith("veth") or ethtool_driver(name) == "veth":
        return "veth"
    return "other"


def interface_kinds(ifaces: Mapping[str, Interface]) -> dict[str, str]:
    return {name: interface_kind(name, loopback=i.loopback) for name, i in ifaces.items()}


@dataclass
class Peer:
    """An etcd or NATS server this configuration uses, and how the kernel reaches it."""

    service: str
    host: str
    address: str | None = None
    remote: bool = False
    interface: str | None = None
    source: str | None = None
    error: str | None = None


def cluster_peers(env: Mapping[str, str], ifaces: Mapping[str, Interface],
                  timeout: float) -> tuple[list[Peer], list[str]]:
    """The etcd/NATS servers in use, resolved and routed; and the variables read for that."""
    from sgdoctor.probe.routes import resolve_many, source_address

    wanted: list[tuple[str, str]] = []
    read: list[str] = []
    etcd = etcd_usage(env)
    read += etcd.env
    if etcd.used:
        read.append("ETCD_ENDPOINTS")
        wanted += [("etcd", e.host) for e in etcd_endpoints(env) if e.host]
    nats = nats_usage(env)
    read += nats.env
    if nats.used or (nats.used is None and "NATS_SERVER" in env):
        read.append("NATS_SERVER")
        wanted += [("NATS", e.host) for e in nats_servers(env) if e.host]
    resolved = resolve_many([h for _, h in wanted], timeout)
    peers = []
    for service, host in wanted:
        res = resolved[host]
        peer = Peer(service, host, error=res.error)
        if res.addresses:
            peer.address = res.addresses[0]
            peer.remote = not is_loopback(peer.address) and \
                address_owner(dict(ifaces), peer.address) is None
            peer.source, peer.error = source_address(peer.address)
            if peer.source:
                peer.interface = address_owner(dict(ifaces), peer.source)
        peers.append(peer)
    return peers, [n for n in dict.fromkeys(read) if n in env]


def cluster_interface(peers: list[Peer]) -> Peer | None:
    """The first remote peer whose route is known: its interface carries cluster traffic."""
    return next((p for p in peers if p.remote and p.interface), None)


@dataclass(frozen=True)
class GlooChoice:
    """The interfaces gloo binds (None entries: a named interface that does not exist)."""

    source: str                      # "GLOO_SOCKET_IFNAME" or "hostname"
    interfaces: tuple[str, ...] = ()
    address: str | None = None       # for the hostname path: the address gloo binds
    error: str | None = None


def gloo_interfaces(env: Mapping[str, str], ifaces: Mapping[str, Interface],
                    timeout: float) -> GlooChoice:
    """PyTorch's choice: GLOO_SOCKET_IFNAME's exact names, else the hostname's first
    bindable address (127.0.0.1 when none), and the interface owning it."""
    from sgdoctor.probe.routes import first_bindable, resolve_many

    spec = parse_gloo(env.get("GLOO_SOCKET_IFNAME"))
    named = tuple(dict.fromkeys(n for n in spec.names if n in ifaces))
    if spec.used and all(spec.names):
        return GlooChoice("GLOO_SOCKET_IFNAME", named,
                          error=None if named else "none of its names is an interface here")
    hostname = socket.gethostname()
    resolution = resolve_many([hostname], timeout)[hostname]
    address, _ = first_bindable(resolution.addresses)
    address = address or "127.0.0.1"
    owner = address_owner(dict(ifaces), address)
    found = tuple(dict.fromkeys((*named, *([owner] if owner else []))))
    return GlooChoice("hostname", found, address, resolution.error)


@dataclass(frozen=True)
class NcclChoice:
    """What one of NCCL_SOCKET_IFNAME / MCCL_SOCKET_IFNAME makes NCCL (or MCCL) use."""

    variable: str
    raw: str | None
    rule: str
    selected: tuple[str, ...] = ()   # every interface, in NCCL's order; [0] is bootstrap's
    ignored_short: bool = False      # set but 1 character or less: NCCL ignores it

    @property
    def first(self) -> str | None:
        return self.selected[0] if self.selected else None


def nccl_choice(variable: str, raw: str | None,
                ifaces: Mapping[str, Interface]) -> NcclChoice:
    spec = parse_nccl(raw)
    selected = nccl_select(spec, getifaddrs_order(dict(ifaces)))
    return NcclChoice(variable, raw, spec.describe(), tuple(selected),
                      ignored_short=raw is not None and not spec.used and raw != "")


@dataclass
class Network:
    """Everything host.ip and nccl.interface judge from, probed once."""

    interfaces: dict[str, Interface]
    kinds: dict[str, str]
    peers: list[Peer] = field(default_factory=list)
    env_read: list[str] = field(default_factory=list)


def probe_network(env: Mapping[str, str], timeout: float) -> Network:
    from sgdoctor.probe.interfaces import list_interfaces

    ifaces = list_interfaces()
    peers, read = cluster_peers(env, ifaces, timeout)
    return Network(ifaces, interface_kinds(ifaces), peers, read)
