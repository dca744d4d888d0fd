"""Running a program with a hard deadline and an output cap, never hanging on it.

A plugin or a vendor tool may hang, spew, or get stuck in the kernel; each of those ends
as a bounded result here, with the whole process group killed.

Programs start through os.posix_spawn rather than the subprocess module: importing that
(with selectors and locale) cost the process that runs `ld.so --help` about 3 ms, more than
the run itself. What Popen did for us is done here the same way: the program is looked up on
the PATH of the environment it is given, stdin is /dev/null, it leads a session of its own,
and it inherits no descriptor but 0, 1 and 2.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
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
        return _run(box.wrap(argv), start, timeout, env, max_bytes)
    finally:
        box.kill()


def _run(argv: list[str], start: float, timeout: float, env: Mapping[str, str] | None,
         max_bytes: int) -> RunResult:
    environ = dict(os.environ if env is None else env)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        pid = _spawn(argv, environ, out_w, err_w)
    except OSError as exc:
        os.close(out_r)
        os.close(err_r)
        return RunResult(None, error=os_error(exc))
    finally:
        os.close(out_w)
        os.close(err_w)
    deadline = start + timeout
    out: dict[int, bytearray] = {out_r: bytearray(), err_r: bytearray()}
    timed_out = too_large = False
    poller = select.poll()
    for fd in out:
        poller.register(fd, select.POLLIN)
    open_fds = set(out)
    try:
        while open_fds:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for fd, _ in poller.poll(max(1, int(left * 1000) + 1)):
                chunk = os.read(fd, 65536)
                if not chunk:
                    poller.unregister(fd)
                    open_fds.discard(fd)
                    continue
                out[fd] += chunk
                if len(out[fd]) > max_bytes:
                    too_large = True
            if too_large:
                break
    finally:
        for fd in out:
            os.close(fd)
    status: int | None = None
    killed = True
    if not (timed_out or too_large):
        status = _reaped(pid, max(deadline, time.monotonic() + 0.01))
        if status is None:
            timed_out = True
        else:
            with contextlib.suppress(OSError):  # what it left behind in its group
                os.killpg(pid, signal.SIGKILL)
    if status is None:
        killed = _kill_group(pid)
    stdout, stderr = (bytes(b[:max_bytes]).decode("utf-8", "replace") for b in out.values())
    code = None if status is None or timed_out or too_large else \
        os.waitstatus_to_exitcode(status)
    return RunResult(code, stdout, stderr, timed_out=timed_out, too_large=too_large,
                     lingering=not killed, seconds=time.monotonic() - start)


def _spawn(argv: list[str], environ: dict[str, str], out_w: int, err_w: int) -> int:
    """posix_spawn as Popen(start_new_session=True, close_fds=True) starts a program: the
    first of the PATH's candidates that execs; the first error other than 'not there'."""
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2),
               *((os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable())]
    name = argv[0]
    candidates = ([name] if os.path.dirname(name) else
                  [os.path.join(d, name) for d in os.get_exec_path(environ)])
    first: OSError | None = None
    for path in candidates:
        try:
            return os.posix_spawn(path, argv, environ, file_actions=actions, setsid=True)
        except (FileNotFoundError, NotADirectoryError) as exc:
            first = first or exc
        except OSError as exc:
            if first is None or isinstance(first, (FileNotFoundError, NotADirectoryError)):
                first = exc
    raise first or FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


def _inheritable() -> list[int]:
    """Descriptors above 2 a program would inherit (what this process itself inherited:
    Python opens none so); none where /proc/self/fd cannot be listed."""
    try:
        listed = [int(fd) for fd in os.listdir("/proc/self/fd") if fd.isdigit()]
    except OSError:
        return []
    found = []
    for fd in listed:
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    found.append(fd)
            except OSError:   # the listing's own descriptor, gone since
                continue
    return found


def _reaped(pid: int, until: float) -> int | None:
    """The wait status of ``pid`` once it exits, polling (as Popen.wait does) until
    ``until``; None if it has not exited by then."""
    delay = 0.0005
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # SIGCHLD ignored: the kernel reaped it (Popen says 0 too)
            return 0
        if done:
            return status
        left = until - time.monotonic()
        if left <= 0:
            return None
        delay = min(delay * 2, left, 0.05)
        time.sleep(delay)


def _kill_group(pid: int) -> bool:
    """SIGKILL the group; False when the leader still lingers after a short grace.

    A tool stuck in the kernel (uninterruptible sleep in a hung driver's ioctl) dies only
    when the call returns: waiting for it without a bound would hang the check itself.
    """
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return _reaped(pid, time.monotonic() + KILL_GRACE) is not None
