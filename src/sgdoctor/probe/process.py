"""Running a program with a hard deadline and an output cap, never hanging on it.

A plugin or a vendor tool may hang, spew, or get stuck in the kernel; each of those ends
as a bounded result here, with the whole process group killed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

from sgdoctor.probe.cgroup import Box
from sgdoctor.records import dataclass

KILL_GRACE = 0.1      # seconds a SIGKILLed command gets to disappear before we move on


def os_error(exc: OSError) -> str:
    return exc.strerror or errno.errorcode.get(exc.errno or 0, "") or type(exc).__name__


@dataclass(frozen=True)
class RunResult:
    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    too_large: bool = False
    error: str | None = None        # could not start it at all
    lingering: bool = False         # killed, but still not gone (stuck in the kernel)
    seconds: float = 0.0


def run_bounded(argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None,
                max_bytes: int = 1 << 20, contain: bool = False) -> RunResult:
    """Run ``argv`` with a hard deadline and an output cap, in its own process group.

    On timeout (or too much output) the whole group is SIGKILLed: a shell-script wrapper
    that is stuck in a child would otherwise keep our pipes open past the deadline. When
    it exits, what it left running in its group is ended too; with ``contain`` (foreign
    code: plugins) it also runs in a throwaway cgroup, which holds even what called setsid.
    """
    start = time.monotonic()
    box = Box.create() if contain else Box(None)
    try:
        return _run(argv, box, start, timeout, env, max_bytes)
    finally:
        box.kill()


def _run(argv: Sequence[str], box: Box, start: float, timeout: float,
         env: Mapping[str, str] | None, max_bytes: int) -> RunResult:
    try:
        proc = subprocess.Popen(box.wrap(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=dict(env) if env is not None else None,
                                start_new_session=True, close_fds=True)
    except OSError as exc:
        return RunResult(None, error=os_error(exc))
    deadline = start + timeout
    assert proc.stdout is not None and proc.stderr is not None  # both are PIPEs
    out: dict[int, bytearray] = {proc.stdout.fileno(): bytearray(),
                                 proc.stderr.fileno(): bytearray()}
    timed_out = too_large = False
    with selectors.DefaultSelector() as sel:
        for fd in out:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _ in sel.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                out[key.fd] += chunk
                if len(out[key.fd]) > max_bytes:
                    too_large = True
            if too_large:
                break
    killed = True
    if timed_out or too_large:
        killed = _kill_group(proc)
    else:
        try:
            proc.wait(max(0.01, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
            killed = _kill_group(proc)
        else:
            with contextlib.suppress(OSError):  # what it left behind in its group
                os.killpg(proc.pid, signal.SIGKILL)
    proc.stdout.close()
    proc.stderr.close()
    stdout, stderr = (bytes(b[:max_bytes]).decode("utf-8", "replace") for b in out.values())
    return RunResult(None if timed_out or too_large else proc.returncode, stdout, stderr,
                     timed_out=timed_out, too_large=too_large, lingering=not killed,
                     seconds=time.monotonic() - start)


def _kill_group(proc: subprocess.Popen[bytes]) -> bool:
    """SIGKILL the group; False when the leader still lingers after a short grace.

    A tool stuck in the kernel (uninterruptible sleep in a hung driver's ioctl) dies only
    when the call returns: waiting for it without a bound would hang the check itself.
    """
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    try:
        proc.wait(KILL_GRACE)
    except subprocess.TimeoutExpired:
        return False
    return True
