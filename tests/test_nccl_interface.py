"""nccl.interface against REAL interfaces: veth pairs and bridges in network namespaces.

The etcd address lives in the test's own peer namespace and is never contacted: the check
only asks the routing table (UDP connect + getsockname sends nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from conftest import json_report, result_of, run_cli
from netns import Namespaces, Netns, unique_subnet, veth


@dataclass
class Site:
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

    @property
    def etcd(self) -> dict[str, str]:
        return {"ETCD_ENDPOINTS": f"http://{self.peer_ip}:2379"}


@pytest.fixture
def nets(needs_netns):
    with Namespaces() as namespaces:
        yield namespaces


def _link(nets: Namespaces, node: Netns, name: str) -> str:
    """``name`` in ``node``, facing a fresh peer namespace, up, on its own subnet: node's IP."""
    far = nets.new("far")
    veth(node, name, far, name[:10] + "p")
    subnet = unique_subnet()
    node.add_address(name, f"{subnet}.1/24")
    far.add_address(name[:10] + "p", f"{subnet}.2/24")
    far.up(name[:10] + "p")
    node.up(name, wait=True)
    return f"{subnet}.1"


def _site(nets: Namespaces, *, before: tuple[str, ...] = ()) -> Site:
    """A node whose bond0 faces a peer (the 'etcd' host); ``before`` interfaces come first in
    getifaddrs order (they are created, and so numbered, before bond0)."""
    node, peer = nets.new("node"), nets.new("peer")
    for name in before:
        _link(nets, node, name)
    veth(node, "bond0", peer, "bond0p")
    site = Site(nets, node, peer, unique_subnet())
    node.add_address("bond0", f"{site.node_ip}/24")
    peer.add_address("bond0p", f"{site.peer_ip}/24")
    peer.up("bond0p")
    node.up("bond0", wait=True)
    return site


@pytest.fixture
def site(nets) -> Site:
    return _site(nets)


def nccl(ns: Netns, env: dict[str, str]) -> dict:
    proc = run_cli(["--only", "nccl.interface", "--format", "json"], env, prefix=ns.prefix,
                   timeout=30)
    assert "Traceback" not in proc.stderr, proc.stderr
    result = result_of(json_report(proc), "nccl.interface")
    assert proc.returncode == (1 if result["status"] == "fail" else 0), (proc.returncode, result)
    return result


def codes(result: dict) -> list[str]:
    return [f["code"] for f in result["details"]["findings"] if f["status"] != "ok"]


def test_named_interface_carrying_the_route_is_ok(site):
    result = nccl(site.node, {"NCCL_SOCKET_IFNAME": "bond0", **site.etcd})
    assert result["status"] == "ok", result
    assert f"→ bond0 ({site.node_ip})" in result["summary"]
    selection = result["details"]["selections"]["NCCL_SOCKET_IFNAME"]
    assert selection == {"value": "bond0", "rule": "selects name prefixes bond0",
                         "selects": ["bond0"], "bootstrap": "bond0"}
    assert result["details"]["interfaces"]["bond0"]["kind"] == "veth"
    assert result["details"]["peers"][0]["interface"] == "bond0"
    assert "NCCL_SOCKET_IFNAME" in result["env"] and "ETCD_ENDPOINTS" in result["env"]


def test_missing_interface_is_an_empty_selection(site):
    result = nccl(site.node, {"MCCL_SOCKET_IFNAME": "bond1", **site.etcd})
    assert result["status"] == "fail", result
    assert codes(result) == ["empty_selection"]
    assert "MCCL_SOCKET_IFNAME='bond1' selects no interface" in result["summary"]
    assert "no socket interface found" in result["summary"]
    assert "Set MCCL_SOCKET_IFNAME=bond0 (it carries the route to the etcd server" \
        in result["remedy"]


def test_exclusion_of_everything_is_an_empty_selection(site):
    result = nccl(site.node, {"NCCL_SOCKET_IFNAME": "^bond,lo"})
    assert result["status"] == "fail", result
    assert codes(result) == ["empty_selection"]
    # No remote peer: the remedy lists the candidates instead.
    assert f"bond0 ({site.node_ip}" in result["remedy"]


def test_exact_syntax_and_ports_are_nccls(site):
    result = nccl(site.node, {"NCCL_SOCKET_IFNAME": "=bond0:5000", **site.etcd})
    assert result["status"] == "ok", result
    assert result["details"]["selections"]["NCCL_SOCKET_IFNAME"]["rule"] == \
        "selects exact names bond0"
    # '=bond' is an exact name that does not exist, not the prefix of bond0.
    exact = nccl(site.node, {"NCCL_SOCKET_IFNAME": "=bond"})
    assert exact["status"] == "fail" and codes(exact) == ["empty_selection"], exact


@pytest.mark.parametrize("first, kind", [("veth9", "veth"), ("eth9", "veth")])
def test_default_picks_a_veth_while_the_route_uses_another(nets, first, kind):
    site = _site(nets, before=(first,))
    result = nccl(site.node, site.etcd)
    assert result["status"] == "warn", result
    assert codes(result) == ["virtual_pick"]
    assert f"NCCL bootstraps over {first}, a {kind} interface" in result["summary"]
    assert "reached through bond0" in result["summary"]
    assert "Set NCCL_SOCKET_IFNAME=bond0" in result["remedy"]
    selection = result["details"]["selections"]["NCCL_SOCKET_IFNAME and MCCL_SOCKET_IFNAME"]
    assert selection["selects"] == [first, "bond0"] and selection["bootstrap"] == first


def test_default_picks_a_bridge(nets):
    node, peer = nets.new("node"), nets.new("peer")
    veth(node, "vm0", peer, "vm0p")
    peer.up("vm0p")
    node.bridge("br0", ["vm0"])
    node.add_address("br0", f"{unique_subnet()}.1/24")
    node.wait_for(["grep", "-qx", "up", "/sys/class/net/br0/operstate"], timeout=30)
    site = Site(nets, node, peer, unique_subnet())
    far = nets.new("far")
    veth(node, "bond0", far, "bond0p")
    node.add_address("bond0", f"{site.node_ip}/24")
    far.add_address("bond0p", f"{site.peer_ip}/24")
    far.up("bond0p")
    node.up("bond0", wait=True)
    result = nccl(node, site.etcd)
    assert result["details"]["interfaces"]["br0"]["kind"] == "bridge"
    assert result["details"]["interfaces"]["vm0"]["kind"] == "veth"
    assert result["status"] == "warn", result
    assert "NCCL bootstraps over br0, a bridge interface" in result["summary"]


def test_docker_bridge_is_avoided_by_default(nets):
    """NCCL's default skips docker*: a docker0 bridge created first is not the pick."""
    node, peer = nets.new("node"), nets.new("peer")
    node.ip("link", "add", "docker0", "type", "bridge")
    node.add_address("docker0", "172.17.0.1/16")
    node.up("docker0")
    veth(node, "bond0", peer, "bond0p")
    subnet = unique_subnet()
    node.add_address("bond0", f"{subnet}.1/24")
    peer.add_address("bond0p", f"{subnet}.2/24")
    peer.up("bond0p")
    node.up("bond0", wait=True)
    result = nccl(node, {"ETCD_ENDPOINTS": f"http://{subnet}.2:2379"})
    assert result["details"]["interfaces"]["docker0"]["kind"] == "docker"
    assert result["status"] == "ok", result
    # Named explicitly, it is a docker interface off the cluster route.
    named = nccl(node, {"NCCL_SOCKET_IFNAME": "docker", "ETCD_ENDPOINTS":
                        f"http://{subnet}.2:2379"})
    assert named["status"] == "warn" and codes(named) == ["virtual_pick"], named


def test_pick_gloo_does_not_use_is_a_warn(nets):
    site = _site(nets, before=("eth9",))
    result = nccl(site.node, {"GLOO_SOCKET_IFNAME": "bond0", "NCCL_SOCKET_IFNAME": "eth"})
    assert result["status"] == "warn", result
    assert codes(result) == ["gloo_mismatch"]
    assert "gloo uses bond0 (GLOO_SOCKET_IFNAME)" in result["summary"]
    assert result["details"]["gloo"]["interfaces"] == ["bond0"]


def test_loopback_with_remote_etcd_fails_and_local_warns(site):
    remote = nccl(site.node, {"NCCL_SOCKET_IFNAME": "lo", **site.etcd})
    assert remote["status"] == "fail" and codes(remote) == ["loopback"], remote
    assert "Set NCCL_SOCKET_IFNAME=bond0" in remote["remedy"]
    local = nccl(site.node, {"NCCL_SOCKET_IFNAME": "lo"})
    assert local["status"] == "warn" and codes(local) == ["loopback"], local


def test_down_interface_fails(site):
    site.node.down("bond0")
    result = nccl(site.node, {"NCCL_SOCKET_IFNAME": "bond0"})
    assert result["status"] == "fail", result
    assert codes(result) == ["selected_down"]
    assert "ip link set bond0 up" in result["remedy"]


def test_one_character_is_ignored(site):
    result = nccl(site.node, {"NCCL_SOCKET_IFNAME": "b", **site.etcd})
    assert result["status"] == "warn", result
    assert codes(result) == ["ignored_short"]
    assert result["details"]["selections"]["NCCL_SOCKET_IFNAME"]["bootstrap"] == "bond0"


@pytest.mark.parametrize("value", ["\udcff\udcfe", ",,,", ":::", "^", "^=", "x" * 5000])
def test_garbage_values_get_a_verdict(site, value):
    result = nccl(site.node, {"NCCL_SOCKET_IFNAME": value})
    assert result["status"] in ("ok", "warn", "fail"), result
    assert len(result["summary"]) < 1000
