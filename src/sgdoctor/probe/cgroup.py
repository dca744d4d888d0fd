"""A throwaway cgroup v2 that holds one child and everything it starts.

A process group does not hold a descendant that called setsid(); a cgroup does, so a plugin
that detaches a daemon is still ended with its whole tree. Where no writable cgroup v2 is
mounted (unprivileged, cgroup v1 only) there is no box and the process group is all we have.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Sequence

_MOUNTS = "/proc/self/mounts"
_OWN = "/proc/self/cgroup"
EMPTY_WAIT = 1.0


def _v2_mount() -> str | None:
    try:
        with open(_MOUNTS, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) > 2 and parts[2] == "cgroup2":
                    return parts[1].replace("\\040", " ")
    except OSError:
        return None
    return None


def _own_path() -> str | None:
    try:
        with open(_OWN, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        return None
    return None


class Box:
    """``wrap`` an argv so it enters the box before it execs; ``kill`` ends all inside."""

    def __init__(self, path: str | None) -> None:
        self.path = path

    @classmethod
    def create(cls) -> Box:
        mount, own = _v2_mount(), _own_path()
        if mount is None or own is None:
            return cls(None)
        path = os.path.join(mount, own.lstrip("/"), f"sgdoctor-{os.getpid()}-{os.urandom(4).hex()}")
        try:
            os.mkdir(path, 0o700)
        except OSError:
            return cls(None)
        return cls(path)

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """The child moves itself in, then execs argv; if it cannot move, it runs anyway."""
        if self.path is None:
            return list(argv)
        return ["/bin/sh", "-c", 'echo 0 > "$0/cgroup.procs" 2>/dev/null; exec "$@"',
                self.path, *argv]

    def members(self) -> list[int]:
        if self.path is None:
            return []
        try:
            with open(os.path.join(self.path, "cgroup.procs"), encoding="ascii") as fh:
                return [int(line) for line in fh if line.strip().isdigit()]
        except OSError:
            return []

    def kill(self) -> None:
        """SIGKILL every member, wait (bounded) until the box is empty, remove it."""
        if self.path is None:
            return
        deadline = time.monotonic() + EMPTY_WAIT
        while True:
            try:
                with open(os.path.join(self.path, "cgroup.kill"), "w", encoding="ascii") as fh:
                    fh.write("1")
            except OSError:  # kernels before 5.14 have no cgroup.kill
                for pid in self.members():
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.rmdir(self.path)
                return
            if time.monotonic() >= deadline:
                return
            time.sleep(0.01)
