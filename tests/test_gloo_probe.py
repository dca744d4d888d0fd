"""probe.interfaces and probe.routes on the real host and inside test network namespaces."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from netns import Namespaces, silent_resolver, unique_subnet, veth
from sgdoctor.probe.interfaces import address_owner, is_link_local, list_interfaces
from sgdoctor.probe.routes import first_bindable, resolve_many, source_address

INSIDE = """
import json, sys, time
from sgdoctor.probe.interfaces import list_interfaces
from sgdoctor.probe.routes import resolve_many, source_address
what = sys.argv[1]
if what == "interfaces":
    print(json.dumps({n: i.as_details() | {"gloo": i.gloo_address}
                      for n, i in list_interfaces().items()}))
elif what == "route":
    print(json.dumps(source_address(sys.argv[2])))
elif what == "resolve":
    start = time.monotonic()
    res = resolve_many(sys.argv[3:], float(sys.argv[2]))
    print(json.dumps({"elapsed": time.monotonic() - start,
                      "errors": {h: r.error for h, r in res.items()}}))
"""


def inside(ns, *args: str):
    proc = subprocess.run([*ns.prefix, sys.executable, "-c", INSIDE, *args],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def nets(needs_netns):
    with Namespaces() as namespaces:
        yield namespaces


def test_loopback_on_this_host():
    ifaces = list_interfaces()
    lo = next(i for i in ifaces.values() if i.loopback)
    assert lo.up and lo.admin_up
    assert lo.gloo_address == "127.0.0.1"
    assert lo.mtu and lo.mtu > 0
    assert address_owner(ifaces, "127.0.0.53") == lo.name  # any 127.x is loopback's


def test_source_address_on_loopback_and_bad_input():
    assert source_address("127.0.0.1") == ("127.0.0.1", None)
    address, error = source_address("not-an-address")
    assert address is None and "not an IP address" in error


def test_first_bindable_skips_foreign_addresses():
    # 192.0.2.99 (TEST-NET-1) is not on this host: bind fails, nothing is sent anywhere.
    address, errors = first_bindable(["192.0.2.99", "127.0.0.1"])
    assert address == "127.0.0.1"
    assert len(errors) == 1 and "192.0.2.99" in errors[0]
    assert first_bindable([]) == (None, [])


def test_resolve_literals_and_garbage():
    res = resolve_many(["10.9.8.7", "::1", "localhost", "bad host\x00name"], 2.0)
    assert res["10.9.8.7"].addresses == ("10.9.8.7",)
    assert res["::1"].addresses == ("::1",)
    assert res["localhost"].addresses and res["localhost"].error is None
    assert res["bad host\x00name"].error and not res["bad host\x00name"].addresses


def test_link_local_helper():
    assert is_link_local("fe80::1") and is_link_local("169.254.1.1")
    assert not is_link_local("fd00::1") and not is_link_local("garbage")


def test_address_order_is_gloos(nets):
    """First IPv4 added wins; IPv6 global before link-local; scope ids stripped."""
    node, peer = nets.new("node"), nets.new("peer")
    veth(node, "bond0", peer, "bond0p")
    subnet = unique_subnet()
    node.add_address("bond0", f"{subnet}.1/24")
    node.add_address("bond0", f"{subnet}.9/24")
    node.add_address("bond0", "fd00:abcd::1/64", nodad=True)
    peer.up("bond0p")
    node.up("bond0", wait=True)
    node.wait_for(["sh", "-c", "[ $(grep -c bond0 /proc/net/if_inet6) -ge 2 ]"])
    bond0 = inside(node, "interfaces")["bond0"]
    assert bond0["gloo"] == f"{subnet}.1"
    assert bond0["ipv4"] == [f"{subnet}.1", f"{subnet}.9"]
    assert bond0["ipv6"][0] == "fd00:abcd::1" and bond0["ipv6"][1].startswith("fe80::")
    assert "%" not in bond0["ipv6"][1]
    assert bond0["up"] is True and bond0["carrier"] is True and bond0["operstate"] == "up"


def test_no_route_is_reported(nets):
    lonely = nets.new("alone")
    address, error = inside(lonely, "route", "10.77.0.1")
    assert address is None and "no route" in error


def test_resolution_batch_is_bounded_by_one_timeout(nets):
    """Many names behind a silent DNS server cost one timeout, not one each."""
    ns = nets.new("dns")
    hosts = [f"h{i}.sgd-test.invalid" for i in range(8)]
    with silent_resolver(ns):
        start = time.monotonic()
        out = inside(ns, "resolve", "0.5", *hosts)
        wall = time.monotonic() - start
    assert out["elapsed"] < 1.0, out
    assert wall < 5, wall
    assert all("longer than" in out["errors"][h] for h in hosts), out


LISTEN = """
import socket, sys
s = socket.create_server((sys.argv[1], 7000))
print("ready", flush=True)
conn, _ = s.accept()
conn.sendall(b"hello")
"""

CONNECT = """
import socket, sys
with socket.create_connection((sys.argv[1], 7000), timeout=5) as c:
    print(c.recv(5).decode(), c.getsockname()[0])
"""


def test_bridge_joins_namespaces(nets):
    """netns.bridge: two hosts on one switch namespace reach each other (traffic stays inside)."""
    switch, a, b = nets.new("sw"), nets.new("a"), nets.new("b")
    veth(a, "eth0", switch, "port-a")
    veth(b, "eth0", switch, "port-b")
    switch.bridge("br0", ["port-a", "port-b"])
    subnet = unique_subnet()
    a.add_address("eth0", f"{subnet}.1/24")
    b.add_address("eth0", f"{subnet}.2/24")
    a.up("eth0", wait=True)
    b.up("eth0", wait=True)
    server = b.spawn([sys.executable, "-c", LISTEN, f"{subnet}.2"], stdout=subprocess.PIPE,
                     text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        out = a.exec([sys.executable, "-c", CONNECT, f"{subnet}.2"]).stdout.split()
    finally:
        server.kill()
        server.wait(timeout=10)
    assert out == ["hello", f"{subnet}.1"]


def test_read_hosts_numbers_lines_and_survives_hostile_files(tmp_path):
    import os

    from sgdoctor.probe.gloo import read_hosts

    hosts = tmp_path / "hosts"
    hosts.write_bytes(b"127.0.0.1 localhost\n\n# 10.0.0.1 node7\n10.0.0.2 other NODE7 # x\n"
                      b"\xff\xfe garbage\n10.0.0.3 node7\n")
    lines, error = read_hosts("node7", str(hosts))
    assert error is None
    assert [(li.number, li.address) for li in lines] == [(4, "10.0.0.2"), (6, "10.0.0.3")]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert read_hosts("node7", str(fifo)) == ((), f"{fifo} is not a regular file")
    lines, error = read_hosts("node7", str(tmp_path / "missing"))
    assert lines == () and "No such file" in error
