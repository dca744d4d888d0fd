"""Rendezvous at fleet sizes against one real etcd: 72 and 128 simulated nodes (real
probe.rendezvous clients, threads over 8 processes; bench/bench_mesh.py's simulation, the
Gloo dials left out) all see the whole group, every result, and finish; what each node costs
etcd is measured, not timed: its requests are the same constant at both sizes (one txn to
join and one per phase, the markers' watch — no polling, and no read: the node completing a
phase writes what the others need in its marker), its bytes grow linearly with N (every
record and result reaches it once, in a marker's summary), and the watch messages it
receives are bounded by a constant (the three phase markers and their deletes: watching the
whole group delivered about four per peer)."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import unavailable
from servers import EtcdServer, etcd_binary

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

SMALL, N = 72, 128      # both above parse.mesh.FULL_ROWS: results are summaries at both
# status, lease grant, the join txn, the results txn, the done txn, revoke: the members and
# the results arrive in their markers' summaries (one read each). The markers' watch (opened
# at most once when nothing fails), a marker written, the reads of a section for its
# marker's summary (by the one node completing the phase), a request made again and a re-read
# after a compaction cost one more each.
REQUESTS = 6
EVENTS = 6              # the three markers' PUTs and DELETEs


def test_a_128_member_group_costs_each_node_constant_requests_linear_bytes_few_events():
    if etcd_binary() is None:
        unavailable("etcd is not installed (Debian package etcd-server)")
    from bench_mesh import simulate

    with EtcdServer(parent="/dev/shm") as etcd:
        sizes = {n: simulate(etcd.url, n, timeout=180.0) for n in (SMALL, N)}
    mean = {}
    for n, costs in sizes.items():
        errors = [c.error for c in costs if c.error]
        assert not errors, errors[:3]
        assert all(c.joined == n for c in costs), sorted({c.joined for c in costs})
        assert {c.requests - c.watches - c.marks - c.retries - c.rereads - c.summarised
                - c.fetched for c in costs} == {REQUESTS}
        # the roster and the results summary read once each, by all but their writers
        assert 2 * n - 4 <= sum(c.fetched for c in costs) <= 2 * n
        # one node read the members for the gathered marker, one the results for theirs
        assert 2 <= sum(c.summarised for c in costs) < 2 + n // 8
        # one marker per phase (put-if-absent: a race can cost an attempt more, rarely)
        assert 3 <= sum(c.marks for c in costs) < 3 + n // 8
        # reconnects and retries are the exception
        assert sum(max(0, c.watches - 1) + c.retries for c in costs) < n // 4
        assert max(c.events for c in costs) <= EVENTS, max(c.events for c in costs)
        mean[n] = sum(c.received for c in costs) / n
        # Every member's record and results reach a node once: a few KiB per member.
        assert max(c.received for c in costs) < n * 4096, max(c.received for c in costs)
    # Linear: 128/72 = 1.8 times the bytes (quadratic would be 3.2 times).
    assert mean[N] / mean[SMALL] < 1.25 * N / SMALL, mean
