"""ELF facts the dynamic loader acts on, read with the small struct reader in elfread.

Mirrors glibc's ``open_verify``: a file of the wrong class or machine is *skipped*
(the loader keeps searching), while a garbage or truncated file is *fatal* (the
loader stops with an error). Everything else is read once per path and cached by
the resolver.
"""

from __future__ import annotations

import errno
import os
import struct

from sgdoctor.probe.ldso.elfread import (
    DT_FLAGS_1,
    DT_NEEDED,
    DT_RPATH,
    DT_RUNPATH,
    DT_SONAME,
    DT_STRTAB,
    DT_VERDEF,
    DT_VERNEED,
    PT_DYNAMIC,
    SHT_DYNAMIC,
    SHT_GNU_VERDEF,
    SHT_GNU_VERNEED,
    ElfFile,
    ElfFormatError,
)
from sgdoctor.records import dataclass, field

# e_ident fields, as pyelftools (and elfread) name them.
_ACCEPTED_OSABI = {"ELFOSABI_SYSV", "ELFOSABI_LINUX"}  # glibc's VALID_ELF_OSABI (GNU == Linux)
DF_1_NODEFLIB = 0x800
DF_1_PIE = 0x08000000


class ElfError(Exception):
    """The file is not an ELF object the loader could use; the message says why."""


@dataclass(frozen=True)
class Abi:
    """What an object must match to be loaded into a process (class, byte order, machine)."""

    elfclass: str
    data: str
    machine: str

    def describe(self) -> str:
        bits = "64-bit" if self.elfclass == "ELFCLASS64" else "32-bit"
        return f"{bits} {self.machine.removeprefix('EM_')}"


@dataclass
class ElfObject:
    """One shared object as the loader sees it. Versions are read only when asked for."""

    path: str
    identity: tuple[int, int]
    abi: Abi
    osabi: str
    etype: str
    soname: str | None = None
    needed: list[str] = field(default_factory=list)
    rpath: str | None = None  # None when absent or when DT_RUNPATH is present (glibc ignores it)
    runpath: str | None = None
    flags_1: int = 0
    version_sections: tuple[int | None, int | None] = (None, None)  # verdef, verneed
    _versions: tuple[set[str] | None, list[tuple[str, str, bool]]] | None = None

    @property
    def nodeflib(self) -> bool:
        return bool(self.flags_1 & DF_1_NODEFLIB)

    @property
    def pie(self) -> bool:
        return bool(self.flags_1 & DF_1_PIE)

    def versions(self) -> tuple[set[str] | None, list[tuple[str, str, bool]]]:
        """(DT_VERDEF names or None when the object defines no versions,
        DT_VERNEED entries as (file, version, weak))."""
        if self._versions is None:
            self._versions = _read_versions(self.path, self.version_sections)
        return self._versions


def read_header(fd: int, size: int = 64) -> bytes:
    """The ELF header ld.so reads first (``size``: the host's Ehdr size); raises ElfError
    with ld.so's own wording."""
    try:
        head = os.pread(fd, size, 0)
    except OSError as exc:
        raise ElfError(f"cannot read file data: {os.strerror(exc.errno or errno.EIO)}") from None
    if len(head) < size:
        raise ElfError("file too short")
    if head[:4] != b"\x7fELF":
        raise ElfError("invalid ELF header")
    return head


def parse_object(path: str, fd: int, host: Abi, st: os.stat_result | None = None) -> ElfObject:
    """Parse the ELF file open on ``fd`` (``st``: its fstat, when the caller has it) as
    ld.so's open_verify would.

    Raises WrongAbi when the loader would skip the file and keep searching, and
    ElfError when it would stop with an error.
    """
    read_header(fd, 64 if host.elfclass == "ELFCLASS64" else 52)
    st = os.fstat(fd) if st is None else st
    try:
        elf = ElfFile(fd)
        obj = ElfObject(
            path=path,
            identity=(st.st_dev, st.st_ino),
            abi=Abi(elf.elfclass, elf.data, str(elf.machine)),
            osabi=str(elf.osabi),
            etype=str(elf.etype),
        )
        _verify(obj, host)
        _read_dynamic(elf, obj)
    except WrongAbi:
        raise
    except _PARSE_ERRORS as exc:
        raise ElfError(f"malformed ELF file ({exc or type(exc).__name__})") from None
    return obj


class WrongAbi(Exception):
    """ld.so skips this file (another class or machine) and searches on."""


def _verify(obj: ElfObject, host: Abi) -> None:
    """open_verify's checks, in its order: which are skips and which are fatal matters."""
    wrong = f"wrong architecture ({obj.abi.describe()}; this process is {host.describe()})"
    if obj.abi.elfclass != host.elfclass:
        raise WrongAbi(wrong)
    if obj.abi.data != host.data:
        raise ElfError("ELF file data encoding does not match this machine")
    if obj.osabi not in _ACCEPTED_OSABI:
        raise ElfError("ELF file OS ABI invalid")
    if obj.abi.machine != host.machine:
        raise WrongAbi(wrong)
    if obj.etype not in ("ET_DYN", "ET_EXEC"):
        raise ElfError("only ET_DYN and ET_EXEC can be loaded")


def _read_dynamic(elf: ElfFile, obj: ElfObject) -> None:
    """DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH, DT_FLAGS_1; and where the version
    sections are, so that versions() need not scan the section headers again."""
    table: tuple[int, int] | None = None  # the dynamic table's (offset, size)
    strtab: int | None = None
    found: dict[int, int] = {}
    wanted = {SHT_DYNAMIC, SHT_GNU_VERDEF, SHT_GNU_VERNEED}
    for index in range(elf.num_sections()):
        section = elf.section(index)
        if section.type in wanted and section.type not in found:
            found[section.type] = index
            # The usual layout puts the version sections before .dynamic: stop there
            # unless the dynamic tags say a version section is still to come.
            if section.type == SHT_DYNAMIC:
                table = (section.offset, section.size)
                strtab = elf.section(section.link).offset
                tags = {tag for tag, _ in elf.tags(*table)}
                missing = {DT_VERDEF: SHT_GNU_VERDEF, DT_VERNEED: SHT_GNU_VERNEED}
                if not any(t in tags and sec not in found for t, sec in missing.items()):
                    break
    obj.version_sections = (found.get(SHT_GNU_VERDEF), found.get(SHT_GNU_VERNEED))
    if table is None:
        # Section headers may be stripped: the program header is what ld.so uses anyway.
        segment = next((seg for seg in elf.segments() if seg.type == PT_DYNAMIC), None)
        if segment is None:
            return
        table = (segment.offset, segment.filesz)
        address = next((value for tag, value in elf.tags(*table) if tag == DT_STRTAB), None)
        strtab = None if address is None else elf.address_offset(address)
    rpath = None
    for tag, value in elf.tags(*table):
        if tag in (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH):
            if strtab is None:
                raise ElfFormatError("a dynamic string without a string table")
            text = elf.string(strtab, value)
            if tag == DT_NEEDED:
                obj.needed.append(text)
            elif tag == DT_SONAME:
                obj.soname = text
            elif tag == DT_RPATH:
                rpath = text
            else:
                obj.runpath = text
        elif tag == DT_FLAGS_1:
            obj.flags_1 = value
    obj.rpath = rpath if obj.runpath is None else None


def _read_versions(path: str, sections: tuple[int | None, int | None],
                   ) -> tuple[set[str] | None, list[tuple[str, str, bool]]]:
    verdef: set[str] | None = None
    verneed: list[tuple[str, str, bool]] = []
    if sections == (None, None):
        return verdef, verneed
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            elf = ElfFile(fd)
            if sections[0] is not None:
                verdef = set()
                for _owner, names in elf.versions(elf.section(sections[0]), need=False):
                    verdef.update(name for name, _ in names)
            if sections[1] is not None:
                for owner, names in elf.versions(elf.section(sections[1]), need=True):
                    for name, flags in names:
                        verneed.append((owner or "", name, bool(flags & 0x2)))  # VER_FLG_WEAK
        finally:
            os.close(fd)
    except _PARSE_ERRORS as exc:
        raise ElfError(f"malformed symbol version sections ({exc or type(exc).__name__})") from None
    return verdef, verneed


# What the reader raises on truncated or garbage input.
_PARSE_ERRORS: tuple[type[BaseException], ...] = (
    ElfFormatError, struct.error, ValueError, OSError, OverflowError)
