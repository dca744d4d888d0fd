"""Durations as users write them: `10`, `10s`, `1500ms`, `2m`, `1h` (flags and config)."""

from __future__ import annotations

import re

from sgdoctor.api import Text
from sgdoctor.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any, option: str) -> float:
    """Seconds; anything else, or zero, is a usage error naming the option."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ConfigError(Text("{option} {value} is not a duration (e.g. 10, 10s, 500ms, "
                                   "2m)", option=option, value=repr(value)))
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if seconds <= 0:
        raise ConfigError(Text("{option} must be more than zero", option=option))
    return seconds
