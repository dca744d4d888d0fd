"""Where a rendered report goes: stdout, or a file written atomically; and what the
terminal can show (its width, whether it takes UTF-8)."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from collections.abc import Mapping

from sgdoctor.api import Text
from sgdoctor.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

STDOUT = "-"


def utf8_stream(stream: Any = None) -> bool:
    encoding = (getattr(stream or sys.stdout, "encoding", None) or "").lower()
    return encoding.replace("-", "") == "utf8"


def terminal_width(stream: Any = None, env: Mapping[str, str] | None = None) -> int:
    """$COLUMNS when set (as shutil does), else the terminal's width, else 80 on a terminal
    that reports none (a 0×0 pty) and 100 off one (a log line); never below 40."""
    columns = (os.environ if env is None else env).get("COLUMNS", "").strip()
    if columns.isascii() and columns.isdigit() and int(columns) > 0:  # not "²"
        return max(40, int(columns))
    stream = stream or sys.stdout
    try:
        if stream.isatty():
            size = os.get_terminal_size(stream.fileno()).columns
            return max(40, size) if size > 0 else 80
    except (OSError, ValueError):
        pass
    return 100


def _cannot_write(path: str, error: str | Text) -> ConfigError:
    return ConfigError(Text("cannot write {path}: {error}", path=path, error=error))


def _special(path: str) -> bool:
    """A device, FIFO or socket: renaming over it would put a regular file in its place
    (`-o /dev/null` once replaced the machine's /dev/null)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _write_in_place(path: str, text: str) -> None:
    """Opened without blocking, so a FIFO nobody reads is an error, not a hang."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        reason = (Text("nobody reads this FIFO") if exc.errno == errno.ENXIO
                  else exc.strerror or str(exc))
        raise _cannot_write(path, reason) from None
    try:
        os.set_blocking(fd, True)
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(text)
    except OSError as exc:
        raise _cannot_write(path, exc.strerror or str(exc)) from None


def write_atomic(path: str, text: str) -> None:
    """Temp file in the same directory, fsync, rename: readers never see half a report.
    A device or FIFO is written in place."""
    if _special(path):
        _write_in_place(path, text)
        return
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".sgdoctor-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise _cannot_write(path, exc.strerror or str(exc)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _cannot_write(path, exc.strerror or str(exc)) from None


def write_text(text: str, path: str | None = None, stream: TextIO | None = None) -> None:
    """To `path` atomically, or to the stream (stdout) when there is none or it is '-'."""
    if path and path != STDOUT:
        write_atomic(path, text)
        return
    stream = stream or sys.stdout
    stream.write(text)
    stream.flush()
