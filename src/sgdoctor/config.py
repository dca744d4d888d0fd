"""The TOML config file: the same options as the flags, plus per-check settings.

Looked up at --config, else $SGDOCTOR_CONFIG (an empty value means "no file"), else
/etc/sgdoctor/config.toml when it exists. Unknown keys are errors: a typo must not
silently turn a check off.

The file is opened non-blocking and must be a regular file: a FIFO, a device (/dev/zero)
or a directory named by $SGDOCTOR_CONFIG is a usage error at once, never a hang, and at
most MAX_BYTES are read.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping

from sgdoctor.api import Text
from sgdoctor.errors import ConfigError
from sgdoctor.probe.files import NotRegular, TooLarge, open_nonblocking, read_regular
from sgdoctor.records import dataclass, field
from sgdoctor.redact import shown_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_PATH = "/etc/sgdoctor/config.toml"
MAX_BYTES = 1 << 20

_TYPES: dict[str, type | tuple[type, ...]] = {
    "format": str, "output": str, "timeout": (int, float, str), "fail_on": str,
    "only": list, "skip": list, "ignore": dict, "checks_dir": (str, list), "verbose": bool,
    "color": bool, "wait": (int, float, str), "interval": (int, float, str), "deep": bool,
    "checks": dict, "lang": str, "python": str, "consumers": dict,
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


def _read_regular(path: str) -> bytes:
    """The file's bytes; a ConfigError for anything but a readable regular file."""
    try:
        return read_regular(open_nonblocking(path), MAX_BYTES)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or Text("not a valid path")
        raise ConfigError(Text("cannot read config file {path}: {reason}",
                               path=shown_path(path), reason=reason)) from None
    except NotRegular as exc:
        mode = exc.mode
        kind = (Text("a directory") if stat.S_ISDIR(mode) else
                Text("a FIFO") if stat.S_ISFIFO(mode) else
                Text("a device") if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
                Text("a socket") if stat.S_ISSOCK(mode) else Text("not a regular file"))
        raise ConfigError(Text("config file {path} is {kind}, not a regular file",
                               path=shown_path(path), kind=kind)) from None
    except TooLarge:
        raise ConfigError(Text("config file {path} is larger than {size} KiB",
                               path=shown_path(path), size=MAX_BYTES // 1024)) from None


def load(explicit: str | None, env: Mapping[str, str]) -> FileConfig:
    path = config_path(explicit, env)
    if path is None:
        return FileConfig()
    try:
        text = _read_regular(path).decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(Text("config file {path} is not UTF-8 text",
                               path=shown_path(path))) from None
    try:
        data = _toml_loads(text)
    except ValueError as exc:
        raise ConfigError(Text("config file {path} is not valid TOML: {error}",
                               path=shown_path(path), error=str(exc))) from None
    for key, value in data.items():
        if key not in _TYPES:
            raise ConfigError(Text("config file {path}: unknown option {key} (known: {known})",
                                   path=shown_path(path), key=repr(key),
                                   known=", ".join(sorted(_TYPES))))
        if not isinstance(value, _TYPES[key]):
            raise ConfigError(Text("config file {path}: option {key} has the wrong type "
                                   "({type})", path=shown_path(path), key=repr(key),
                                   type=type(value).__name__))
    checks = data.pop("checks", {})
    for check_id, section in checks.items():
        if not isinstance(section, dict):
            raise ConfigError(Text("config file {path}: [checks.{id}] must be a table",
                                   path=shown_path(path), id=repr(check_id)))
    return FileConfig(path=path, options=data, checks=checks)
