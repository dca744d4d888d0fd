"""`--wait`'s policy and its voice: which checks to retry, progress lines, signals.

etcd and NATS often come up after the node. Only failed checks (and the checks that were
skipped because of them) are retried; the loop itself is the runner's (runner.run).
Nothing here imports the CLI or the runner.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from sgdoctor.api import CheckSpec, Result, Status
from sgdoctor.errors import Interrupted

Progress = Callable[[list[str], float, float], None]


class _Done(Protocol):
    @property
    def result(self) -> Result: ...


def retry_set(specs: Sequence[CheckSpec], outcomes: Mapping[str, _Done]) -> list[CheckSpec]:
    """Failed checks, plus every check that was skipped because one of them failed."""
    failed = {cid for cid, o in outcomes.items() if o.result.status is Status.FAIL}
    changed = True
    while changed:
        changed = False
        for spec in specs:
            if spec.id not in failed and any(d in failed for d in spec.depends_on) and \
                    spec.id in outcomes and outcomes[spec.id].result.status is Status.SKIP:
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


def raise_on_signals() -> Callable[[], None]:
    """SIGINT/SIGTERM raise Interrupted in the main thread; returns a restorer."""

    def handler(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for signum, old in previous.items():
            signal.signal(signum, old)

    return restore
