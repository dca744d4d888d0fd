"""Finds checks: built-in ones, entry points, and a checks directory.

A module contributes every module-level object (or item of a module-level list or
tuple) that carries a check spec, so checks can be declared one by one or generated.

Plugins (entry points and checks-directory modules) are imported under a deadline, each in
a daemon thread: a module that hangs while being imported is a usage error naming it, not
a run that never ends. A usage error rather than an error result, because a module that
never finished importing has declared no check id to hang a result on (nor can --only,
--skip and the config be checked against it), and a module that raises is one already.
"""

from __future__ import annotations

import importlib
import os
import stat
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from types import ModuleType

from sgdoctor.api import SPEC_ATTR, CheckSpec, Text
from sgdoctor.errors import ConfigError
from sgdoctor.records import replace
from sgdoctor.redact import shown_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

ENTRY_POINT_GROUP = "sgdoctor.checks"


def specs_in(obj: object) -> Iterator[CheckSpec]:
    """Specs carried by a module, a decorated function, or a list of them."""
    spec = getattr(obj, SPEC_ATTR, None)
    if isinstance(spec, CheckSpec):
        yield spec
    elif isinstance(obj, ModuleType):
        for value in vars(obj).values():
            if isinstance(value, (list, tuple)):
                for item in value:
                    yield from specs_in(item)
            elif not isinstance(value, ModuleType):
                yield from specs_in(value)


def builtin_specs() -> list[CheckSpec]:
    """The built-in checks, read from sgdoctor.manifest: no check module is imported until
    one of its checks runs (planning a run imported all 26, a fifth of its start)."""
    global _BUILTIN
    if _BUILTIN is None:
        from sgdoctor.manifest import CHECKS

        _BUILTIN = tuple(
            CheckSpec(id=check_id, title=title, func=_Deferred(module, check_id), env=env,
                      timeout=timeout, depends_on=depends_on, tags=tags, explain=explain,
                      settings=settings)
            for module, check_id, title, env, timeout, depends_on, tags, explain, settings
            in CHECKS)
    return list(_BUILTIN)


_BUILTIN: tuple[CheckSpec, ...] | None = None
CHECKS_PACKAGE = "sgdoctor.checks"


class _Deferred:
    """A built-in check's function, standing in until its first call imports the module
    that defines it; then the real function runs."""

    __slots__ = ("check_module", "check_id")  # check_module: sgdoctor.split reads it

    def __init__(self, module: str, check_id: str) -> None:
        self.check_module, self.check_id = module, check_id

    def __call__(self, ctx: Any) -> Any:
        return _defined(self.check_module, self.check_id).func(ctx)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, _Deferred) and other.check_module == self.check_module
                and other.check_id == self.check_id)

    def __hash__(self) -> int:
        return hash((self.check_module, self.check_id))

    def __repr__(self) -> str:
        return f"<check {self.check_id} of {CHECKS_PACKAGE}.{self.check_module}>"


_DECLARED: dict[str, dict[str, CheckSpec]] = {}  # module → its specs by id, once imported


def _defined(module: str, check_id: str) -> CheckSpec:
    """The spec a check module itself declares for ``check_id`` (the module imported; its
    specs listed once, not once per check: env_values declares 31)."""
    declared = _DECLARED.get(module)
    if declared is None:
        loaded = importlib.import_module(f"{CHECKS_PACKAGE}.{module}")
        declared = _DECLARED[module] = {s.id: s for s in specs_in(loaded)}
    spec = declared.get(check_id)
    if spec is None:
        raise LookupError(f"{CHECKS_PACKAGE}.{module} no longer declares {check_id} "
                          "(regenerate sgdoctor/manifest.py: python -m sgdoctor.registry)")
    return spec


def imported_builtin_specs() -> list[tuple[str, CheckSpec]]:
    """(module, spec) of every built-in check, by importing every check module: what
    sgdoctor.manifest is generated from."""
    import sgdoctor.checks as package

    found: list[tuple[str, CheckSpec]] = []
    for name in sorted(_modules_in(package.__path__)):
        module = importlib.import_module(f"{package.__name__}.{name}")
        found.extend((name, spec) for spec in specs_in(module))
    return found


def _tuple_source(items: list[str]) -> str:
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _type_source(kind: Any) -> str:
    if isinstance(kind, tuple):
        return _tuple_source([_type_source(k) for k in kind])
    args = getattr(kind, "__args__", None)
    if getattr(kind, "__origin__", None) is list and args:
        return f"list[{_type_source(args[0])}]"
    return str(kind.__name__)


def manifest_source() -> str:
    """The text of sgdoctor/manifest.py for the check modules as they are now."""
    lines = ["# ruff: noqa: E501",
             '"""The built-in checks as their modules declare them, for planning a run without',
             "importing them. Generated by `python -m sgdoctor.registry`: do not edit",
             '(tests/test_manifest.py fails when it drifts from the check modules)."""',
             "", "CHECKS = ("]
    for module, spec in imported_builtin_specs():
        if spec.source != "built-in":
            raise ValueError(f"{spec.id}: a built-in check with source {spec.source!r}")
        settings = ("None" if spec.settings is None else "()" if not spec.settings else
                    _tuple_source([f"({name!r}, {_type_source(kind)})"
                                   for name, kind in spec.settings]))
        lines += [f"    ({module!r}, {spec.id!r}, {spec.title!r},",
                  f"     {spec.env!r}, {spec.timeout!r}, {spec.depends_on!r}, {spec.tags!r},",
                  f"     {spec.explain!r},",
                  f"     {settings}),"]
    return "\n".join([*lines, ")", ""])


def _modules_in(path: Iterable[str]) -> set[str]:
    """The modules and packages in ``path``, as pkgutil.iter_modules lists them (which
    imports inspect, ast and dis: a tenth of a healthy run's imports)."""
    names = set()
    for directory in path:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            stem, dot, suffix = entry.name.partition(".")
            if not stem.isidentifier() or stem == "__init__":
                continue
            if (dot and suffix == "py" and entry.is_file()) or (
                    not dot and os.path.isfile(os.path.join(entry.path, "__init__.py"))):
                names.add(stem)
    return names


class _Deadline:
    """When plugin imports must be over; None: no limit (library use)."""

    def __init__(self, seconds: float | None) -> None:
        self.at = None if seconds is None else time.monotonic() + seconds
        self.seconds = seconds

    def left(self) -> float | None:
        return None if self.at is None else max(0.0, self.at - time.monotonic())


def _bounded(load: Any, what: str | Text, deadline: _Deadline) -> Any:
    """load() in a daemon thread, waited for until the deadline; its exception re-raised."""
    if deadline.at is None:
        return load()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = load()
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, name=f"import {what}", daemon=True)
    worker.start()
    worker.join(deadline.left())
    if worker.is_alive():
        raise ConfigError(Text("{what} did not finish importing within the run's {seconds} s "
                               "timeout (it hangs while being imported)", what=what,
                               seconds=f"{deadline.seconds:g}"))
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def entry_point_specs(deadline: _Deadline | None = None) -> list[CheckSpec]:
    from sgdoctor.entrypoints import entry_points
    from sgdoctor.syspath import prune_sys_path

    prune_sys_path()  # a FIFO or device on sys.path would hang the metadata scan
    deadline = deadline or _Deadline(None)
    specs: list[CheckSpec] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = _bounded(ep.load, Text("entry point {name} ({value})", name=repr(ep.name),
                                            value=ep.value), deadline)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(Text(
                "entry point {name} ({value}) of group {group} failed to load: {error}",
                name=repr(ep.name), value=ep.value, group=ENTRY_POINT_GROUP,
                error=f"{type(exc).__name__}: {exc}")) from None
        specs.extend(replace(s, source=f"entry point {ep.name}") for s in specs_in(loaded))
    return specs


def _load_file_module(path: Path, deadline: _Deadline | None = None) -> ModuleType:
    import importlib.util

    name = f"sgdoctor_plugin_{path.stem}_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(Text("cannot load check module {path}", path=shown_path(path)))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader = spec.loader
    try:
        _bounded(lambda: loader.exec_module(module),
                 Text("check module {path}", path=shown_path(path)), deadline or _Deadline(None))
    except ConfigError:
        sys.modules.pop(name, None)
        raise
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ConfigError(Text("check module {path} failed to import: {error}",
                               path=shown_path(path),
                               error=f"{type(exc).__name__}: {exc}")) from None
    return module


def _is_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except (OSError, ValueError):  # ENAMETOOLONG, ELOOP, a vanished entry
        return False


def directory_specs(directory: str, deadline: _Deadline | None = None) -> list[CheckSpec]:
    """`.py` modules and Nagios-protocol executables from a checks directory."""
    from pathlib import Path

    from sgdoctor.external import nagios_spec

    root = Path(directory)
    try:
        is_dir = stat.S_ISDIR(root.stat().st_mode)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or Text("an invalid path")
        raise ConfigError(Text("checks directory {path}: {reason}", path=shown_path(directory),
                               reason=reason)) from None
    if not is_dir:
        raise ConfigError(Text("checks directory {path} is not a directory",
                               path=shown_path(directory)))
    specs: list[CheckSpec] = []
    try:
        entries = sorted(root.iterdir())
    except OSError as exc:
        raise ConfigError(Text("cannot read checks directory {path}: {error}",
                               path=shown_path(directory), error=exc.strerror)) from None
    for path in entries:
        if path.name.startswith((".", "_")) or not _is_file(path):
            continue
        if path.suffix == ".py":
            module = _load_file_module(path, deadline)
            specs.extend(replace(s, source=f"dir {path}") for s in specs_in(module))
        elif os.access(path, os.X_OK):
            specs.append(nagios_spec(path))
    return specs


def discover(checks_dirs: Iterable[str] = (), *, entry_points: bool = True,
             import_timeout: float | None = None) -> list[CheckSpec]:
    """Every check this run knows of, in a stable order; duplicate ids are a config error.
    With `import_timeout`, plugin imports together must end within that many seconds."""
    deadline = _Deadline(import_timeout)
    specs = builtin_specs()
    if entry_points:
        specs += entry_point_specs(deadline)
    for directory in checks_dirs:
        specs += directory_specs(directory, deadline)
    seen: dict[str, CheckSpec] = {}
    for spec in specs:
        if spec.id in seen:
            raise ConfigError(Text("duplicate check id {id}: defined by {first} and by {second}",
                                   id=repr(spec.id), first=seen[spec.id].source,
                                   second=spec.source))
        seen[spec.id] = spec
    return specs



if __name__ == "__main__":  # python -m sgdoctor.registry: regenerate sgdoctor/manifest.py
    from pathlib import Path

    target = Path(__file__).with_name("manifest.py")
    target.write_text(manifest_source(), encoding="utf-8")
    print(f"wrote {target}")
