"""A 128-member rendezvous against one real etcd: 128 simulated nodes (real
probe.rendezvous clients, threads over 8 processes; bench/bench_mesh.py's simulation, the
Gloo dials left out) all see the whole group, finish, and each reads O(N) bytes from etcd
(paged reads: no reply near the 1 MiB cap)."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import unavailable
from servers import EtcdServer, etcd_binary

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

N = 128


def test_a_128_member_group_meets_with_bytes_per_node_linear_in_n():
    if etcd_binary() is None:
        unavailable("etcd is not installed (Debian package etcd-server)")
    from bench_mesh import simulate

    with EtcdServer() as etcd:
        costs = simulate(etcd.url, N, timeout=120.0)
    errors = [c.error for c in costs if c.error]
    assert not errors, errors[:3]
    assert all(c.joined == N for c in costs), sorted({c.joined for c in costs})
    assert not any("limit" in (c.error or "") for c in costs)
    # Each node's bytes from etcd: a bounded number of looks at N small records each.
    per_node = max(c.received for c in costs)
    assert per_node < N * 64 * 1024, per_node
    assert max(c.requests for c in costs) < 200
