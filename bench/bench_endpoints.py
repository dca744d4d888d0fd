"""Wall time of `sgdoctor --only etcd.endpoints` against N silent etcd endpoints.

Each endpoint is a loopback listener that accepts and never answers, the worst case for a
probe. With --timeout 2 the run must stay under 2.5 s whatever N is, because endpoints are
probed in parallel. Prints one line per N (median and max of --repeat runs); exits 1 when
a median is over the target.

    .venv/bin/python bench/bench_endpoints.py [--counts 1,4,16] [--timeout 2] [--target 2.5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time


def silent_listeners(count: int) -> list[socket.socket]:
    """Listening sockets that complete the TCP handshake (kernel backlog) and stay mute."""
    listeners = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        listeners.append(sock)
    return listeners


def run_once(count: int, timeout: float) -> tuple[float, str, int]:
    listeners = silent_listeners(count)
    try:
        endpoints = ",".join(f"http://127.0.0.1:{s.getsockname()[1]}" for s in listeners)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
               "ETCD_ENDPOINTS": endpoints}
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "sgdoctor", "--only", "etcd.endpoints",
                               "--format", "json", "--timeout", str(timeout)],
                              env=env, capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - started
    finally:
        for sock in listeners:
            with contextlib.suppress(OSError):
                sock.close()
    try:
        status = next(c["status"] for c in json.loads(proc.stdout)["checks"]
                      if c["id"] == "etcd.endpoints")
    except (ValueError, StopIteration, KeyError):
        status = f"unparsable output (exit {proc.returncode}): {proc.stderr.strip()[:200]}"
    return elapsed, status, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,4,16")
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--target", type=float, default=2.5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    over = False
    print(f"silent etcd endpoints, --timeout {args.timeout:g}, target < {args.target:g} s")
    for count in (int(c) for c in args.counts.split(",")):
        runs = [run_once(count, args.timeout) for _ in range(args.repeat)]
        times = sorted(elapsed for elapsed, _, _ in runs)
        median = statistics.median(times)
        statuses = {status for _, status, _ in runs}
        codes = {code for _, _, code in runs}
        verdict = ("OVER TARGET" if median >= args.target else
                   "ok" if statuses == {"fail"} else f"unexpected status {statuses}")
        over |= verdict != "ok"
        print(f"{count:3d} endpoints: median {median:5.2f} s, max {times[-1]:5.2f} s wall "
              f"({args.repeat} runs), check status {'/'.join(sorted(statuses))}, "
              f"exit {'/'.join(map(str, sorted(codes)))} [{verdict}]")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
