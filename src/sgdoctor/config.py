"""The TOML config file: the same options as the flags, plus per-check settings.

Looked up at --config, else $SGDOCTOR_CONFIG (an empty value means "no file"), else
/etc/sgdoctor/config.toml when it exists. Unknown keys are errors: a typo must not
silently turn a check off.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sgdoctor.errors import ConfigError

DEFAULT_PATH = "/etc/sgdoctor/config.toml"

_TYPES: dict[str, type | tuple[type, ...]] = {
    "format": str, "output": str, "timeout": (int, float, str), "fail_on": str,
    "only": list, "skip": list, "ignore": dict, "checks_dir": (str, list), "verbose": bool,
    "color": bool, "wait": (int, float, str), "interval": (int, float, str), "deep": bool,
    "checks": dict,
}


@dataclass
class FileConfig:
    """What the config file said; `path` is None when there was no file."""

    path: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)


def _toml_loads(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    return tomllib.loads(text)


def config_path(explicit: str | None, env: Mapping[str, str]) -> str | None:
    if explicit:
        return explicit
    if "SGDOCTOR_CONFIG" in env:
        return env["SGDOCTOR_CONFIG"] or None
    return DEFAULT_PATH if os.path.exists(DEFAULT_PATH) else None


def load(explicit: str | None, env: Mapping[str, str]) -> FileConfig:
    path = config_path(explicit, env)
    if path is None:
        return FileConfig()
    try:
        with open(path, "rb") as fh:
            text = fh.read(1 << 20).decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    try:
        data = _toml_loads(text)
    except ValueError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    for key, value in data.items():
        if key not in _TYPES:
            raise ConfigError(f"config file {path}: unknown option {key!r} "
                              f"(known: {', '.join(sorted(_TYPES))})")
        if not isinstance(value, _TYPES[key]):
            raise ConfigError(f"config file {path}: option {key!r} has the wrong type "
                              f"({type(value).__name__})")
    checks = data.pop("checks", {})
    for check_id, section in checks.items():
        if not isinstance(section, dict):
            raise ConfigError(f"config file {path}: [checks.{check_id!r}] must be a table")
    return FileConfig(path=path, options=data, checks=checks)
