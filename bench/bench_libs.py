"""How long resolving the MACA libraries takes, in-process, on a gcc-built fake SDK.

Resolves the default set (libmcruntime, libmxc-runtime64, libmccl, libmcblas, libmxsml)
with full dependency trees, symbol versions and shadow search — what `maca.libs` does —
with a fresh resolver (fresh per-run ELF cache) each run. Target: median < 30 ms, and no
slower with a directory of 10,000 unrelated files first on LD_LIBRARY_PATH.
Usage: python bench/bench_libs.py [--runs 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakesdk import DEFAULT_LIBRARIES, temporary_fake_sdk  # noqa: E402

TARGET_MS = 30.0


def resolve_all(env: dict[str, str]) -> int:
    """One run: a fresh resolver, every default library with its tree; objects seen."""
    from sgdoctor.probe.ldso import resolver as module
    from sgdoctor.probe.ldso.resolver import Resolver

    module._PARSED.clear()  # nothing parsed by an earlier run
    resolver = Resolver(env)
    objects = 0
    for name in DEFAULT_LIBRARIES:
        result = resolver.dlopen(name)
        if not result.ok:
            raise SystemExit(f"bench setup is broken: {name}: {result.errors or result.missing}")
        resolver.copies(name)
        objects += len(result.objects)
    return objects


def median_ms(env: dict[str, str], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        resolve_all(env)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), max(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    opts = parser.parse_args()
    with temporary_fake_sdk(many=10_000) as sdk:
        plain_env = sdk.env()
        crowded_env = sdk.env(sdk.trap("many"))
        start = time.perf_counter()
        objects = resolve_all(plain_env)
        first = (time.perf_counter() - start) * 1000
        plain, plain_max = median_ms(plain_env, opts.runs)
        crowded, crowded_max = median_ms(crowded_env, opts.runs)
    print(f"first run in this process (imports pyelftools, runs ld.so --help): {first:.1f} ms")
    print(f"{len(DEFAULT_LIBRARIES)} libraries, {objects} objects in their trees, "
          f"{opts.runs} runs each, fresh resolver per run:")
    print(f"  image LD_LIBRARY_PATH:              median {plain:6.1f} ms   max {plain_max:6.1f} ms")
    print(f"  + 10,000-file directory first:      median {crowded:6.1f} ms   "
          f"max {crowded_max:6.1f} ms")
    verdict = plain < TARGET_MS and crowded < TARGET_MS
    print(f"target: median < {TARGET_MS:.0f} ms in both cases: {'met' if verdict else 'MISSED'}")
    return 0 if verdict else 1


if __name__ == "__main__":
    raise SystemExit(main())
