"""Small files that must be regular files (configs, TLS material, kernel files), read so that
nothing can block or balloon: a non-blocking open, fstat before the first read, a byte cap."""

from __future__ import annotations

import os
import stat


class NotRegular(Exception):
    """A FIFO, device, directory or socket where a regular file belongs; ``mode`` says which."""

    def __init__(self, mode: int) -> None:
        super().__init__("not a regular file")
        self.mode = mode


class TooLarge(Exception):
    """The file holds more than the ``cap`` bytes the caller reads."""

    def __init__(self, cap: int) -> None:
        super().__init__(f"larger than {cap} bytes")
        self.cap = cap


def which(program: str, path: str | None) -> str | None:
    """shutil.which on POSIX (``path`` None: os.defpath), without importing shutil (which
    imports bz2, lzma and fnmatch): a healthy run's start-up pays for every module."""
    def runnable(name: str) -> bool:
        return os.path.exists(name) and os.access(name, os.X_OK) and not os.path.isdir(name)

    if os.path.dirname(program):
        return program if runnable(program) else None
    seen = set()
    for directory in (os.defpath if path is None else path).split(os.pathsep):
        if directory not in seen:
            seen.add(directory)
            name = os.path.join(directory, program)
            if runnable(name):
                return name
    return None


def open_nonblocking(path: str) -> int:
    """A read-only descriptor that a FIFO without a writer cannot block (OSError as open)."""
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)


def read_regular(fd: int, cap: int) -> bytes:
    """Up to ``cap`` bytes of the regular file open at ``fd``, which is closed after.

    Raises NotRegular before reading anything else, TooLarge past ``cap``, OSError on read."""
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegular(mode)
        chunks: list[bytes] = []
        size = 0
        while size <= cap:
            chunk = os.read(fd, cap + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > cap:
        raise TooLarge(cap)
    return b"".join(chunks)
