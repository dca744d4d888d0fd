"""Which checks run: --only / --skip / --ignore patterns (ids or globs) over the known specs.

A pattern that matches nothing is a usage error with a "did you mean": a typo must never
silently turn a check off, nor run nothing and pass.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence

from sgdoctor.api import CheckSpec, Text
from sgdoctor.errors import ConfigError
from sgdoctor.settings import did_you_mean


def _unmatched(option: str, pattern: str, ids: Sequence[str]) -> ConfigError:
    return ConfigError(Text("{option} {pattern} matches no check{hint} (see `sgdoctor list`)",
                            option=option, pattern=repr(pattern),
                            hint=did_you_mean(pattern, ids)))


def _matches(check_id: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(check_id, p) for p in patterns)


def select(specs: Sequence[CheckSpec], only: Sequence[str] = (),
           skip: Sequence[str] = ()) -> list[CheckSpec]:
    """The specs --only keeps and --skip does not drop, in their given order."""
    ids = [s.id for s in specs]
    for option, patterns in (("--only", only), ("--skip", skip)):
        for pattern in patterns:
            if not fnmatch.filter(ids, pattern):
                raise _unmatched(option, pattern, ids)
    chosen = [s for s in specs
              if (not only or _matches(s.id, only)) and not _matches(s.id, skip)]
    if (only or skip) and not chosen:
        given = " ".join([*(f"--only {p}" for p in only), *(f"--skip {p}" for p in skip)])
        raise ConfigError(Text("{given} selects no check: nothing would run", given=given))
    return chosen


def expand_ignores(specs: Sequence[CheckSpec], ignore: Mapping[str, str]) -> dict[str, str]:
    """--ignore patterns as exact ids; a pattern that matches no known check is an error."""
    ids = [s.id for s in specs]
    for pattern in ignore:
        if not fnmatch.filter(ids, pattern):
            raise _unmatched("--ignore", pattern, ids)
    return {s.id: reason for pattern, reason in ignore.items()
            for s in specs if fnmatch.fnmatchcase(s.id, pattern)}
