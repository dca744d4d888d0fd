"""Where SGLang's expert distribution recorder writes its dumps, and whether it can."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from sgdoctor.api import Context, Result, check

RECORDER = "SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR"   # what upstream SGLang reads
SEED = "SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR"         # the seed's spelling, not read upstream
UPSTREAM_DEFAULT = "/tmp"
GIB = 1 << 30
DEFAULT_MIN_FREE_INODES = 10_000
_RANK = {"ok": 0, "warn": 1, "fail": 2}


def _int_setting(ctx: Context, name: str, default: int) -> int:
    value = ctx.setting(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f'setting {name} must be a non-negative integer, not {value!r} '
                         f'(in [checks."expert_record.dir"])')
    return value


def _probe_name_setting(ctx: Context) -> Callable[[], str]:
    """A fixed probe file name (for a directory watcher that must ignore it), else random."""
    from sgdoctor.probe.writable import default_probe_name

    name = ctx.setting("probe_name")
    if name is None:
        return default_probe_name
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\0" in name:
        raise ValueError(f"setting probe_name must be a plain file name, not {name!r}")
    return lambda: name


def _path_notes(var: str, value: str) -> list[tuple[str, str, str]]:
    """Traps in the value itself: SGLang does ``Path(value)`` with no expansion at all."""
    from sgdoctor.probe.writable import shown

    if value == "":
        return [("warn", f"{var} is set but empty: SGLang reads that as Path('') and writes "
                 "dumps into its current working directory",
                 f"set {var} to an absolute directory, or unset it")]
    if value.startswith("~"):
        return [("warn", f"{var}={shown(value)}: SGLang does not expand '~'; it would create a "
                 "directory literally named '~' under its working directory",
                 f"write the home directory out: {var}=/home/<user>/...")]
    if "$" in value:
        return [("warn", f"{var}={shown(value)} contains '$': SGLang does not expand variables",
                 f"expand it before export, e.g. export {var}=\"$HOME/records\" in a shell")]
    if not value.startswith("/"):
        return [("warn", f"{var}={shown(value)} is relative: SGLang resolves it against its own "
                 "working directory (probed here against this process's)",
                 f"set {var} to an absolute path")]
    return []


class Plan(NamedTuple):
    """Which directory SGLang will use and how we know; the seed's directory when it is worth
    probing too; and (severity, message, remedy) for what is wrong with the variables."""

    directory: str
    source: str
    seed_directory: str | None
    notes: list[tuple[str, str, str]]


def _plan(recorder: str | None, seed: str | None) -> Plan:
    import shlex

    from sgdoctor.probe.writable import shown

    notes = []
    if recorder is not None:
        notes += _path_notes(RECORDER, recorder)
        if seed is not None and seed != recorder:
            notes.append(("warn", f"{RECORDER}={shown(recorder)} and {SEED}={shown(seed)} differ; "
                          f"SGLang uses the first and ignores {SEED}",
                          f"unset {SEED} (upstream SGLang does not read it), or give both the "
                          "same value"))
        return Plan(recorder, f"from {RECORDER}", None, notes)
    if seed is not None:
        notes.append(("warn", f"only {SEED}={shown(seed)} is set; upstream SGLang reads {RECORDER} "
                      f"and would silently write to {UPSTREAM_DEFAULT}",
                      f"export {RECORDER}={shlex.quote(shown(seed)) if seed else '/path/to/dir'} "
                      "(the name SGLang reads)"))
        notes += _path_notes(SEED, seed)
        return Plan(UPSTREAM_DEFAULT, f"{RECORDER} unset: SGLang's default", seed, notes)
    return Plan(UPSTREAM_DEFAULT, f"{RECORDER} unset: SGLang's default", None, notes)


def _absolute(path: str) -> str:
    """Resolved as SGLang would, from the same working directory; if that is gone, left
    as it is for the probe to report."""
    import os

    try:
        return os.path.abspath(path)
    except OSError:
        return path


def _health(report) -> str:
    """One phrase for a healthy report: what was proven and how much room there is."""
    from sgdoctor.probe.writable import approx_bytes, shown

    facts = report.facts
    parts = []
    if facts.get("will_be_created"):
        parts.append(f"missing; SGLang's mkdir -p can create it in {shown(report.examined)}")
    if facts.get("write_test", "").startswith("passed"):
        parts.append("1 MiB write+fsync ok")
    if "free_bytes" in facts:
        parts.append(f"{approx_bytes(facts['free_bytes'])} free")
    if facts.get("filesystem"):
        parts.append(f"{facts['filesystem']}, {facts.get('owner')}:{facts.get('group')} "
                     f"{facts.get('mode')}")
    return "; ".join(parts)


@check("expert_record.dir", title="Expert distribution record directory",
       env=[RECORDER, SEED], timeout=10.0, tags=["sglang", "disk"])
def expert_record_dir(ctx: Context) -> Result:
    """SGLang's expert distribution recorder (--expert-distribution-recorder-mode) writes
    expert_distribution_recorder_<time>[_<rank>].pt into
    Path($SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR) (default /tmp), after mkdir -p. The seed's
    SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR is not read by upstream SGLang. This check says which
    directory SGLang will really use and proves it writable with a 1 MiB write+fsync (nothing
    is left behind, nothing is created), and warns below min_free_bytes (default 1 GiB) or
    min_free_inodes (default 10000). When only the seed's spelling is set, its directory is
    probed too: the remedy is to export it under the right name, so it has to work."""
    from sgdoctor.probe.writable import probe_directory, shown

    env = (RECORDER, SEED)
    try:
        limits = {"min_free_bytes": _int_setting(ctx, "min_free_bytes", GIB),
                  "min_free_inodes": _int_setting(ctx, "min_free_inodes",
                                                  DEFAULT_MIN_FREE_INODES),
                  "probe_name": _probe_name_setting(ctx)}
    except ValueError as exc:
        return Result.error(str(exc), env=env)

    plan = _plan(ctx.env.get(RECORDER), ctx.env.get(SEED))
    target = _absolute(plan.directory)
    report = probe_directory(target, **limits)
    findings = [*plan.notes, *((f.severity, f.message, f.remedy) for f in report.findings)]
    details = {"directory": shown(target), "source": plan.source, "sglang_reads": RECORDER,
               "probe": report.details()}
    seed_target = None if plan.seed_directory is None else _absolute(plan.seed_directory)
    if seed_target is not None and seed_target != target:
        seed_report = probe_directory(seed_target, **limits)
        details["seed_directory_probe"] = seed_report.details()
        findings += [(f.severity, f"{SEED}'s directory: {f.message}", f.remedy)
                     for f in seed_report.findings]

    where = f"Dumps go to {shown(target)} ({plan.source})"
    if not findings:
        return Result.ok(f"{where}: {_health(report)}", details=details, env=env)
    findings.sort(key=lambda item: -_RANK[item[0]])
    worst = findings[0][0]
    summary = f"{where}, but " + "; ".join(message for _, message, _ in findings[:2])
    if len(findings) > 2:
        summary += f" (+{len(findings) - 2} more: see details)"
    remedies = list(dict.fromkeys(remedy for _, _, remedy in findings))
    if any(severity == "fail" for severity, _, _ in findings) and seed_target is None:
        remedies.append(f"or point SGLang elsewhere: export {RECORDER}=/path/to/writable/dir")
    details["findings"] = [{"severity": s, "message": m} for s, m, _ in findings]
    make = Result.fail if worst == "fail" else Result.warn
    return make(summary, remedy="; ".join(remedies), details=details, env=env)
