"""``env.<name>``: one check per catalogue variable whose value has a rule of its own.

Generated from the catalogue: each check reads one variable (plus the few it depends on),
runs the parser that mirrors the variable's reader, and reports what the reader will do.
Variables judged by probing checks (gloo, etcd, nats, maca.*, expert_record) and the path
lists (checks/env_paths.py) are not generated here.
"""

from __future__ import annotations

from sgdoctor.api import CheckFunc, Context, Result, Status, check
from sgdoctor.parse.catalogue import Entry, entries
from sgdoctor.parse.verdict import shown


def value_check(entry: Entry) -> CheckFunc:
    """Build the check function for one catalogue entry."""

    def run(ctx: Context) -> Result:
        env = (entry.name, *entry.reads)
        value = ctx.env.get(entry.name)
        if value is None:
            return Result.skip(f"{entry.name} is not set; default: {entry.default}", env=env)
        assert entry.parse is not None
        verdict = entry.parse(value, ctx.env)
        shown_value = "***" if entry.secret else shown(value, 60)
        summary = f"{entry.name}={shown_value} → {verdict.meaning}"
        details = {"value": shown_value, "reader": entry.consumer}
        if verdict.value is not None and not entry.secret:
            details["effective"] = verdict.value
        if verdict.status is Status.OK:
            return Result.ok(summary, details=details, env=env)
        make = Result.fail if verdict.status is Status.FAIL else Result.warn
        return make(summary, remedy=verdict.remedy, details=details, env=env)

    run.__name__ = f"env_{entry.name.lower()}"
    run.__doc__ = f"{entry.meaning_en}\n\nParsed as: {entry.rule}."
    return run


CHECKS = [
    check(entry.check, title=entry.title, env=(entry.name, *entry.reads), timeout=1.0,
          tags=("env",))(value_check(entry))
    for entry in entries()
    if entry.has_env_check and entry.parse is not None
]
