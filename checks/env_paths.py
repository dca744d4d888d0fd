"""``env.path``, ``env.pythonpath``, ``env.ld_library_path``: search-path hygiene.

An empty or relative entry lets the working directory supply programs, modules or
libraries; a world-writable entry lets any user do so; a missing one is usually a typo.
"""

from __future__ import annotations

from sgdoctor.api import CheckFunc, Context, Result, Status, Text, check
from sgdoctor.parse.catalogue import default_text, lookup
from sgdoctor.parse.pathlist import SEPARATORS, assess_path_list, split_path_list


def path_check(name: str) -> CheckFunc:
    """Build the hygiene check for one path-list variable."""

    def run(ctx: Context) -> Result:
        from sgdoctor.probe.paths import facts_for

        value = ctx.env.get(name)
        if value is None:
            entry = lookup(name)
            return Result.skip(Text("{name} is not set; default: {default}", name=name,
                                    default=default_text(entry) if entry else "?"), env=[name])
        entries = split_path_list(value, SEPARATORS[name])
        facts = facts_for(e.raw for e in entries if e.kind == "absolute")
        verdict = assess_path_list(name, value, facts, entries)
        details = {"entries": verdict.value}
        summary = Text("{name}: {meaning}", name=name, meaning=verdict.text)
        if verdict.status is Status.OK:
            return Result.ok(summary, details=details, env=[name])
        return Result.warn(summary, remedy=verdict.remedy_text, details=details, env=[name])

    run.__name__ = f"env_{name.lower()}"
    return run


_TITLES = {"PATH": "Program search path hygiene",
           "PYTHONPATH": "Python module search path hygiene",
           "LD_LIBRARY_PATH": "Shared library search path hygiene"}

CHECKS = [
    check(f"env.{name.lower()}", title=title, env=[name], timeout=2.0, tags=("env",),
          settings={},
          explain=f"Checks every entry of {name}: empty entries (the current directory), "
                  "relative entries, missing directories, world-writable directories and "
                  "duplicates.")(path_check(name))
    for name, title in _TITLES.items()
]
