"""``env.<name>``: one check per catalogue variable whose value has a rule of its own.

Generated from the catalogue: each check reads one variable (plus the few it depends on),
runs the parser that mirrors the variable's reader, and reports what the reader will do.
A rule verified against one release of its consumer says so, and says whether that release
is the one installed in the server's Python environment or only assumed (probe.consumers).
The NVSHMEM variables also read NVSHMEM's configuration files, which beat the environment.
Variables judged by probing checks (gloo, etcd, nats, maca.*, expert_record) and the path
lists (checks/env_paths.py) are not generated here.
"""

from __future__ import annotations

from typing import Any

from sgdoctor.api import CheckFunc, Context, Findings, Result, Status, check
from sgdoctor.parse import nvshmem
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


def _summary(entry: Entry, value: str, meaning: str, note: str, where: str = "") -> str:
    shown_value = "***" if entry.secret else shown(value, 60)
    return f"{entry.name}={shown_value}{where} → {meaning}{note}"


def nvshmem_check(entry: Entry) -> CheckFunc:
    """NVSHMEM 3.8.0 reads its configuration files before the environment: judge the value
    it will really use, and warn when a file silently overrides the environment."""

    def run(ctx: Context) -> Result:
        from sgdoctor.probe.nvshmem import read_conf_files

        env = (entry.name, "NVSHMEM_CONF_FILE", "HOME")
        files = read_conf_files(ctx.env)
        setting = nvshmem.effective(entry.name, ctx.env, files)
        found = Findings()
        for conf in files:
            if conf.error:
                found.warn(f"cannot read {shown(conf.path, 120)} ({conf.error}), which NVSHMEM "
                           f"reads at init: {entry.name} may come from there",
                           f"Make {shown(conf.path, 120)} readable by the server's user or "
                           "remove it", code="conf_unreadable")
        details: dict[str, Any] = {
            "source": setting.source, "reader": entry.consumer,
            "files": [{"path": shown(c.path, 200), "present": c.text is not None,
                       "error": c.error} for c in files]}
        if setting.value is None:
            text = (f"{entry.name} is not set; default: {entry.default} (no NVSHMEM "
                    "configuration file sets it either)")
            if not len(found):
                return Result.skip(text, details=details, env=env)
            return found.result(text, details=details, env=env)
        release, note, release_info = release_of(entry, ctx)
        assert entry.parse is not None  # only entries with a parser get an env.* check
        verdict = entry.parse(setting.value, ctx.env, release)
        from_file = setting.source != "the environment"
        summary = _summary(entry, setting.value, verdict.meaning, note,
                           f" (from {shown(setting.source, 120)})" if from_file else "")
        details.update(value=shown(setting.value, 60), effective=verdict.value,
                       release=release_info)
        if from_file and setting.env_value is not None and setting.env_value != setting.value:
            found.warn(f"{shown(setting.source, 120)} sets {entry.name}="
                       f"{shown(setting.value, 60)}, which beats the environment's "
                       f"{entry.name}={shown(setting.env_value, 60)}: NVSHMEM uses "
                       f"{verdict.meaning}", f"Remove {entry.name} from "
                       f"{shown(setting.source, 120)}, or set the value you want there",
                       code="conf_overrides_env")
        if verdict.status is not Status.OK:
            found.add(verdict.status, summary, verdict.remedy,
                      code=verdict.code or _DEFAULT_CODES[verdict.status])
        return found.result(summary, details=details, env=env)

    run.__name__ = f"env_{entry.name.lower()}"
    run.__doc__ = (f"{entry.meaning_en}\n\nParsed as: {entry.rule}. NVSHMEM's configuration "
                   "files are read too.")
    return run


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
        summary = _summary(entry, value, verdict.meaning, note)
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


def _build(entry: Entry) -> CheckFunc:
    if entry.package == "nvshmem":
        return check(entry.check, title=entry.title,
                     env=(entry.name, "NVSHMEM_CONF_FILE", "HOME"), timeout=3.0,
                     tags=("env",), settings={})(nvshmem_check(entry))
    return check(entry.check, title=entry.title, env=(entry.name, *entry.reads),
                 timeout=3.0 if entry.package else 1.0, tags=("env",),
                 settings={})(value_check(entry))


CHECKS = [_build(entry) for entry in entries() if entry.has_env_check and entry.parse is not None]
