"""NVSHMEM's configuration files as facts: what each of them holds, read without blocking.

NVSHMEM 3.8.0 ``fopen``s $NVSHMEM_CONF_FILE, ~/.nvshmem.conf and /etc/nvshmem.conf at
init; this reads the same files (a FIFO or device is reported, never read; at most
1 MiB each) so the checks can say which value NVSHMEM will really use.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping

from sgdoctor.parse.nvshmem import ConfText, conf_paths

__all__ = ["read_conf_files", "LIMIT"]

LIMIT = 1 << 20


def _read(path: str) -> ConfText:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return ConfText(path, None)
    except OSError as exc:
        return ConfText(path, None, exc.strerror or type(exc).__name__)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ConfText(path, None, "not a regular file")
        data = os.read(fd, LIMIT)
    except OSError as exc:
        return ConfText(path, None, exc.strerror or type(exc).__name__)
    finally:
        os.close(fd)
    return ConfText(path, data.decode("utf-8", "surrogateescape"))


def read_conf_files(env: Mapping[str, str]) -> list[ConfText]:
    """Every file NVSHMEM would read for this environment, highest precedence first."""
    return [_read(path) for path in conf_paths(env)]
