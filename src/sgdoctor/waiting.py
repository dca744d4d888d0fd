"""`--wait`'s policy and its voice: which checks to retry, progress lines, signals.

etcd and NATS often come up after the node. Only failed checks (and the checks that were
skipped because of them) are retried; the loop itself is the runner's (runner.run).
Nothing here imports the CLI or the runner.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Mapping, Sequence

from sgdoctor.api import CheckSpec, Result, Status
from sgdoctor.errors import Interrupted
from sgdoctor.i18n import tr

Progress = Callable[[list[str], float, float], None]


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

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


def progress(lang: str, tty: bool) -> Progress:
    """The waiting line in `lang`: rewritten in place on a terminal, one line per attempt
    elsewhere (a log)."""

    def say(waiting: list[str], elapsed: float, total: float) -> None:
        line = "sgdoctor: " + tr(lang, "waiting for {checks} ({elapsed} s of {total} s)",
                                 {"checks": ", ".join(waiting), "elapsed": f"{elapsed:.0f}",
                                  "total": f"{total:.0f}"})
        sys.stderr.write(f"\r\x1b[K{line}" if tty else line + "\n")
        sys.stderr.flush()

    return say


def interrupted_line(lang: str, signum: int, attempts: int) -> str:
    """What stderr says when a signal ends the wait: whose report follows."""
    return "sgdoctor: " + tr(lang, "interrupted by {signal} while waiting: the report is that "
                             "of attempt {attempt}, the last to complete",
                             {"signal": signal.Signals(signum).name, "attempt": attempts}) + "\n"


def raise_on_signals() -> Callable[[], None]:
    """SIGINT/SIGTERM raise Interrupted in the main thread; returns a restorer."""

    def handler(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for signum, old in previous.items():
            signal.signal(signum, old)

    return restore
