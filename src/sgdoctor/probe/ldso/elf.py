"""ELF facts the dynamic loader acts on, read with pyelftools (imported lazily).

Mirrors glibc's ``open_verify``: a file of the wrong class or machine is *skipped*
(the loader keeps searching), while a garbage or truncated file is *fatal* (the
loader stops with an error). Everything else is read once per path and cached by
the resolver.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from typing import Any

# e_ident fields, as pyelftools names them.
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


def parse_object(path: str, fd: int, host: Abi) -> ElfObject:
    """Parse the ELF file open on ``fd`` as ld.so's open_verify would.

    Raises WrongAbi when the loader would skip the file and keep searching, and
    ElfError when it would stop with an error.
    """
    read_header(fd, 64 if host.elfclass == "ELFCLASS64" else 52)
    st = os.fstat(fd)
    try:
        with os.fdopen(os.dup(fd), "rb") as stream:
            elf = _elffile(stream)
            header = elf.header
            ident = header["e_ident"]
            obj = ElfObject(
                path=path,
                identity=(st.st_dev, st.st_ino),
                abi=Abi(ident["EI_CLASS"], ident["EI_DATA"], str(header["e_machine"])),
                osabi=str(ident["EI_OSABI"]),
                etype=str(header["e_type"]),
            )
            _verify(obj, host)
            _read_dynamic(elf, obj)
    except WrongAbi:
        raise
    except _PARSE_ERRORS() as exc:
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


def _read_dynamic(elf, obj: ElfObject) -> None:
    """DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH, DT_FLAGS_1; and where the version
    sections are, so that versions() need not scan the section headers again."""
    from elftools.elf.dynamic import DynamicSection

    dynamic = None
    found: dict[str, int] = {}
    wanted = {"SHT_DYNAMIC", "SHT_GNU_verdef", "SHT_GNU_verneed"}
    for index in range(elf.num_sections()):
        kind = elf._get_section_header(index)["sh_type"]
        if kind in wanted and kind not in found:
            found[kind] = index
            # The usual layout puts the version sections before .dynamic: stop there
            # unless the dynamic tags say a version section is still to come.
            if kind == "SHT_DYNAMIC":
                dynamic = elf.get_section(index)
                tags = {t.entry.d_tag for t in dynamic.iter_tags()}
                missing = {"DT_VERDEF": "SHT_GNU_verdef", "DT_VERNEED": "SHT_GNU_verneed"}
                if not any(t in tags and sec not in found for t, sec in missing.items()):
                    break
    obj.version_sections = (found.get("SHT_GNU_verdef"), found.get("SHT_GNU_verneed"))
    if dynamic is None or not isinstance(dynamic, DynamicSection):
        # Section headers may be stripped: the program header is what ld.so uses anyway.
        dynamic = next((seg for seg in elf.iter_segments() if seg["p_type"] == "PT_DYNAMIC"), None)
    if dynamic is None:
        return
    rpath = None
    tag: Any  # pyelftools' DynamicTag gains needed/soname/rpath/runpath by its d_tag
    for tag in dynamic.iter_tags():
        kind = tag.entry.d_tag
        if kind == "DT_NEEDED":
            obj.needed.append(tag.needed)
        elif kind == "DT_SONAME":
            obj.soname = tag.soname
        elif kind == "DT_RPATH":
            rpath = tag.rpath
        elif kind == "DT_RUNPATH":
            obj.runpath = tag.runpath
        elif kind == "DT_FLAGS_1":
            obj.flags_1 = int(tag.entry.d_val)
        elif kind == "DT_NULL":
            break
    obj.rpath = rpath if obj.runpath is None else None


def _read_versions(path: str, sections: tuple[int | None, int | None],
                   ) -> tuple[set[str] | None, list[tuple[str, str, bool]]]:
    verdef: set[str] | None = None
    verneed: list[tuple[str, str, bool]] = []
    if sections == (None, None):
        return verdef, verneed
    try:
        with open(path, "rb") as stream:
            elf = _elffile(stream)
            if sections[0] is not None:
                verdef = set()
                for _version, aux in elf.get_section(sections[0]).iter_versions():
                    verdef.update(entry.name for entry in aux)
            if sections[1] is not None:
                for version, aux in elf.get_section(sections[1]).iter_versions():
                    for entry in aux:
                        weak = bool(int(entry["vna_flags"]) & 0x2)  # VER_FLG_WEAK
                        verneed.append((version.name, entry.name, weak))
    except _PARSE_ERRORS() as exc:
        raise ElfError(f"malformed symbol version sections ({exc or type(exc).__name__})") from None
    return verdef, verneed


def _elffile(stream):
    """pyelftools' ELFFile, with its construct parsers built once per ELF flavour
    (building them costs about 2 ms per file, more than reading a small library)."""
    from elftools.elf import elffile

    if not getattr(elffile.ELFStructs, "_sgdoctor_shared", False):
        elffile.ELFStructs = _shared_structs(elffile.ELFStructs)
    return elffile.ELFFile(stream)


def _shared_structs(base: type) -> type:
    built: dict[tuple, dict] = {}

    class SharedStructs(base):  # type: ignore[misc, valid-type]
        _sgdoctor_shared = True

        def create_basic_structs(self) -> None:
            self._memo(("basic", self.little_endian, self.elfclass),
                       super().create_basic_structs)

        def create_advanced_structs(self, e_type=None, e_machine=None, e_ident_osabi=None):
            key = ("advanced", self.little_endian, self.elfclass, e_type, e_machine,
                   e_ident_osabi)
            self._memo(key, lambda: super(SharedStructs, self).create_advanced_structs(
                e_type, e_machine, e_ident_osabi))

        def _memo(self, key: tuple, build) -> None:
            state = built.get(key)
            if state is None:
                build()
                built[key] = dict(self.__dict__)
            else:
                self.__dict__.update(state)

    return SharedStructs


def _PARSE_ERRORS() -> tuple[type[BaseException], ...]:  # noqa: N802 - reads as a constant
    """What pyelftools raises on truncated or garbage input (its vendored construct included)."""
    from elftools.common.exceptions import ELFError as PyElfError
    from elftools.construct import ConstructError

    return (PyElfError, ConstructError, ValueError, KeyError, IndexError, AssertionError,
            OSError, EOFError, UnicodeDecodeError, TypeError)
