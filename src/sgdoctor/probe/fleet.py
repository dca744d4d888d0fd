"""The facts of this node that must match across a fleet: MACA version and MACA libraries.

They are read the way maca.sdk and maca.libs read them: Version.txt's first line as mcoplib
parses it, and each required library as a dlopen from this Python would resolve it (soname
and path; nothing is loaded).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from sgdoctor.parse.maca import parse_version_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def maca_version(maca_dir: str) -> str | None:
    """The MACA version mcoplib would read from ``maca_dir``/Version.txt, or None."""
    from sgdoctor.probe.maca import read_head

    head = read_head(os.path.join(maca_dir, "Version.txt"))
    if head.problem is not None or not head.text:
        return None
    version = parse_version_text(head.text)
    return version.raw if version else None


def libraries(env: Mapping[str, str], names: list[str]) -> dict[str, dict[str, Any]]:
    """{name: {"soname", "path"}} as a dlopen would find them; "error" when not found."""
    from sgdoctor.probe.ldso import LoaderError
    from sgdoctor.probe.ldso.resolver import Resolver

    try:
        resolver = Resolver(env)
    except (LoaderError, OSError) as exc:
        return {name: {"error": f"cannot model the dynamic loader: {exc}"} for name in names}
    found: dict[str, dict[str, Any]] = {}
    for name in names:
        try:
            result = resolver.dlopen(name)
        except (LoaderError, OSError) as exc:
            found[name] = {"error": str(exc)}
            continue
        if result.root is None:
            found[name] = {"soname": None, "path": None}
        else:
            found[name] = {"soname": result.root.obj.soname, "path": result.root.path}
    return found


def node_facts(env: Mapping[str, str], maca_dir: str, names: list[str],
               deadline: float) -> tuple[str | None, dict[str, Any], str | None]:
    """(MACA version, libraries, problem) within ``deadline`` (files only, no network)."""
    from sgdoctor.probe.parallel import run_all

    def collect() -> tuple[str | None, dict[str, Any], str | None]:
        return maca_version(maca_dir), libraries(env, names), None

    def fallback(_: int, exc: BaseException | None) -> tuple[str | None, dict[str, Any], str]:
        why = "took too long" if exc is None else f"failed: {type(exc).__name__}: {exc}"
        return None, {}, f"reading the MACA version and libraries {why}"

    return run_all([collect], max(time.monotonic(), deadline), fallback)[0]
