"""sys.path without the entries that can hang an import or a metadata scan.

PYTHONPATH is the server's setting under inspection, not sgdoctor's: a FIFO or a device on
it (zipimport and importlib.metadata open every non-directory entry as a zip archive) must
not hang sgdoctor's own imports or its entry-point discovery. Directories and regular files
(zip archives, eggs) stay, so checks installed through PYTHONPATH are still found; the
environment itself is untouched, so the checks still judge PYTHONPATH as given and
`sgdoctor exec` hands it on.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterable


def importable(entry: str) -> bool:
    """A directory or a regular file; '' (the working directory) is kept as Python does."""
    if not entry:
        return True
    try:
        mode = os.stat(entry).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISDIR(mode) or stat.S_ISREG(mode)


def pruned(entries: Iterable[str]) -> list[str]:
    return [e for e in entries if isinstance(e, str) and importable(e)]


def prune_sys_path() -> None:
    """Drop the entries that are neither directories nor regular files, in place."""
    sys.path[:] = pruned(sys.path)
