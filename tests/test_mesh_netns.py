"""`sgdoctor mesh` across several hosts on one machine: one network namespace per node.

Topology (every name unique, everything removed afterwards): a hub namespace holds a bridge;
each node namespace has eth1 (a veth into the bridge) with its own address in a random
private 10.x.y/24 that exists only here; the root namespace gets one veth end on the bridge
(x.y.1) where a real etcd listens. Each node runs the real CLI through
`ip netns exec NS python -m sgdoctor mesh ... --format json`, all started in parallel.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import BASE_ENV, have_netns, json_report, result_of, unavailable
from netns import Namespaces, Netns, unique_subnet, veth
from servers import EtcdServer, etcd_binary

NODES = 4


@dataclass
class Fleet:
    nodes: list[Netns]
    addresses: list[str]
    etcd: EtcdServer
    config: Path

    def env(self, index: int, **extra: str) -> dict[str, str]:
        env = dict(BASE_ENV)
        env.update(GLOO_SOCKET_IFNAME="eth1", ETCD_ENDPOINTS=self.etcd.url)
        env.update(extra)
        return env

    def start(self, index: int, group: str, expect: int, *, timeout: str = "12s",
              env: dict[str, str] | None = None) -> subprocess.Popen:
        cmd = [*self.nodes[index].prefix, sys.executable, "-m", "sgdoctor", "mesh",
               "--group", group, "--expect", str(expect), "--timeout", timeout,
               "--name", f"n{index + 1}", "--format", "json", "--config", str(self.config)]
        return subprocess.Popen(cmd, env=env or self.env(index), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def keys(self, group: str) -> list[str]:
        prefix = f"/sgdoctor/mesh/{group}/".encode()
        end = prefix[:-1] + bytes([prefix[-1] + 1])
        status, body = self.etcd.call("/v3/kv/range", {
            "key": base64.b64encode(prefix).decode(), "range_end": base64.b64encode(end).decode(),
            "keys_only": True})
        assert status == 200, body
        return [base64.b64decode(kv["key"]).decode() for kv in body.get("kvs", [])]


def finish(procs: list[subprocess.Popen], timeout: float = 40) -> list[tuple[int, dict]]:
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=timeout)
        done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        doc = json_report(done)
        out.append((proc.returncode, result_of(doc, "mesh.gloo") | {"_host": doc["host"]}))
    return out


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    if not have_netns():
        unavailable("this test needs root and `ip netns`")
    if etcd_binary() is None:
        unavailable("etcd is not installed (Debian package etcd-server)")
    subnet = unique_subnet()
    root_end = f"sgdm{secrets.token_hex(4)}"
    config = tmp_path_factory.mktemp("mesh") / "sgdoctor.toml"
    config.write_text('[checks."mesh.gloo"]\nlease_ttl = 3\n')
    with Namespaces() as nets:
        hub = nets.new("hub")
        hub.ip("link", "add", "br0", "type", "bridge")
        subprocess.run(["ip", "link", "add", root_end, "type", "veth", "peer", "name", "up0",
                        "netns", hub.name], check=True, timeout=20)
        try:
            subprocess.run(["ip", "addr", "add", f"{subnet}.1/24", "dev", root_end],
                           check=True, timeout=20)
            subprocess.run(["ip", "link", "set", root_end, "up"], check=True, timeout=20)
            members = ["up0"]
            nodes, addresses = [], []
            for index in range(NODES):
                node = nets.new(f"mesh{index}")
                veth(node, "eth1", hub, f"p{index}")
                address = f"{subnet}.{10 + index}"
                node.add_address("eth1", f"{address}/24")
                members.append(f"p{index}")
                nodes.append(node)
                addresses.append(address)
            hub.ip("link", "set", "br0", "up")
            for member in members:
                hub.ip("link", "set", member, "master", "br0")
                hub.up(member)
            for node in nodes:
                node.up("eth1", wait=True)
            etcd = EtcdServer(host=f"{subnet}.1")
            with etcd:
                reach = (f"import socket; socket.create_connection(('{subnet}.1', "
                         f"{etcd.client_port}), 1).close()")
                for node in nodes:
                    node.wait_for([sys.executable, "-c", reach], timeout=10)
                yield Fleet(nodes, addresses, etcd, config)
        finally:
            subprocess.run(["ip", "link", "del", root_end], capture_output=True, timeout=20)


def test_four_healthy_nodes_prove_the_full_mesh(fleet):
    group = f"ok-{secrets.token_hex(3)}"
    started = time.monotonic()
    results = finish([fleet.start(i, group, NODES) for i in range(NODES)])
    elapsed = time.monotonic() - started
    names = [f"n{i + 1}" for i in range(NODES)]
    for index, (code, result) in enumerate(results):
        assert code == 0, result
        assert result["status"] == "ok", result
        assert result["_host"]["hostname"] == names[index]
        matrix = result["details"]["matrix"]
        assert sorted(matrix) == names
        for src in names:
            assert sorted(matrix[src]) == sorted(set(names) - {src})
            assert all(isinstance(cell["rtt_ms"], float) for cell in matrix[src].values())
        listener = result["details"]["members"][names[index]]["listeners"][0]
        assert listener["address"] == fleet.addresses[index]
        assert listener["interface"] == "eth1"
        assert result["details"]["cleanup"].startswith("lease revoked")
    # Healthy nodes do not wait for the timeout, and they leave nothing behind.
    assert elapsed < 10
    assert fleet.keys(group) == []


def test_a_node_on_loopback_is_unreachable_and_told_which_interface(fleet):
    group = f"lo-{secrets.token_hex(3)}"
    envs = [fleet.env(i) for i in range(NODES)]
    envs[3]["GLOO_SOCKET_IFNAME"] = "lo"
    results = finish([fleet.start(i, group, NODES, env=envs[i]) for i in range(NODES)])
    for index, (code, result) in enumerate(results[:3]):
        assert code == 1
        assert result["status"] == "fail", result
        assert f"n{index + 1} → n4 (127.0.0.1:" in result["summary"]
        assert "n4 registered a loopback address" in result["remedy"]
        assert "error" in result["details"]["matrix"][f"n{index + 1}"]["n4"]
    code, lone = results[3]
    assert code == 1 and lone["status"] == "fail"
    assert lone["details"]["members"]["n4"]["listeners"][0]["address"] == "127.0.0.1"
    # Its own remedy names the interface that carries the route to the other nodes' etcd.
    assert "GLOO_SOCKET_IFNAME=eth1" in lone["remedy"]
    # It sees, from the peers' published views, that they cannot reach it.
    for peer in ("n1", "n2", "n3"):
        assert f"{peer} → n4" in lone["summary"]
        assert lone["details"]["matrix"]["n4"][peer]["rtt_ms"] is not None
    assert fleet.keys(group) == []


def test_a_node_that_never_starts_fails_the_others_at_the_timeout(fleet):
    group = f"miss-{secrets.token_hex(3)}"
    started = time.monotonic()
    results = finish([fleet.start(i, group, NODES, timeout="10s") for i in range(3)])
    elapsed = time.monotonic() - started
    for code, result in results:
        assert code == 1
        assert result["status"] == "fail"
        assert "only 3 of 4 expected nodes joined" in result["summary"]
        assert "(1 missing); joined: n1, n2, n3" in result["summary"]
        # The ones that did join are still proven to reach each other.
        assert all(cell and "rtt_ms" in cell for row in result["details"]["matrix"].values()
                   for cell in row.values())
    assert 5 < elapsed < 14
    assert fleet.keys(group) == []


def test_a_node_with_another_maca_version_is_named_as_drift(fleet, tmp_path):
    from fakesdk import build_fake_sdk, have_gcc

    if not have_gcc():
        unavailable("gcc is needed to build the fake MACA SDK")
    common = build_fake_sdk(tmp_path / "a", version="3.7.1.5", many=0)
    other = build_fake_sdk(tmp_path / "b", version="3.8.0.1", many=0)
    group = f"drift-{secrets.token_hex(3)}"
    envs = [fleet.env(i, **(other if i == 3 else common).env()) for i in range(NODES)]
    results = finish([fleet.start(i, group, NODES, env=envs[i]) for i in range(NODES)])
    for code, result in results:
        assert code == 1
        assert result["status"] == "fail", result
        assert "fleet drift: n4 has MACA 3.8.0.1, while 3 of 4 nodes have MACA 3.7.1.5" in \
            result["summary"]
        assert "Install the MACA version of the majority on n4" in result["remedy"]
        libs = result["details"]["members"]["n1"]["libraries"]
        assert libs["libmcruntime.so"]["soname"] == "libmcruntime.so"
        assert libs["libmcruntime.so"]["path"].startswith(str(common.maca_path))
    assert fleet.keys(group) == []


def test_drift_in_mtu_gloo_devices_and_cluster_variables_names_the_nodes(fleet):
    """Real veth MTUs: n4's eth1 at 9000 while the others keep 1500."""
    group = f"mtu-{secrets.token_hex(3)}"
    envs = [fleet.env(i) for i in range(NODES)]
    envs[2]["GLOO_SOCKET_IFNAME"] = "eth1,eth1"   # two gloo devices (contexts) on n3
    envs[1]["NVSHMEM_SYMMETRIC_SIZE"] = "2g"
    fleet.nodes[3].ip("link", "set", "eth1", "mtu", "9000")
    try:
        results = finish([fleet.start(i, group, NODES, env=envs[i]) for i in range(NODES)])
    finally:
        fleet.nodes[3].ip("link", "set", "eth1", "mtu", "1500")
    for code, result in results:
        assert code == 1, result
        found = {f["code"]: f for f in result["details"]["findings"] if f["status"] == "fail"}
        assert sorted(found) == ["cluster_variable_drift", "gloo_device_count_drift",
                                 "mtu_drift"], result
        assert ("n4 has MTU 9000, while 3 of 4 nodes have MTU 1500"
                in found["mtu_drift"]["summary"])
        assert ("n3 has 2 gloo devices, while 3 of 4 nodes have 1 gloo device"
                in found["gloo_device_count_drift"]["summary"])
        assert "n3 has GLOO_SOCKET_IFNAME=eth1,eth1" in found["gloo_device_count_drift"]["remedy"]
        assert ("n2 has NVSHMEM_SYMMETRIC_SIZE=2 GiB, while 3 of 4 nodes have "
                "NVSHMEM_SYMMETRIC_SIZE=unset (1 GiB)"
                in found["cluster_variable_drift"]["summary"])
        # Reachability itself is fine: every pair still connects.
        assert all(cell and "rtt_ms" in cell for row in result["details"]["matrix"].values()
                   for cell in row.values())
        assert result["details"]["members"]["n4"]["listeners"][0]["mtu"] == 9000
    assert fleet.keys(group) == []


def test_sigterm_revokes_the_lease_at_once(fleet):
    group = f"term-{secrets.token_hex(3)}"
    proc = fleet.start(0, group, 2, timeout="20s")
    deadline = time.monotonic() + 10
    while fleet.keys(group) != [f"/sgdoctor/mesh/{group}/n1"]:
        assert time.monotonic() < deadline, "n1 never registered"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGTERM)
    ((code, result),) = finish([proc], timeout=10)
    assert code == 128 + signal.SIGTERM
    assert "interrupted by SIGTERM" in result["summary"]
    # Revoked before exit, not merely expired: the key is gone right away.
    assert fleet.keys(group) == []


def test_etcd_stopped_midway_is_a_clear_fail_and_leases_clean_up(fleet):
    """Runs last in this module: it stops and restarts the shared etcd."""
    group = f"lost-{secrets.token_hex(3)}"
    procs = [fleet.start(i, group, NODES, timeout="15s") for i in range(3)]
    deadline = time.monotonic() + 10
    while len(fleet.keys(group)) < 3:
        assert time.monotonic() < deadline, "the nodes never registered"
        time.sleep(0.1)
    fleet.etcd.stop()
    stopped = time.monotonic()
    results = finish(procs, timeout=30)
    assert time.monotonic() - stopped < 8  # ETCD_GRACE and a bounded revoke, not the timeout
    for code, result in results:
        assert code == 1
        assert result["status"] == "fail"
        assert "lost etcd at http://" in result["summary"]
        assert "sgdoctor --only etcd.endpoints" in result["remedy"]
        assert "could not revoke the lease" in result["details"]["cleanup"]
    # The revoke could not reach etcd; the leases (TTL 3 s here) remove the keys once etcd is
    # back (etcd restores leases with a fresh TTL on restart).
    fleet.etcd.start()
    deadline = time.monotonic() + 15
    while fleet.keys(group):
        assert time.monotonic() < deadline, f"keys left behind: {fleet.keys(group)}"
        time.sleep(0.5)
