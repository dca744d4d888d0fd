"""probe.sockdiag against the kernel's own /proc/net/tcp{,6}, in a network namespace this
test creates and fills with real sockets in every state it can make: listeners on IPv4, on
IPv6 and dual stack, on loopback and a routed address, connections both ways, a half-closed
one, TIME_WAIT; then host.ports' fallback when sock_diag will not answer."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from netns import Namespaces

# Runs inside the namespace: makes the sockets, then prints both tables as sorted rows.
TABLES = r"""
import json, socket, time
from sgdoctor.parse.host import parse_proc_net
from sgdoctor.probe.sockdiag import tcp_sockets

keep = []
def listen(family, address, port=0):
    s = socket.socket(family)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6 and address != "::":
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((address, port))
    s.listen(8)
    keep.append(s)
    return s

def pair(server):
    c = socket.socket(server.family)
    c.connect(server.getsockname()[:2])
    a, _ = server.accept()
    keep.extend([c, a])
    return c, a

v4 = listen(socket.AF_INET, "127.0.0.1")
routed = listen(socket.AF_INET, "10.88.0.1", 30000)
v6 = listen(socket.AF_INET6, "::1")
dual = listen(socket.AF_INET6, "::", 8000)
pair(v4)
pair(v6)
c, a = pair(routed)
c.shutdown(socket.SHUT_WR)                    # FIN_WAIT2 here, CLOSE_WAIT there
closing, peer = pair(v4)
closing.close()                               # the active closer ends in TIME_WAIT
peer.close()
mapped = socket.create_connection(("::ffff:127.0.0.1", dual.getsockname()[1]))
keep.append(mapped)

def rows(sockets):
    return sorted([s.local_address, s.port, s.state, s.inode, s.v6] for s in sockets)

def table():
    found = []
    for name in ("tcp", "tcp6"):
        with open(f"/proc/self/net/{name}") as f:
            found += parse_proc_net(f.read(), v6=name == "tcp6")
    return found

until = time.monotonic() + 30
while not {5, 6, 8} <= {s.state for s in table()} and time.monotonic() < until:
    time.sleep(0.01)
proc = table()
diag = tcp_sockets(time.monotonic() + 5)
print(json.dumps({"proc": rows(proc), "diag": rows(diag)}))
"""


@pytest.fixture
def ns(needs_netns):
    with Namespaces() as nets:
        space = nets.new("diag")
        space.ip("link", "add", "eth9", "type", "veth", "peer", "name", "eth9p")
        space.add_address("eth9", "10.88.0.1/24", nodad=True)
        space.up("eth9p")
        space.up("eth9")
        yield space


def test_sock_diag_lists_what_proc_net_tcp_lists(ns):
    proc = subprocess.run([*ns.prefix, sys.executable, "-c", TABLES], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    tables = json.loads(proc.stdout)
    states = {row[2] for row in tables["proc"]}
    # ESTABLISHED, FIN_WAIT2, TIME_WAIT, CLOSE_WAIT, LISTEN
    assert {1, 5, 6, 8, 10} <= states, states
    assert any(row[4] for row in tables["proc"]) and not all(row[4] for row in tables["proc"])
    assert tables["diag"] == tables["proc"]


FALLBACK = r"""
import json, socket
from sgdoctor.probe import hostports, sockdiag
from sgdoctor.probe.hostroot import HostRoot

held = socket.socket()
held.bind(("127.0.0.1", 30000))
held.listen()
first = hostports.port_facts(HostRoot())

def refuse(deadline):
    raise sockdiag.SockDiagError(13, "sock_diag: Permission denied")

sockdiag.tcp_sockets = refuse   # what a seccomp filter without AF_NETLINK does to it
second = hostports.port_facts(HostRoot())
print(json.dumps([[sorted([s.port, s.state, s.inode] for s in f.sockets),
                   [e.message for e in f.socket_errors]] for f in (first, second)]))
"""


def test_host_ports_reads_proc_when_sock_diag_will_not_answer(ns):
    """The refusal is a stand-in (no seccomp filter here); the /proc table behind it is real."""
    proc = subprocess.run([*ns.prefix, sys.executable, "-c", FALLBACK], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    (diag, diag_errors), (table, table_errors) = json.loads(proc.stdout)
    assert diag_errors == table_errors == []
    assert diag == table and [30000, 10] in [row[:2] for row in table], table


def _message(kind: int, seq: int, payload: bytes) -> bytes:
    import struct

    return struct.pack("=IHHII", 16 + len(payload), kind, 2, seq, 0) + payload


def test_a_dump_that_fails_part_way_is_an_error_not_an_empty_table():
    """The kernel ends a dump that failed (no tcp_diag module, say) with NLMSG_DONE carrying
    -errno, as iproute2 reads it: that must not read as "no sockets" (every port free).
    The replies are built byte for byte as the kernel sends them."""
    import errno
    import struct

    from sgdoctor.probe.sockdiag import NLMSG_DONE, NLMSG_ERROR, SockDiagError, _read_reply

    sockets: list = []
    assert _read_reply(_message(NLMSG_DONE, 7, struct.pack("=i", 0)), 7, sockets)
    assert sockets == []
    for kind in (NLMSG_DONE, NLMSG_ERROR):
        with pytest.raises(SockDiagError) as caught:
            _read_reply(_message(kind, 7, struct.pack("=i", -errno.ENOENT)), 7, [])
        assert caught.value.errno == errno.ENOENT
    with pytest.raises(SockDiagError):  # an errno no strerror knows: still ours
        _read_reply(_message(NLMSG_ERROR, 7, struct.pack("=i", -(1 << 31))), 7, [])
    assert not _read_reply(_message(NLMSG_DONE, 8, struct.pack("=i", 0)), 7, [])  # not ours
