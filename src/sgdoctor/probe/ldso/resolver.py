"""Where glibc's ld.so would find each library, without loading or running anything.

The model follows elf/dl-load.c (_dl_map_object, open_path, open_verify) and
elf/dl-deps.c: a *namespace* of objects already loaded (matched by name, soname and
file identity), and for every other name the search order ld.so(8) documents:
DT_RPATH of the loading chain (unless the loader has DT_RUNPATH), LD_LIBRARY_PATH,
the loader's DT_RUNPATH, /etc/ld.so.cache, the system directories — each directory
tried with the glibc-hwcaps and legacy HWCAP subdirectories the loader searches.
Names are looked up (open), never listed, so cost follows the number of libraries.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Mapping

from sgdoctor.probe.ldso import LoaderError, LoadError, LoadKind
from sgdoctor.probe.ldso.cache import CacheError, LdCache, parse_ld_so_cache
from sgdoctor.probe.ldso.elf import Abi, ElfError, ElfObject, WrongAbi, parse_object
from sgdoctor.probe.ldso.loader import LoaderFacts, loader_facts
from sgdoctor.probe.ldso.paths import expand_tokens, join, split_search_path
from sgdoctor.records import dataclass, field

STEP_PATH = "path"
STEP_LOADED = "already loaded"
STEP_LLP = "LD_LIBRARY_PATH"
STEP_CACHE = "ld.so.cache"
STEP_SYSTEM = "system directory"
_ABSENT = (errno.ENOENT, errno.ENOTDIR)


@dataclass(frozen=True)
class Skipped:
    """A file the loader looked at and passed over (or stopped at), and why."""

    path: str
    reason: str
    fatal: bool = False


@dataclass(eq=False)
class Node:
    """One object in the modelled process (glibc's struct link_map)."""

    name: str  # l_name: the file name as opened, not symlink-resolved ("" for the executable)
    obj: ElfObject
    requested: str  # the first name it was asked for
    how: str  # the search step that found it
    loader: Node | None = None
    preloaded: bool = False
    kernel_mapped: bool = False  # mapped by the kernel, so glibc never recorded its file id
    deps: list[Dep] | None = None

    @property
    def path(self) -> str:
        return self.name or self.obj.path

    @property
    def origin(self) -> str:
        """$ORIGIN: the directory of the name it was opened by (glibc does not resolve links)."""
        full = self.path if self.path.startswith("/") else os.path.join(os.getcwd(), self.path)
        return os.path.dirname(full) or "/"


@dataclass
class Dep:
    name: str
    node: Node | None
    error: LoadError | None = None


@dataclass
class Found:
    """The outcome of one search for one name."""

    name: str
    node: Node | None
    how: str
    error: LoadError | None = None
    skipped: list[Skipped] = field(default_factory=list)


@dataclass
class LoadResult:
    """A library and everything it brings in, as one dlopen (or one ldd) would see it."""

    request: str
    root: Node | None
    how: str
    objects: list[Node] = field(default_factory=list)  # the dependency closure, root first
    missing: list[tuple[str, str]] = field(default_factory=list)  # (name, required by)
    errors: list[LoadError] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.root is not None and not self.missing and not self.errors


class _Outcome:
    """What opening one candidate file gave: an object, a skip, a fatal error, or nothing;
    ``kind`` says why there is no object."""

    __slots__ = ("obj", "skip", "fatal", "errno", "kind")

    def __init__(self, obj: ElfObject | None = None, skip: str | None = None,
                 fatal: str | None = None, err: int = 0,
                 kind: LoadKind = LoadKind.INVALID) -> None:
        self.obj, self.skip, self.fatal, self.errno, self.kind = obj, skip, fatal, err, kind

    def error(self, path: str) -> LoadError:
        """The failure to load ``path`` by this outcome, in the loader's words."""
        reason = self.fatal or self.skip or (
            "cannot open shared object file: " + os.strerror(self.errno))
        return LoadError(self.kind, path, f"{path}: {reason}")


@dataclass
class Namespace:
    """The objects loaded in one process, in load order."""

    nodes: list[Node] = field(default_factory=list)
    main: Node | None = None
    aliases: dict[str, Node] = field(default_factory=dict)

    def match(self, name: str) -> Node | None:
        """_dl_name_match_p plus the soname check of _dl_map_object."""
        if name in self.aliases:
            return self.aliases[name]
        for node in self.nodes:
            if name in (node.name, node.requested) or node.obj.soname == name:
                return node
        return None

    def by_identity(self, obj: ElfObject) -> Node | None:
        """_dl_file_id_match_p: the same file under another name is the same object — except
        for objects the kernel mapped (ld.so itself, the executable): dlopen of ld.so by
        another path loads a second copy."""
        return next((node for node in self.nodes
                     if node.obj.identity == obj.identity and not node.kernel_mapped), None)

    def fork(self) -> Namespace:
        return Namespace(list(self.nodes), self.main, dict(self.aliases))


class Resolver:
    """Resolves libraries for processes started with ``env``; caches files within one run."""

    def __init__(self, env: Mapping[str, str], facts: LoaderFacts | None = None) -> None:
        self.env = env
        self.facts = facts or loader_facts()
        self._files: dict[str, _Outcome] = {}
        self._isdir: dict[str, bool] = {}
        self._cache: LdCache | None = None
        self._cache_read = False
        self.cache_problem: str | None = None
        self._python: Namespace | None = None
        self._subdirs = self.facts.subdirs()

    # -- public entry points ---------------------------------------------------------

    def dlopen(self, name: str) -> LoadResult:
        """What ``python -c 'import ctypes; ctypes.CDLL(name)'`` would load."""
        ns = self.python_namespace().fork()
        caller = ns.match("_ctypes") or ns.main
        return self._load(ns, name, caller, check_all=False)

    def trace(self, path: str) -> LoadResult:
        """What ``ldd path`` lists: ``path`` as the main program of a fresh process."""
        ns = Namespace()
        rtld = self._preload(ns, self.facts.interpreter, "program interpreter")
        outcome = self._open(path)
        if outcome.obj is None:
            reason = outcome.fatal or outcome.skip or os.strerror(outcome.errno)
            return LoadResult(path, None, STEP_PATH,
                              errors=[LoadError(outcome.kind, path, f"{path}: {reason}")])
        main = Node(path, outcome.obj, path, STEP_PATH)
        ns.nodes.insert(0, main)
        ns.main = main
        result = self._walk(ns, main, STEP_PATH, path, check_all=True)
        result.objects = [n for n in result.objects if n is not main]
        if rtld is not None and not any(d.node is rtld for n in result.objects + [main]
                                        for d in n.deps or ()):
            result.objects = [n for n in result.objects if n is not rtld]
        return result

    def copies(self, name: str) -> list[tuple[str, str]]:
        """Every loadable copy of ``name`` along a dlopen's search order: (path, step),
        winner first; files that are the same inode count once."""
        if "/" in name:
            return []
        ns = self.python_namespace()
        caller = ns.match("_ctypes") or ns.main
        seen: set[tuple[int, int]] = set()
        out: list[tuple[str, str]] = []
        for step, paths in self._steps(ns, name, caller):
            for path in paths:
                outcome = self._open(path)
                if outcome.obj is not None and outcome.obj.identity not in seen:
                    seen.add(outcome.obj.identity)
                    out.append((path, step))
        return out

    def on_library_path(self, directory: str) -> bool:
        """Is ``directory`` (or the same directory by another name) on LD_LIBRARY_PATH?"""
        wanted = os.path.normpath(directory)
        for entry in self._dirs(self.env.get("LD_LIBRARY_PATH") or "", ":;",
                                os.path.dirname(self.facts.executable)):
            if entry and os.path.normpath(entry) == wanted:
                return True
            try:
                if os.path.samefile(entry or ".", directory):
                    return True
            except OSError:
                continue
        return False

    def python_namespace(self) -> Namespace:
        """The objects a fresh Python has loaded once ``import ctypes`` ran."""
        if self._python is None:
            ns = Namespace()
            exe = self._open(self.facts.executable)
            if exe.obj is None:
                raise LoaderError(f"cannot read {self.facts.executable}: "
                                   f"{exe.fatal or exe.skip or os.strerror(exe.errno)}")
            main = Node("", exe.obj, self.facts.executable, "executable", kernel_mapped=True)
            ns.nodes.append(main)
            ns.main = main
            self._preload(ns, self.facts.interpreter, "program interpreter")
            self._walk(ns, main, "executable", self.facts.executable, check_all=False,
                       versions=False)
            ctypes_path = _ctypes_module()
            if ctypes_path:
                importer = next((n for n in ns.nodes if (n.obj.soname or "").startswith(
                    "libpython")), main)
                loaded = self._load(ns, ctypes_path, importer, check_all=False, versions=False)
                if loaded.root is not None:
                    ns.aliases["_ctypes"] = loaded.root
            for node in ns.nodes:
                node.preloaded = True
            self._python = ns
        return self._python

    # -- loading -----------------------------------------------------------------------

    def _preload(self, ns: Namespace, path: str, how: str) -> Node | None:
        if not path:
            return None
        outcome = self._open(path)
        if outcome.obj is None:
            return None
        node = Node(path, outcome.obj, path, how, preloaded=True, deps=[], kernel_mapped=True)
        ns.nodes.append(node)
        return node

    def _load(self, ns: Namespace, name: str, caller: Node | None, *,
              check_all: bool, versions: bool = True) -> LoadResult:
        found = self._search(ns, name, caller)
        if found.node is None:
            result = LoadResult(name, None, found.how, skipped=found.skipped)
            result.errors.append(found.error or LoadError(LoadKind.NOT_FOUND, name,
                                                          f"{name}: not found"))
            return result
        result = self._walk(ns, found.node, found.how, name, check_all=check_all,
                            versions=versions)
        result.skipped[:0] = found.skipped
        return result

    def _walk(self, ns: Namespace, root: Node, how: str, request: str, *,
              check_all: bool, versions: bool = True) -> LoadResult:
        """Breadth-first over DT_NEEDED, as _dl_map_object_deps does, then symbol versions."""
        result = LoadResult(request, root, how)
        queue = [root]
        seen = {id(root)}
        for node in queue:
            if node.deps is None:
                node.deps = []
                for needed in node.obj.needed:
                    found = self._search(ns, needed, node)
                    node.deps.append(Dep(needed, found.node, found.error))
                    result.skipped.extend(found.skipped)
                    if found.node is None:
                        if found.error and found.error.kind is not LoadKind.NOT_FOUND:
                            result.errors.append(found.error)
                        else:
                            result.missing.append((needed, node.path))
            for dep in node.deps:
                if dep.node is not None and id(dep.node) not in seen:
                    seen.add(id(dep.node))
                    queue.append(dep.node)
        result.objects = queue
        for node in queue if versions else ():
            if check_all or not node.preloaded:
                result.errors.extend(self._version_errors(ns, node))
        return result

    def _version_errors(self, ns: Namespace, node: Node) -> list[LoadError]:
        """_dl_check_map_versions: every DT_VERNEED entry against the provider's DT_VERDEF."""
        try:
            _, needs = node.obj.versions()
        except ElfError as exc:
            return [LoadError(LoadKind.INVALID, node.path, f"{node.path}: {exc}")]
        errors = []
        for file, version, weak in needs:
            provider = next((d.node for d in node.deps or () if d.name == file and d.node), None)
            provider = provider or ns.match(file)
            if provider is None or weak:
                continue
            try:
                defined, _ = provider.obj.versions()
            except ElfError as exc:
                errors.append(LoadError(LoadKind.INVALID, provider.path,
                                        f"{provider.path}: {exc}"))
                continue
            if defined is not None and version not in defined:
                errors.append(LoadError(LoadKind.VERSION, provider.path,
                                        f"{provider.path}: version `{version}' not found "
                                        f"(required by {node.path})", required_by=node.path))
        return errors

    # -- searching ---------------------------------------------------------------------

    def _search(self, ns: Namespace, name: str, loader: Node | None) -> Found:
        if "/" in name:
            return self._search_path(ns, name, loader)
        node = ns.match(name)
        if node is not None:
            return Found(name, node, STEP_LOADED)
        skipped: list[Skipped] = []
        for step, paths in self._steps(ns, name, loader):
            for path in paths:
                outcome = self._open(path)
                if outcome.obj is not None:
                    return self._found(ns, name, path, outcome.obj, step, loader, skipped)
                if outcome.fatal:
                    skipped.append(Skipped(path, outcome.fatal, fatal=True))
                    return Found(name, None, step, outcome.error(path), skipped)
                if outcome.skip:
                    skipped.append(Skipped(path, outcome.skip))
        error = LoadError(LoadKind.NOT_FOUND, name,
                          f"{name}: cannot open shared object file: No such file or directory")
        return Found(name, None, "", error, skipped)

    def _search_path(self, ns: Namespace, name: str, loader: Node | None) -> Found:
        origin = loader.origin if loader else None
        path = expand_tokens(name, origin=origin, lib=self.facts.lib, platform=self.facts.platform)
        if not path:
            return Found(name, None, STEP_PATH, LoadError(
                LoadKind.ORIGIN, name, f"{name}: cannot expand $ORIGIN here"))
        node = ns.match(path)
        if node is not None:
            return Found(name, node, STEP_LOADED)
        outcome = self._open(path)
        if outcome.obj is not None:
            return self._found(ns, name, path, outcome.obj, STEP_PATH, loader, [])
        return Found(name, None, STEP_PATH, outcome.error(path))

    def _found(self, ns: Namespace, name: str, path: str, obj: ElfObject, step: str,
               loader: Node | None, skipped: list[Skipped]) -> Found:
        node = self._adopt(ns, name, path, obj, step, loader)
        if isinstance(node, LoadError):
            return Found(name, None, step, node, skipped)
        return Found(name, node, step, skipped=skipped)

    def _adopt(self, ns: Namespace, name: str, path: str, obj: ElfObject, step: str,
               loader: Node | None) -> Node | LoadError:
        """A found file becomes a new node, unless the same file is already loaded; an
        executable cannot be loaded as a library (the loader's error is returned)."""
        if obj.pie:
            return LoadError(LoadKind.NOT_A_LIBRARY, path, f"{path}: cannot dynamically load "
                                                           "position-independent executable")
        if obj.etype != "ET_DYN":
            return LoadError(LoadKind.NOT_A_LIBRARY, path,
                             f"{path}: cannot dynamically load executable")
        existing = ns.by_identity(obj)
        if existing is not None:
            ns.aliases.setdefault(name, existing)
            return existing
        node = Node(path, obj, name, step, loader)
        ns.nodes.append(node)
        return node

    def _steps(self, ns: Namespace, name: str,
               loader: Node | None) -> Iterator[tuple[str, Iterator[str]]]:
        """(step, candidate paths) in _dl_map_object's order, lazily."""
        facts = self.facts
        main = ns.main
        if loader is None or loader.obj.runpath is None:
            did_main = False
            chain = loader
            while chain is not None:
                if chain.obj.rpath is not None:
                    yield f"DT_RPATH of {chain.path}", self._in_dirs(
                        self._dirs(chain.obj.rpath, ":", chain.origin), name)
                    did_main |= chain is main
                chain = chain.loader
            if not did_main and main is not None and main is not loader and main.obj.rpath:
                yield f"DT_RPATH of {main.path}", self._in_dirs(
                    self._dirs(main.obj.rpath, ":", main.origin), name)
        llp = self.env.get("LD_LIBRARY_PATH")
        if llp:
            yield STEP_LLP, self._in_dirs(
                self._dirs(llp, ":;", main.origin if main else None), name)
        if loader is not None and loader.obj.runpath is not None:
            yield f"DT_RUNPATH of {loader.path}", self._in_dirs(
                self._dirs(loader.obj.runpath, ":", loader.origin), name)
        owner = loader or main
        nodeflib = owner is not None and owner.obj.nodeflib
        cache = self._ld_cache()
        entry = cache.lookup(name, facts.cache_flags, facts.hwcaps) if cache else None
        if entry is not None and not (nodeflib and os.path.dirname(entry.path).rstrip("/")
                                      in facts.system_dirs):
            yield STEP_CACHE, iter([entry.path])
        if not nodeflib:
            yield STEP_SYSTEM, self._in_dirs(list(facts.system_dirs), name)

    def _dirs(self, value: str, separators: str, origin: str | None) -> list[str]:
        return split_search_path(value, separators=separators, origin=origin,
                                 lib=self.facts.lib, platform=self.facts.platform)

    def _in_dirs(self, dirs: list[str], name: str) -> Iterator[str]:
        """open_path: each directory with each capability subdirectory. A failure other than
        "absent" or "denied" on an existing directory ends this list, as in glibc."""
        for directory in dirs:
            last = 0
            for sub in self._subdirs:
                where = join(directory, sub, "") or "."
                if not self._exists(where):
                    continue
                path = join(directory, sub, name)
                yield path
                outcome = self._files[path]
                last = outcome.errno
            if last not in (0, errno.ENOENT, errno.EACCES, errno.ENOTDIR):
                return

    def _exists(self, directory: str) -> bool:
        known = self._isdir.get(directory)
        if known is None:
            known = self._isdir[directory] = os.path.isdir(directory)
        return known

    def _ld_cache(self) -> LdCache | None:
        if not self._cache_read:
            self._cache_read = True
            try:
                with open(self.facts.cache_path, "rb") as handle:
                    self._cache = parse_ld_so_cache(handle.read())
            except FileNotFoundError:
                self._cache = None
            except (OSError, CacheError) as exc:
                self.cache_problem = f"{self.facts.cache_path}: {exc} (the loader ignores it)"
                self._cache = None
        return self._cache

    def _open(self, path: str) -> _Outcome:
        outcome = self._files.get(path)
        if outcome is not None:
            return outcome
        try:
            # O_NONBLOCK: a FIFO must not hang us (the real loader would block on it).
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as exc:
            outcome = _Outcome(err=exc.errno or errno.EIO, skip=_absent_reason(path, exc),
                               kind=LoadKind.NOT_FOUND if exc.errno in _ABSENT
                               else LoadKind.UNREADABLE)
        else:
            try:
                st = os.fstat(fd)
                if stat.S_ISFIFO(st.st_mode):
                    raise ElfError("a named pipe, not a library (the loader would block "
                                   "reading it)")
                outcome = _Outcome(parsed_object(path, fd, st, self.facts.abi))
            except WrongAbi as exc:
                outcome = _Outcome(skip=str(exc), err=errno.ENOENT)
            except ElfError as exc:
                outcome = _Outcome(fatal=str(exc))
            finally:
                os.close(fd)
        self._files[path] = outcome
        return outcome


# Objects parsed in this process, by path, file identity and content stamp (an object keeps
# the path it was opened by, for $ORIGIN and its versions): maca.libs and
# libs.duplicates each model the loader, and both walk the interpreter's own libraries (the
# Python executable, libc, libm, ld.so, _ctypes) before their own; a file that changes gets a
# new stamp. Bounded for processes that run checks for days (serve).
_PARSED: dict[tuple[object, ...], ElfObject] = {}
_PARSED_LIMIT = 4096


def parsed_object(path: str, fd: int, st: os.stat_result, abi: Abi) -> ElfObject:
    """parse_object of the file open on ``fd`` (``st`` its fstat), once a process."""
    key = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, abi)
    obj = _PARSED.get(key)
    if obj is None:
        obj = parse_object(path, fd, abi, st)
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.clear()
        _PARSED[key] = obj
    return obj


def file_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file ``path`` names, following links; None if it is not there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _absent_reason(path: str, exc: OSError) -> str | None:
    """Why an open failed, worth telling only when something is there (not plain absence)."""
    if exc.errno == errno.ENOENT:
        if os.path.islink(path):
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            return f"broken symbolic link (points to {target}, which does not exist)"
        return None
    if exc.errno == errno.ELOOP:
        return "symbolic link loop (too many levels of symbolic links)"
    if exc.errno == errno.ENOTDIR:
        return None
    return f"cannot open: {os.strerror(exc.errno or errno.EIO)}"


def _ctypes_module() -> str | None:
    """The file of the _ctypes extension: the object whose code calls dlopen for ctypes."""
    from importlib.machinery import PathFinder  # importlib.util's find_spec, imported already

    spec = PathFinder.find_spec("_ctypes")
    origin = getattr(spec, "origin", None)
    return origin if origin and os.path.isfile(origin) else None
