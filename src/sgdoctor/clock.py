"""When this process began, for one-shot commands whose --timeout counts from the start.

A container start or a monitoring tick waits for the whole process, not for the engine: a
run whose deadline were taken after the imports and the discovery would end that much past
its --timeout. The console entry marks the moment it is first run; library callers (tests,
serve) never mark it and keep counting from when each run begins.
"""

from __future__ import annotations

import time

_began: float | None = None


def mark(at: float | None = None) -> None:
    """Remember ``at`` (time.monotonic(); now by default) as the process's start, once."""
    global _began
    if _began is None:
        _began = time.monotonic() if at is None else at


def began() -> float | None:
    """The marked start (time.monotonic()), or None when no entry point marked one."""
    return _began
