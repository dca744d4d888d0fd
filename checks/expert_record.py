"""Where SGLang's expert distribution recorder writes its dumps, and whether it can."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from sgdoctor.api import Context, FailureKind, Finding, Findings, Result, Status, check
from sgdoctor.parse.verdict import PATH_LIMIT, approx_bytes, shown

if TYPE_CHECKING:
    from sgdoctor.probe.writable import DirectoryFacts, Obstacle, Occupant, OsFailure

RECORDER = "SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR"   # what upstream SGLang reads
SEED = "SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR"         # the seed's spelling, not read upstream
UPSTREAM_DEFAULT = "/tmp"
GIB = 1 << 30
DEFAULT_MIN_FREE_INODES = 10_000
# What each probe step (probe.writable.Step) is, in "<user> may not <step> in <dir>".
STEP_WORDS = {"look_up": "look up", "open_directory": "open the directory",
              "create_file": "create a file", "create_directory": "create a directory",
              "write_file": "write a file"}


def _p(path: str) -> str:
    return shown(path, PATH_LIMIT)


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


def _path_notes(var: str, value: str, prefix: str = "") -> list[Finding]:
    """Traps in the value itself: SGLang does ``Path(value)`` with no expansion at all."""
    def warn(summary: str, remedy: str, code: str) -> list[Finding]:
        return [Finding(Status.WARN, summary, remedy, prefix + code)]

    if value == "":
        return warn(f"{var} is set but empty: SGLang reads that as Path('') and writes dumps "
                    "into its current working directory",
                    f"set {var} to an absolute directory, or unset it", "empty_value")
    if value.startswith("~"):
        return warn(f"{var}={_p(value)}: SGLang does not expand '~'; it would create a "
                    "directory literally named '~' under its working directory",
                    f"write the home directory out: {var}=/home/<user>/...", "tilde_not_expanded")
    if "$" in value:
        return warn(f"{var}={_p(value)} contains '$': SGLang does not expand variables",
                    f"expand it before export, e.g. export {var}=\"$HOME/records\" in a shell",
                    "variable_not_expanded")
    if not value.startswith("/"):
        return warn(f"{var}={_p(value)} is relative: SGLang resolves it against its own "
                    "working directory (probed here against this process's)",
                    f"set {var} to an absolute path", "relative_path")
    return []


class Plan(NamedTuple):
    """Which directory SGLang will use and how we know; the seed's directory when it is worth
    probing too; and what is wrong with the variables themselves."""

    directory: str
    source: str
    seed_directory: str | None
    notes: list[Finding]


def _plan(recorder: str | None, seed: str | None) -> Plan:
    import shlex

    notes = []
    if recorder is not None:
        notes += _path_notes(RECORDER, recorder)
        if seed is not None and seed != recorder:
            notes.append(Finding(
                Status.WARN, f"{RECORDER}={_p(recorder)} and {SEED}={_p(seed)} differ; SGLang "
                f"uses the first and ignores {SEED}", f"unset {SEED} (upstream SGLang does not "
                "read it), or give both the same value", "spellings_differ"))
        return Plan(recorder, f"from {RECORDER}", None, notes)
    if seed is not None:
        notes.append(Finding(
            Status.WARN, f"only {SEED}={_p(seed)} is set; upstream SGLang reads {RECORDER} and "
            f"would silently write to {UPSTREAM_DEFAULT}",
            f"export {RECORDER}={shlex.quote(_p(seed)) if seed else '/path/to/dir'} "
            "(the name SGLang reads)", "seed_spelling_only"))
        notes += _path_notes(SEED, seed, "seed_")
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


def _occupant(item: Occupant) -> str:
    if item.kind == "symlink":
        what = f"a symlink to {_p(item.target)}" if item.target is not None else "a symlink"
    else:
        what = {"directory": "a directory", "file": "a file"}.get(item.kind, "something")
    return f"{_p(item.name)} ({what})"


def _failure(facts: DirectoryFacts, failure: OsFailure) -> Finding:
    """A refused step, judged on its kind: what it means for the writer and what to do."""
    from sgdoctor.probe.writable import Step

    where = _p(failure.path)
    step = STEP_WORDS[failure.step.value]
    mount = facts.mount
    if failure.kind is FailureKind.READ_ONLY:
        on = (f" ({mount.fstype} {_p(mount.source)} mounted read-only at "
              f"{_p(mount.mount_point)})" if mount and failure.step is not Step.LOOK_UP else "")
        return Finding(Status.FAIL, f"{where} is on a read-only filesystem{on}",
                       "mount a writable volume there (docker: drop `:ro`), or choose a "
                       "directory on a writable filesystem", "read_only")
    user = facts.user
    if failure.kind is FailureKind.PERMISSION and facts.owner is not None:
        return Finding(Status.FAIL, f"{user} may not {step} in {where} (owner {facts.owner}:"
                       f"{facts.group}, mode {facts.mode})",
                       f"as root: `chown {user} {where}` (or `chmod` it so that {user} may "
                       f"write), or choose a directory that {user} can write",
                       "permission_denied")
    if failure.kind is FailureKind.PERMISSION:
        return Finding(Status.FAIL, f"{user} may not {step} {where}: a parent directory is not "
                       f"searchable", f"let {user} search (chmod o+x or a+x) every parent "
                       f"directory, or choose a directory that {user} can reach",
                       "permission_denied")
    if failure.kind is FailureKind.NO_SPACE and failure.errno == "EDQUOT":
        return Finding(Status.FAIL, f"disk quota exceeded writing to {where}",
                       "raise the quota of this user, or choose another directory", "quota")
    if failure.kind is FailureKind.NO_SPACE:
        from sgdoctor.probe.writable import WRITE_TEST_BYTES

        return Finding(Status.FAIL, f"no space left on the filesystem of {where}: a "
                       f"{approx_bytes(WRITE_TEST_BYTES)} test write failed with ENOSPC (out "
                       "of blocks or inodes)",
                       "free space or inodes there, or point the recorder at a larger "
                       "filesystem", "no_space")
    return Finding(Status.FAIL, f"could not {step} in {where}: {failure.message} "
                   f"({failure.errno or 'error'})", "check the filesystem (dmesg, mount "
                   "options), or choose another directory", "write_failed")


def _obstacle(facts: DirectoryFacts, obstacle: Obstacle) -> Finding:
    """What about the path stops the writer before it writes."""
    from sgdoctor.probe.writable import Obstacle

    path = _p(facts.path)
    code = obstacle.value
    if obstacle is Obstacle.INVALID_PATH:
        return Finding(Status.FAIL, f"{path} is not a possible file name",
                       "set a real directory path", code)
    if obstacle is Obstacle.NO_WORKING_DIRECTORY:
        why = f": {facts.failure.message}" if facts.failure else ""
        return Finding(Status.FAIL, f"cannot resolve {path}: the working directory{why}",
                       "use an absolute path", code)
    if obstacle is Obstacle.NOT_A_DIRECTORY:
        kind = "a file" if facts.regular_file else "not a directory"
        return Finding(Status.FAIL, f"{path} is {kind}, not a directory; the writer's mkdir "
                       "would fail", f"remove or rename {path}, or choose another directory",
                       code)
    if obstacle is Obstacle.DANGLING_SYMLINK:
        return Finding(Status.FAIL, f"{path} is a symlink to {_p(facts.obstacle_path or '')}, "
                       "which does not exist; the writer's mkdir would fail",
                       "create the symlink's target directory, or remove the symlink", code)
    if obstacle is Obstacle.SYMLINK_LOOP:
        return Finding(Status.FAIL, f"{path}: too many levels of symlinks",
                       "fix the symlinks on the path", code)
    summary = (f"{path} cannot be created: {_p(facts.obstacle_path)} is not a directory"
               if facts.obstacle_path else
               f"{path} cannot be a directory: one of its parents is a file")
    return Finding(Status.FAIL, summary, "choose a path whose parents are directories", code)


def _judge(facts: DirectoryFacts, min_free_bytes: int, min_free_inodes: int) -> list[Finding]:
    """The probe's facts as findings, in the order the writer would meet them."""
    if facts.obstacle is not None:
        return [_obstacle(facts, facts.obstacle)]
    found = Findings()
    where = _p(facts.examined or facts.path)
    if facts.free_bytes is not None and facts.free_bytes < min_free_bytes:
        found.warn(f"only {approx_bytes(facts.free_bytes)} free on the filesystem of {where} "
                   f"(minimum {approx_bytes(min_free_bytes)})", "free space there, or point "
                   "the recorder at a larger filesystem; per-token and per-pass dumps are "
                   "written by every rank and can be large", code="low_space")
    if facts.free_inodes is not None and facts.free_inodes < min_free_inodes:
        found.warn(f"only {facts.free_inodes} free inodes on the filesystem of {where} "
                   f"(minimum {min_free_inodes})",
                   "delete unneeded files there, or use another filesystem", code="low_inodes")
    if facts.failure is not None:
        found.extend([_failure(facts, facts.failure)])
    if facts.write_test_skipped:
        taken = ", ".join(_occupant(o) for o in facts.names_taken)
        found.warn(f"could not run the write test in {where}: {taken} already there; left "
                   "untouched", "find out who created it and remove it if it is not yours; a "
                   "symlink there may be an attempt to make a writer overwrite another file",
                   code="probe_name_taken")
    for left in facts.left_behind:
        found.warn(f"could not remove the probe directory {_p(left.path)}: {left.message}",
                   "remove it by hand", code="probe_left_behind")
    return list(found)


def _details(facts: DirectoryFacts) -> dict[str, Any]:
    """The probe's facts for JSON, every path escaped."""
    out: dict[str, Any] = {"path": _p(facts.path), "exists": facts.exists,
                           "examined": _p(facts.examined) if facts.examined else None,
                           "user": facts.user}
    if facts.owner is not None:
        out.update(owner=facts.owner, group=facts.group, mode=facts.mode,
                   permissions=facts.permissions)
    if facts.mount is not None:
        mount = facts.mount
        out.update(filesystem=mount.fstype, mount_point=_p(mount.mount_point),
                   mount_source=_p(mount.source), mount_options=",".join(mount.mount_options),
                   read_only_mount=mount.read_only)
    if facts.will_be_created:
        out["will_be_created"] = True
    if facts.statvfs_error is not None:
        out["statvfs_error"] = facts.statvfs_error
    if facts.free_bytes is not None:
        out.update(free_bytes=facts.free_bytes, total_bytes=facts.total_bytes)
    if facts.examined is not None and facts.statvfs_error is None:
        out["free_inodes"] = facts.free_inodes
    if facts.write_test_passed:
        from sgdoctor.probe.writable import WRITE_TEST_BYTES

        out["write_test"] = f"passed ({approx_bytes(WRITE_TEST_BYTES)}, fsync)"
    elif facts.write_test_skipped:
        out["write_test"] = "not run"
    if facts.names_taken:
        out["probe_names_taken"] = [_occupant(o) for o in facts.names_taken]
    if facts.failure is not None:
        out["failure"] = {"step": facts.failure.step.value, "kind": facts.failure.kind.value,
                          "errno": facts.failure.errno, "path": _p(facts.failure.path)}
    if facts.obstacle is not None:
        out["obstacle"] = facts.obstacle.value
    return out


def _health(facts: DirectoryFacts) -> str:
    """One phrase for a healthy directory: what was proven and how much room there is."""
    parts = []
    if facts.will_be_created:
        parts.append(f"missing; SGLang's mkdir -p can create it in {_p(facts.examined or '')}")
    if facts.write_test_passed:
        parts.append("1 MiB write+fsync ok")
    if facts.free_bytes is not None:
        parts.append(f"{approx_bytes(facts.free_bytes)} free")
    if facts.mount is not None:
        parts.append(f"{facts.mount.fstype}, {facts.owner}:{facts.group} {facts.mode}")
    return "; ".join(parts)


@check("expert_record.dir", title="Expert distribution record directory",
       env=[RECORDER, SEED], timeout=10.0, tags=["sglang", "disk"],
       settings={"min_free_bytes": int, "min_free_inodes": int, "probe_name": str})
def expert_record_dir(ctx: Context) -> Result:
    """SGLang's expert distribution recorder (--expert-distribution-recorder-mode) writes
    expert_distribution_recorder_<time>[_<rank>].pt into
    Path($SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR) (default /tmp), after mkdir -p. The seed's
    SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR is not read by upstream SGLang. This check says which
    directory SGLang will really use and proves it writable with a 1 MiB write+fsync (nothing
    is left behind, nothing is created), and warns below min_free_bytes (default 1 GiB) or
    min_free_inodes (default 10000). When only the seed's spelling is set, its directory is
    probed too: the remedy is to export it under the right name, so it has to work.

    The summary starts with where the dumps go; a fail of the directory SGLang uses adds
    the way out (export SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR elsewhere) as a last remedy."""
    from sgdoctor.probe.writable import probe_directory

    env = (RECORDER, SEED)
    try:
        min_bytes = _int_setting(ctx, "min_free_bytes", GIB)
        min_inodes = _int_setting(ctx, "min_free_inodes", DEFAULT_MIN_FREE_INODES)
        probe_name = _probe_name_setting(ctx)
    except ValueError as exc:
        return Result.error(str(exc), env=env)

    plan = _plan(ctx.env.get(RECORDER), ctx.env.get(SEED))
    target = _absolute(plan.directory)
    facts = probe_directory(target, probe_name=probe_name)
    found = Findings(plan.notes)
    found.extend(_judge(facts, min_bytes, min_inodes))
    details: dict[str, Any] = {"directory": _p(target), "source": plan.source,
                               "sglang_reads": RECORDER, "probe": _details(facts)}
    seed_target = None if plan.seed_directory is None else _absolute(plan.seed_directory)
    if seed_target is not None and seed_target != target:
        seed_facts = probe_directory(seed_target, probe_name=probe_name)
        details["seed_directory_probe"] = _details(seed_facts)
        found.extend(dataclasses.replace(f, summary=f"{SEED}'s directory: {f.summary}",
                                         code=f"seed_dir_{f.code}")
                     for f in _judge(seed_facts, min_bytes, min_inodes))

    mode = ctx.options.get("expert_recorder_mode")
    if isinstance(mode, str) and mode:   # the launch records: a risk becomes a failure
        found = Findings(dataclasses.replace(f, status=Status.FAIL, summary=f"{f.summary} "
                                             f"(the launch sets --expert-distribution-recorder"
                                             f"-mode {shown(mode, 40)})")
                         if f.status is Status.WARN else f for f in found)
    where = f"Dumps go to {_p(target)} ({plan.source})"
    result = found.result(f"{where}: {_health(facts)}", details=details, env=env)
    if result.status is Status.OK:
        return result
    remedy = result.remedy
    if result.status is Status.FAIL and seed_target is None:
        remedy = f"{remedy}\nor point SGLang elsewhere: export {RECORDER}=/path/to/writable/dir"
    return dataclasses.replace(result, summary=f"{where}, but {result.summary}", remedy=remedy)
