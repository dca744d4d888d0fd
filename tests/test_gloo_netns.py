"""gloo.interface against REAL interfaces: veth pairs in network namespaces, the real CLI inside.

Peer addresses (etcd/NATS endpoints) live in the test's own namespaces and are never contacted:
the check only asks the routing table (UDP connect + getsockname sends nothing).
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass

import pytest

from conftest import json_report, result_of, run_cli
from netns import Namespaces, Netns, silent_resolver, unique_subnet, veth


@dataclass
class Site:
    """A node namespace whose bond0 faces a peer namespace (bond0p), on subnet .1 / .2."""

    nets: Namespaces
    node: Netns
    peer: Netns
    subnet: str

    @property
    def node_ip(self) -> str:
        return f"{self.subnet}.1"

    @property
    def peer_ip(self) -> str:
        return f"{self.subnet}.2"


@pytest.fixture
def nets(needs_netns):
    with Namespaces() as namespaces:
        yield namespaces


def _site(nets: Namespaces, *, node_address: bool = True, up: bool = True) -> Site:
    node, peer = nets.new("node"), nets.new("peer")
    veth(node, "bond0", peer, "bond0p")
    site = Site(nets, node, peer, unique_subnet())
    if node_address:
        node.add_address("bond0", f"{site.node_ip}/24")
    peer.add_address("bond0p", f"{site.peer_ip}/24")
    peer.up("bond0p")
    if up:
        node.up("bond0", wait=True)
    return site


@pytest.fixture
def site(nets) -> Site:
    return _site(nets)


def gloo(ns: Netns, env: dict[str, str], *,
         hostname: str | None = None) -> tuple[dict, subprocess.CompletedProcess[str]]:
    """The real CLI inside ``ns``; with ``hostname``, in a private UTS namespace named so."""
    prefix = ns.prefix
    if hostname is not None:
        prefix = [*prefix, "unshare", "-u", "sh", "-c", 'hostname "$0" && exec "$@"', hostname]
    proc = run_cli(["--only", "gloo.interface", "--format", "json"], env, prefix=prefix,
                   timeout=30)
    assert "Traceback" not in proc.stderr, proc.stderr
    result = result_of(json_report(proc), "gloo.interface")
    expected_rc = 1 if result["status"] == "fail" else 0
    assert proc.returncode == expected_rc, (proc.returncode, result)
    return result, proc


def test_present_up_ipv4_is_ok(site):
    result, _ = gloo(site.node, {"GLOO_SOCKET_IFNAME": "bond0"})
    assert result["status"] == "ok", result
    assert f"bond0 ({site.node_ip})" in result["summary"]
    details = result["details"]
    assert details["requested"] == ["bond0"]
    assert details["chosen"]["bond0"] == {"interface": "bond0", "address": site.node_ip}
    bond0 = details["interfaces"]["bond0"]
    assert bond0["up"] is True and bond0["ipv4"] == [site.node_ip] and bond0["mtu"] == 1500
    assert "GLOO_SOCKET_IFNAME" in result["env"]


def test_down_interface_fails(site):
    site.node.down("bond0")
    result, _ = gloo(site.node, {"GLOO_SOCKET_IFNAME": "bond0"})
    assert result["status"] == "fail", result
    assert "bond0 is down" in result["summary"]
    assert "ip link set bond0 up" in result["remedy"]
    assert result["details"]["interfaces"]["bond0"]["up"] is False


def test_peer_down_means_no_carrier(site):
    site.peer.down("bond0p")
    result, _ = gloo(site.node, {"GLOO_SOCKET_IFNAME": "bond0"})
    assert result["status"] == "fail", result
    assert "bond0 is down (no carrier" in result["summary"]


def test_up_without_any_address_fails_with_gloo_error(nets):
    site = _site(nets, node_address=False, up=False)
    site.node.sysctl("net.ipv6.conf.bond0.disable_ipv6", "1")
    site.node.up("bond0", wait=True)
    result, _ = gloo(site.node, {"GLOO_SOCKET_IFNAME": "bond0"})
    assert result["status"] == "fail", result
    assert "Unable to find address for: bond0" in result["summary"]
    # No candidate in this namespace: the remedy says so instead of listing loopback.
    assert "no interface that is up, has an address and is not loopback" in result["remedy"]


def test_link_local_only(nets):
    site = _site(nets, node_address=False, up=False)
    site.node.no_auto_link_local("bond0")
    site.node.add_address("bond0", "fe80::5:1/64", nodad=True)
    site.node.up("bond0", wait=True)
    local, _ = gloo(site.node, {"GLOO_SOCKET_IFNAME": "bond0"})
    assert local["status"] == "warn", local
    assert "only the IPv6 link-local address fe80::5:1" in local["summary"]
    assert local["details"]["chosen"]["bond0"]["address"] == "fe80::5:1"
    assert codes(local) == ["link_local_only"]
    # With etcd on another host over IPv4, gloo's families differ: it aborts ("10 vs 2").
    remote, _ = gloo(site.node, {"GLOO_SOCKET_IFNAME": "bond0",
                                 "ETCD_ENDPOINTS": f"http://{site.peer_ip}:2379"})
    assert remote["status"] == "fail", remote
    assert codes(remote) == ["family_mismatch"]
    assert "IPv6 address fe80::5:1 only" in remote["summary"]
    assert f"is IPv4 ({site.peer_ip})" in remote["summary"] and "10 vs 2" in remote["summary"]


def codes(result: dict) -> list[str]:
    return [f["code"] for f in result["details"]["findings"] if f["status"] != "ok"]


def test_ipv6_only_interface_against_ipv4_etcd_is_a_family_mismatch(nets):
    site = _site(nets, node_address=False)
    site.node.add_address("bond0", "fd00:5d0c::1/64", nodad=True)
    result, _ = gloo(site.node, {"GLOO_SOCKET_IFNAME": "bond0",
                                 "ETCD_ENDPOINTS": f"http://{site.peer_ip}:2379"})
    assert result["status"] == "fail", result
    assert codes(result) == ["family_mismatch"]
    assert "gloo requires one address family on every rank" in result["summary"]
    assert "Give gloo an IPv4 address." in result["remedy"]


@pytest.mark.parametrize("value", [",bond0", "bond0,,bond0", ",,"])
def test_an_empty_entry_aborts_like_pytorch(site, value):
    result, _ = gloo(site.node, {"GLOO_SOCKET_IFNAME": value})
    assert result["status"] == "fail", result
    assert "empty_entry" in codes(result)
    assert ("GlooDeviceFactory::makeTCPDevice(): interface or hostname can't be empty"
            in result["summary"])
    assert "(hostname)" not in result["details"]["chosen"]  # no hostname fallback


def test_a_trailing_comma_is_harmless(site):
    result, _ = gloo(site.node, {"GLOO_SOCKET_IFNAME": "bond0,"})
    assert result["status"] == "ok", result
    assert result["details"]["requested"] == ["bond0"] and result["details"]["devices"] == 1


def test_ipv6_only_global_address_is_ok(nets):
    site = _site(nets, node_address=False)
    site.node.add_address("bond0", "fd00:5d0c::1/64", nodad=True)
    # Wait for the kernel's link-local address: gloo must still pick the global one.
    site.node.wait_for(["sh", "-c", "grep -q bond0 /proc/net/if_inet6 && "
                        "[ $(grep -c bond0 /proc/net/if_inet6) -ge 2 ]"])
    result, _ = gloo(site.node, {"GLOO_SOCKET_IFNAME": "bond0"})
    assert result["status"] == "ok", result
    assert result["details"]["chosen"]["bond0"]["address"] == "fd00:5d0c::1"
    ipv6 = result["details"]["interfaces"]["bond0"]["ipv6"]
    assert ipv6[0] == "fd00:5d0c::1" and ipv6[1].startswith("fe80::")


def test_loopback_with_remote_etcd_fails(site):
    env = {"GLOO_SOCKET_IFNAME": "lo", "ETCD_ENDPOINTS": f"http://{site.peer_ip}:2379",
           "NCCL_SOCKET_IFNAME": "bond"}
    result, _ = gloo(site.node, env)
    assert result["status"] == "fail", result
    assert "loopback" in result["summary"] and site.peer_ip in result["summary"]
    assert "GLOO_SOCKET_IFNAME=bond0" in result["remedy"]
    # NCCL already points at bond0: never advise moving it to gloo's broken choice.
    assert "NCCL_SOCKET_IFNAME" not in result["remedy"]
    assert result["details"]["nccl"]["NCCL_SOCKET_IFNAME"]["selects"] == ["bond0"]
    assert "ETCD_ENDPOINTS" in result["env"]
    peer = result["details"]["peers"][0]
    assert peer["remote"] is True and peer["interface"] == "bond0"


def test_loopback_with_local_etcd_only_warns(site):
    result, _ = gloo(site.node, {"GLOO_SOCKET_IFNAME": "lo"})
    assert result["status"] == "warn", result
    assert "every rank runs on this host" in result["summary"]


def test_etcd_not_used_is_not_a_peer(site):
    env = {"GLOO_SOCKET_IFNAME": "lo", "ETCD_ENDPOINTS": f"http://{site.peer_ip}:2379",
           "DYN_DISCOVERY_BACKEND": "kubernetes"}
    result, _ = gloo(site.node, env)
    assert result["status"] == "warn", result
    assert result["details"]["peers"] == []


def test_missing_second_interface_is_named(site):
    result, _ = gloo(site.node, {"GLOO_SOCKET_IFNAME": "bond0,eth9"})
    assert result["status"] == "fail", result
    assert "no interface 'eth9'" in result["summary"]
    assert "Unable to find address for: eth9" in result["summary"]
    assert "bond0" not in result["summary"]
    assert f"bond0 ({site.node_ip}" in result["remedy"]
    assert result["details"]["chosen"]["bond0"]["address"] == site.node_ip


def test_nccl_syntax_is_explained(site):
    result, _ = gloo(site.node, {"GLOO_SOCKET_IFNAME": "^lo,docker"})
    assert result["status"] == "fail", result
    assert "NCCL syntax" in result["summary"]
    assert "Unable to find address for: ^lo" in result["summary"]


def _second_link(site: Site) -> tuple[Netns, str]:
    """eth1 in the node namespace, facing a second peer namespace on another subnet."""
    far = site.nets.new("far")
    veth(site.node, "eth1", far, "eth1p")
    subnet = unique_subnet()
    while subnet == site.subnet:
        subnet = unique_subnet()
    site.node.add_address("eth1", f"{subnet}.1/24")
    far.add_address("eth1p", f"{subnet}.2/24")
    far.up("eth1p")
    site.node.up("eth1", wait=True)
    return far, f"{subnet}.2"


def test_route_disagreement_names_the_routing_interface(site):
    _, far_ip = _second_link(site)
    env = {"GLOO_SOCKET_IFNAME": "bond0", "ETCD_ENDPOINTS": f"http://{far_ip}:2379"}
    result, _ = gloo(site.node, env)
    assert result["status"] == "warn", result
    assert "reached through eth1" in result["summary"]
    assert "GLOO_SOCKET_IFNAME=eth1" in result["remedy"]
    # Agreement: etcd behind bond0 itself.
    env["ETCD_ENDPOINTS"] = f"http://{site.peer_ip}:2379"
    agreed, _ = gloo(site.node, env)
    assert agreed["status"] == "ok", agreed


def test_route_to_nats_counts_only_when_nats_is_used(site):
    _, far_ip = _second_link(site)
    env = {"GLOO_SOCKET_IFNAME": "bond0", "NATS_SERVER": f"nats://{far_ip}:4222",
           "DYN_REQUEST_PLANE": "nats"}
    used, _ = gloo(site.node, env)
    assert used["status"] == "warn" and "NATS server" in used["summary"], used
    env.update(DYN_REQUEST_PLANE="tcp", DYN_EVENT_PLANE="zmq")
    unused, _ = gloo(site.node, env)
    assert unused["status"] == "ok", unused


def test_nccl_selection_compared(site):
    _second_link(site)
    same, _ = gloo(site.node, {"GLOO_SOCKET_IFNAME": "bond0", "NCCL_SOCKET_IFNAME": "bond"})
    assert same["status"] == "ok", same
    assert same["details"]["nccl"]["NCCL_SOCKET_IFNAME"]["selects"] == ["bond0"]
    disjoint, _ = gloo(site.node, {"GLOO_SOCKET_IFNAME": "bond0", "MCCL_SOCKET_IFNAME": "^bond"})
    assert disjoint["status"] == "warn", disjoint
    assert disjoint["details"]["nccl"]["MCCL_SOCKET_IFNAME"]["selects"] == ["lo", "eth1"]
    assert "MCCL_SOCKET_IFNAME" in disjoint["summary"]


def test_unset_uses_hostname_address(site):
    name = "gloo-node-7"
    site.node.etc_file("hosts", f"127.0.0.1 localhost\n# the node\n{site.node_ip}\t{name.upper()}"
                                "  # bond0\n")
    env = {"ETCD_ENDPOINTS": f"http://{site.peer_ip}:2379"}
    result, _ = gloo(site.node, env, hostname=name)
    assert result["status"] == "ok", result
    assert f"bond0 ({site.node_ip})" in result["summary"] and name in result["summary"]
    # Which hostname, and which /etc/hosts line (glibc matches names case-insensitively).
    assert "(/etc/hosts line 3: " in result["summary"]
    hostname = result["details"]["hostname"]
    assert hostname["name"] == name and hostname["gloo_address"] == site.node_ip
    assert hostname["hosts_line"]["number"] == 3
    assert hostname["hosts_line"]["address"] == site.node_ip
    short, _ = gloo(site.node, {**env, "GLOO_SOCKET_IFNAME": "b"}, hostname=name)
    assert short["status"] == "warn", short
    assert short["summary"].count(repr(name)) == 1
    assert short["summary"].endswith(f"→ bond0 ({site.node_ip})")
    assert "GLOO_SOCKET_IFNAME" in short["remedy"] and "bond0" in short["remedy"]


def test_hostname_from_dns_says_it_is_not_in_etc_hosts(site):
    site.node.etc_file("hosts", "127.0.0.1 localhost\n")
    # A hostname that is an address resolves to itself, through no /etc/hosts line.
    result, _ = gloo(site.node, {}, hostname=site.node_ip)
    assert result["status"] == "ok", result
    assert "not from /etc/hosts" in result["summary"]


def test_hostname_bindable_but_owned_by_no_interface_aborts(site):
    """ip_nonlocal_bind (or AnyIP) lets PyTorch bind an address no interface has; gloo then
    aborts "Unable to find interface for: [addr]" (gpustack#1201)."""
    stale = f"{site.subnet}.77"
    site.node.sysctl("net.ipv4.ip_nonlocal_bind", "1")
    site.node.etc_file("hosts", f"127.0.0.1 localhost\n{stale} moved-node\n")
    result, _ = gloo(site.node, {"ETCD_ENDPOINTS": f"http://{site.peer_ip}:2379"},
                     hostname="moved-node")
    assert result["status"] == "fail", result
    assert codes(result) == ["hostname_no_interface"]
    assert f'"Unable to find interface for: [{stale}]"' in result["summary"]
    assert "'moved-node' (/etc/hosts line 2: " in result["summary"]
    assert "Correct /etc/hosts line 2 so 'moved-node' maps to" in result["remedy"]
    assert "GLOO_SOCKET_IFNAME=bond0" in result["remedy"]
    assert result["details"]["chosen"]["(hostname)"] == {"interface": None, "address": stale}


def test_stale_etc_hosts_without_nonlocal_bind_falls_back_to_loopback(site):
    stale = f"{site.subnet}.77"
    site.node.etc_file("hosts", f"127.0.0.1 localhost\n{stale} moved-node\n")
    result, _ = gloo(site.node, {"ETCD_ENDPOINTS": f"http://{site.peer_ip}:2379"},
                     hostname="moved-node")
    assert result["status"] == "fail", result
    assert codes(result) == ["loopback"]
    assert f"/etc/hosts line 2 maps it to {stale}, which no interface of this host has" in \
        result["summary"]
    assert result["details"]["hostname"]["fallback"] is True


@pytest.mark.parametrize("name,address", [("189", "0.0.0.189"), ("05", "0.0.0.5")])
def test_numeric_hostname_fails_naming_it(site, name, address):
    result, _ = gloo(site.node, {}, hostname=name)
    assert result["status"] == "fail", result
    assert codes(result) == ["numeric_hostname"]
    assert f"the hostname {name!r}, which is a number" in result["summary"]
    assert f"as the IPv4 address {address}" in result["summary"]
    assert result["details"]["hostname"]["numeric"] == address


def test_unset_hostname_on_loopback(site):
    name = socket.gethostname()
    site.node.etc_file("hosts", f"127.0.0.1 localhost {name}\n")
    local, _ = gloo(site.node, {})
    assert local["status"] == "warn", local
    assert "resolves only to loopback" in local["summary"]
    assert "bond0" in local["remedy"]
    remote, _ = gloo(site.node, {"ETCD_ENDPOINTS": f"http://{site.peer_ip}:2379"})
    assert remote["status"] == "fail", remote
    assert "GLOO_SOCKET_IFNAME=bond0" in remote["remedy"]


def test_silent_resolver_cannot_hang_the_check(site):
    """A DNS server (inside the namespace) that never answers: the check still ends in time."""
    with silent_resolver(site.node, f"127.0.0.1 localhost {socket.gethostname()}\n"):
        env = {"GLOO_SOCKET_IFNAME": "bond0",
               "ETCD_ENDPOINTS": "http://etcd.sgd-test.invalid:2379"}
        start = time.monotonic()
        result, _ = gloo(site.node, env)
        elapsed = time.monotonic() - start
    assert elapsed < 6, elapsed
    assert result["status"] == "ok", result
    peer = result["details"]["peers"][0]
    assert peer["host"] == "etcd.sgd-test.invalid" and "longer than" in peer["error"]


def test_non_utf8_value_is_reported_not_crashed(site):
    result, proc = gloo(site.node, {"GLOO_SOCKET_IFNAME": "bond\udcff"})
    assert result["status"] == "fail", result
    # The raw byte is shown as \xff, as everywhere else in sgdoctor's output.
    assert "Unable to find address for: bond\\xff" in result["summary"]
