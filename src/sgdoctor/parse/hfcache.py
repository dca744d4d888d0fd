"""Where huggingface_hub puts what it downloads, resolved from an environment snapshot the
way ``huggingface_hub.constants`` does it; no I/O here.

``HF_HOME`` = ``$HF_HOME``, else ``$XDG_CACHE_HOME/huggingface``, else
``~/.cache/huggingface``; ``HF_HUB_CACHE`` = ``$HF_HUB_CACHE``, else the legacy
``$HUGGINGFACE_HUB_CACHE``, else ``$HF_HOME/hub``. Both go through ``expanduser`` and
``expandvars``. A model given as a hub id (``org/name``) is downloaded into HF_HUB_CACHE.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["hf_home", "hf_hub_cache", "is_hub_id"]

_VAR = re.compile(r"\$(\w+|\{[^}]*\})")
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def _expandvars(value: str, env: Mapping[str, str]) -> str:
    """os.path.expandvars against a snapshot: unknown variables are left as they are."""
    def sub(match: re.Match[str]) -> str:
        name = match.group(1).strip("{}")
        return env.get(name, match.group(0))
    return _VAR.sub(sub, value)


def _expanduser(value: str, env: Mapping[str, str]) -> str | None:
    """``~`` and ``~/…`` from HOME; None when HOME is unknown (``~user`` is left alone)."""
    if value == "~" or value.startswith("~/"):
        home = env.get("HOME")
        if not home:
            return None
        return home.rstrip("/") + value[1:] if home != "/" else value[1:] or "/"
    return value


def _resolve(value: str, env: Mapping[str, str]) -> str | None:
    expanded = _expanduser(value, env)
    return None if expanded is None else _expandvars(expanded, env)


def hf_home(env: Mapping[str, str]) -> str | None:
    value = env.get("HF_HOME")
    if value is None:
        cache = env.get("XDG_CACHE_HOME") or "~/.cache"
        value = cache.rstrip("/") + "/huggingface"
    return _resolve(value, env)


def hf_hub_cache(env: Mapping[str, str]) -> str | None:
    value = env.get("HF_HUB_CACHE", env.get("HUGGINGFACE_HUB_CACHE"))
    if value is None:
        home = hf_home(env)
        return None if home is None else home.rstrip("/") + "/hub"
    return _resolve(value, env)


def is_hub_id(model: str) -> bool:
    """``org/name`` that is not a filesystem path (no leading ``/``, ``.`` or ``~``)."""
    return bool(_HUB_ID.fullmatch(model)) and not model.startswith((".", "~"))
