"""What each built-in check module costs a healthy run: the figures sgdoctor.split.COSTS
holds, measured in bench_run.py's world (real etcd and NATS, a gcc-built SDK, a network
namespace where one can be made) from a regular install.

Each run is a fresh process that plans the default command (every check but maca.devices)
and runs the checks one module after another in manifest order, on one thread: a module's
figure is the thread CPU of importing it and running its checks, so what it imports first
is counted to it, as in a run. Printed: the median of each module over the runs, then the
COSTS table to paste (modules below 0.5 ms left to split.DEFAULT_COST).

    python bench/bench_costs.py [--runs 9] [--venv DIR] [--no-netns]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_run  # noqa: E402

MEASURE = r"""
import importlib, json, os, sys, time
from sgdoctor import registry
from sgdoctor.api import Context
from sgdoctor.cli_plain import plain_check_flags
from sgdoctor.engine import call_check
from sgdoctor.plan import build_request, make_plan
flags = plain_check_flags(sys.argv[1:], os.environ)
req = build_request(os.environ, **flags)
plan = make_plan(req)
by_module = {}
for spec in plan.specs:
    by_module.setdefault(getattr(spec.func, "check_module", spec.id), []).append(spec)
ctx = Context(dict(os.environ), deadline=time.monotonic() + 30, options=plan.options)
costs = {}
for module, specs in by_module.items():
    began = time.thread_time()
    if specs[0].source == "built-in" and module != specs[0].id:
        importlib.import_module(f"{registry.CHECKS_PACKAGE}.{module}")
    for spec in specs:
        call_check(spec, ctx.derive(deadline=ctx.deadline, settings=plan.settings.get(spec.id, {})))
    costs[module] = (time.thread_time() - began) * 1000
print(json.dumps(costs))
"""


def measure(bin_dir: Path, env: dict[str, str], runs: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {}
    python = str(bin_dir / "python")
    argv = ["--format", "json", "--skip", "maca.devices"]
    for _ in range(runs):
        proc = subprocess.run([python, "-c", MEASURE, *argv], env=env, capture_output=True,
                              text=True, timeout=120)
        if proc.returncode != 0:
            raise bench_run.WorldError(f"the measuring run failed: {proc.stderr[-400:]}")
        for module, ms in json.loads(proc.stdout).items():
            samples.setdefault(module, []).append(ms)
    return {module: statistics.median(values) for module, values in samples.items()}


def show(costs: dict[str, float]) -> None:
    ranked = sorted(costs.items(), key=lambda kv: -kv[1])
    for module, ms in ranked:
        print(f"  {module:<22} {ms:6.2f} ms")
    print(f"  {'total':<22} {sum(costs.values()):6.2f} ms")
    table = ", ".join(f'"{m}": {round(ms * 2) / 2:.1f}' for m, ms in ranked if ms >= 0.5)
    print(f"COSTS = {{{table}}}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--venv", default=os.path.join(tempfile.gettempdir(),
                                                        "sgdoctor-bench-venv"))
    parser.add_argument("--no-netns", action="store_true")
    parser.add_argument("--inside", metavar="BIN_DIR", help=argparse.SUPPRESS)
    opts = parser.parse_args()

    def body() -> int:
        if opts.inside:
            with tempfile.TemporaryDirectory(prefix="sgdoctor-costs-") as work, \
                    bench_run.world(Path(work), os.environ.get("BENCH_IFNAME", "lo")) as env:
                show(measure(Path(opts.inside), env, opts.runs))
            return 0
        bin_dir = bench_run.regular_install(Path(opts.venv))
        return bench_run.run_inside([sys.executable, str(Path(__file__).resolve()), "--inside",
                                     str(bin_dir), "--runs", str(opts.runs)], opts.no_netns)

    return bench_run.guarded("bench_costs", body)

if __name__ == "__main__":
    sys.exit(main())
