"""Finds checks: built-in ones, entry points, and a checks directory.

A module contributes every module-level object (or item of a module-level list or
tuple) that carries a check spec, so checks can be declared one by one or generated.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType

from sgdoctor.api import SPEC_ATTR, CheckSpec
from sgdoctor.errors import ConfigError

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
    import sgdoctor.checks as package

    specs: list[CheckSpec] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        specs.extend(specs_in(module))
    return specs


def entry_point_specs() -> list[CheckSpec]:
    from importlib.metadata import entry_points

    specs: list[CheckSpec] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
        except Exception as exc:
            raise ConfigError(
                f"entry point {ep.name!r} ({ep.value}) of group {ENTRY_POINT_GROUP} failed to "
                f"load: {type(exc).__name__}: {exc}") from None
        specs.extend(replace(s, source=f"entry point {ep.name}") for s in specs_in(loaded))
    return specs


def _load_file_module(path: Path) -> ModuleType:
    name = f"sgdoctor_plugin_{path.stem}_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load check module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ConfigError(
            f"check module {path} failed to import: {type(exc).__name__}: {exc}") from None
    return module


def directory_specs(directory: str) -> list[CheckSpec]:
    """`.py` modules and Nagios-protocol executables from a checks directory."""
    from sgdoctor.external import nagios_spec

    root = Path(directory)
    if not root.is_dir():
        raise ConfigError(f"checks directory {directory} does not exist or is not a directory")
    specs: list[CheckSpec] = []
    try:
        entries = sorted(root.iterdir())
    except OSError as exc:
        raise ConfigError(f"cannot read checks directory {directory}: {exc.strerror}") from None
    for path in entries:
        if path.name.startswith((".", "_")) or not path.is_file():
            continue
        if path.suffix == ".py":
            module = _load_file_module(path)
            specs.extend(replace(s, source=f"dir {path}") for s in specs_in(module))
        elif os.access(path, os.X_OK):
            specs.append(nagios_spec(path))
    return specs


def discover(checks_dirs: Iterable[str] = (), *, entry_points: bool = True) -> list[CheckSpec]:
    """Every check this run knows of, in a stable order; duplicate ids are a config error."""
    specs = builtin_specs()
    if entry_points:
        specs += entry_point_specs()
    for directory in checks_dirs:
        specs += directory_specs(directory)
    seen: dict[str, CheckSpec] = {}
    for spec in specs:
        if spec.id in seen:
            raise ConfigError(
                f"duplicate check id {spec.id!r}: defined by {seen[spec.id].source} "
                f"and by {spec.source}")
        seen[spec.id] = spec
    return specs

