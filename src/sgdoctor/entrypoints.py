"""Entry points of one group, read straight from the dist-info directories on sys.path.

importlib.metadata costs about 17 ms to import (email, zipfile, csv...) on every start, for a
lookup that is a directory listing and a small ini file. This walks the same places in the
same order with the same rules (first distribution of a normalised name wins, entry_points.txt
sections and ``name = value`` lines), and hands anything unusual — a zip or egg on sys.path,
a meta-path finder that finds distributions of its own — to importlib.metadata itself.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys
from collections.abc import Iterator
from importlib.machinery import PathFinder

from sgdoctor.records import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


@dataclass(frozen=True)
class EntryPoint:
    """What importlib.metadata.EntryPoint offers the registry: name, value, group, load()."""

    name: str
    value: str
    group: str

    def load(self) -> Any:
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"malformed entry point value {self.value!r}")
        module = importlib.import_module(match.group("module"))
        attrs = filter(None, (match.group("attr") or "").split("."))
        return functools.reduce(getattr, attrs, module)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _simple() -> bool:
    """True when sys.path holds only directories and only the path finder finds metadata."""
    for finder in sys.meta_path:
        if finder is not PathFinder and hasattr(finder, "find_distributions"):
            return False
    for entry in sys.path:
        root = entry or "."
        if root.lower().endswith(".egg") or (os.path.exists(root) and not os.path.isdir(root)):
            return False
    return True


def _distributions() -> Iterator[str]:
    """Every dist-info/egg-info directory, first of each normalised name, in sys.path order."""
    seen: set[str] = set()
    for entry in sys.path:
        root = entry or "."
        try:
            children = os.listdir(root)
        except OSError:
            continue
        grouped: dict[str, list[str]] = {}
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")):
                name = _normalize(low.rpartition(".")[0].partition("-")[0])
                grouped.setdefault(name, []).append(os.path.join(root, child))
        for paths in grouped.values():
            for path in paths:
                stem, _ext = os.path.splitext(os.path.basename(path))
                name = _normalize(stem.partition("-")[0])
                if name not in seen:
                    seen.add(name)
                    yield path


class _Unusual(Exception):
    """Something importlib.metadata itself must judge (it raises on a line without "=")."""


def _parse(text: str, group: str) -> Iterator[EntryPoint]:
    """importlib.metadata's Sectioned.section_pairs, kept to one group."""
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
            continue
        if section is None:
            continue
        if "=" not in line:
            raise _Unusual(line)
        if section == group:
            name, value = line.split("=", 1)
            yield EntryPoint(name.strip(), value.strip(), group)


def entry_points(group: str) -> list[Any]:
    """The group's entry points, as importlib.metadata.entry_points(group=...) lists them."""
    if _simple():
        try:
            return _fast(group)
        except _Unusual:
            pass
    from importlib.metadata import entry_points as slow

    return list(slow(group=group))


def _fast(group: str) -> list[Any]:
    found: list[Any] = []
    for path in _distributions():
        try:
            with open(os.path.join(path, "entry_points.txt"), encoding="utf-8") as fh:
                text = fh.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            continue
        found.extend(_parse(text, group))
    return found
