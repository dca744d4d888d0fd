"""A real dlopen, in a child Python: what only loading tells (constructors that fail or hang).

The static model says which files would load; this runs them, each in its own bounded child,
so a constructor that crashes or hangs cannot take sgdoctor with it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from sgdoctor.records import dataclass

_DLOPEN = "import ctypes, sys; ctypes.CDLL(sys.argv[1])"


@dataclass(frozen=True)
class ChildLoad:
    """How ``python -c 'ctypes.CDLL(name)'`` ended."""

    name: str
    timeout: float
    ok: bool = False
    start_error: str | None = None  # the child could not be started (OS words)
    timed_out: bool = False
    lingering: bool = False         # still there after SIGKILL (stuck in the kernel)
    signal: int | None = None       # killed by this signal
    returncode: int | None = None
    last_line: str | None = None    # the child's last stderr line: the loader's own words


def dlopen_in_child(name: str, env: Mapping[str, str], timeout: float) -> ChildLoad:
    """Load ``name`` for real in a child Python (constructors run there, not here)."""
    from sgdoctor.probe.process import run_bounded

    run = run_bounded([sys.executable, "-c", _DLOPEN, name], timeout=timeout, env=env)
    if run.error:
        return ChildLoad(name, timeout, start_error=run.error)
    if run.timed_out:
        return ChildLoad(name, timeout, timed_out=True, lingering=run.lingering)
    lines = run.stderr.strip().splitlines()
    code = run.returncode
    return ChildLoad(name, timeout, ok=code == 0, returncode=code,
                     signal=-code if code is not None and code < 0 else None,
                     last_line=lines[-1] if lines else None)


def dlopen_each(names: list[str], env: Mapping[str, str],
                timeout: float) -> dict[str, ChildLoad]:
    """Every name in its own child, four at a time."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        loads = list(pool.map(lambda n: dlopen_in_child(n, env, timeout), names))
    return dict(zip(names, loads, strict=True))
