"""Per-check settings (``[checks."<id>"]`` in the config file) read with one set of rules:
a wrong type or a negative number is a ValueError naming the setting, never a silent default.

Sizes may be written as a number of bytes or with a binary unit, as operators write them
for Docker and Kubernetes: ``1073741824``, ``"1GiB"``, ``"512Mi"``, ``"64m"``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sgdoctor.api import Context, Text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["size_setting", "int_setting", "choice_setting", "ints_setting", "parse_size",
           "SettingError", "setting_error"]

_SIZE = re.compile(r"\s*(\d{1,15})\s*([kmgt]?)(?:i?b?)?\s*", re.IGNORECASE)
_SHIFT = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}


class SettingError(ValueError):
    """A setting of the wrong shape; `text` is the message as a translatable template."""

    def __init__(self, text: Text) -> None:
        super().__init__(str(text))
        self.text = text


def setting_error(check_id: str, exc: ValueError) -> Text:
    """The check's error summary for a bad setting: the config section, then what is wrong."""
    return Text("{section} {error}", section=f'[checks."{check_id}"]',
                error=exc.text if isinstance(exc, SettingError) else str(exc))


def parse_size(value: Any) -> int | None:
    """Bytes from an int or a string such as ``"8GiB"``; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str):
        match = _SIZE.fullmatch(value)
        if match:
            return int(match.group(1)) << _SHIFT[match.group(2).lower()]
    return None


def size_setting(ctx: Context, name: str, default: int) -> int:
    value = ctx.setting(name, default)
    size = parse_size(value)
    if size is None:
        raise SettingError(Text("setting {name}={value} must be a size in bytes (e.g. "
                                "1073741824 or \"1GiB\")", name=name, value=repr(value)))
    return size


def int_setting(ctx: Context, name: str, default: int, *, minimum: int = 0) -> int:
    value = ctx.setting(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SettingError(Text("setting {name}={value} must be an integer of at least "
                                "{minimum}", name=name, value=repr(value), minimum=minimum))
    return value


def choice_setting(ctx: Context, name: str, default: str, choices: Iterable[str]) -> str:
    allowed = tuple(choices)
    value = ctx.setting(name, default)
    if value not in allowed:
        raise SettingError(Text("setting {name}={value} must be one of {allowed}", name=name,
                                value=repr(value), allowed=", ".join(allowed)))
    return str(value)


def ints_setting(ctx: Context, name: str, *, low: int = 1, high: int = 65535) -> list[int]:
    value = ctx.setting(name, [])
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in value):
        raise SettingError(Text("setting {name}={value} must be a list of integers from "
                                "{low} to {high}", name=name, value=repr(value), low=low,
                                high=high))
    return list(value)
