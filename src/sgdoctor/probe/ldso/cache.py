"""/etc/ld.so.cache, read the way glibc's dl-cache.c reads it (no ldconfig -p).

Formats: the old ``ld.so-1.7.0`` table, the new ``glibc-ld.so.cache1.1`` table (whose
extension section names glibc-hwcaps subdirectories), and the compat layout where a
new table follows an old one; the loader prefers the new table when present.
"""

from __future__ import annotations

import struct
from collections import namedtuple

from sgdoctor.records import dataclass, field

OLD_MAGIC = b"ld.so-1.7.0"
NEW_MAGIC = b"glibc-ld.so.cache1.1"
_EXTENSION_MAGIC = 0xEAA42174
_TAG_GLIBC_HWCAPS = 1
_HWCAP_EXTENSION = 1 << 62
_NEW_HEADER = 48
_NEW_ENTRY = 24
_OLD_HEADER = 16
_OLD_ENTRY = 12


class CacheError(ValueError):
    """The cache file is not in a format the loader would accept."""


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple

    class CacheEntry(NamedTuple):
        name: str
        path: str
        flags: int
        hwcaps: str | None = None  # glibc-hwcaps subdirectory this entry is for
        legacy_hwcap: int = 0  # legacy hwcap bits (entries glibc may filter per CPU)
else:  # a tuple: a cache holds hundreds of entries, each made at every start (~2 µs as a
    # frozen dataclass, ~0.3 µs as this)
    CacheEntry = namedtuple("CacheEntry", "name path flags hwcaps legacy_hwcap",
                            defaults=(None, 0))


@dataclass
class LdCache:
    format: str
    entries: dict[str, list[CacheEntry]] = field(default_factory=dict)

    def lookup(self, name: str, flags: frozenset[int] | None,
               hwcaps: tuple[str, ...]) -> CacheEntry | None:
        """The entry glibc's search_cache picks: the best supported glibc-hwcaps entry,
        else the first plain entry with matching flags."""
        best: CacheEntry | None = None
        best_rank = len(hwcaps)
        plain: CacheEntry | None = None
        for entry in self.entries.get(name, ()):
            if flags is not None and entry.flags not in flags:
                continue
            if flags is None and entry.flags & 0xFF not in (1, 3):
                continue
            if entry.hwcaps is not None:
                if entry.hwcaps in hwcaps and hwcaps.index(entry.hwcaps) < best_rank:
                    best, best_rank = entry, hwcaps.index(entry.hwcaps)
            elif entry.legacy_hwcap == 0 and plain is None:
                plain = entry
        return best or plain


def _cstr(data: bytes, offset: int) -> str:
    if not 0 <= offset < len(data):
        raise CacheError(f"string offset {offset} outside the file")
    end = data.find(b"\0", offset)
    if end < 0:
        raise CacheError("unterminated string")
    return data[offset:end].decode("utf-8", "surrogateescape")


def _parse_new(data: bytes, base: int) -> LdCache:
    if len(data) < base + _NEW_HEADER:
        raise CacheError("truncated header")
    nlibs, _len_strings, byte_order, ext_offset = struct.unpack_from("<IIB3xI", data, base + 20)
    endian = ">" if byte_order == 3 else "<"  # 0 unset, 2 little, 3 big
    if endian == ">":
        nlibs, _len_strings, _, ext_offset = struct.unpack_from(">IIB3xI", data, base + 20)
    if base + _NEW_HEADER + nlibs * _NEW_ENTRY > len(data):
        raise CacheError(f"{nlibs} entries do not fit in {len(data)} bytes")
    hwcap_names: list[str] = []
    if ext_offset:
        hwcap_names = _hwcaps_extension(data, base, ext_offset, endian)
    cache = LdCache("new" if base == 0 else "compat")
    start = base + _NEW_HEADER
    for flags, key, value, _osv, hwcap in struct.iter_unpack(
            endian + "iIIIQ", data[start:start + nlibs * _NEW_ENTRY]):
        named = None
        legacy = hwcap
        if hwcap >> 32 == _HWCAP_EXTENSION >> 32:
            slot = hwcap & 0xFFFFFFFF
            named = hwcap_names[slot] if slot < len(hwcap_names) else f"#{slot}"
            legacy = 0
        # New-format string offsets are relative to the start of the new header.
        name = _cstr(data, base + key)
        cache.entries.setdefault(name, []).append(
            CacheEntry(name, _cstr(data, base + value), flags, named, legacy))
    return cache


def _hwcaps_extension(data: bytes, base: int, offset: int, endian: str) -> list[str]:
    """Names of the glibc-hwcaps subdirectories. The extension and section offsets count
    from the start of the file; the strings, like all new-format strings, from the new
    header (they differ only in the compat layout)."""
    start = offset
    if start + 8 > len(data):
        raise CacheError("extension header outside the file")
    magic, count = struct.unpack_from(endian + "II", data, start)
    if magic != _EXTENSION_MAGIC:
        return []
    names: list[str] = []
    for index in range(count):
        at = start + 8 + index * 16
        if at + 16 > len(data):
            raise CacheError("truncated extension section table")
        tag, _flags, sec_offset, size = struct.unpack_from(endian + "IIII", data, at)
        if tag != _TAG_GLIBC_HWCAPS:
            continue
        if sec_offset + size > len(data):
            raise CacheError("glibc-hwcaps section outside the file")
        for slot in range(size // 4):
            (string,) = struct.unpack_from(endian + "I", data, sec_offset + slot * 4)
            names.append(_cstr(data, base + string))
    return names


# The last cache parsed: every resolver of a run (maca.libs, libs.duplicates) reads the same
# file, so the same bytes are parsed once. Callers only read an LdCache.
_last: tuple[bytes, LdCache] | None = None


def parse_ld_so_cache(data: bytes) -> LdCache:
    """Parse the bytes of an ld.so.cache; CacheError when the loader would ignore it. The
    result is shared with every caller that passes the same bytes: read it, never change it."""
    global _last
    last = _last
    if last is not None and last[0] == data:
        return last[1]
    cache = _parse(data)
    _last = (data, cache)
    return cache


def _parse(data: bytes) -> LdCache:
    if data.startswith(NEW_MAGIC):
        return _parse_new(data, 0)
    if not data.startswith(OLD_MAGIC):
        raise CacheError("unknown format (neither ld.so-1.7.0 nor glibc-ld.so.cache1.1)")
    if len(data) < _OLD_HEADER:
        raise CacheError("truncated header")
    (nlibs,) = struct.unpack_from("<I", data, 12)
    table_end = _OLD_HEADER + nlibs * _OLD_ENTRY
    if table_end > len(data):
        raise CacheError(f"{nlibs} entries do not fit in {len(data)} bytes")
    new_at = (table_end + 7) & ~7  # ALIGN_CACHE: the new table may follow the old one
    if data[new_at:new_at + len(NEW_MAGIC)] == NEW_MAGIC:
        return _parse_new(data, new_at)
    cache = LdCache("old")
    for index in range(nlibs):
        flags, key, value = struct.unpack_from("<iII", data, _OLD_HEADER + index * _OLD_ENTRY)
        # Old-format offsets are relative to the string table after the entries.
        name = _cstr(data, table_end + key)
        cache.entries.setdefault(name, []).append(
            CacheEntry(name, _cstr(data, table_end + value), flags))
    return cache
