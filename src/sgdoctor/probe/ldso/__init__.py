"""A static model of glibc's dynamic loader: where dlopen(NAME) would find each library."""

from __future__ import annotations

import enum

from sgdoctor.records import dataclass


class LoaderError(Exception):
    """The loader itself cannot be modelled here (the Python executable is unreadable)."""


class LoadKind(str, enum.Enum):
    """Why one object does not load (stable: checks and JSON key on it)."""

    NOT_FOUND = "not_found"          # no such file by that name or path
    UNREADABLE = "unreadable"        # it exists, but cannot be opened (permission, link loop)
    INVALID = "invalid"              # the loader stops at this file (not a loadable ELF object)
    NOT_A_LIBRARY = "not_a_library"  # an executable, which dlopen refuses
    VERSION = "version"              # a symbol version its provider does not define
    ORIGIN = "origin"                # $ORIGIN cannot be expanded for this name


@dataclass(frozen=True)
class LoadError:
    """One load failure: ``kind``, the file or name it is about (``path``), and ``words``, the
    loader's own message as dlerror() would give it (quoted, never parsed)."""

    kind: LoadKind
    path: str
    words: str
    required_by: str | None = None  # for VERSION: the object that needs the version

    def __str__(self) -> str:
        return self.words


__all__ = ["LoadError", "LoadKind", "LoaderError"]
