"""What PyTorch's gloo would bind on this node, as facts: devices, the hostname path, peers.

gloo.interface judges these facts and `sgdoctor mesh` listens where they say; neither
probes on its own. One call resolves every name (the hostname and the etcd/NATS hosts) in
one batch bounded by one timeout, reads /etc/hosts for the line that maps the hostname, and
asks the routing table (no packet is sent) which local interface reaches each peer.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping

from sgdoctor.parse.endpoints import etcd_endpoints, etcd_usage, nats_servers, nats_usage
from sgdoctor.parse.ifname import GlooSpec, parse_gloo
from sgdoctor.probe.interfaces import Interface, address_owner, is_loopback, list_interfaces
from sgdoctor.probe.routes import first_bindable, resolve_many, source_address
from sgdoctor.records import dataclass

HOSTS_PATH = "/etc/hosts"
HOSTS_LIMIT = 1 << 20      # /etc/hosts read at most this far (a FIFO or a huge file cannot stall)
MAX_HOSTS_LINES = 8        # lines naming the hostname kept as facts
# Distinct entries examined one by one; more is a finding of its own (no host has that many).
MAX_ENTRIES = 32
LOOPBACK_FALLBACK = "127.0.0.1"   # PyTorch's kLoopbackAddress


def family(address: str | None) -> str | None:
    """"ipv4" or "ipv6" (gloo's AF_INET = 2 and AF_INET6 = 10), None when not an address."""
    try:
        return f"ipv{ipaddress.ip_address((address or '').split('%', 1)[0]).version}"
    except ValueError:
        return None


@dataclass(frozen=True)
class Peer:
    """An etcd or NATS server this configuration uses, and how the kernel reaches it."""

    service: str                 # "etcd" or "NATS"
    host: str
    address: str | None = None   # its first resolved address
    remote: bool = False         # neither loopback nor one of this host's addresses
    source: str | None = None    # the local address the routing table picks for it
    interface: str | None = None  # the interface owning that source address
    error: str | None = None     # resolving or routing failed, in the resolver's/OS's words

    @property
    def family(self) -> str | None:
        return family(self.address)

    def as_details(self) -> dict[str, object]:
        return {"service": self.service, "host": self.host, "address": self.address,
                "remote": self.remote, "source": self.source, "interface": self.interface,
                "error": self.error}


@dataclass(frozen=True)
class Device:
    """One gloo device: the GLOO_SOCKET_IFNAME piece (None: the hostname path) and what it
    gets. ``interface`` is None when no interface has that name (or owns the address)."""

    entry: str | None
    interface: str | None = None
    address: str | None = None

    @property
    def family(self) -> str | None:
        return family(self.address)


@dataclass(frozen=True)
class HostsLine:
    """A line of /etc/hosts that names the hostname."""

    number: int
    address: str
    text: str


@dataclass(frozen=True)
class HostnamePath:
    """PyTorch's createDefaultDevice: gethostname(), getaddrinfo, the first address that binds;
    none binds → the loopback fallback."""

    name: str
    addresses: tuple[str, ...] = ()
    error: str | None = None           # resolution failed or timed out
    bind_errors: tuple[str, ...] = ()
    address: str = LOOPBACK_FALLBACK   # what gloo binds
    fallback: bool = False             # no address bound: PyTorch warns and uses loopback
    numeric: str | None = None         # getaddrinfo reads the name as this IPv4 address
    hosts_path: str = HOSTS_PATH
    hosts_lines: tuple[HostsLine, ...] = ()
    hosts_error: str | None = None

    @property
    def hosts_line(self) -> HostsLine | None:
        """The /etc/hosts line that gave the bound (else the first resolved) address."""
        wanted = [self.address] if not self.fallback else list(self.addresses[:1])
        for address in wanted:
            for line in self.hosts_lines:
                if _same(line.address, address):
                    return line
        return None

    def as_details(self) -> dict[str, object]:
        line = self.hosts_line
        return {"name": self.name, "addresses": list(self.addresses), "error": self.error,
                "bind_errors": list(self.bind_errors), "gloo_address": self.address,
                "fallback": self.fallback, "numeric": self.numeric,
                "hosts_file": self.hosts_path, "hosts_error": self.hosts_error,
                "hosts_line": None if line is None else {"number": line.number,
                                                          "address": line.address,
                                                          "text": line.text},
                "hosts_lines": [{"number": li.number, "address": li.address}
                                for li in self.hosts_lines]}


@dataclass(frozen=True)
class GlooFacts:
    """Everything gloo.interface judges and mesh listens on."""

    spec: GlooSpec
    interfaces: Mapping[str, Interface]
    devices: tuple[Device, ...]
    peers: tuple[Peer, ...]
    hostname: HostnamePath | None = None
    distinct_entries: int = 0          # distinct GLOO_SOCKET_IFNAME pieces (before the cap)
    env: tuple[str, ...] = ()          # the variables read to find the peers

    @property
    def remote_peers(self) -> tuple[Peer, ...]:
        return tuple(p for p in self.peers if p.remote)

    @property
    def route_peer(self) -> Peer | None:
        """The first remote peer whose route leaves through a non-loopback interface: its
        interface is the one gloo should most likely use."""
        for peer in self.remote_peers:
            iface = self.interfaces.get(peer.interface or "")
            if iface is not None and not iface.loopback:
                return peer
        return None

    @property
    def cluster_family(self) -> str | None:
        """The address family of the remote peers, when they agree on one."""
        families = {p.family for p in self.remote_peers if p.family}
        return families.pop() if len(families) == 1 else None

    def mtu(self, device: Device) -> int | None:
        iface = self.interfaces.get(device.interface or "")
        return iface.mtu if iface is not None else None


def _same(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a.split("%", 1)[0]) == ipaddress.ip_address(b.split("%", 1)[0])
    except ValueError:
        return a == b


def _numeric(name: str) -> str | None:
    """The IPv4 address inet_aton (and so getaddrinfo) reads ``name`` as: ``189`` is
    0.0.0.189; None for names that are not numbers and for a plain dotted quad."""
    try:
        packed = socket.inet_aton(name)
    except (OSError, ValueError):
        return None
    address = socket.inet_ntoa(packed)
    return None if address == name else address


def read_hosts(name: str, path: str = HOSTS_PATH) -> tuple[tuple[HostsLine, ...], str | None]:
    """The lines of ``path`` that name ``name`` (as glibc matches: case-insensitively), with
    their 1-based line numbers; or why the file could not be read."""
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        return (), f"cannot read {path}: {exc.strerror or exc}"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return (), f"{path} is not a regular file"
        data = os.read(fd, HOSTS_LIMIT)
    except OSError as exc:
        return (), f"cannot read {path}: {exc.strerror or exc}"
    finally:
        os.close(fd)
    wanted = name.lower()
    found: list[HostsLine] = []
    for number, raw in enumerate(data.decode("utf-8", "surrogateescape").splitlines(), 1):
        fields = raw.split("#", 1)[0].split()
        if len(fields) >= 2 and wanted in (f.lower() for f in fields[1:]):
            found.append(HostsLine(number, fields[0], raw.strip()))
            if len(found) >= MAX_HOSTS_LINES:
                break
    return tuple(found), None


def _wanted_peers(env: Mapping[str, str]) -> tuple[list[tuple[str, str]], list[str]]:
    """(service, host) of every etcd/NATS server the configuration uses; the variables read."""
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
    return wanted, [n for n in dict.fromkeys(read) if n in env]


def _peer(service: str, host: str, addresses: tuple[str, ...], error: str | None,
          ifaces: Mapping[str, Interface]) -> Peer:
    if not addresses:
        return Peer(service, host, error=error)
    address = addresses[0]
    remote = not is_loopback(address) and address_owner(ifaces, address) is None
    source, route_error = source_address(address)
    owner = address_owner(ifaces, source) if source else None
    return Peer(service, host, address, remote, source, owner, route_error)


def _hostname_path(name: str, addresses: tuple[str, ...], error: str | None,
                   hosts_path: str) -> HostnamePath:
    bound, bind_errors = first_bindable(addresses)
    lines, hosts_error = read_hosts(name, hosts_path)
    return HostnamePath(name, addresses, error, tuple(bind_errors),
                        bound or LOOPBACK_FALLBACK, bound is None, _numeric(name),
                        hosts_path, lines, hosts_error)


def probe_gloo(env: Mapping[str, str], timeout: float, *,
               hosts_path: str = HOSTS_PATH) -> GlooFacts:
    """The devices gloo would create from ``env`` on this host, within ``timeout`` seconds."""
    spec = parse_gloo(env.get("GLOO_SOCKET_IFNAME"))
    ifaces = list_interfaces()
    wanted, read = _wanted_peers(env)
    hostname = None if spec.used else socket.gethostname()
    names = [h for _, h in wanted] + ([hostname] if hostname is not None else [])
    resolved = resolve_many(names, timeout)
    peers = tuple(_peer(service, host, resolved[host].addresses, resolved[host].error, ifaces)
                  for service, host in wanted)
    distinct = list(dict.fromkeys(spec.names))
    devices: list[Device] = []
    path = None
    if hostname is not None:
        res = resolved[hostname]
        path = _hostname_path(hostname, res.addresses, res.error, hosts_path)
        devices.append(Device(None, address_owner(ifaces, path.address), path.address))
    for entry in distinct[:MAX_ENTRIES]:
        iface = ifaces.get(entry)
        if iface is None:
            devices.append(Device(entry))
        else:
            devices.append(Device(entry, entry, iface.gloo_address))
    return GlooFacts(spec, ifaces, tuple(devices), peers, path, len(distinct), tuple(read))
