"""maca.libs: the MACA shared libraries resolve as the dynamic loader would find them."""

from __future__ import annotations

import os
import sys

from sgdoctor.api import Context, Findings, Result, Text, check
from sgdoctor.parse.maca import DEFAULT_DRIVER_DIR, DEFAULT_MACA_DIR, MACA_LIBRARIES
from sgdoctor.probe.ldso import LoadError, LoadKind

TYPE_CHECKING = False

if TYPE_CHECKING:
    from sgdoctor.probe.ldso.child import ChildLoad

DEFAULT_LIBRARIES = list(MACA_LIBRARIES)
# Where MetaX's image keeps its libraries, relative to MACA_PATH (facts.md).
MACA_LIB_DIRS = ("lib", "mxgpu_llvm/lib", "ompi/lib", "ucx/lib")


def export_line(driver_dir: str) -> str:
    """The MetaX image's LD_LIBRARY_PATH line, keeping whatever else is already set."""
    return (f"export LD_LIBRARY_PATH={driver_dir}/lib:${{MACA_PATH}}/lib:"
            "${MACA_PATH}/mxgpu_llvm/lib:${MACA_PATH}/ompi/lib:${MACA_PATH}/ucx/lib"
            "${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")


@check("maca.libs", title="MACA shared libraries", env=["MACA_PATH", "LD_LIBRARY_PATH"],
       timeout=10.0, tags=["maca"],
       settings={"libraries": list[str], "maca_dir": str, "driver_dir": str})
def maca_libs(ctx: Context) -> Result:
    """Resolves each required MACA library (setting `libraries`) exactly as glibc's ld.so
    would for a dlopen from this Python — LD_LIBRARY_PATH, DT_RPATH/DT_RUNPATH with
    $ORIGIN, /etc/ld.so.cache, the system directories, glibc-hwcaps — with its whole
    dependency tree and its symbol version needs, without loading anything. Fails when a
    library or a dependency is missing, a version is missing ("version `X' not found"),
    LD_LIBRARY_PATH lacks $MACA_PATH/lib, or a copy outside MACA_PATH (or the driver
    directory, setting `driver_dir`) wins over MACA's own (Moore Threads' libmccl.so.2).
    With MACA_PATH unset, the SDK is looked for at setting `maca_dir` (/opt/maca).
    Warns when several copies are on the search path. `--deep` also dlopens each library
    in a child Python, to catch failing constructors."""
    maca = ctx.env.get("MACA_PATH") or ""
    default_dir = str(ctx.setting("maca_dir", DEFAULT_MACA_DIR))
    if not maca and not os.path.isdir(default_dir):
        return Result.skip(Text("MACA_PATH is unset and {path} does not exist: no MACA SDK "
                                "on this host", path=default_dir), env=["MACA_PATH"])
    maca = maca or default_dir
    driver = str(ctx.setting("driver_dir", DEFAULT_DRIVER_DIR))
    names = ctx.setting("libraries", DEFAULT_LIBRARIES)
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        return Result.fail(Text('setting "libraries" must be a list of library names, not '
                                '{value}', value=repr(names)),
                           remedy=Text('{example}', example='[checks."maca.libs"] libraries = '
                                       '["libmcruntime.so", ...]'))
    env_read = ["MACA_PATH", "LD_LIBRARY_PATH"]
    from sgdoctor.probe.ldso import LoaderError
    from sgdoctor.probe.ldso.loader import loader_facts
    from sgdoctor.probe.ldso.resolver import Resolver

    try:
        resolver = Resolver(ctx.env, loader_facts(timeout=ctx.timeout(3.0)))
        resolver.python_namespace()
    except LoaderError as exc:
        return Result.error(Text("cannot model the dynamic loader: {error}", error=str(exc)),
                            env=env_read)

    found = Findings()
    if not resolver.on_library_path(os.path.join(maca, "lib")):
        found.fail(Text("LD_LIBRARY_PATH does not contain {path}/lib (MACA_PATH/lib)",
                        path=maca),
                   Text("{command}", command=export_line(driver)), code="maca_lib_not_on_path")
    owned_dirs = [os.path.join(maca, sub) for sub in MACA_LIB_DIRS] + [f"{driver}/lib"]
    details: dict = {"maca_path": maca, "driver_dir": driver,
                     "loader": resolver.facts.interpreter, "libraries": {}}
    for name in names:
        details["libraries"][name] = _library(resolver, name, owned_dirs, driver, found)
    if ctx.options.get("deep"):
        _deep(ctx, names, details["libraries"], found)
    if resolver.cache_problem:
        details["ld_so_cache"] = resolver.cache_problem
    total = len({p for lib in details["libraries"].values()
                 for p in lib.get("dependencies", {}).values() if p})
    return found.result(Text("{count} MACA libraries resolve with all dependencies and "
                             "symbol versions ({total} dependencies)", count=len(names),
                             total=total), details=details, env=env_read)


def _load_failure(name: str, error: LoadError, driver: str, found: Findings) -> None:
    """``name`` itself does not load: what the loader said, and what fixes that kind."""
    if error.kind is LoadKind.NOT_FOUND:
        fix, code = Text("{command}", command=export_line(driver)), "library_not_found"
    elif error.kind is LoadKind.UNREADABLE:
        fix = Text("Make {path} readable by this user", path=error.path)
        code = "library_unreadable"
    else:
        fix = Text("Remove or replace the file the loader stopped at ({path})", path=error.path)
        code = "library_unloadable"
    found.fail(Text("{name} cannot be loaded: {error}", name=name, error=error.words), fix,
               code=code)


def _library(resolver, name: str, owned_dirs: list[str], driver: str,
             found: Findings) -> dict:
    """One library: where it resolves, why, its dependencies; what is wrong goes to found."""
    from sgdoctor.probe.ldso.resolver import file_identity

    result = resolver.dlopen(name)
    info: dict = {"path": None, "found_by": result.how or None}
    if result.skipped:
        info["skipped"] = [{"path": s.path, "reason": s.reason + ("" if s.fatal else ", skipped")}
                           for s in result.skipped]
    root = result.root
    if root is None:
        error = result.errors[0] if result.errors else \
            LoadError(LoadKind.NOT_FOUND, name, f"{name}: not found")
        info["error"] = error.words
        info["error_kind"] = error.kind.value
        _load_failure(name, error, driver, found)
        return info
    info.update(path=root.path, realpath=os.path.realpath(root.path), soname=root.obj.soname)
    info["dependencies"] = {node.requested: node.path for node in result.objects[1:]}
    for dep_name, needed_by in result.missing:
        info["dependencies"][dep_name] = None
        found.fail(Text("{name}: dependency {dependency} (needed by {needed_by}) is not on "
                        "the search path", name=name, dependency=dep_name, needed_by=needed_by),
                   Text("Install {dependency} or add its directory to LD_LIBRARY_PATH",
                        dependency=dep_name), code="dependency_not_found")
    for error in result.errors:
        info.setdefault("errors", []).append(error.words)
        if error.kind is LoadKind.VERSION:
            found.fail(Text("{name}: {error}", name=name, error=error.words),
                       Text("Make the newer library win: put its directory earlier on "
                            "LD_LIBRARY_PATH, or remove the older copy ({path})",
                            path=error.path), code="symbol_version_missing")
        else:
            found.fail(Text("{name}: {error}", name=name, error=error.words),
                       Text("Remove or replace {path}", path=error.path),
                       code=f"dependency_{error.kind.value}")
    copies = resolver.copies(name)
    if len(copies) > 1:
        info["shadowed"] = [{"path": p, "found_by": how} for p, how in copies[1:]]
    own = [os.path.join(d, name) for d in owned_dirs if file_identity(os.path.join(d, name))]
    own_ids = {file_identity(p) for p in own}
    if own and root.obj.identity not in own_ids:
        info["maca_copy"] = own[0]
        found.fail(Text("{name} resolves to {path}, not MACA's own {own}", name=name,
                        path=root.path, own=own[0]),
                   Text("Put {own_dir} before {dir} on LD_LIBRARY_PATH, or remove {path} from "
                        "this image", own_dir=os.path.dirname(own[0]),
                        dir=os.path.dirname(root.path), path=root.path),
                   code="foreign_copy_wins")
    elif len(copies) > 1:
        shadowed = ", ".join(p for p, _ in copies[1:])
        found.warn(Text("{name}: {path} wins; shadowed copies: {shadowed}", name=name,
                        path=root.path, shadowed=shadowed),
                   Text("Remove the shadowed copies of {name} so an LD_LIBRARY_PATH change "
                        "cannot switch libraries silently", name=name), code="shadowed_copies")
    return info


def _deep(ctx: Context, names: list[str], libraries: dict, found: Findings) -> None:
    """dlopen every statically sound library in its own child, in parallel."""
    from sgdoctor.probe.ldso.child import dlopen_each

    sound = [n for n in names if libraries[n].get("path") and not libraries[n].get("errors")
             and None not in libraries[n].get("dependencies", {}).values()]
    for name, load in dlopen_each(sound, ctx.env, ctx.timeout(5.0)).items():
        problem = _child_problem(load)
        libraries[name]["dlopen"] = str(problem) if problem else "ok"
        if problem:
            found.fail(Text("dlopen({name}) in a child Python failed although every file "
                            "resolves: {problem}", name=name, problem=problem),
                       Text("Run {command} to see the whole error; a failing constructor "
                            "usually means a broken driver or SDK install",
                            command=f"python -c 'import ctypes; ctypes.CDLL(\"{name}\")'"),
                       code="dlopen_failed")


def _child_problem(load: ChildLoad) -> Text | None:
    """What went wrong in the child, in words (None: it loaded)."""
    if load.ok:
        return None
    if load.start_error:
        return Text("cannot start {python}: {error}", python=sys.executable,
                    error=load.start_error)
    seconds = f"{load.timeout:.1f}"
    if load.timed_out and load.lingering:
        return Text("did not return within {seconds} s (a library constructor hangs?) and is "
                    "still stuck after SIGKILL", seconds=seconds)
    if load.timed_out:
        return Text("did not return within {seconds} s (a library constructor hangs?)",
                    seconds=seconds)
    if load.signal is not None:
        return Text("the child was killed by signal {signal}", signal=load.signal)
    status = Text("exit status {code}", code=load.returncode)
    return Text("{line} ({status})", line=load.last_line, status=status) if load.last_line \
        else status
