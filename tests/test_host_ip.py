"""host.ip against REAL interfaces: veth pairs in network namespaces, /etc/hosts per namespace.

SGLang's auto-detection asks the routing table for 8.8.8.8 (UDP connect + getsockname: no
packet is sent, and inside these namespaces a default route leads only to the test's own peer
namespace). Peer addresses are never contacted.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import pytest

from conftest import json_report, result_of, run_cli
from netns import Namespaces, Netns, unique_subnet, veth

HOSTNAME = socket.gethostname()


@dataclass
class Site:
    nets: Namespaces
    node: Netns
    subnet: str

    @property
    def node_ip(self) -> str:
        return f"{self.subnet}.1"

    @property
    def peer_ip(self) -> str:
        return f"{self.subnet}.2"

    @property
    def etcd(self) -> dict[str, str]:
        return {"ETCD_ENDPOINTS": f"http://{self.peer_ip}:2379"}


@pytest.fixture
def nets(needs_netns):
    with Namespaces() as namespaces:
        yield namespaces


def _link(nets: Namespaces, node: Netns, name: str) -> str:
    """``name`` in ``node`` facing a fresh peer namespace, up, on its own subnet: its subnet."""
    far = nets.new("far")
    veth(node, name, far, name + "p")
    subnet = unique_subnet()
    node.add_address(name, f"{subnet}.1/24")
    far.add_address(name + "p", f"{subnet}.2/24")
    far.up(name + "p")
    node.up(name, wait=True)
    return subnet


def _site(nets: Namespaces, *, hosts: str | None = None) -> Site:
    """A node with bond0 (facing the 'etcd' peer), resolving its hostname only via /etc/hosts."""
    node = nets.new("node")
    site = Site(nets, node, _link(nets, node, "bond0"))
    node.etc_file("nsswitch.conf", "hosts: files\n")
    node.etc_file("hosts", hosts if hosts is not None else
                  f"127.0.0.1 localhost\n{site.node_ip} {HOSTNAME}\n")
    return site


@pytest.fixture
def site(nets) -> Site:
    return _site(nets)


def host_ip(ns: Netns, env: dict[str, str]) -> dict:
    proc = run_cli(["--only", "host.ip", "--format", "json"], env, prefix=ns.prefix, timeout=30)
    assert "Traceback" not in proc.stderr, proc.stderr
    result = result_of(json_report(proc), "host.ip")
    assert proc.returncode == (1 if result["status"] == "fail" else 0), (proc.returncode, result)
    return result


def codes(result: dict) -> list[str]:
    return [f["code"] for f in result["details"]["findings"] if f["status"] != "ok"]


def test_explicit_address_on_gloo_and_nccl_interface_is_ok(site):
    env = {"SGLANG_HOST_IP": site.node_ip, "GLOO_SOCKET_IFNAME": "bond0",
           "NCCL_SOCKET_IFNAME": "bond0", **site.etcd}
    result = host_ip(site.node, env)
    assert result["status"] == "ok", result
    assert result["summary"] == f"SGLang advertises {site.node_ip} (from SGLANG_HOST_IP) on " \
                                "bond0, which gloo and NCCL use"
    details = result["details"]
    assert details["source"] == "SGLANG_HOST_IP" and details["interface"] == "bond0"
    assert details["rule"] == "SGLang 0.5.23 sglang/srt/utils/network.py::get_local_ip_auto"
    assert "SGLANG_HOST_IP" in result["env"]


def test_sglang_host_ip_wins_over_host_ip(site):
    result = host_ip(site.node, {"SGLANG_HOST_IP": site.node_ip, "HOST_IP": "10.255.255.1"})
    assert result["details"]["source"] == "SGLANG_HOST_IP", result
    # An empty SGLANG_HOST_IP does not count: HOST_IP is taken.
    second = host_ip(site.node, {"SGLANG_HOST_IP": "", "HOST_IP": site.node_ip})
    assert second["details"]["source"] == "HOST_IP", second


def test_auto_detection_follows_the_default_route(site):
    site.node.ip("route", "add", "default", "via", site.peer_ip)
    result = host_ip(site.node, {"GLOO_SOCKET_IFNAME": "bond0"})
    assert result["status"] == "ok", result
    assert result["details"]["advertised"] == site.node_ip
    assert result["details"]["source"] == "route to 8.8.8.8"


def test_default_route_on_another_interface_than_gloo_and_nccl_warns(site):
    """The classic: the default route is the management network, the cluster runs on eth1."""
    site.node.ip("route", "add", "default", "via", site.peer_ip)
    cluster = _link(site.nets, site.node, "eth1")
    result = host_ip(site.node, {"GLOO_SOCKET_IFNAME": "eth1", "NCCL_SOCKET_IFNAME": "eth1"})
    assert result["status"] == "warn", result
    assert codes(result) == ["gloo_mismatch", "nccl_mismatch"]
    assert f"advertise {site.node_ip}" in result["summary"]
    assert "gloo uses eth1" in result["summary"]
    assert result["remedy"] == f"Set SGLANG_HOST_IP={cluster}.1 (the address of eth1, which " \
                               "gloo and NCCL use)."


def test_address_of_no_interface_warns(site):
    result = host_ip(site.node, {"HOST_IP": "10.254.254.254", "GLOO_SOCKET_IFNAME": "bond0"})
    assert result["status"] == "warn", result
    assert codes(result) == ["not_local"]
    assert "no interface of this host has" in result["summary"]
    assert f"SGLANG_HOST_IP={site.node_ip}" in result["remedy"]


def test_hostname_on_loopback_warns_and_fails_with_remote_etcd(nets):
    site = _site(nets, hosts=f"127.0.0.1 localhost\n127.0.1.1 {HOSTNAME}\n")
    local = host_ip(site.node, {})
    assert local["status"] == "warn" and codes(local) == ["loopback"], local
    assert local["details"]["advertised"] == "127.0.1.1"
    assert local["details"]["source"] == f"hostname {HOSTNAME!r}"
    assert "no route to 8.8.8.8" in local["details"]["notes"]
    remote = host_ip(site.node, site.etcd)
    assert remote["status"] == "fail" and codes(remote) == ["loopback"], remote
    assert f"SGLANG_HOST_IP={site.node_ip} (the address of bond0" in remote["remedy"]


def test_nothing_gives_an_address_falls_back_to_0000(nets):
    site = _site(nets, hosts="127.0.0.1 localhost\n")
    result = host_ip(site.node, site.etcd)
    assert result["status"] == "fail", result
    assert codes(result) == ["no_address"]
    assert result["details"]["advertised"] == "0.0.0.0"
    assert "does not resolve" in result["summary"]


def test_local_ip_nic_and_a_bridge_address(site):
    node = site.node
    node.ip("link", "add", "docker0", "type", "bridge")
    node.add_address("docker0", "172.17.0.1/16")
    node.up("docker0")
    result = host_ip(node, {"SGLANG_LOCAL_IP_NIC": "docker0"})
    assert result["details"]["source"] == "SGLANG_LOCAL_IP_NIC", result
    assert result["details"]["kind"] == "docker"
    assert "virtual_address" in codes(result)
    assert "docker interface docker0" in result["summary"]


def test_missing_local_ip_nic_falls_through(site):
    result = host_ip(site.node, {"SGLANG_LOCAL_IP_NIC": "bond9", "GLOO_SOCKET_IFNAME": "bond0"})
    assert result["status"] == "ok", result
    assert result["details"]["source"] == f"hostname {HOSTNAME!r}"
    assert any("SGLANG_LOCAL_IP_NIC='bond9'" in n for n in result["details"]["notes"])


def test_address_on_a_down_interface_fails(site):
    site.node.down("bond0")
    result = host_ip(site.node, {"SGLANG_HOST_IP": site.node_ip})
    assert result["status"] == "fail", result
    assert "interface_down" in codes(result)
    assert "on bond0, which is down (administratively down)" in result["summary"]


def test_a_name_is_not_an_ip(site):
    result = host_ip(site.node, {"SGLANG_HOST_IP": "node-7"})
    assert result["status"] == "warn" and codes(result) == ["not_an_ip"], result


@pytest.mark.parametrize("value", ["\udcff\udcfe", "1.2.3.4.5", "::", "0.0.0.0", "x" * 4000,
                                   "fe80::1%bond0"])
def test_hostile_values_get_a_verdict(site, value):
    result = host_ip(site.node, {"SGLANG_HOST_IP": value})
    assert result["status"] in ("ok", "warn", "fail"), result
    assert len(result["summary"]) < 1000
    if value in ("::", "0.0.0.0"):
        assert codes(result) == ["no_address"], result
