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
from collections import namedtuple
from collections.abc import Mapping
from functools import partial

from sgdoctor.api import Text
from sgdoctor.parse.verdict import Verdict, ok, shown, warn
from sgdoctor.records import dataclass

__all__ = ["PathEntry", "DirFacts", "SEPARATORS", "split_path_list", "assess_path_list"]

SEPARATORS = {"PATH": ":", "PYTHONPATH": ":", "LD_LIBRARY_PATH": ":;"}
_WHAT = {"PATH": Text("programs"), "PYTHONPATH": Text("Python modules"),
         "LD_LIBRARY_PATH": Text("shared libraries")}
# ld.so expands these in LD_LIBRARY_PATH; such an entry cannot be judged from here.
_TOKEN = re.compile(r"\$(?:ORIGIN|LIB|PLATFORM|\{ORIGIN\}|\{LIB\}|\{PLATFORM\})")
_LISTED = 6  # entries named per finding before "and N more"
_DETAILED = 100  # entries described in the details


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple

    class PathEntry(NamedTuple):
        index: int  # type: ignore[assignment]  # shadows tuple.index, as NamedTuples may
        raw: str
        kind: str  # "empty", "relative", "absolute" or "token"
        duplicate_of: int | None = None
else:  # typing.NamedTuple makes this very class, but importing typing costs ~3 ms a start
    PathEntry = namedtuple("PathEntry", "index raw kind duplicate_of", defaults=(None,))
    PathEntry.__doc__ = ("One entry of a path list; ``index`` counts from 1 as a person would. "
                         "(A tuple, not a dataclass: a hostile list may hold a million "
                         "entries.)")


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


def _names(entries: list[PathEntry]) -> Text:
    named: list[str | Text] = [f"#{e.index} '{shown(e.raw, 200)}'" if e.raw else f"#{e.index}"
                               for e in entries[:_LISTED]]
    if len(entries) > _LISTED:
        named.append(Text("and {count} more", count=len(entries) - _LISTED))
    return Text.join(", ", named)


def assess_path_list(name: str, text: str, facts: Mapping[str, DirFacts],
                     entries: list[PathEntry] | None = None) -> Verdict:
    """The hygiene verdict for one path list, given facts about its absolute entries
    (``entries``, when the caller already split ``text``, saves splitting it again)."""
    what = _WHAT.get(name, Text("files"))
    if text == "" and name in ("PYTHONPATH", "LD_LIBRARY_PATH"):
        return ok(Text("empty: ignored by the reader (no extra {what} directories)", what=what),
                  [])
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
        problems.append(Text("empty entry {entries} means the current directory: {what} there "
                             "are picked up from wherever the process starts",
                             entries=_names(empty), what=what))
    if relative:
        problems.append(Text("relative entry {entries} depends on the working directory",
                             entries=_names(relative)))
    if writable:
        problems.append(Text("world-writable {entries}: any user can plant {what} there",
                             entries=_names(writable), what=what))
    if missing:
        problems.append(Text("missing {entries}", entries=_names(missing)))
    if not_dir:
        problems.append(Text("not a directory: {entries}", entries=_names(not_dir)))
    if unknown:
        problems.append(Text("cannot be inspected: {entries} ({error})", entries=_names(unknown),
                             error=shown(facts[unknown[0].raw].error or "", 60)))
    details = [{"index": e.index, "entry": shown(e.raw, 200), "kind": e.kind,
                "duplicate_of": e.duplicate_of} for e in entries[:_DETAILED]]
    note = Text(" (duplicates, harmless: {entries})", entries=_names(dups)) if dups else ""
    if problems:
        dropped = {e.index for e in (*missing, *not_dir, *writable)}
        keep = [e.raw for e in entries
                if e.kind in ("absolute", "token") and e.duplicate_of is None
                and e.index not in dropped]
        sep = SEPARATORS.get(name, ":")[0]
        example = (f"export {name}={shown(sep.join(keep), 160)}" if keep
                   else f"unset {name}" if name != "PATH"
                   else "export PATH=/usr/local/bin:/usr/bin:/bin")
        return warn(Text("{count}; {problems}{note}", count=_count(entries),
                         problems=Text.join("; ", problems), note=note),
                    Text("Keep only absolute, existing directories that only trusted users can "
                         "write, e.g. {example}", example=example), details)
    return ok(Text("{count}, no problem found{note}", count=_count(entries), note=note), details)


def _count(entries: list[PathEntry]) -> Text:
    return Text("1 entry") if len(entries) == 1 else Text("{count} entries", count=len(entries))
