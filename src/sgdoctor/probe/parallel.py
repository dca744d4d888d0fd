"""Run probes side by side so the wall time does not grow with the number of endpoints.

Daemon threads, not a ThreadPoolExecutor: a worker stuck where no timeout reaches (a slow
getaddrinfo) must neither delay the verdict past the deadline nor the interpreter's exit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")


def run_all(calls: Sequence[Callable[[], T]], deadline: float,
            fallback: Callable[[int, BaseException | None], T]) -> list[T]:
    """Call each function in its own thread. A call that raised, or is still running at
    ``deadline`` (plus a short grace for its own timeout to fire), is replaced by
    ``fallback(index, exception)`` — the exception is None for a timeout."""
    results: list[T | None] = [None] * len(calls)
    errors: list[BaseException | None] = [None] * len(calls)
    done = [threading.Event() for _ in calls]

    def worker(index: int, call: Callable[[], T]) -> None:
        try:
            results[index] = call()
        except BaseException as exc:
            errors[index] = exc
        finally:
            done[index].set()

    for index, call in enumerate(calls):
        threading.Thread(target=worker, args=(index, call), daemon=True,
                         name=f"sgdoctor-probe-{index}").start()
    grace = deadline + 0.05
    for index, event in enumerate(done):
        event.wait(max(0.0, grace - time.monotonic()))
        if not event.is_set() or results[index] is None:
            results[index] = fallback(index, errors[index] if event.is_set() else None)
    return results  # type: ignore[return-value]
