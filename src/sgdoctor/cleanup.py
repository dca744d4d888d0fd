"""Work that must happen before the process ends, however it ends.

sgdoctor leaves by os._exit (a probe thread still stuck must not keep a finished run alive)
or by os.execv (`sgdoctor exec`), and neither runs atexit handlers: those exit paths call
:func:`run_hooks`, and atexit covers every other way out (library use, tests). A probe that
leaves something on disk while it works (the record-dir probe file) registers its undo here,
so a check the runner gave up on mid-write leaves nothing behind.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Callable

_HOOKS: list[Callable[[], None]] = []
_LOCK = threading.Lock()


def at_exit(hook: Callable[[], None]) -> None:
    """Run `hook` once at process exit (registering it twice is the same as once)."""
    with _LOCK:
        if hook not in _HOOKS:
            _HOOKS.append(hook)


def run_hooks() -> None:
    """Run (and forget) every hook, newest first; a failing hook does not stop the others."""
    with _LOCK:
        hooks = _HOOKS[::-1]
        _HOOKS.clear()
    for hook in hooks:
        with contextlib.suppress(Exception):
            hook()


def _forget_in_child() -> None:
    """A forked child (sgdoctor.split) runs its own hooks, never its parent's (the parent's
    probe files and helpers are the parent's to undo)."""
    global _LOCK
    _LOCK = threading.Lock()
    _HOOKS.clear()


atexit.register(run_hooks)
os.register_at_fork(after_in_child=_forget_in_child)
