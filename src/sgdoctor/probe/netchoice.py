"""Which interface each consumer would pick on this host, as facts for host.ip and nccl.interface.

- :func:`interface_kinds`: what an interface is (bridge, veth, wireless, docker, loopback),
  from /sys/class/net and the ethtool driver name (SIOCETHTOOL, no `ethtool` binary needed);
- :func:`nccl_choice`: NCCL_SOCKET_IFNAME / MCCL_SOCKET_IFNAME through parse.ifname's rules;
- :func:`probe_network`: the interfaces with their kinds, and probe.gloo's facts (gloo's
  devices, the etcd/NATS servers in use and the interface routing to each).

Interfaces are those of this process's network namespace (``--host-root`` does not apply: a
DaemonSet inspects the node's interfaces with ``hostNetwork: true``).
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
from collections.abc import Mapping

from sgdoctor.parse.ifname import nccl_select, parse_nccl
from sgdoctor.probe.interfaces import Interface, getifaddrs_order
from sgdoctor.records import dataclass

TYPE_CHECKING = False

if TYPE_CHECKING:
    from sgdoctor.probe.gloo import GlooFacts, Peer

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
    """Everything host.ip and nccl.interface judge from, probed once: the interfaces and their
    kinds, and gloo's facts (its devices, the etcd/NATS peers and their routes) from
    probe.gloo, so these checks see exactly what gloo.interface sees."""

    interfaces: dict[str, Interface]
    kinds: dict[str, str]
    gloo: GlooFacts

    @property
    def peers(self) -> tuple[Peer, ...]:
        return self.gloo.peers

    @property
    def route_peer(self) -> Peer | None:
        return self.gloo.route_peer

    @property
    def gloo_interfaces(self) -> tuple[str, ...]:
        """The existing interfaces gloo's devices bind to, in order."""
        return tuple(dict.fromkeys(d.interface for d in self.gloo.devices if d.interface))

    @property
    def gloo_source(self) -> str:
        return "GLOO_SOCKET_IFNAME" if self.gloo.spec.used else "hostname"


def probe_network(env: Mapping[str, str], timeout: float) -> Network:
    from sgdoctor.probe.gloo import probe_gloo

    gloo = probe_gloo(env, timeout)
    ifaces = dict(gloo.interfaces)
    return Network(ifaces, interface_kinds(ifaces), gloo)
