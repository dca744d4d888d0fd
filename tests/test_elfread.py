"""probe/ldso/elfread (struct and pread) reads what pyelftools read for the loader model:
gcc-built objects, this system's libraries, objects without section headers, truncations."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sgdoctor.probe.ldso.elf import Abi, ElfError, WrongAbi, parse_object
from sgdoctor.probe.ldso.loader import host_abi, read_interp

elftools = pytest.importorskip("elftools")
from elftools.common.exceptions import ELFError  # noqa: E402
from elftools.construct import ConstructError  # noqa: E402
from elftools.elf.dynamic import DynamicSection  # noqa: E402
from elftools.elf.elffile import ELFFile  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from fakesdk import have_gcc, patch_machine, temporary_fake_sdk  # noqa: E402

_REFERENCE_ERRORS = (ELFError, ConstructError, ValueError, KeyError, IndexError, AssertionError,
                     OSError, EOFError, UnicodeDecodeError, TypeError)


def reference(path: str) -> tuple:
    """The facts, read by pyelftools the way probe/ldso/elf.py did before elfread."""
    with open(path, "rb") as stream:
        elf = ELFFile(stream)
        ident = elf.header["e_ident"]
        head = (ident["EI_CLASS"], ident["EI_DATA"], str(elf.header["e_machine"]),
                str(ident["EI_OSABI"]), str(elf.header["e_type"]))
        dynamic, found = None, {}
        for index in range(elf.num_sections()):
            kind = elf._get_section_header(index)["sh_type"]
            if kind in ("SHT_DYNAMIC", "SHT_GNU_verdef", "SHT_GNU_verneed") and kind not in found:
                found[kind] = index
                if kind == "SHT_DYNAMIC":
                    dynamic = elf.get_section(index)
                    tags = {t.entry.d_tag for t in dynamic.iter_tags()}
                    missing = {"DT_VERDEF": "SHT_GNU_verdef", "DT_VERNEED": "SHT_GNU_verneed"}
                    if not any(t in tags and s not in found for t, s in missing.items()):
                        break
        sections = (found.get("SHT_GNU_verdef"), found.get("SHT_GNU_verneed"))
        if dynamic is None or not isinstance(dynamic, DynamicSection):
            dynamic = next((s for s in elf.iter_segments() if s["p_type"] == "PT_DYNAMIC"), None)
        soname, needed, rpath, runpath, flags = None, [], None, None, 0
        for tag in dynamic.iter_tags() if dynamic is not None else ():
            kind = tag.entry.d_tag
            if kind == "DT_NEEDED":
                needed.append(tag.needed)
            elif kind == "DT_SONAME":
                soname = tag.soname
            elif kind == "DT_RPATH":
                rpath = tag.rpath
            elif kind == "DT_RUNPATH":
                runpath = tag.runpath
            elif kind == "DT_FLAGS_1":
                flags = int(tag.entry.d_val)
        verdef, verneed = None, []
        if sections[0] is not None:
            verdef = set()
            for _v, aux in elf.get_section(sections[0]).iter_versions():
                verdef.update(e.name for e in aux)
        if sections[1] is not None:
            for version, aux in elf.get_section(sections[1]).iter_versions():
                verneed += [(version.name, e.name, bool(int(e["vna_flags"]) & 2)) for e in aux]
    return (head, soname, needed, rpath if runpath is None else None, runpath, flags, sections,
            verdef, verneed)


def ours(path: str, host: Abi) -> tuple:
    fd = os.open(path, os.O_RDONLY)
    try:
        obj = parse_object(path, fd, host)
    finally:
        os.close(fd)
    head = (obj.abi.elfclass, obj.abi.data, obj.abi.machine, obj.osabi, obj.etype)
    return (head, obj.soname, obj.needed, obj.rpath, obj.runpath, obj.flags_1,
            obj.version_sections, *obj.versions())


def _system_objects(limit: int = 120) -> list[str]:
    found = []
    for directory in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib"):
        if os.path.isdir(directory):
            for name in sorted(os.listdir(directory)):
                path = os.path.join(directory, name)
                if ".so" in name and os.path.isfile(path) and not os.path.islink(path):
                    with open(path, "rb") as fh:
                        if fh.read(4) == b"\x7fELF":
                            found.append(path)
    return found[:limit]


HOST = host_abi(sys.executable)


def test_this_systems_libraries_and_python_agree():
    paths = [os.path.realpath(sys.executable), *_system_objects()]
    assert len(paths) > 10
    for path in paths:
        assert ours(path, HOST) == reference(path), path
    with open(sys.executable, "rb") as fh:
        interp = next((s.get_interp_name() for s in ELFFile(fh).iter_segments()
                       if s["p_type"] == "PT_INTERP"), None)
    assert read_interp(sys.executable) == interp


@pytest.mark.skipif(not have_gcc(), reason="needs gcc")
def test_gcc_built_sdk_agrees_with_pyelftools_and_readelf(tmp_path):
    with temporary_fake_sdk(many=0) as sdk:
        libs = sorted(str(p) for p in Path(sdk.maca_real).rglob("*.so*") if p.is_file()) + \
            sorted(str(p) for p in Path(sdk.driver_dir).rglob("*.so*") if p.is_file())
        assert len(libs) >= 6
        for path in libs:
            assert ours(path, HOST) == reference(path), path
        runtime = ours(str(sdk.lib / "libmcruntime.so"), HOST)
        assert runtime[4] == "$ORIGIN" and "libmxc-runtime64.so" in runtime[2]
        assert ("libmxc-runtime64.so", "MXC_2.0", False) in runtime[8]
        if shutil.which("readelf"):
            dyn = subprocess.run(["readelf", "-d", str(sdk.lib / "libmccl.so")],
                                 capture_output=True, text=True, check=True).stdout
            mccl = ours(str(sdk.lib / "libmccl.so"), HOST)
            assert f"Library rpath: [{mccl[3]}]" in dyn
            assert all(f"Shared library: [{n}]" in dyn for n in mccl[2])

        # Another machine is a skip, as for ld.so; its name is pyelftools' own.
        other = tmp_path / "libarm.so"
        shutil.copy(sdk.lib / "libmcruntime.so", other)
        patch_machine(other)
        with pytest.raises(WrongAbi, match="AARCH64"):
            ours(str(other), HOST)
        patch_machine(other, 0x1234)
        with pytest.raises(WrongAbi, match="4660"):
            ours(str(other), HOST)

        # No section headers: the program header's PT_DYNAMIC is read instead.
        bare = tmp_path / "libbare.so"
        data = bytearray((sdk.lib / "libmcblas.so").read_bytes())
        data[0x28:0x30] = bytes(8)          # e_shoff
        data[0x3C:0x40] = bytes(4)          # e_shnum, e_shstrndx
        bare.write_bytes(bytes(data))
        assert ours(str(bare), HOST) == reference(str(bare))
        assert ours(str(bare), HOST)[2] == ours(str(sdk.lib / "libmcblas.so"), HOST)[2]

        # Truncated anywhere: an ElfError whenever pyelftools failed too.
        whole = (sdk.lib / "libmcruntime.so").read_bytes()
        cut = tmp_path / "libcut.so"
        for length in [64, 100, 500, 1000, 2000, 4000, len(whole) // 2, len(whole) - 200,
                       len(whole) - 1]:
            cut.write_bytes(whole[:length])
            try:
                expected = reference(str(cut))
            except _REFERENCE_ERRORS:
                with pytest.raises(ElfError):
                    ours(str(cut), HOST)
                continue
            assert ours(str(cut), HOST) == expected, length
