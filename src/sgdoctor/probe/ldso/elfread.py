"""The few ELF structures the loader model reads, with struct and pread.

pyelftools' ELFFile pulls in its DWARF readers and construct (50–90 ms at start) to read what
is a header, two small tables and a string table here. This reads the same fields the way
pyelftools did for the model (names as pyelftools spells them, the dynamic section found by
section header with PT_DYNAMIC as the fallback, strings up to NUL, decoded with
``errors="replace"``), and raises ElfFormatError on anything truncated or out of range.
Names of rare machines, OS ABIs and types come from pyelftools' own tables, imported only then.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

from sgdoctor.records import dataclass

PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
SHT_DYNAMIC, SHT_GNU_VERDEF, SHT_GNU_VERNEED = 6, 0x6FFFFFFD, 0x6FFFFFFE
DT_NULL, DT_NEEDED, DT_STRTAB, DT_SONAME, DT_RPATH, DT_RUNPATH = 0, 1, 5, 14, 15, 29
DT_FLAGS_1, DT_VERDEF, DT_VERNEED = 0x6FFFFFFB, 0x6FFFFFFC, 0x6FFFFFFE

_CLASSES = {1: "ELFCLASS32", 2: "ELFCLASS64"}
_DATA = {1: "ELFDATA2LSB", 2: "ELFDATA2MSB"}
_TYPES = {0: "ET_NONE", 1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"}
_OSABI = {0: "ELFOSABI_SYSV", 3: "ELFOSABI_LINUX"}
_MACHINES = {3: "EM_386", 62: "EM_X86_64", 183: "EM_AARCH64", 21: "EM_PPC64", 22: "EM_S390",
             243: "EM_RISCV", 258: "EM_LOONGARCH", 40: "EM_ARM", 8: "EM_MIPS", 20: "EM_PPC"}


class ElfFormatError(ValueError):
    """Truncated or inconsistent ELF data."""


def _rare_name(table: str, value: int) -> str | int:
    """pyelftools' name of a value the small tables above lack (the int when it has none)."""
    from elftools.elf import enums

    names = {v: k for k, v in getattr(enums, table).items() if k != "_default_"}
    return names.get(value, value)


@dataclass(frozen=True)
class Section:
    index: int
    type: int
    offset: int
    size: int
    link: int
    info: int


@dataclass(frozen=True)
class Segment:
    type: int
    offset: int
    vaddr: int
    filesz: int


_BLOCK = 4096     # what one pread fetches for the small reads around an offset
_BLOCKS = 16      # blocks kept per file
_STRUCTS: dict[str, struct.Struct] = {}


class ElfFile:
    """An ELF file open on ``fd`` (not closed here): its header, then what is asked for.

    The model reads a file as hundreds of small records (headers, dynamic tags, version
    entries, strings) in a few places; each used to be a pread of its own, 1,800 in a run.
    Small reads come from the 4 KiB blocks around them, each read once."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._blocks: dict[int, bytes] = {}
        ident = self._read(0, 16)
        if ident[:4] != b"\x7fELF":
            raise ElfFormatError("magic number does not match")
        if ident[4] not in _CLASSES:
            raise ElfFormatError(f"invalid EI_CLASS {ident[4]}")
        if ident[5] not in _DATA:
            raise ElfFormatError(f"invalid EI_DATA {ident[5]}")
        self.elfclass, self.data = _CLASSES[ident[4]], _DATA[ident[5]]
        self.is64 = ident[4] == 2
        self.end = "<" if ident[5] == 1 else ">"
        self.osabi: str | int = _OSABI.get(ident[7]) or _rare_name("ENUM_EI_OSABI", ident[7])
        fmt = "HHIQQQIHHHHHH" if self.is64 else "HHIIIIIHHHHHH"
        (etype, machine, _version, _entry, self.phoff, self.shoff, _flags, _ehsize,
         self.phentsize, self.phnum, self.shentsize, self.shnum_raw, self.shstrndx) = \
            self._unpack(fmt, 16)
        self.etype: str | int = _TYPES.get(etype) or _rare_name("ENUM_E_TYPE", etype)
        self.machine: str | int = _MACHINES.get(machine) or _rare_name("ENUM_E_MACHINE",
                                                                       machine)
        self._shnum: int | None = None
        if self.shstrndx not in (0, 0xFFFF) and self.shoff:  # as ELFFile() reads it at once
            self.section(self.shstrndx)

    def _block(self, base: int) -> bytes:
        block = self._blocks.get(base)
        if block is None:
            if len(self._blocks) >= _BLOCKS:
                self._blocks.clear()
            block = self._blocks[base] = os.pread(self.fd, _BLOCK, base)
        return block

    def _read(self, offset: int, size: int) -> bytes:
        if offset < 0 or size < 0:
            raise ElfFormatError("negative offset or size")
        base = offset - offset % _BLOCK
        if offset + size <= base + _BLOCK:
            data = self._block(base)[offset - base:offset - base + size]
        else:
            data = os.pread(self.fd, size, offset)
        if len(data) < size:
            raise ElfFormatError(f"truncated: {size} bytes wanted at offset {offset}")
        return data

    def _unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        layout = _STRUCTS.get(self.end + fmt)
        if layout is None:
            layout = _STRUCTS[self.end + fmt] = struct.Struct(self.end + fmt)
        return layout.unpack(self._read(offset, layout.size))

    def num_sections(self) -> int:
        if self._shnum is None:
            if self.shoff == 0:
                self._shnum = 0
            elif self.shnum_raw == 0:  # extended numbering: the count is section 0's size
                self._shnum = self._section_at(0).size
            else:
                self._shnum = self.shnum_raw
        return self._shnum

    def _section_at(self, index: int) -> Section:
        fmt = "IIQQQQIIQQ" if self.is64 else "IIIIIIIIII"
        (_name, kind, _flags, _addr, offset, size, link, info, _align, _entsize) = \
            self._unpack(fmt, self.shoff + index * self.shentsize)
        return Section(index, kind, offset, size, link, info)

    def section(self, index: int) -> Section:
        return self._section_at(index)

    def segments(self) -> Iterator[Segment]:
        for index in range(self.phnum):
            offset = self.phoff + index * self.phentsize
            if self.is64:
                kind, _flags, off, vaddr, _paddr, filesz, _memsz, _align = \
                    self._unpack("IIQQQQQQ", offset)
            else:
                kind, off, vaddr, _paddr, filesz, _memsz, _flags, _align = \
                    self._unpack("IIIIIIII", offset)
            yield Segment(kind, off, vaddr, filesz)

    def string(self, table_offset: int, offset: int) -> str:
        """The NUL-terminated string at ``offset`` in the table at ``table_offset``."""
        start = table_offset + offset
        if start < 0:
            raise ElfFormatError("negative string offset")
        chunks: list[bytes] = []
        while True:
            base = start - start % _BLOCK
            chunk = self._block(base)[start - base:]
            if not chunk:
                break
            cut = chunk.find(b"\0")
            if cut >= 0:
                chunks.append(chunk[:cut])
                break
            chunks.append(chunk)
            start += len(chunk)
        raw = b"".join(chunks)
        return raw.decode("utf-8", errors="replace") if raw else ""

    def tags(self, offset: int, size: int) -> Iterator[tuple[int, int]]:
        """(d_tag, d_val) of a dynamic table, up to and including DT_NULL."""
        fmt, width = ("qQ", 16) if self.is64 else ("iI", 8)
        for index in range(size // width):
            tag, value = self._unpack(fmt, offset + index * width)
            yield tag, value
            if tag == DT_NULL:
                return

    def address_offset(self, address: int) -> int | None:
        """The file offset of a virtual address, through the PT_LOAD segments."""
        for seg in self.segments():
            if seg.type == PT_LOAD and seg.vaddr <= address < seg.vaddr + seg.filesz:
                return address - seg.vaddr + seg.offset
        return None

    def interp(self) -> str | None:
        for seg in self.segments():
            if seg.type == PT_INTERP:
                return self._read(seg.offset, seg.filesz).split(b"\0", 1)[0].decode(
                    "utf-8", errors="replace")
        return None

    def versions(self, section: Section, need: bool,
                 ) -> Iterator[tuple[str | None, list[tuple[str, int]]]]:
        """Verneed (file, [(version, vna_flags)]) or verdef (None, [(name, 0)]) entries."""
        strtab = self.section(section.link).offset
        entry = section.offset
        for _ in range(section.info):
            if need:
                _version, count, file_name, aux, next_entry = self._unpack("HHIII", entry)
                owner: str | None = self.string(strtab, file_name)
            else:
                _version, _flags, _ndx, count, _hash, aux, next_entry = \
                    self._unpack("HHHHIII", entry)
                owner = None
            if count <= 0:
                raise ElfFormatError("a version entry without auxiliary entries")
            names: list[tuple[str, int]] = []
            place = entry + aux
            for _ in range(count):
                if need:
                    _hash, flags, _other, name, next_aux = self._unpack("IHHII", place)
                else:
                    name, next_aux = self._unpack("II", place)
                    flags = 0
                names.append((self.string(strtab, name), flags))
                place += next_aux
            yield owner, names
            entry += next_entry
