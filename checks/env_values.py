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

from sgdoctor.api import CheckFunc, Context, Findings, Result, Status, Text, check
from sgdoctor.parse import nvshmem
from sgdoctor.parse.catalogue import Entry, default_text, entries
from sgdoctor.parse.verdict import shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_NAMES = {"dynamo": "Dynamo", "torch": "PyTorch", "nvshmem": "NVSHMEM", "sglang": "SGLang",
          "triton": "Triton", "mctriton": "mcTriton"}
_DEFAULT_CODES = {Status.FAIL: "invalid_value", Status.WARN: "questionable_value"}


def release_of(entry: Entry, ctx: Context) -> tuple[str | None, str | Text, dict[str, Any]]:
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
               else Text("none installed for {python}", python=consumers.describe()))
        return None, Text(" (assumed {name} {verified}: {why})", name=name,
                          verified=entry.verified, why=why), info
    if entry.verified and not release.version.startswith(entry.verified):
        return release.version, Text(" (rule verified for {name} {verified}; installed "
                                     "{installed} may differ)", name=name,
                                     verified=entry.verified, installed=release.version), info
    return release.version, f" ({name} {release.version})", info


def _summary(entry: Entry, value: str, meaning: Text, note: str | Text,
             where: str | Text = "") -> Text:
    """``NAME=value → what the reader does``: the value and name verbatim, the rest
    translated."""
    shown_value = "***" if entry.secret else shown(value, 60)
    return Text("{setting}{where} → {meaning}{note}", setting=f"{entry.name}={shown_value}",
                where=where, meaning=meaning, note=note)


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
                found.warn(Text("cannot read {path} ({error}), which NVSHMEM reads at init: "
                                "{name} may come from there", path=shown(conf.path, 120),
                                error=conf.error, name=entry.name),
                           Text("Make {path} readable by the server's user or remove it",
                                path=shown(conf.path, 120)), code="conf_unreadable")
        details: dict[str, Any] = {
            "source": setting.source, "reader": entry.consumer,
            "files": [{"path": shown(c.path, 200), "present": c.text is not None,
                       "error": c.error} for c in files]}
        if setting.value is None:
            text = Text("{name} is not set; default: {default} (no NVSHMEM configuration file "
                        "sets it either)", name=entry.name, default=default_text(entry))
            if not len(found):
                return Result.skip(text, details=details, env=env)
            return found.result(text, details=details, env=env)
        release, note, release_info = release_of(entry, ctx)
        assert entry.parse is not None  # only entries with a parser get an env.* check
        verdict = entry.parse(setting.value, ctx.env, release)
        from_file = setting.source != "the environment"
        summary = _summary(entry, setting.value, verdict.text, note,
                           Text(" (from {source})", source=shown(setting.source, 120))
                           if from_file else "")
        details.update(value=shown(setting.value, 60), effective=verdict.value,
                       release=release_info)
        if from_file and setting.env_value is not None and setting.env_value != setting.value:
            found.warn(Text("{source} sets {name}={value}, which beats the environment's "
                            "{name}={env_value}: NVSHMEM uses {meaning}",
                            source=shown(setting.source, 120), name=entry.name,
                            value=shown(setting.value, 60),
                            env_value=shown(setting.env_value, 60), meaning=verdict.text),
                       Text("Remove {name} from {source}, or set the value you want there",
                            name=entry.name, source=shown(setting.source, 120)),
                       code="conf_overrides_env")
        if verdict.status is not Status.OK:
            found.add(verdict.status, summary, verdict.remedy_text,
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
            return Result.skip(Text("{name} is not set; default: {default}", name=entry.name,
                                    default=default_text(entry)), env=env)
        assert entry.parse is not None
        release, note, release_info = release_of(entry, ctx)
        verdict = entry.parse(value, ctx.env, release)
        shown_value = "***" if entry.secret else shown(value, 60)
        summary = _summary(entry, value, verdict.text, note)
        details: dict[str, Any] = {"value": shown_value, "reader": entry.consumer}
        if verdict.value is not None and not entry.secret:
            details["effective"] = verdict.value
        if release_info:
            details["release"] = release_info
        found = Findings()
        if verdict.status is not Status.OK:
            found.add(verdict.status, summary, verdict.remedy_text,
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
