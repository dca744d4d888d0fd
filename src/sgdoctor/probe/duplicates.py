"""Libraries provided twice: one name (or soname), several files, one winner.

Where copies come from:
- the directories a dlopen from this Python searches (LD_LIBRARY_PATH, /etc/ld.so.cache, the
  system directories), through the ld.so model in probe.ldso (``Resolver.copies``: its order is
  the loader's, so the first copy is the one that wins);
- MACA's own directories ($MACA_PATH/lib, mxgpu_llvm/lib, ompi/lib, ucx/lib, the driver's lib),
  searched or not — a library there may also be reached through DT_RPATH;
- the ld.so cache itself, which may list one soname from several directories (only the first
  plain entry is ever used);
- libraries vendored in site-packages (``nvidia/*/lib``, ``*/lib``, ``*.libs``), which packages
  load through their own DT_RPATH: whichever loads first serves the whole process, because ld.so
  matches the soname of an already loaded object;
- installed distributions of one NVIDIA library for two CUDA majors (nvidia-nccl-cu12 beside
  nvidia-nccl-cu13), whose files may even overwrite each other.

Names are listed, never loaded; each candidate file is opened without blocking and read as an
ELF object for the loader's ABI (a FIFO, garbage or another machine's file is not a provider).
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Iterable, Mapping

from sgdoctor.parse.maca import DEFAULT_DRIVER_DIR, DEFAULT_MACA_DIR
from sgdoctor.records import dataclass, field

MACA_SUBDIRS = ("lib", "mxgpu_llvm/lib", "ompi/lib", "ucx/lib")
SONAME_FILE = re.compile(r"^lib[^/]*\.so(?:\.[0-9][0-9A-Za-z._-]*)?$")
CUDA_VARIANT = re.compile(r"^nvidia-(?P<lib>[a-z0-9-]+?)-cu(?P<major>\d+)$")
MAX_FILES_PER_DIR = 20_000
MAX_VENDORED_DIRS = 400


@dataclass(frozen=True)
class Provider:
    path: str
    where: str                    # "LD_LIBRARY_PATH", "ld.so.cache", "MACA", "site-packages"...
    soname: str | None
    realpath: str
    identity: tuple[int, int]


@dataclass(frozen=True)
class Duplicate:
    name: str                     # the name a loader asks for (DT_NEEDED / dlopen argument)
    providers: tuple[Provider, ...]
    winner: Provider | None       # what dlopen(name) from this Python gets; None: off the path

    @property
    def sonames(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.soname or "(none)" for p in self.providers))


@dataclass(frozen=True)
class CudaVariants:
    """One NVIDIA library installed for several CUDA majors."""

    library: str                  # "nccl"
    distributions: tuple[tuple[str, str], ...]     # (name, version)
    files: dict[str, tuple[str, ...]]              # distribution → its shared libraries
    shared_paths: tuple[str, ...] = ()             # files claimed by more than one of them


@dataclass
class DuplicateFacts:
    duplicates: list[Duplicate] = field(default_factory=list)
    variants: list[CudaVariants] = field(default_factory=list)
    dirs: dict[str, str] = field(default_factory=dict)      # scanned directory → role
    truncated: list[str] = field(default_factory=list)      # directories cut at the file cap
    cache_problem: str | None = None
    unexamined: int = 0          # candidate names left when the time budget ran out


def maca_dirs(env: Mapping[str, str]) -> list[str]:
    maca = env.get("MACA_PATH") or DEFAULT_MACA_DIR
    return [os.path.join(maca, sub) for sub in MACA_SUBDIRS] + [f"{DEFAULT_DRIVER_DIR}/lib"]


def site_dirs(env: Mapping[str, str]) -> list[str]:
    """site-packages of this interpreter, and PYTHONPATH entries of the server's environment."""
    import site

    dirs = [p for p in env.get("PYTHONPATH", "").split(":") if p]
    dirs += getattr(site, "getsitepackages", list)()
    dirs += [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    return [d for d in dict.fromkeys(os.path.abspath(d) for d in dirs) if os.path.isdir(d)]


def vendored_dirs(sites: Iterable[str]) -> list[str]:
    """Library directories packages ship: nvidia/<lib>/lib, nvidia/cu<N>/lib, <pkg>/lib,
    <pkg>.libs."""
    out: list[str] = []
    for top in sites:
        try:
            entries = sorted(os.listdir(top))
        except OSError:
            continue
        for entry in entries:
            base = os.path.join(top, entry)
            if entry.endswith(".libs"):
                out.append(base)
            elif entry == "nvidia":
                try:
                    subs = sorted(os.listdir(base))
                except OSError:
                    continue
                out += [os.path.join(base, s, "lib") for s in subs]
            else:
                out.append(os.path.join(base, "lib"))
    return [d for d in out if os.path.isdir(d)][:MAX_VENDORED_DIRS]


def _names(directory: str, cap: int) -> tuple[list[str], bool]:
    try:
        with os.scandir(directory) as it:
            names = []
            for entry in it:
                if SONAME_FILE.match(entry.name):
                    names.append(entry.name)
                    if len(names) >= cap:
                        return names, True
            return names, False
    except OSError:
        return [], False


def _provider(path: str, where: str, abi) -> Provider | None:
    """The file as the loader would take it, or None (absent, FIFO, garbage, other ABI)."""
    from sgdoctor.probe.ldso.elf import ElfError, WrongAbi
    from sgdoctor.probe.ldso.resolver import parsed_object

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        obj = parsed_object(path, fd, st, abi)
    except (OSError, ElfError, WrongAbi):
        return None
    finally:
        os.close(fd)
    return Provider(path, where, obj.soname, os.path.realpath(path), obj.identity)


def _read_cache(resolver):
    """The ld.so cache as the loader reads it, or (None, why not)."""
    from sgdoctor.probe.ldso.cache import CacheError, parse_ld_so_cache

    path = resolver.facts.cache_path
    try:
        with open(path, "rb") as handle:
            return parse_ld_so_cache(handle.read()), None
    except FileNotFoundError:
        return None, None
    except (OSError, CacheError) as exc:
        return None, f"{path}: {exc}"


def _cache_extras(cache, flags: frozenset[int] | None) -> dict[str, list[str]]:
    """Names the cache lists from several directories (plain entries; only the first is used)."""
    out: dict[str, list[str]] = {}
    for name, entries in (cache.entries.items() if cache else ()):
        plain = [e.path for e in entries if e.hwcaps is None and e.legacy_hwcap == 0
                 and (flags is None or e.flags in flags)]
        if len(plain) > 1:
            out[name] = plain
    return out


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def _may_hold_variants(sites: list[str]) -> bool:
    """A CUDA variant's dist-info directory is named nvidia_…: look for one before paying
    for importlib.metadata (about 17 ms of every start)."""
    for site in sites:
        try:
            names = os.listdir(site or ".")
        except OSError:
            continue
        if any(n.lower().startswith("nvidia") and n.lower().endswith((".dist-info", ".egg-info"))
               for n in names):
            return True
    return False


def cuda_variants(sites: Iterable[str]) -> list[CudaVariants]:
    sites = list(sites)
    if not _may_hold_variants(sites):
        return []
    from importlib.metadata import distributions

    groups: dict[str, dict[str, tuple[str, str, tuple[str, ...]]]] = {}
    for dist in distributions(path=list(sites)):
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        match = CUDA_VARIANT.match(name)
        if not match:
            continue
        files = tuple(sorted(str(f) for f in dist.files or ()
                             if ".so" in str(f).rsplit("/", 1)[-1]))
        groups.setdefault(match["lib"], {})[name] = (name, dist.version or "?", files)
    out = []
    for lib, dists in sorted(groups.items()):
        if len(dists) < 2:
            continue
        claimed: dict[str, int] = {}
        for _, _, files in dists.values():
            for f in files:
                claimed[f] = claimed.get(f, 0) + 1
        ordered = sorted(dists.values())
        out.append(CudaVariants(lib, tuple((n, v) for n, v, _ in ordered),
                                {n: f for n, _, f in ordered},
                                tuple(sorted(f for f, c in claimed.items() if c > 1))))
    return out


def find_duplicates(env: Mapping[str, str], resolver, *, extra_dirs: Iterable[str] = (),
                    sites: Iterable[str] | None = None, max_files: int = MAX_FILES_PER_DIR,
                    budget: float = 60.0) -> DuplicateFacts:
    """Every library name with two or more distinct providers, winner first; names still
    unexamined after ``budget`` seconds are counted, not examined."""
    import time

    from sgdoctor.probe.ldso.paths import split_search_path

    deadline = time.monotonic() + budget

    facts = resolver.facts
    result = DuplicateFacts()
    llp = split_search_path(env.get("LD_LIBRARY_PATH", ""), separators=":;",
                            origin=os.path.dirname(facts.executable), lib=facts.lib,
                            platform=facts.platform)
    site_list = list(sites) if sites is not None else site_dirs(env)
    roles = {**{d: "LD_LIBRARY_PATH" for d in llp if d},
             **{d: "MACA" for d in maca_dirs(env) if d not in llp},
             **{d: "extra" for d in extra_dirs},
             **{d: "site-packages" for d in vendored_dirs(site_list)}}
    listed: dict[str, list[str]] = {}
    for directory, role in roles.items():
        names, cut = _names(directory, max_files)
        if not names and not os.path.isdir(directory):
            continue
        result.dirs[directory] = role
        if cut:
            result.truncated.append(directory)
        for name in names:
            listed.setdefault(name, []).append(directory)
    cache, result.cache_problem = _read_cache(resolver)
    extras = _cache_extras(cache, facts.cache_flags)
    names = sorted(set(listed) | set(extras))
    for index, name in enumerate(names):
        if time.monotonic() > deadline:
            result.unexamined = len(names) - index
            break
        if not _maybe_twice(name, listed.get(name, ()), extras.get(name, ()), cache, facts):
            continue
        providers: list[Provider] = []
        on_path = _one_per_directory(resolver.copies(name), facts.subdirs())
        for path, step in on_path:
            _add(providers, path, step, facts.abi)
        for path in extras.get(name, ()):
            _add(providers, path, "ld.so.cache (never chosen)" if providers else "ld.so.cache",
                 facts.abi)
        covered = {_base_dir(path, facts.subdirs()) for path, _ in on_path}
        for directory in listed.get(name, ()):
            if os.path.normpath(directory) not in covered:
                _add(providers, os.path.join(directory, name), roles[directory], facts.abi)
        if len(providers) > 1:
            winner = providers[0] if on_path else None
            result.duplicates.append(Duplicate(name, tuple(providers), winner))
    result.variants = cuda_variants(site_list)
    return result


def _base_dir(path: str, subdirs: tuple[str, ...]) -> str:
    """The search directory a copy was found in, capability subdirectory stripped."""
    parent = os.path.normpath(os.path.dirname(path))
    return next((parent[:-len(sub) - 1] for sub in subdirs
                 if sub and parent.endswith("/" + sub)), parent)


def _one_per_directory(copies: list[tuple[str, str]],
                       subdirs: tuple[str, ...]) -> list[tuple[str, str]]:
    """Drop glibc-hwcaps (and legacy HWCAP) variants beside the copy the loader takes from the
    same directory: they are builds of one library for other CPUs, on purpose."""
    out: list[tuple[str, str]] = []
    bases: set[str] = set()
    for path, step in copies:
        base = _base_dir(path, subdirs)
        if base not in bases:
            bases.add(base)
            out.append((path, step))
    return out


def _maybe_twice(name: str, dirs: Iterable[str], cached: Iterable[str], cache, facts) -> bool:
    """A cheap test (stat only) before any ELF is read: two distinct files by that name?"""
    paths = [os.path.join(d, name) for d in dirs] + list(cached)
    paths += [os.path.join(d, name) for d in facts.system_dirs]
    entry = cache.lookup(name, facts.cache_flags, facts.hwcaps) if cache else None
    if entry is not None:
        paths.append(entry.path)
    identities = {i for i in map(_identity, dict.fromkeys(paths)) if i}
    return len(identities) > 1


def _add(providers: list[Provider], path: str, where: str, abi) -> None:
    provider = _provider(path, where, abi)
    if provider is not None and all(p.identity != provider.identity for p in providers):
        providers.append(provider)
