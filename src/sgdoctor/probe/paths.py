"""File-system facts about the directories of a search-path list (stat only, no listing)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

from sgdoctor.parse.pathlist import DirFacts

__all__ = ["dir_facts", "facts_for"]


def dir_facts(path: str) -> DirFacts:
    """stat() the entry (following symlinks, as the readers do); never raises."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return DirFacts(exists=False)
    except (OSError, ValueError) as exc:
        return DirFacts(exists=False, error=getattr(exc, "strerror", None) or str(exc))
    return DirFacts(exists=True, is_dir=stat.S_ISDIR(st.st_mode),
                    world_writable=bool(st.st_mode & stat.S_IWOTH))


def facts_for(paths: Iterable[str]) -> dict[str, DirFacts]:
    return {path: dir_facts(path) for path in dict.fromkeys(paths)}
