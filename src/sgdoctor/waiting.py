"""`--wait`: retry the checks that failed until they pass or the time is up.

etcd and NATS often come up after the node. Only failed checks (and the checks that
were skipped because of them) are retried, and there is one final report, never one
per attempt. A signal ends the wait promptly with the last complete report.
"""

from __future__ import annotations

import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sgdoctor.api import CheckSpec, Status
from sgdoctor.cli_common import RunRequest, expand_ignores
from sgdoctor.errors import Interrupted
from sgdoctor.report import Report, build_report
from sgdoctor.runner import Outcome, run_checks


@dataclass
class WaitResult:
    report: Report
    attempts: int
    signum: int | None = None


Progress = Callable[[list[str], float, float], None]


def _to_retry(specs: Sequence[CheckSpec], outcomes: Mapping[str, Outcome]) -> list[CheckSpec]:
    """Failed checks, plus every check that was skipped because one of them failed."""
    failed = {cid for cid, o in outcomes.items() if o.result.status is Status.FAIL}
    changed = True
    while changed:
        changed = False
        for spec in specs:
            if spec.id not in failed and any(d in failed for d in spec.depends_on) and \
                    outcomes[spec.id].result.status is Status.SKIP:
                failed.add(spec.id)
                changed = True
    return [s for s in specs if s.id in failed]


def stderr_progress(waiting: list[str], elapsed: float, total: float) -> None:
    sys.stderr.write(f"sgdoctor: waiting for {', '.join(waiting)} "
                     f"({elapsed:.0f} s of {total:.0f} s)\n")
    sys.stderr.flush()


def tty_progress(waiting: list[str], elapsed: float, total: float) -> None:
    """One status line, rewritten in place."""
    sys.stderr.write(f"\r\x1b[Ksgdoctor: waiting for {', '.join(waiting)} "
                     f"({elapsed:.0f} s of {total:.0f} s)")
    sys.stderr.flush()


def run_with_wait(req: RunRequest, env: Mapping[str, str], specs: Sequence[CheckSpec], *,
                  wait: float, interval: float, progress: Progress | None = None,
                  stop: threading.Event | None = None) -> WaitResult:
    """Run, then re-run what failed every `interval` (± 20 %) until `wait` runs out."""
    started_wall, started = time.time(), time.monotonic()
    deadline = started + wait
    ignore = expand_ignores(specs, req.ignore)
    outcomes: dict[str, Outcome] = {}
    attempts = 0

    def report() -> Report:
        ordered = [outcomes[s.id] for s in specs if s.id in outcomes]
        return build_report(ordered, env, started_at=started_wall,
                            duration_ms=(time.monotonic() - started) * 1000)

    todo = list(specs)
    try:
        while todo:
            budget = min(req.timeout, max(0.05, deadline - time.monotonic()))
            for outcome in run_checks(todo, env, timeout=budget, settings=req.settings,
                                      options=req.options, ignore=ignore):
                outcomes[outcome.spec.id] = outcome
            attempts += 1
            todo = _to_retry(specs, outcomes)
            left = deadline - time.monotonic()
            if not todo or left <= 0.05:
                break
            if progress:
                progress([s.id for s in todo], time.monotonic() - started, wait)
            pause = min(left, interval * random.uniform(0.8, 1.2))
            if stop is not None:
                if stop.wait(pause):
                    break
            else:
                time.sleep(pause)
    except Interrupted as exc:
        if not outcomes:
            raise
        return WaitResult(report(), attempts, exc.signum)
    return WaitResult(report(), attempts)


def raise_on_signals() -> Callable[[], None]:
    """SIGINT/SIGTERM raise Interrupted in the main thread; returns a restorer."""

    def handler(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for signum, old in previous.items():
            signal.signal(signum, old)

    return restore
