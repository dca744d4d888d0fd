"""Search-path strings as ld.so splits and expands them (pure: no I/O)."""

from __future__ import annotations

import re

_DST = re.compile(r"\$(?:\{(ORIGIN|LIB|PLATFORM)\}|(ORIGIN|LIB|PLATFORM)(?![A-Za-z0-9_]))")


def expand_tokens(text: str, *, origin: str | None, lib: str, platform: str) -> str | None:
    """Replace $ORIGIN/$LIB/$PLATFORM (and ${...}); None when $ORIGIN is unknown
    (ld.so then drops the element). Unknown ``$NAME`` stays literal, as in glibc."""
    if "$" not in text:
        return text
    values = {"ORIGIN": origin, "LIB": lib, "PLATFORM": platform}
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        value = values[match.group(1) or match.group(2)]
        if value is None:
            missing = True
            return ""
        return value

    out = _DST.sub(replace, text)
    return None if missing else out


def split_search_path(value: str, *, separators: str, origin: str | None, lib: str,
                      platform: str) -> list[str]:
    """Directories of an LD_LIBRARY_PATH / DT_RPATH / DT_RUNPATH value, as fillin_rpath makes
    them: an empty element is the current directory (returned as ""), an element whose
    expansion is empty is dropped, trailing slashes go (except for "/"), duplicates go."""
    out: list[str] = []
    for element in re.split(f"[{re.escape(separators)}]", value):
        directory = element
        if element:
            expanded = expand_tokens(element, origin=origin, lib=lib, platform=platform)
            if not expanded:
                continue
            directory = expanded.rstrip("/") or "/"
        if directory not in out:
            out.append(directory)
    return out


def join(directory: str, subdir: str, name: str) -> str:
    """The file name ld.so opens: dirname + "/" + capability subdirectory + name."""
    prefix = "" if not directory else directory if directory.endswith("/") else directory + "/"
    return f"{prefix}{subdir}/{name}" if subdir else f"{prefix}{name}"
