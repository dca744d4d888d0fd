"""Search-path lists (PATH, PYTHONPATH, LD_LIBRARY_PATH) and their hygiene, without I/O.

Splitting mirrors each reader: execvp and CPython split on ``:``; glibc's ld.so splits
LD_LIBRARY_PATH on ``:`` AND ``;``. An empty entry means the current directory to all three,
which lets whoever controls the working directory plant binaries, modules or libraries.
Directory facts (exists, world-writable) come from :mod:`sgdoctor.probe.paths` and are
passed in, so the verdict itself stays pure.
"""

from __future__ import annotations

import gc
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

from sgdoctor.parse.verdict import Verdict, ok, shown, warn

__all__ = ["PathEntry", "DirFacts", "SEPARATORS", "split_path_list", "assess_path_list"]

SEPARATORS = {"PATH": ":", "PYTHONPATH": ":", "LD_LIBRARY_PATH": ":;"}
_WHAT = {"PATH": "programs", "PYTHONPATH": "Python modules", "LD_LIBRARY_PATH": "shared libraries"}
# ld.so expands these in LD_LIBRARY_PATH; such an entry cannot be judged from here.
_TOKEN = re.compile(r"\$(?:ORIGIN|LIB|PLATFORM|\{ORIGIN\}|\{LIB\}|\{PLATFORM\})")
_LISTED = 6  # entries named per finding before "and N more"
_DETAILED = 100  # entries described in the details


class PathEntry(NamedTuple):
    """One entry of a path list; ``index`` counts from 1 as a person would. (A tuple, not a
    dataclass: a hostile list may hold a million entries.)"""

    index: int  # type: ignore[assignment]  # shadows tuple.index, as NamedTuples may
    raw: str
    kind: str  # "empty", "relative", "absolute" or "token"
    duplicate_of: int | None = None


@dataclass(frozen=True)
class DirFacts:
    """What the file system says about one absolute entry (see sgdoctor.probe.paths)."""

    exists: bool
    is_dir: bool = False
    world_writable: bool = False
    error: str | None = None


def _classify(raw: str) -> tuple[str, str]:
    if raw == "":
        return "empty", raw
    if _TOKEN.search(raw):
        return "token", raw
    if raw.startswith("/"):
        return "absolute", posixpath.normpath(raw)
    return "relative", raw


def split_path_list(text: str, separators: str = ":") -> list[PathEntry]:
    """Split like the reader does; every piece, empty ones included, is an entry.
    (Each distinct piece is classified once and the entries are built by C loops: a hostile
    list holds a million pieces, mostly the same one.)"""
    pieces = re.split(f"[{re.escape(separators)}]", text)
    classes = {raw: _classify(raw) for raw in set(pieces)}
    duplicates: list[int | None] = [None] * len(pieces)
    seen: dict[str, int] = {}
    for i in [i for i, raw in enumerate(pieces) if raw]:
        key = classes[pieces[i]][1]
        first = seen.setdefault(key, i + 1)
        if first != i + 1:
            duplicates[i] = first
    kinds = [classes[raw][0] for raw in pieces]
    make = partial(tuple.__new__, PathEntry)
    collecting = gc.isenabled()
    gc.disable()  # a million new tuples hold no cycles; collecting them costs seconds
    try:
        return list(map(make, zip(range(1, len(pieces) + 1), pieces, kinds, duplicates,
                                  strict=True)))
    finally:
        if collecting:
            gc.enable()


def _names(entries: list[PathEntry]) -> str:
    named = [f"#{e.index} '{shown(e.raw, 200)}'" if e.raw else f"#{e.index}"
             for e in entries[:_LISTED]]
    if len(entries) > _LISTED:
        named.append(f"and {len(entries) - _LISTED} more")
    return ", ".join(named)


def assess_path_list(name: str, text: str, facts: Mapping[str, DirFacts],
                     entries: list[PathEntry] | None = None) -> Verdict:
    """The hygiene verdict for one path list, given facts about its absolute entries
    (``entries``, when the caller already split ``text``, saves splitting it again)."""
    what = _WHAT.get(name, "files")
    if text == "" and name in ("PYTHONPATH", "LD_LIBRARY_PATH"):
        return ok(f"empty: ignored by the reader (no extra {what} directories)", [])
    if entries is None:
        entries = split_path_list(text, SEPARATORS.get(name, ":"))
    empty = [e for e in entries if e.kind == "empty"]
    relative = [e for e in entries if e.kind == "relative"]
    probed = [e for e in entries if e.kind == "absolute" and e.duplicate_of is None]
    missing = [e for e in probed if e.raw in facts and not facts[e.raw].exists
               and not facts[e.raw].error]
    not_dir = [e for e in probed if e.raw in facts and facts[e.raw].exists
               and not facts[e.raw].is_dir]
    writable = [e for e in probed if e.raw in facts and facts[e.raw].world_writable]
    unknown = [e for e in probed if e.raw in facts and facts[e.raw].error]
    dups = [e for e in entries if e.duplicate_of is not None]
    problems = []
    if empty:
        problems.append(f"empty entry {_names(empty)} means the current directory: {what} "
                        "there are picked up from wherever the process starts")
    if relative:
        problems.append(f"relative entry {_names(relative)} depends on the working directory")
    if writable:
        problems.append(f"world-writable {_names(writable)}: any user can plant {what} there")
    if missing:
        problems.append(f"missing {_names(missing)}")
    if not_dir:
        problems.append(f"not a directory: {_names(not_dir)}")
    if unknown:
        problems.append(f"cannot be inspected: {_names(unknown)} "
                        f"({shown(facts[unknown[0].raw].error or '', 60)})")
    details = [{"index": e.index, "entry": shown(e.raw, 200), "kind": e.kind,
                "duplicate_of": e.duplicate_of} for e in entries[:_DETAILED]]
    note = f" (duplicates, harmless: {_names(dups)})" if dups else ""
    if problems:
        dropped = {e.index for e in (*missing, *not_dir, *writable)}
        keep = [e.raw for e in entries
                if e.kind in ("absolute", "token") and e.duplicate_of is None
                and e.index not in dropped]
        sep = SEPARATORS.get(name, ":")[0]
        example = (f"export {name}={shown(sep.join(keep), 160)}" if keep
                   else f"unset {name}" if name != "PATH"
                   else "export PATH=/usr/local/bin:/usr/bin:/bin")
        return warn(f"{_count(entries)}; " + "; ".join(problems) + note,
                    "Keep only absolute, existing directories that only trusted users can "
                    f"write, e.g. {example}", details)
    return ok(f"{_count(entries)}, no problem found{note}", details)


def _count(entries: list[PathEntry]) -> str:
    return "1 entry" if len(entries) == 1 else f"{len(entries)} entries"
