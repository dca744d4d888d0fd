"""Facts about the dynamic loader that will load libraries into a Python process.

The loader itself is the authority: glibc >= 2.33 prints its built-in search
directories, its glibc-hwcaps subdirectories and its legacy HWCAP subdirectories
with ``ld.so --help``. We run that once (it loads nothing) and fall back to the
conventional directories when the loader is older or not glibc.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from sgdoctor.probe.ldso import LoaderError
from sgdoctor.probe.ldso.elf import Abi, ElfError, read_header
from sgdoctor.records import dataclass

CACHE_PATH = "/etc/ld.so.cache"

# ld.so.cache entry flags the loader accepts (glibc sysdeps/*/dl-cache.h: FLAG_ELF_LIBC6 | arch).
_CACHE_FLAGS: dict[tuple[str, str], frozenset[int]] = {
    ("ELFCLASS64", "EM_X86_64"): frozenset({0x0303}),
    ("ELFCLASS32", "EM_X86_64"): frozenset({0x0803}),
    ("ELFCLASS32", "EM_386"): frozenset({0x0001, 0x0003}),
    ("ELFCLASS64", "EM_AARCH64"): frozenset({0x0A03}),
    ("ELFCLASS64", "EM_PPC64"): frozenset({0x0503}),
    ("ELFCLASS64", "EM_S390"): frozenset({0x0403}),
    ("ELFCLASS64", "EM_RISCV"): frozenset({0x1003}),
    ("ELFCLASS64", "EM_LOONGARCH"): frozenset({0x1203}),
}


@dataclass(frozen=True)
class LoaderFacts:
    """How this machine's ld.so searches, for processes of ``abi``."""

    executable: str  # the real path of the interpreter binary (what /proc/self/exe shows)
    interpreter: str  # its PT_INTERP: the ld.so that loads it
    abi: Abi
    system_dirs: tuple[str, ...]
    hwcaps: tuple[str, ...]  # glibc-hwcaps subdirectory names, best first
    legacy_subdirs: tuple[str, ...]  # legacy HWCAP subdirectories, best first ("" excluded)
    platform: str  # $PLATFORM (AT_PLATFORM)
    lib: str  # $LIB
    cache_path: str
    cache_flags: frozenset[int] | None  # None: unknown machine, accept any glibc entry
    source: str  # where system_dirs came from

    def subdirs(self) -> tuple[str, ...]:
        """The subdirectories tried in every search directory, in order; "" is the directory."""
        return (*(f"glibc-hwcaps/{name}" for name in self.hwcaps), *self.legacy_subdirs, "")


@dataclass(frozen=True)
class HelpFacts:
    system_dirs: tuple[str, ...]
    hwcaps: tuple[str, ...]
    platform: str | None
    legacy_hwcaps: tuple[str, ...]
    legacy_tls: bool


def parse_ldso_help(text: str) -> HelpFacts | None:
    """Read ``ld.so --help`` (glibc >= 2.33); None when it lists no search path."""
    section = ""
    dirs: list[str] = []
    hwcaps: list[str] = []
    legacy: list[str] = []
    platform = None
    tls = False
    for raw in text.splitlines():
        line = raw.strip()
        if not raw.startswith(" ") and line.endswith(":"):
            section = line
            continue
        if not line:
            continue
        if section.startswith("Shared library search path"):
            if line.endswith("(system search path)"):
                dirs.append(line.removesuffix("(system search path)").strip())
        elif section.startswith("Subdirectories of glibc-hwcaps"):
            if "searched" in line:
                hwcaps.append(line.split()[0])
        elif section.startswith("Legacy HWCAP subdirectories") and "searched" in line:
            name = line.split()[0]
            if "AT_PLATFORM" in line:
                platform = name
            elif name == "tls":
                tls = True
            else:
                legacy.append(name)
    if not dirs:
        return None
    return HelpFacts(tuple(dirs), tuple(hwcaps), platform, tuple(legacy), tls)


def legacy_subdirs(hwcap_names: tuple[str, ...], platform: str | None,
                   tls: bool) -> tuple[str, ...]:
    """Every combination glibc < 2.37 builds in _dl_important_hwcaps, in its order.

    Strings are [hwcaps..., platform, "tls"]; entry k holds string i when bit i of
    (2**n - 1 - k) is set, joined last string first (so "tls/x86_64/x86_64").
    """
    parts = [*hwcap_names, *([platform] if platform else []), *(["tls"] if tls else [])]
    count = len(parts)
    out: list[str] = []
    for k in range(2**count - 1):
        mask = 2**count - 1 - k
        chosen = [parts[i] for i in reversed(range(count)) if mask & (1 << i)]
        path = "/".join(chosen)
        if path not in out:
            out.append(path)
    return tuple(out)


def read_interp(path: str) -> str | None:
    """PT_INTERP of an executable, or None for a static one."""
    from sgdoctor.probe.ldso.elfread import ElfFile

    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return ElfFile(fd).interp()
    finally:
        os.close(fd)


def host_abi(path: str) -> Abi:
    from sgdoctor.probe.ldso.elfread import ElfFile

    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        read_header(fd)
        elf = ElfFile(fd)
        return Abi(elf.elfclass, elf.data, str(elf.machine))
    finally:
        os.close(fd)


def _fallback_dirs(abi: Abi) -> tuple[str, ...]:
    multiarch = getattr(sys.implementation, "_multiarch", "") or ""
    dirs = []
    if multiarch:
        dirs += [f"/lib/{multiarch}", f"/usr/lib/{multiarch}"]
    if abi.elfclass == "ELFCLASS64" and os.path.isdir("/lib64") and not multiarch:
        dirs += ["/lib64", "/usr/lib64"]
    return (*dirs, "/lib", "/usr/lib")


_FACTS: dict[str, LoaderFacts] = {}
_FACTS_LOCK = threading.Lock()  # checks run at once: one `ld.so --help` serves them all


def loader_facts(executable: str | None = None, timeout: float = 3.0) -> LoaderFacts:
    """Probe once per process: the interpreter's ABI, its ld.so, and how that ld.so searches.
    ``timeout`` bounds ``ld.so --help`` (callers clamp it to their deadline)."""
    exe = os.path.realpath(executable or sys.executable)
    # Waiting for another check's probe and probing take no longer than `timeout` together.
    began = time.monotonic()
    locked = _FACTS_LOCK.acquire(timeout=max(timeout, 0.01))
    try:
        facts = _FACTS.get(exe)
        if facts is None:
            facts, settled = _probe(exe, max(0.01, timeout - (time.monotonic() - began)))
            if settled:  # a timed-out `ld.so --help` is asked again next time (serve runs long)
                _FACTS[exe] = facts
    finally:
        if locked:
            _FACTS_LOCK.release()
    return facts


def _probe(exe: str, timeout: float) -> tuple[LoaderFacts, bool]:
    try:
        abi = host_abi(exe)
        interp = read_interp(exe) or ""
    except (OSError, ElfError) as exc:
        raise LoaderError(f"cannot read the Python executable {exe}: {exc}") from None
    helped = None
    settled = True
    if interp:
        from sgdoctor.probe.process import run_bounded

        run = run_bounded([interp, "--help"], timeout=timeout, env={"LC_ALL": "C"})
        helped = parse_ldso_help(run.stdout) if run.returncode == 0 else None
        settled = not run.timed_out
    machine = os.uname().machine
    if helped:
        system_dirs = helped.system_dirs
        hwcaps = helped.hwcaps
        platform = helped.platform or machine
        legacy = legacy_subdirs(helped.legacy_hwcaps, helped.platform, helped.legacy_tls)
        source = f"{interp} --help"
    else:
        system_dirs = _fallback_dirs(abi)
        hwcaps = ()
        platform = machine
        legacy = legacy_subdirs((), machine, True)
        source = "built-in defaults (this ld.so does not list its search path)"
    return LoaderFacts(
        executable=exe, interpreter=interp, abi=abi, system_dirs=system_dirs,
        hwcaps=hwcaps, legacy_subdirs=legacy, platform=platform,
        lib=system_dirs[0].lstrip("/") if system_dirs else "lib",
        cache_path=CACHE_PATH, cache_flags=_CACHE_FLAGS.get((abi.elfclass, abi.machine)),
        source=source,
    ), settled
