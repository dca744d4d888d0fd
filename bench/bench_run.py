"""Median wall time and peak memory of `sgdoctor --format json` with every built-in check.

Targets on a 2-core machine with local endpoints: median < 150 ms, peak RSS < 60 MiB.
Measure a regular install (`pip install .`): an editable install's import hook alone adds
about 20 ms to every start.
Usage: python bench/bench_run.py [--runs 20] [--no-servers] [-- extra sgdoctor args]
By default it starts a real etcd and a real nats-server on loopback (the test suite's
helpers) and points ETCD_ENDPOINTS / NATS_SERVER at them, as on a healthy node.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time

TARGET_MS = 150.0
TARGET_MIB = 60.0


def one_run(args: list[str]) -> tuple[float, float, int]:
    """Wall time (ms), peak RSS (MiB) and exit code of one sgdoctor process."""
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "sgdoctor", "--format", "json", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = (time.perf_counter() - began) * 1000
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss / 1024, proc.returncode


@contextlib.contextmanager
def local_servers():
    """A real etcd and nats-server on loopback, stopped afterwards."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    from servers import EtcdServer, NatsServer

    with EtcdServer() as etcd, NatsServer() as nats:
        saved = {k: os.environ.get(k) for k in ("ETCD_ENDPOINTS", "NATS_SERVER")}
        os.environ.update(ETCD_ENDPOINTS=etcd.url, NATS_SERVER=nats.url)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-servers", action="store_true",
                        help="do not start local etcd/nats (use the current environment)")
    parser.add_argument("extra", nargs="*", help="extra sgdoctor arguments (after --)")
    opts = parser.parse_args()
    os.environ.setdefault("SGDOCTOR_CONFIG", "")
    with contextlib.nullcontext() if opts.no_servers else local_servers():
        one_run(opts.extra)  # warm the page cache and .pyc files
        samples = [one_run(opts.extra) for _ in range(opts.runs)]
    times = [s[0] for s in samples]
    peaks = [s[1] for s in samples]
    codes = sorted({s[2] for s in samples})
    median = statistics.median(times)
    peak = max(peaks)
    import sgdoctor

    kind = "editable (slower start)" if os.sep + "src" + os.sep in sgdoctor.__file__ else "regular"
    print(f"runs: {opts.runs}  exit codes: {codes}  install: {kind}")
    print(f"wall time ms: median {median:.1f}  min {min(times):.1f}  max {max(times):.1f}"
          f"  (target median < {TARGET_MS:.0f})")
    print(f"peak RSS MiB: max {peak:.1f}  median {statistics.median(peaks):.1f}"
          f"  (target < {TARGET_MIB:.0f})")
    return 0 if median < TARGET_MS and peak < TARGET_MIB else 1


if __name__ == "__main__":
    sys.exit(main())
