"""The mesh for real at fleet sizes: N network namespaces, N real `sgdoctor mesh` processes.

One real etcd (Debian's etcd-server, data in /dev/shm) listens on the root namespace's end of
one bridge; every node is a namespace on that bridge (tests/netns.py `bridged`: fixed MACs,
permanent neighbour entries, no ARP) running `ip netns exec NS python -m sgdoctor mesh --group
G --expect N` over its eth1 — the real CLI, the real rendezvous, the real Gloo listener and
N-1 real dials.

What a node costs etcd is counted at etcd's door: the nodes reach etcd only through a
counting TCP proxy (same address, another port) that tells nodes apart by source address and
counts, per node, the bytes each way (HTTP heads and bodies as on the wire) and the HTTP
requests (request heads in the client's stream; a watch stream is one request however long
it runs). etcd's own /metrics cross-check the totals: gRPC messages it received
(`grpc_server_msg_received_total`, every gateway call and every message on a stream) and the
protobuf bytes it sent (`etcd_network_client_grpc_sent_bytes_total`), both ÷ N.

Time to verdict: from the first node's spawn to the last node's exit (Python start-up, join,
dials, reporting, leaving: what a launch waits for); CPU: user+system of each node process.

    python bench/bench_mesh.py --real 4 16 32

Everything (node processes, proxy, etcd, namespaces, the bridge) is removed on exit, on
failure, and on Ctrl-C, SIGTERM or SIGHUP (taken at the next safe point: never with a child
half-spawned, and never cutting the cleanup short).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from netns import Bridged, Namespaces, bridged  # noqa: E402
from servers import EtcdServer, free_port  # noqa: E402

MAX_HEAD = 64 << 10
GRACE = 10.0          # seconds a node has to leave after SIGTERM before SIGKILL
# etcd's data: in memory, so the bench measures the mesh, not the fsyncs of a shared disk
SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None


# ---------------------------------------------------------------- counting at etcd's door

class RequestCounter:
    """Finds the HTTP/1.1 request heads in one client's byte stream (skipping bodies by
    Content-Length); a stream it cannot follow stops counting (``lost``)."""

    def __init__(self) -> None:
        self.buf = b""
        self.body_left = 0
        self.lost = False

    def feed(self, data: bytes) -> list[str]:
        """The paths of the requests whose heads ``data`` completes."""
        new: list[str] = []
        while data and not self.lost:
            if self.body_left:
                take = min(len(data), self.body_left)
                self.body_left -= take
                data = data[take:]
                continue
            self.buf += data
            data = b""
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                self.lost = len(self.buf) > MAX_HEAD
                break
            head, data, self.buf = self.buf[:end], self.buf[end + 4:], b""
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            new.append(parts[1] if len(parts) == 3 else "?")
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in lines[1:])}
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self.lost = True
            else:
                self.body_left = int(headers.get("content-length", "0") or 0)
        return new


@dataclass
class Tally:
    """What one source address exchanged with etcd."""

    requests: int = 0
    to_etcd: int = 0
    from_etcd: int = 0
    paths: Counter[str] = field(default_factory=Counter)
    lost: bool = False

    def minus(self, before: Tally) -> Tally:
        return Tally(self.requests - before.requests, self.to_etcd - before.to_etcd,
                     self.from_etcd - before.from_etcd, self.paths - before.paths,
                     self.lost and not before.lost)


class CountingProxy:
    """A TCP proxy in front of etcd, on its own event loop thread, counting per source
    address; ``tallies()`` is a snapshot (closed connections included)."""

    def __init__(self, listen: str, upstream: tuple[str, int]) -> None:
        self.listen, self.upstream = listen, upstream
        self.port = free_port()
        self._tallies: dict[str, Tally] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="etcd-proxy")

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        if not self._ready.wait(10) or self._server is None:
            raise RuntimeError(f"counting proxy did not start on {self.listen}:{self.port}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def tallies(self) -> dict[str, Tally]:
        with self._lock:
            return {ip: Tally(t.requests, t.to_etcd, t.from_etcd, Counter(t.paths), t.lost)
                    for ip, t in self._tallies.items()}

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(asyncio.start_server(
                self._serve, self.listen, self.port, backlog=4096))
        finally:
            self._ready.set()
        self._loop.run_forever()
        self._server.close()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ip = writer.get_extra_info("peername")[0]
        with self._lock:
            tally = self._tallies.setdefault(ip, Tally())
        counter = RequestCounter()
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, up: bool) -> None:
            try:
                while data := await src.read(65536):
                    with self._lock:
                        if up:
                            new = counter.feed(data)
                            tally.requests += len(new)
                            tally.paths.update(new)
                            tally.to_etcd += len(data)
                            tally.lost = tally.lost or counter.lost
                        else:
                            tally.from_etcd += len(data)
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                with contextlib.suppress(OSError):
                    dst.close()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))


def etcd_counters(url: str) -> tuple[float, float]:
    """(gRPC messages received, gRPC bytes sent to clients) from etcd's /metrics."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as reply:
        text = reply.read().decode()
    received = sum(float(m.group(1)) for m in re.finditer(
        r"^grpc_server_msg_received_total\{[^}]*\} (\S+)$", text, re.M))
    sent = re.search(r"^etcd_network_client_grpc_sent_bytes_total (\S+)$", text, re.M)
    return received, float(sent.group(1)) if sent else 0.0


# ---------------------------------------------------------------- the nodes

@dataclass
class Node:
    """One finished `sgdoctor mesh` process."""

    index: int
    exit_code: int | None
    exited_at: float       # seconds after the first spawn
    cpu: float             # user + system seconds
    status: str            # mesh.gloo's status, or "no report"
    summary: str
    check_seconds: float   # mesh.gloo's own duration_ms / 1000


def _report(index: int, code: int | None, out: Path, err: Path) -> tuple[str, str, float]:
    try:
        doc = json.loads(out.read_text())
        check = next(c for c in doc["checks"] if c["id"] == "mesh.gloo")
        return check["status"], check["summary"], check["duration_ms"] / 1000
    except (OSError, ValueError, KeyError, StopIteration):
        tail = err.read_text(errors="replace")[-300:] if err.exists() else ""
        return "no report", f"n{index} exit {code}: {tail.strip()}", 0.0


@contextlib.contextmanager
def _spawned(fleet: Bridged, n: int, url: str, group: str, timeout: int,
             workdir: Path) -> Iterator[list[subprocess.Popen]]:
    """N node processes, each in its own session (the bench decides when they stop); any
    still running when the block ends get SIGTERM (they leave the group), then SIGKILL."""
    procs: list[subprocess.Popen] = []
    try:
        for i in range(n):
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/root",
                   "LANG": "C.UTF-8", "NO_COLOR": "1", "SGDOCTOR_CONFIG": "",
                   "GLOO_SOCKET_IFNAME": fleet.dev, "ETCD_ENDPOINTS": url}
            with open(workdir / f"n{i}.json", "wb") as out, \
                    open(workdir / f"n{i}.err", "wb") as err:
                procs.append(fleet.nodes[i].spawn(
                    [sys.executable, "-m", "sgdoctor", "mesh", "--group", group,
                     "--expect", str(n), "--timeout", f"{timeout}s", "--name", f"n{i}",
                     "--format", "json"], env=env, stdout=out, stderr=err,
                    stdin=subprocess.DEVNULL, start_new_session=True))
        yield procs
    finally:
        _stop(procs)


def _stop(procs: list[subprocess.Popen]) -> None:
    running = [p for p in procs if p.returncode is None]
    for proc in running:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    end = time.monotonic() + GRACE
    for proc in running:
        try:
            proc.wait(max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _reap(procs: list[subprocess.Popen], started: float,
          limit: float) -> dict[int, tuple[float, float]]:
    """Wait for every process (pidfds: each exit seen when it happens) until ``limit``:
    index → (seconds after ``started``, CPU seconds)."""
    done: dict[int, tuple[float, float]] = {}
    with selectors.DefaultSelector() as sel:
        for index, proc in enumerate(procs):
            sel.register(os.pidfd_open(proc.pid), selectors.EVENT_READ, index)
        try:
            while len(done) < len(procs) and time.monotonic() < limit:
                STOP.check()
                for key, _ in sel.select(min(0.1, max(0.0, limit - time.monotonic()))):
                    index = key.data
                    proc = procs[index]
                    _, status, usage = os.wait4(proc.pid, 0)
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    done[index] = (time.monotonic() - started, usage.ru_utime + usage.ru_stime)
                    sel.unregister(key.fileobj)
                    os.close(key.fd)
        finally:
            for key in list(sel.get_map().values()):
                os.close(key.fd)
    return done


@dataclass
class Size:
    n: int
    nodes: list[Node]
    tallies: list[Tally]
    etcd_messages: float
    etcd_sent: float
    launched: float         # seconds to spawn all N
    load: tuple[float, float]


def run_size(fleet: Bridged, etcd: EtcdServer, proxy: CountingProxy, n: int,
             timeout: int) -> Size:
    """One group of ``n`` real nodes (the first ``n`` of ``fleet``) from spawn to exit."""
    STOP.check()
    url = f"http://{fleet.host_address}:{proxy.port}"
    group = f"real{n}-{secrets.token_hex(3)}"
    load_before = os.getloadavg()[0]
    before, (msgs0, sent0) = proxy.tallies(), etcd_counters(etcd.url)
    with tempfile.TemporaryDirectory(prefix="sgdoctor-meshbench-") as tmp:
        workdir = Path(tmp)
        started = time.monotonic()
        with _spawned(fleet, n, url, group, timeout, workdir) as procs:
            launched = time.monotonic() - started
            exits = _reap(procs, started, started + timeout + 30)
        nodes = []
        for i, proc in enumerate(procs):
            at, cpu = exits.get(i, (float("nan"), float("nan")))
            status, summary, check = _report(i, proc.returncode, workdir / f"n{i}.json",
                                             workdir / f"n{i}.err")
            nodes.append(Node(i, proc.returncode, at, cpu, status, summary, check))
    msgs1, sent1 = etcd_counters(etcd.url)
    after = proxy.tallies()
    tallies = [after.get(a, Tally()).minus(before.get(a, Tally()))
               for a in fleet.addresses[:n]]
    return Size(n, nodes, tallies, msgs1 - msgs0, sent1 - sent0, launched,
                (load_before, os.getloadavg()[0]))


# ---------------------------------------------------------------- the bench

def _reachable(fleet: Bridged, port: int) -> None:
    """Every node connects to the proxy (bash's /dev/tcp: cheap); the condition, no sleep."""
    probe = ["bash", "-c", f"exec 3<>/dev/tcp/{fleet.host_address}/{port}"]
    for node in fleet.nodes:
        STOP.check()
        node.wait_for(probe, timeout=20)


class Interrupted(Exception):
    """A stopping signal arrived; raised at the bench's next safe point."""


class _Stop:
    """SIGINT, SIGTERM and SIGHUP are remembered, never raised from the handler: the bench
    stops at its next safe point (no child half-spawned, no namespace half-made), and no
    signal can cut its cleanup short (every step of it is bounded)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._note)

    def _note(self, signum: int, frame: object) -> None:
        self.signum = self.signum or signum

    def check(self) -> None:
        if self.signum is not None:
            raise Interrupted(signal.Signals(self.signum).name)


STOP = _Stop()


def print_size(size: Size) -> None:
    n = size.n
    ok = [x for x in size.nodes if x.status in ("ok", "warn")]
    worst = max(x.exited_at for x in size.nodes)
    cpu = sum(x.cpu for x in size.nodes) / n
    reqs = [t.requests for t in size.tallies]
    out = [t.from_etcd / 1024 for t in size.tallies]
    into = sum(t.to_etcd for t in size.tallies) / n / 1024
    print(f"{n:>5} {worst:>8.2f} {max(x.check_seconds for x in size.nodes):>8.2f} "
          f"{size.launched:>7.2f} {cpu:>7.2f} {sum(reqs) / n:>7.1f} {max(reqs):>5} "
          f"{size.etcd_messages / n:>7.1f} {sum(out) / n:>9.1f} {sum(out) / n / n:>6.2f} "
          f"{max(out):>9.1f} "
          f"{into:>7.1f} {size.etcd_sent / n / 1024:>9.1f} {n - len(ok):>6} "
          f"{size.load[0]:>5.2f}→{size.load[1]:<5.2f}", flush=True)
    paths: Counter[str] = Counter()
    for tally in size.tallies:
        paths.update(tally.paths)
    print("      requests/node by path: " + ", ".join(
        f"{p.removeprefix('/v3/')} {c / n:.1f}" for p, c in paths.most_common()))
    if any(t.lost for t in size.tallies):
        print("      (a stream the proxy could not follow: its later requests are uncounted)")
    for node in size.nodes:
        if node.status not in ("ok", "warn"):
            print(f"      first failure: n{node.index} {node.status}: {node.summary[:300]}")
            break


HEADER = (f"{'nodes':>5} {'verdict':>8} {'check':>8} {'launch':>7} {'CPU':>7} "
          f"{'req':>7} {'max':>5} {'gRPC':>7} {'KiB out':>9} {'÷N':>6} {'max':>9} "
          f"{'KiB in':>7} {'pb KiB':>9} {'failed':>6} load1\n"
          f"{'':>5} {'s last':>8} {'s max':>8} {'s':>7} {'s/node':>7} "
          f"{'/node':>7} {'':>5} {'msg/nd':>7} {'/node':>9} {'':>6} {'':>9} "
          f"{'/node':>7} {'sent/nd':>9} {'':>6} before→after")


def main(sizes: list[int], *, timeout: int = 120) -> int:
    """Build one fleet of max(sizes) namespaces, run each size on its first N nodes."""
    if os.geteuid() != 0:
        print("bench_mesh --real needs root (network namespaces)", file=sys.stderr)
        return 2
    if not sizes or min(sizes) < 1 or max(sizes) > 240:
        print("bench_mesh --real: sizes from 1 to 240 nodes", file=sys.stderr)
        return 2
    STOP.install()
    try:
        with Namespaces() as nets, bridged(nets, max(sizes), label="mbench") as fleet, \
                EtcdServer(host=fleet.host_address, parent=SHM) as etcd, \
                CountingProxy(fleet.host_address, (fleet.host_address,
                                                   etcd.client_port)) as proxy:
            _reachable(fleet, proxy.port)
            print(f"real: {max(sizes)} namespaces on one bridge in {fleet.hub.name} (fixed "
                  f"MACs, permanent neighbours), etcd {etcd.url} behind a counting proxy; "
                  f"{os.cpu_count()} CPUs; sgdoctor mesh --timeout {timeout}s", flush=True)
            print(HEADER, flush=True)
            for n in sizes:
                print_size(run_size(fleet, etcd, proxy, n, timeout))
            STOP.check()
    except Interrupted as exc:
        print(f"bench_mesh --real: interrupted ({exc}); cleaned up",
              file=sys.stderr)
        return 130
    return 0
