"""Real network namespaces for tests: namespaces, veth pairs, bridges, addresses, /etc overrides.

Every name is unique (random suffix) so parallel test runs never collide, and everything is
removed on exit — deleting a namespace destroys the veth ends and bridges inside it. Addresses
live only inside the test's own namespaces; nothing here touches the host's interfaces.

    with Namespaces() as nets:
        node, peer = nets.new("node"), nets.new("peer")
        veth(node, "bond0", peer, "bond0p")
        node.add_address("bond0", "10.1.2.1/24")
        peer.add_address("bond0p", "10.1.2.2/24")
        node.up("bond0"); peer.up("bond0p")
        subprocess.run([*node.prefix, "python3", "-c", "..."])
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ETC_NETNS = Path("/etc/netns")
TIMEOUT = 20


def _run(cmd: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def unique_subnet() -> str:
    """A random 10.x.y prefix (three octets) for addresses that exist only inside test netns."""
    return f"10.{secrets.randbelow(200) + 50}.{secrets.randbelow(250) + 1}"


class Netns:
    """One network namespace; commands run inside it through ``prefix``."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def prefix(self) -> list[str]:
        """Prepend to a command to run it inside this namespace."""
        return ["ip", "netns", "exec", self.name]

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run(["ip", "-n", self.name, *args], check=check)

    def exec(self, cmd: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run([*self.prefix, *cmd], check=check)

    def up(self, dev: str, *, wait: bool = False) -> None:
        """Set ``dev`` up; with ``wait``, until its operstate says so (veth: peer up too)."""
        self.ip("link", "set", dev, "up")
        if wait:
            self.wait_for(["grep", "-qx", "up", f"/sys/class/net/{dev}/operstate"])

    def down(self, dev: str) -> None:
        self.ip("link", "set", dev, "down")

    def add_address(self, dev: str, cidr: str, *, nodad: bool = False) -> None:
        self.ip("addr", "add", cidr, "dev", dev, *(["nodad"] if nodad else []))

    def no_auto_link_local(self, dev: str) -> None:
        """No kernel-generated IPv6 link-local address on ``dev`` (before it goes up)."""
        self.ip("link", "set", dev, "addrgenmode", "none")

    def sysctl(self, key: str, value: str) -> None:
        path = "/proc/sys/" + key.replace(".", "/")
        self.exec(["sh", "-c", f"echo {value} > {path}"])

    def bridge(self, name: str, members: list[str]) -> None:
        self.ip("link", "add", name, "type", "bridge")
        for member in members:
            self.ip("link", "set", member, "master", name)
            self.up(member)
        self.up(name)

    def etc_file(self, name: str, text: str) -> Path:
        """A file that `ip netns exec` bind-mounts over /etc/<name> inside this namespace."""
        directory = ETC_NETNS / self.name
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        path.write_text(text)
        return path

    def spawn(self, cmd: list[str], **kwargs) -> subprocess.Popen:
        """Start a long-running process inside the namespace; the caller stops it."""
        return subprocess.Popen([*self.prefix, *cmd], **kwargs)

    def wait_for(self, predicate_cmd: list[str], timeout: float = 5.0) -> None:
        """Poll a command inside the namespace until it succeeds (e.g. DAD finishing)."""
        end = time.monotonic() + timeout
        while self.exec(predicate_cmd, check=False).returncode != 0:
            if time.monotonic() > end:
                raise TimeoutError(f"{predicate_cmd} never succeeded in {self.name}")
            time.sleep(0.05)


SILENT_UDP = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
time.sleep(120)
"""


@contextlib.contextmanager
def silent_resolver(ns: Netns, hosts: str = "127.0.0.1 localhost\n") -> Iterator[None]:
    """Inside ``ns``: a DNS server on 127.0.0.1:53 that never answers, and /etc/hosts=``hosts``.

    Every name not in ``hosts`` then resolves slowly (resolv.conf: 5 s x 3 attempts), which is
    how a broken resolver looks; the queries never leave the namespace's loopback.
    """
    ns.etc_file("resolv.conf", "nameserver 127.0.0.1\noptions timeout:5 attempts:3\n")
    ns.etc_file("hosts", hosts)
    server = ns.spawn([sys.executable, "-c", SILENT_UDP, "53"], stdout=subprocess.PIPE,
                      text=True)
    try:
        line = server.stdout.readline() if server.stdout else ""
        if line.strip() != "ready":
            raise RuntimeError(f"silent resolver did not start in {ns.name}")
        yield
    finally:
        server.kill()
        server.wait(timeout=10)


def veth(a: Netns, a_name: str, b: Netns, b_name: str) -> None:
    """A veth pair: ``a_name`` inside ``a``, ``b_name`` inside ``b``; both left down."""
    a.ip("link", "add", a_name, "type", "veth", "peer", "name", b_name, "netns", b.name)


class Namespaces:
    """Creates namespaces on demand and deletes every one of them (and its /etc files) on exit."""

    def __init__(self) -> None:
        self.created: list[Netns] = []

    def new(self, label: str = "ns") -> Netns:
        ns = Netns(f"sgd-{label[:6]}-{secrets.token_hex(4)}")
        _run(["ip", "netns", "add", ns.name])
        self.created.append(ns)
        ns.up("lo")
        return ns

    def cleanup(self) -> None:
        while self.created:
            ns = self.created.pop()
            _run(["ip", "netns", "del", ns.name], check=False)
            # /etc/netns itself stays: a parallel run may be creating its own directory there.
            shutil.rmtree(ETC_NETNS / ns.name, ignore_errors=True)

    def __enter__(self) -> Namespaces:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def mac_for(index: int) -> str:
    """A fixed, locally administered unicast MAC for fleet member ``index`` (0: the root end)."""
    return "02:5d:" + ":".join(f"{index >> shift & 255:02x}" for shift in (24, 16, 8, 0))


def _batch(netns: str | None, commands: list[str]) -> None:
    """Several ``ip`` commands in one process (``ip -batch -``), inside ``netns`` (None: this
    namespace): one spawn, not one each."""
    proc = subprocess.run(["ip", *(["-n", netns] if netns else []), "-batch", "-"],
                          input="\n".join(commands) + "\n", capture_output=True, text=True,
                          timeout=TIMEOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"ip -batch failed ({proc.returncode}): {proc.stderr.strip()}")


@dataclass
class Bridged:
    """Namespaces on one bridge: ``nodes[i]`` has ``dev`` at ``addresses[i]``; the root
    namespace is on the bridge too, at ``host_address`` (where a server for them listens)."""

    hub: Netns
    nodes: list[Netns]
    addresses: list[str]
    host_address: str
    dev: str
    root_end: str          # the root namespace's port on the bridge


@contextlib.contextmanager
def bridged(nets: Namespaces, count: int, *, label: str = "node",
            dev: str = "eth1") -> Iterator[Bridged]:
    """``count`` node namespaces and the root namespace on one bridge (in a hub namespace).

    Every port has a fixed MAC and every node (and the root end) a permanent neighbour entry
    for every other: no ARP at all, and permanent entries are exempt from the kernel's
    neighbour-table limit (gc_thresh3, 1024 entries for all namespaces together), which N
    nodes resolving each other by ARP overflow from about 32 nodes. No IPv6 link-local
    addresses (no DAD, no router solicitations: nothing but the test's own traffic). The root
    end is removed on exit; the namespaces go with ``nets``.
    """
    if not 1 <= count <= 240:
        raise ValueError(f"{count} nodes: one /24 holds 1 to 240 of them")
    subnet = unique_subnet()
    host_address = f"{subnet}.1"
    addresses = [f"{subnet}.{10 + i}" for i in range(count)]
    macs = [mac_for(i + 1) for i in range(count)]
    root_end = f"sgdb{secrets.token_hex(4)}"
    hub = nets.new("hub")
    _run(["ip", "link", "add", root_end, "address", mac_for(0), "type", "veth", "peer", "name",
          "up0", "netns", hub.name])
    try:
        _batch(None, [f"link set {root_end} addrgenmode none",
                      f"addr add {host_address}/24 dev {root_end}", f"link set {root_end} up"]
               + [f"neigh replace {a} lladdr {m} dev {root_end} nud permanent"
                  for a, m in zip(addresses, macs, strict=True)])
        ports = ["up0"]
        nodes = []
        for index in range(count):
            node = nets.new(label)
            veth(node, dev, hub, f"p{index}")
            ports.append(f"p{index}")
            neighbours = [(host_address, mac_for(0))] + [
                (a, m) for j, (a, m) in enumerate(zip(addresses, macs, strict=True))
                if j != index]
            _batch(node.name, [f"link set {dev} address {macs[index]}",
                               f"link set {dev} addrgenmode none",
                               f"addr add {addresses[index]}/24 dev {dev}",
                               f"link set {dev} up"]
                   + [f"neigh replace {a} lladdr {m} dev {dev} nud permanent"
                      for a, m in neighbours])
            nodes.append(node)
        _batch(hub.name, [f"link set {p} addrgenmode none" for p in ports]
               + ["link add br0 type bridge", "link set br0 addrgenmode none"]
               + [f"link set {p} master br0" for p in ports]
               + [f"link set {p} up" for p in ports] + ["link set br0 up"])
        for node in nodes:
            node.wait_for(["grep", "-qx", "up", f"/sys/class/net/{dev}/operstate"])
        yield Bridged(hub, nodes, addresses, host_address, dev, root_end)
    finally:
        _run(["ip", "link", "del", root_end], check=False)
