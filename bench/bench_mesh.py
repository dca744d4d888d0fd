"""Mesh rendezvous at fleet sizes: time to verdict, etcd requests and bytes per node.

Simulated (this script): N rendezvous clients — threads in one process, each a real
probe.rendezvous.Rendezvous with its own etcd connection, lease and keep-alive —
against one real etcd (Debian's etcd-server on loopback). Each registers a record of the
real shape (the join txn), waits for the gathered marker and reads the members, publishes
results (every peer reached: the Gloo dials are what is simulated), waits for the results
marker and reads everyone's results, marks itself done, waits for the done marker, and leaves.
What a node costs etcd is counted by the rendezvous itself: its requests (the keep-alives
apart: they grow with time, not with N), every reply body it read (txns, paged reads, the
markers' watch stream), and the watch events it received.

    python bench/bench_mesh.py 4 16 32 256 1024
    python bench/bench_mesh.py --missing 1 1024   # one expected node never comes
    python bench/bench_mesh.py --real 4 16 32    # real nodes in namespaces (bench/mesh_real.py)
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sgdoctor.parse.mesh import (  # noqa: E402
    Listener,
    Member,
    Probe,
    results_to_json,
)
from sgdoctor.probe.rendezvous import Rendezvous  # noqa: E402


@dataclass
class NodeCost:
    seconds: float
    requests: int
    received: int
    error: str | None = None
    joined: int = 0          # members seen when the join wait ended
    keepalives: int = 0
    watches: int = 0         # watch streams opened (more than 1: reconnects or re-reads)
    retries: int = 0         # requests made again after a failure
    marks: int = 0           # phase markers written (put-if-absent txns)
    events: int = 0          # watch events received (marker PUTs and DELETEs)
    rereads: int = 0         # marker reads after a compacted watch start
    summarised: int = 0      # requests reading a section for a marker's summary
    fetched: int = 0         # reads of a marker's summary


def record(name: str, index: int) -> str:
    """A record of the shape mesh.gloo registers (one Gloo device, the MACA facts)."""
    libs = {lib: {"soname": lib, "path": f"/opt/maca/lib/{lib}"}
            for lib in ("libmcruntime.so", "libmcblas.so", "libmccl.so")}
    return Member(name, os.urandom(16).hex(),
                  (Listener("eth1", f"10.{index >> 16 & 255}.{index >> 8 & 255}."
                                    f"{index & 255}", 40000, 1500),),
                  "3.7.1.5", libs, "bench", None, 1, "eth1",
                  {"NVSHMEM_SYMMETRIC_SIZE": None, "DYN_REQUEST_PLANE": None,
                   "DYN_EVENT_PLANE": None, "DYN_RESPONSE_PLANE": None}).to_json()


def node(env: dict[str, str], group: str, index: int, n: int, deadline: float,
         out: list[NodeCost | None], start_at: float, missing: int = 0) -> None:
    name = f"n{index:04d}"
    meet = Rendezvous(env, group, name, ttl=30, deadline=deadline)
    time.sleep(max(0.0, start_at - time.time()))
    began = time.monotonic()
    joined = 0
    try:
        meet.join(record(name, index), n + missing)
        # With nodes missing, the join window is what ends the phase: long enough for the
        # whole fleet to join (as mesh.gloo's window: a third of the run), then closed.
        snap = meet.gather(began + JOIN_WINDOW + n / 50 if missing else deadline)
        joined = len(snap.members)
        peers = [m for m in snap.members if m != name]
        results = meet.share("results", results_to_json(
            {p: Probe(True, 0.1, address="sim") for p in peers}), deadline)
        missing = [p for p in peers if p not in results]
        meet.share("done", "1", deadline, read=False)
        error = f"no results from {len(missing)} peers" if missing else None
    except Exception as exc:  # the figure says which node failed and why
        stage = getattr(getattr(exc, "stage", None), "value", "")
        error = f"{type(exc).__name__} ({stage}): {exc}"
    seconds = time.monotonic() - began
    meet.leave()
    out[index] = NodeCost(seconds, meet.requests, meet.received, error, joined,
                          meet.keepalives, meet.watches, meet.retries, meet.marks, meet.events,
                          meet.rereads, meet.summarised, meet.fetched)


JOIN_WINDOW = 10.0   # seconds, and 1 more per 50 nodes, when nodes are missing


def _worker(url: str, group: str, indexes: list[int], n: int, timeout: float,
            start_at: float, missing: int) -> list[tuple[int, NodeCost]]:
    """One process's share of the nodes, one thread each, niced: etcd comes first for the
    CPU, as on a machine of its own (on two cores the clients would starve it, and its
    requests then time out inside etcd, which a fleet of real machines does not do)."""
    os.nice(10)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8 * n + 256)), hard))
    threading.stack_size(512 << 10)
    env = {"ETCD_ENDPOINTS": url}
    out: list[NodeCost | None] = [None] * n
    deadline = time.monotonic() + timeout + (start_at - time.time())
    threads = [threading.Thread(target=node, args=(env, group, i, n, deadline, out, start_at,
                                                   missing), daemon=True) for i in indexes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(1.0, deadline + 30 - time.monotonic()))
    return [(i, out[i] or NodeCost(timeout, 0, 0, "no result")) for i in indexes]


PER_PROCESS = 32     # simulated nodes sharing one process's GIL, at most


def simulate(url: str, n: int, *, timeout: float = 300.0, processes: int | None = None,
             missing: int = 0) -> list[NodeCost]:
    """N simulated nodes meeting at ``url`` (expecting ``missing`` more, who never come: the
    join phase then ends at its window, closed by one claimant), spread over ``processes``
    (default: 8, or one
    per PER_PROCESS nodes) — real nodes are separate processes, not threads under one GIL:
    with 128 threads a process, the fleet parsing the roster at once starved the keep-alive
    threads of the GIL until leases expired, a failure of the simulation, not of etcd."""
    from concurrent.futures import ProcessPoolExecutor

    group = f"bench-{n}-{os.urandom(3).hex()}"
    workers = max(1, min(processes or max(8, -(-n // PER_PROCESS)), n))
    start_at = time.time() + 1.0 + n / 200
    costs: list[NodeCost | None] = [None] * n
    with ProcessPoolExecutor(workers) as pool:
        futures = [pool.submit(_worker, url, group, list(range(w, n, workers)), n, timeout,
                               start_at, missing) for w in range(workers)]
        for future in futures:
            for index, cost in future.result():
                costs[index] = cost
    return [c or NodeCost(timeout, 0, 0, "no result") for c in costs]


def simulated(sizes: list[int], missing: int = 0) -> None:
    """The simulated bench: one real etcd, every size in turn, one line each. etcd keeps its
    data in /dev/shm: the bench measures the rendezvous, not the fsync latency of a disk
    shared with other work. A size gets 300 s, and 0.6 s more per node above 500."""
    import tempfile

    from servers import EtcdServer

    print(f"{'nodes':>6} {'verdict s (max)':>16} {'requests/node':>14} {'(max)':>6} "
          f"{'keep-alives':>12} {'KiB/node (mean)':>16} {'KiB/node/N':>11} "
          f"{'watches':>8} {'events/node (max)':>18} {'failed':>7}")
    saved, tempfile.tempdir = tempfile.tempdir, "/dev/shm" if os.path.isdir("/dev/shm") else None
    try:
        etcd = EtcdServer()
    finally:
        tempfile.tempdir = saved
    with etcd:
        for n in sizes:
            costs = simulate(etcd.url, n, timeout=300.0 + 0.6 * max(0, n - 500),
                             missing=missing)
            worst = max(c.seconds for c in costs)
            reqs = sum(c.requests for c in costs) / n
            kib = sum(c.received for c in costs) / n / 1024
            alive = sum(c.keepalives for c in costs) / n
            failed = [c.error for c in costs if c.error]
            print(f"{n:>6} {worst:>16.2f} {reqs:>14.1f} {max(c.requests for c in costs):>6} "
                  f"{alive:>12.1f} {kib:>16.1f} {kib / n:>11.2f} "
                  f"{sum(c.watches for c in costs):>8} "
                  f"{sum(c.events for c in costs) / n:>11.1f} ({max(c.events for c in costs):>3}) "
                  f"{len(failed):>7}", flush=True)
            kinds: dict[str, int] = {}
            for error in failed:
                kinds[error.split(":")[0]] = kinds.get(error.split(":")[0], 0) + 1
            for kind, count in sorted(kinds.items(), key=lambda kv: -kv[1])[:4]:
                first = next(e for e in failed if e.startswith(kind))
                print(f"       {count} failed: {first[:300]}")


def main(args: list[str]) -> int:
    missing = 0
    if args[:1] == ["--missing"] and len(args) > 1 and args[1].isdigit():
        missing, args = int(args[1]), args[2:]
    if not all(a.isdigit() and int(a) > 0 for a in args):
        print("usage: bench_mesh.py [--missing K] [N…] | --real [N…]", file=sys.stderr)
        return 2
    simulated([int(a) for a in args] or [4, 16, 32, 256, 1024], missing)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--real"]:   # real nodes in network namespaces: bench/mesh_real.py
        from mesh_real import main as real
        sys.exit(real([int(a) for a in sys.argv[2:]] or [4, 16, 32]))
    sys.exit(main(sys.argv[1:]))
