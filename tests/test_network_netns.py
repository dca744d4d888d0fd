"""etcd and NATS refused or unroutable from ANOTHER host name a firewall (issue 12): firewalld's
default zone REJECTs with "no route to host", an iptables REJECT with "connection refused".
A real peer namespace behind a veth refuses; an `unreachable` route gives EHOSTUNREACH, as
an ICMP host-prohibited answer does. A refusal on this host's own address does not."""

from __future__ import annotations

from conftest import json_report, result_of, run_cli
from netns import Namespaces, unique_subnet, veth

SELECT = ["--only", "etcd.endpoints,nats.server", "--format", "json", "--timeout", "4"]


def items(prefix: list[str], etcd: str, nats: str) -> tuple[dict, dict]:
    proc = run_cli(SELECT, {"ETCD_ENDPOINTS": etcd, "NATS_SERVER": nats,
                            "DYN_REQUEST_PLANE": "nats"}, prefix=prefix)
    doc = json_report(proc)
    return result_of(doc, "etcd.endpoints"), result_of(doc, "nats.server")


def test_remote_refusal_and_no_route_name_a_firewall(needs_netns):
    net = unique_subnet()
    with Namespaces() as nets:
        node, server = nets.new("node"), nets.new("srv")
        veth(node, "eth0", server, "eth0p")
        node.add_address("eth0", f"{net}.1/24", nodad=True)
        server.add_address("eth0p", f"{net}.2/24", nodad=True)
        node.up("eth0")
        server.up("eth0p")
        node.wait_for(["ping", "-c", "1", "-W", "1", f"{net}.2"], timeout=10)
        node.ip("route", "add", "unreachable", f"{net}.3/32")

        for host, words in ((f"{net}.2", "connection refused"), (f"{net}.3", "No route to host")):
            etcd, nats = items(node.prefix, f"http://{host}:2379", f"nats://{host}:4222")
            for item, port in ((etcd, 2379), (nats, 4222)):
                assert item["status"] == "fail", item
                assert words in item["summary"], item["summary"]
                assert f"a firewall on that host may be rejecting port {port}" in item["summary"]
                assert f"firewall-cmd --permanent --add-port={port}/tcp" in item["remedy"]
            assert etcd["details"]["endpoints"][0]["peer_local"] is False

        # the node's own address refuses too, but no firewall stands between it and itself
        etcd, nats = items(node.prefix, f"http://{net}.1:2379", f"nats://{net}.1:4222")
        for item in (etcd, nats):
            assert item["status"] == "fail" and "connection refused" in item["summary"]
            assert "firewall" not in item["summary"] + item["remedy"]
        assert etcd["details"]["endpoints"][0]["peer_local"] is True
