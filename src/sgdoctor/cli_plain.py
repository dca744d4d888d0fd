"""The default command's plain argv, read without typer.

typer and click cost more than Python's own start. ``sgdoctor`` with nothing but the check
command's own options, each in its plain form (``--format json --skip maca.devices``), means
exactly one thing, so it is read here; every other argv — a subcommand, a short option
bundle, a repeated single option, a value that looks like an option, ``--help`` — goes to
typer, which also owns every usage error. Standard library only: the entry reads argv
before anything heavy is imported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# The default command's options: flag name -> (keyword, kind). Kinds: "value" (one string,
# given once), "list" (repeatable), "flag" (a bool, no value).
_CHECK_OPTIONS: Mapping[str, tuple[str, str]] = {
    "--format": ("format", "value"), "-f": ("format", "value"),
    "--output": ("output", "value"), "-o": ("output", "value"),
    "--only": ("only", "list"), "--skip": ("skip", "list"), "--ignore": ("ignore", "list"),
    "--fail-on": ("fail_on", "value"), "--timeout": ("timeout", "value"),
    "--checks-dir": ("checks_dir", "list"), "--config": ("config", "value"),
    "--verbose": ("verbose", "flag"), "-v": ("verbose", "flag"),
    "--no-color": ("no_color", "flag"), "--deep": ("deep", "flag"),
    "--wait": ("wait", "value"), "--interval": ("interval", "value"),
    "--host-root": ("host_root", "value"), "--lang": ("lang", "value"),
    "--python": ("python", "value"),
}
_COMPLETION_VARIABLE = "_SGDOCTOR_COMPLETE"  # click's shell completion: typer answers it


def plain_check_flags(argv: Sequence[str], env: Mapping[str, str]) -> dict[str, Any] | None:
    """The default command's keyword arguments for ``argv``, exactly as typer would pass
    them; None when typer must read ``argv`` (anything but the plain forms)."""
    if _COMPLETION_VARIABLE in env:
        return None
    flags: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        name, eq, value = token.partition("=") if token.startswith("--") else (token, "", "")
        known = _CHECK_OPTIONS.get(name)
        if known is None:
            return None  # a subcommand, --help, --version, --, a bundle, a typo
        keyword, kind = known
        if kind == "flag":
            if eq or keyword in flags:
                return None
            flags[keyword] = True
            i += 1
            continue
        if not eq:
            if i + 1 >= len(argv):
                return None
            value = argv[i + 1]
            i += 1
        i += 1
        if value.startswith("-"):
            return None
        if kind == "list":
            flags.setdefault(keyword, []).append(value)
        elif keyword in flags:
            return None
        else:
            flags[keyword] = value
    return flags
