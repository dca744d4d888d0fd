"""Rendezvous at fleet sizes against one real etcd: 72 and 128 simulated nodes (real
probe.rendezvous clients, threads over 8 processes; bench/bench_mesh.py's simulation, the
Gloo dials left out) all see the whole group and finish; what each node costs etcd is
measured, not timed: its requests are the same constant at both sizes (one paged read, one
watch — no polling), and its bytes grow linearly with N (each change of the group reaches
it once), never near the 1 MiB cap on a reply."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import unavailable
from servers import EtcdServer, etcd_binary

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

SMALL, N = 72, 128      # both above parse.mesh.FULL_ROWS: results are summaries at both
# status, one page of the group, lease grant, record, the watch, results, done, revoke; a
# watch stream reconnected costs one request more, a request failed and made again one more.
REQUESTS = 8


def test_a_128_member_group_costs_each_node_constant_requests_and_linear_bytes():
    if etcd_binary() is None:
        unavailable("etcd is not installed (Debian package etcd-server)")
    from bench_mesh import simulate

    with EtcdServer() as etcd:
        sizes = {n: simulate(etcd.url, n, timeout=180.0) for n in (SMALL, N)}
    mean = {}
    for n, costs in sizes.items():
        errors = [c.error for c in costs if c.error]
        assert not errors, errors[:3]
        assert all(c.joined == n for c in costs), sorted({c.joined for c in costs})
        assert {c.requests - (c.watches - 1) - c.retries for c in costs} == {REQUESTS}
        # reconnects and retries are the exception
        assert sum(c.watches - 1 + c.retries for c in costs) < n // 4
        mean[n] = sum(c.received for c in costs) / n
        # Every member's record, results and done reach a node once: a few KiB per member.
        assert max(c.received for c in costs) < n * 4096, max(c.received for c in costs)
    # Linear: 128/72 = 1.8 times the bytes (quadratic would be 3.2 times).
    assert mean[N] / mean[SMALL] < 1.25 * N / SMALL, mean
