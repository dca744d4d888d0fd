"""bench/mesh_real.py's scaffolding: three real `sgdoctor mesh` nodes in namespaces on one
bridge, counted at etcd's door, and everything gone afterwards — also when interrupted."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import have_netns, unavailable
from netns import Namespaces, bridged
from servers import EtcdServer, etcd_binary

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

from mesh_real import CountingProxy, RequestCounter, _reachable, run_size  # noqa: E402


def needs_fleet() -> None:
    if not have_netns():
        unavailable("this test needs root and `ip netns`")
    if etcd_binary() is None:
        unavailable("etcd is not installed (Debian package etcd-server)")


def test_request_heads_are_counted_across_any_split_and_bodies_skipped():
    body = b'{"key":"\r\n\r\nPOST /fake HTTP/1.1"}'
    stream = (b"POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\n\r\n" + body
              + b"POST /v3/lease/grant HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}")
    counter = RequestCounter()
    paths = [p for i in range(len(stream)) for p in counter.feed(stream[i:i + 1])]
    assert paths == ["/v3/kv/range", "/v3/lease/grant"]
    assert not counter.lost


def listed_netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=20)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


def test_three_real_nodes_meet_and_every_node_is_counted_at_etcd():
    needs_fleet()
    with Namespaces() as nets, bridged(nets, 3, label="mbtest") as fleet, \
            EtcdServer(host=fleet.host_address) as etcd, \
            CountingProxy(fleet.host_address, (fleet.host_address, etcd.client_port)) as proxy:
        _reachable(fleet, proxy.port)
        size = run_size(fleet, etcd, proxy, 3, timeout=60)
        created = {ns.name for ns in nets.created}
        root_end = fleet.root_end
    assert [(n.exit_code, n.status) for n in size.nodes] == [(0, "ok")] * 3, \
        [n.summary for n in size.nodes]
    for tally in size.tallies:
        # the join, results and done txns; the roster and the results summary read (a range
        # each), or, by the node completing a phase, the section read (a txn) and the marker
        assert tally.paths["/v3/lease/grant"] == 1 and tally.paths["/v3/kv/txn"] >= 3
        assert tally.paths["/v3/kv/txn"] + tally.paths["/v3/kv/range"] >= 5, tally.paths
        assert tally.from_etcd > 0 and tally.to_etcd > 0 and not tally.lost
    # The proxy's count and etcd's own agree: every gateway call is one gRPC message.
    assert sum(t.requests for t in size.tallies) == size.etcd_messages
    assert all(n.cpu > 0 for n in size.nodes)
    assert not created & listed_netns()
    assert subprocess.run(["ip", "link", "show", root_end], capture_output=True,
                          timeout=20).returncode != 0


def carriers(needle: str) -> list[int]:
    """Processes whose command line or environment contains ``needle``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        for part in ("cmdline", "environ"):
            try:
                if needle.encode() in Path(f"/proc/{pid}/{part}").read_bytes():
                    found.append(int(pid))
                    break
            except OSError:
                continue
    return found


def test_an_interrupted_bench_leaves_no_namespace_process_or_interface():
    needs_fleet()
    proc = subprocess.Popen([sys.executable, str(BENCH / "bench_mesh.py"), "--real", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"in (sgd-hub-\w+) .*etcd http://([\d.]+):", first)
        assert match, first
        hub, host = match.groups()
        deadline = time.monotonic() + 60
        while not carriers(f"ETCD_ENDPOINTS=http://{host}:") and time.monotonic() < deadline:
            time.sleep(0.02)    # until a node runs: the signal then finds nodes to stop
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "interrupted (SIGTERM); cleaned up" in stderr
    assert hub not in listed_netns()
    assert not [n for n in listed_netns() if n.startswith("sgd-mbench-")]
    assert carriers(f"{host}:") == []
    routes = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, timeout=20)
    assert f"{host}/24" not in routes.stdout
