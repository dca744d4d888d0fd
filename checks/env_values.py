"""``env.<name>``: one check per catalogue variable whose value has a rule of its own.

Generated from the catalogue: each check reads one variable (plus the few it depends on),
runs the parser that mirrors the variable's reader, and reports what the reader will do.
A rule verified against one release of its consumer says so, and says whether that release
is the one installed in the server's Python environment or only assumed (probe.consumers).
Variables judged by probing checks (gloo, etcd, nats, maca.*, expert_record) and the path
lists (checks/env_paths.py) are not generated here.
"""

from __future__ import annotations

from typing import Any

from sgdoctor.api import CheckFunc, Context, Findings, Result, Status, check
from sgdoctor.parse.catalogue import Entry, entries
from sgdoctor.parse.verdict import shown

_NAMES = {"dynamo": "Dynamo", "torch": "PyTorch", "nvshmem": "NVSHMEM", "sglang": "SGLang",
          "triton": "Triton", "mctriton": "mcTriton"}
_DEFAULT_CODES = {Status.FAIL: "invalid_value", Status.WARN: "questionable_value"}


def release_of(entry: Entry, ctx: Context) -> tuple[str | None, str, dict[str, Any]]:
    """The installed release of the entry's consumer, a note for the summary, and details."""
    if entry.package is None:
        return None, "", {}
    from sgdoctor.probe.consumers import for_options

    consumers = for_options(ctx.options, ctx.env, timeout=ctx.timeout(2.0))
    release = consumers.found.get(entry.package)
    name = _NAMES.get(entry.package, entry.package)
    info: dict[str, Any] = {"consumer": entry.package, "verified": entry.verified,
                            "installed": release.version if release else None,
                            "python": consumers.python}
    if release is None:
        why = (consumers.error.message if consumers.error
               else f"none installed for {consumers.describe()}")
        return None, f" (assumed {name} {entry.verified}: {why})", info
    if entry.verified and not release.version.startswith(entry.verified):
        return release.version, (f" (rule verified for {name} {entry.verified}; installed "
                                 f"{release.version} may differ)"), info
    return release.version, f" ({name} {release.version})", info


def value_check(entry: Entry) -> CheckFunc:
    """Build the check function for one catalogue entry."""

    def run(ctx: Context) -> Result:
        env = (entry.name, *entry.reads)
        value = ctx.env.get(entry.name)
        if value is None:
            return Result.skip(f"{entry.name} is not set; default: {entry.default}", env=env)
        assert entry.parse is not None
        release, note, release_info = release_of(entry, ctx)
        verdict = entry.parse(value, ctx.env, release)
        shown_value = "***" if entry.secret else shown(value, 60)
        summary = f"{entry.name}={shown_value} → {verdict.meaning}{note}"
        details: dict[str, Any] = {"value": shown_value, "reader": entry.consumer}
        if verdict.value is not None and not entry.secret:
            details["effective"] = verdict.value
        if release_info:
            details["release"] = release_info
        found = Findings()
        if verdict.status is not Status.OK:
            found.add(verdict.status, summary, verdict.remedy,
                      code=verdict.code or _DEFAULT_CODES[verdict.status])
        return found.result(summary, details=details, env=env)

    run.__name__ = f"env_{entry.name.lower()}"
    run.__doc__ = f"{entry.meaning_en}\n\nParsed as: {entry.rule}."
    return run


CHECKS = [
    check(entry.check, title=entry.title, env=(entry.name, *entry.reads),
          timeout=3.0 if entry.package else 1.0,
          tags=("env",), settings={})(value_check(entry))
    for entry in entries()
    if entry.has_env_check and entry.parse is not None
]
