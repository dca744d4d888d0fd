"""Where SGLang's expert distribution recorder writes its dumps, and whether it can."""

from __future__ import annotations

from collections.abc import Callable

from sgdoctor.api import (
    Context,
    FailureKind,
    Finding,
    Findings,
    Message,
    Result,
    Status,
    Text,
    check,
)
from sgdoctor.parse.verdict import PATH_LIMIT, approx_bytes, shown
from sgdoctor.records import dataclass, replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from sgdoctor.probe.writable import DirectoryFacts, Obstacle, Occupant, OsFailure

RECORDER = "SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR"   # what upstream SGLang reads
SEED = "SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR"         # the seed's spelling, not read upstream
UPSTREAM_DEFAULT = "/tmp"
GIB = 1 << 30
DEFAULT_MIN_FREE_INODES = 10_000
# What each probe step (probe.writable.Step) is, in "<user> may not <step> in <dir>".
STEP_WORDS = {"look_up": Text("look up"), "open_directory": Text("open the directory"),
              "create_file": Text("create a file"), "create_directory": Text("create a directory"),
              "write_file": Text("write a file")}


class BadSetting(Exception):
    """A setting of [checks."expert_record.dir"] the check cannot use, said as a template."""

    def __init__(self, text: Text) -> None:
        super().__init__(str(text))
        self.text = text


def _p(path: str) -> str:
    return shown(path, PATH_LIMIT)


def _text(message: Message) -> Text:
    """A finding's template as a Text, to reword it without losing its translation."""
    return Text(message[0], **message[1])


def _int_setting(ctx: Context, name: str, default: int) -> int:
    value = ctx.setting(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadSetting(Text('setting {name} must be a non-negative integer, not {value} '
                              '(in [checks."expert_record.dir"])', name=name, value=repr(value)))
    return value


def _probe_name_setting(ctx: Context) -> Callable[[], str]:
    """A fixed probe file name (for a directory watcher that must ignore it), else random."""
    from sgdoctor.probe.writable import default_probe_name

    name = ctx.setting("probe_name")
    if name is None:
        return default_probe_name
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\0" in name:
        raise BadSetting(Text("setting probe_name must be a plain file name, not {name}",
                              name=repr(name)))
    return lambda: name


def _path_notes(var: str, value: str, prefix: str = "") -> list[Finding]:
    """Traps in the value itself: SGLang does ``Path(value)`` with no expansion at all."""
    fields = {"var": var, "value": _p(value)}

    def warn(summary: str, remedy: str, code: str) -> list[Finding]:
        return [Finding(Status.WARN, summary, remedy, prefix + code, fields)]

    if value == "":
        return warn("{var} is set but empty: SGLang reads that as Path('') and writes dumps "
                    "into its current working directory",
                    "set {var} to an absolute directory, or unset it", "empty_value")
    if value.startswith("~"):
        return warn("{var}={value}: SGLang does not expand '~'; it would create a directory "
                    "literally named '~' under its working directory",
                    "write the home directory out: {var}=/home/<user>/...", "tilde_not_expanded")
    if "$" in value:
        return warn("{var}={value} contains '$': SGLang does not expand variables",
                    "expand it before export, e.g. export {var}=\"$HOME/records\" in a shell",
                    "variable_not_expanded")
    if not value.startswith("/"):
        return warn("{var}={value} is relative: SGLang resolves it against its own working "
                    "directory (probed here against this process's)",
                    "set {var} to an absolute path", "relative_path")
    return []


@dataclass(frozen=True)
class Plan:
    """Which directory SGLang will use and how we know; the seed's directory when it is worth
    probing too; and what is wrong with the variables themselves."""

    directory: str
    source: Text
    seed_directory: str | None
    notes: list[Finding]


def _plan(recorder: str | None, seed: str | None) -> Plan:
    import shlex

    notes = []
    if recorder is not None:
        notes += _path_notes(RECORDER, recorder)
        if seed is not None and seed != recorder:
            notes.append(Finding(
                Status.WARN, "{recorder}={recorder_value} and {seed}={seed_value} differ; "
                "SGLang uses the first and ignores {seed}", "unset {seed} (upstream SGLang does "
                "not read it), or give both the same value", "spellings_differ",
                {"recorder": RECORDER, "recorder_value": _p(recorder), "seed": SEED,
                 "seed_value": _p(seed)}))
        return Plan(recorder, Text("from {recorder}", recorder=RECORDER), None, notes)
    default = Text("{recorder} unset: SGLang's default", recorder=RECORDER)
    if seed is not None:
        notes.append(Finding(
            Status.WARN, "only {seed}={seed_value} is set; upstream SGLang reads {recorder} and "
            "would silently write to {default}",
            "export {recorder}={quoted} (the name SGLang reads)", "seed_spelling_only",
            {"seed": SEED, "seed_value": _p(seed), "recorder": RECORDER,
             "default": UPSTREAM_DEFAULT,
             "quoted": shlex.quote(_p(seed)) if seed else "/path/to/dir"}))
        notes += _path_notes(SEED, seed, "seed_")
        return Plan(UPSTREAM_DEFAULT, default, seed, notes)
    return Plan(UPSTREAM_DEFAULT, default, None, notes)


def _absolute(path: str) -> str:
    """Resolved as SGLang would, from the same working directory; if that is gone, left
    as it is for the probe to report."""
    import os

    try:
        return os.path.abspath(path)
    except OSError:
        return path


def _occupant(item: Occupant) -> Text:
    if item.kind == "symlink":
        what = (Text("a symlink to {target}", target=_p(item.target)) if item.target is not None
                else Text("a symlink"))
    else:
        what = {"directory": Text("a directory"), "file": Text("a file")}.get(
            item.kind, Text("something"))
    return Text("{name} ({what})", name=_p(item.name), what=what)


def _failure(facts: DirectoryFacts, failure: OsFailure) -> Finding:
    """A refused step, judged on its kind: what it means for the writer and what to do."""
    from sgdoctor.probe.writable import Step

    fields: dict[str, Any] = {"where": _p(failure.path), "step": STEP_WORDS[failure.step.value],
                              "user": facts.user}
    mount = facts.mount
    if failure.kind is FailureKind.READ_ONLY:
        if mount and failure.step is not Step.LOOK_UP:
            return Finding(Status.FAIL, "{where} is on a read-only filesystem ({fstype} {source} "
                           "mounted read-only at {mount_point})", READ_ONLY_REMEDY, "read_only",
                           {**fields, "fstype": mount.fstype, "source": _p(mount.source),
                            "mount_point": _p(mount.mount_point)})
        return Finding(Status.FAIL, "{where} is on a read-only filesystem", READ_ONLY_REMEDY,
                       "read_only", fields)
    if failure.kind is FailureKind.PERMISSION and facts.owner is not None:
        return Finding(Status.FAIL, "{user} may not {step} in {where} (owner {owner}:{group}, "
                       "mode {mode})",
                       "as root: `chown {user} {where}` (or `chmod` it so that {user} may "
                       "write), or choose a directory that {user} can write",
                       "permission_denied", {**fields, "owner": facts.owner,
                                             "group": facts.group, "mode": facts.mode})
    if failure.kind is FailureKind.PERMISSION:
        return Finding(Status.FAIL, "{user} may not {step} {where}: a parent directory is not "
                       "searchable", "let {user} search (chmod o+x or a+x) every parent "
                       "directory, or choose a directory that {user} can reach",
                       "permission_denied", fields)
    if failure.kind is FailureKind.NO_SPACE and failure.errno == "EDQUOT":
        return Finding(Status.FAIL, "disk quota exceeded writing to {where}",
                       "raise the quota of this user, or choose another directory", "quota",
                       fields)
    if failure.kind is FailureKind.NO_SPACE:
        from sgdoctor.probe.writable import WRITE_TEST_BYTES

        return Finding(Status.FAIL, "no space left on the filesystem of {where}: a {size} test "
                       "write failed with ENOSPC (out of blocks or inodes)",
                       "free space or inodes there, or point the recorder at a larger "
                       "filesystem", "no_space",
                       {**fields, "size": approx_bytes(WRITE_TEST_BYTES)})
    return Finding(Status.FAIL, "could not {step} in {where}: {message} ({errno})",
                   "check the filesystem (dmesg, mount options), or choose another directory",
                   "write_failed", {**fields, "message": failure.message,
                                    "errno": failure.errno or "error"})


# Remedy templates shared by two findings (Text marks the msgid; Finding takes the str).
READ_ONLY_REMEDY = str(Text("mount a writable volume there (docker: drop `:ro`), or choose a "
                            "directory on a writable filesystem"))


def _obstacle(facts: DirectoryFacts, obstacle: Obstacle) -> Finding:
    """What about the path stops the writer before it writes."""
    from sgdoctor.probe.writable import Obstacle

    fields = {"path": _p(facts.path)}
    code = obstacle.value
    if obstacle is Obstacle.INVALID_PATH:
        return Finding(Status.FAIL, "{path} is not a possible file name",
                       "set a real directory path", code, fields)
    if obstacle is Obstacle.NO_WORKING_DIRECTORY:
        if facts.failure:
            return Finding(Status.FAIL, "cannot resolve {path}: the working directory: {why}",
                           "use an absolute path", code,
                           {**fields, "why": facts.failure.message})
        return Finding(Status.FAIL, "cannot resolve {path}: the working directory",
                       "use an absolute path", code, fields)
    if obstacle is Obstacle.NOT_A_DIRECTORY:
        return Finding(Status.FAIL,
                       "{path} is a file, not a directory; the writer's mkdir would fail"
                       if facts.regular_file else
                       "{path} is not a directory; the writer's mkdir would fail",
                       "remove or rename {path}, or choose another directory", code, fields)
    if obstacle is Obstacle.DANGLING_SYMLINK:
        return Finding(Status.FAIL, "{path} is a symlink to {target}, which does not exist; the "
                       "writer's mkdir would fail",
                       "create the symlink's target directory, or remove the symlink", code,
                       {**fields, "target": _p(facts.obstacle_path or "")})
    if obstacle is Obstacle.SYMLINK_LOOP:
        return Finding(Status.FAIL, "{path}: too many levels of symlinks",
                       "fix the symlinks on the path", code, fields)
    if facts.obstacle_path:
        return Finding(Status.FAIL, "{path} cannot be created: {parent} is not a directory",
                       PARENTS_REMEDY, code, {**fields, "parent": _p(facts.obstacle_path)})
    return Finding(Status.FAIL, "{path} cannot be a directory: one of its parents is a file",
                   PARENTS_REMEDY, code, fields)


PARENTS_REMEDY = str(Text("choose a path whose parents are directories"))


def _judge(facts: DirectoryFacts, min_free_bytes: int, min_free_inodes: int) -> list[Finding]:
    """The probe's facts as findings, in the order the writer would meet them."""
    if facts.obstacle is not None:
        return [_obstacle(facts, facts.obstacle)]
    found = Findings()
    where = _p(facts.examined or facts.path)
    if facts.free_bytes is not None and facts.free_bytes < min_free_bytes:
        found.warn("only {free} free on the filesystem of {where} (minimum {minimum})",
                   "free space there, or point the recorder at a larger filesystem; per-token "
                   "and per-pass dumps are written by every rank and can be large",
                   code="low_space", fields={"free": approx_bytes(facts.free_bytes),
                                             "where": where,
                                             "minimum": approx_bytes(min_free_bytes)})
    if facts.free_inodes is not None and facts.free_inodes < min_free_inodes:
        found.warn("only {free} free inodes on the filesystem of {where} (minimum {minimum})",
                   "delete unneeded files there, or use another filesystem", code="low_inodes",
                   fields={"free": facts.free_inodes, "where": where,
                           "minimum": min_free_inodes})
    if facts.failure is not None:
        found.extend([_failure(facts, facts.failure)])
    if facts.write_test_skipped:
        taken = Text.join(", ", [_occupant(o) for o in facts.names_taken])
        found.warn("could not run the write test in {where}: {taken} already there; left "
                   "untouched", "find out who created it and remove it if it is not yours; a "
                   "symlink there may be an attempt to make a writer overwrite another file",
                   code="probe_name_taken", fields={"where": where, "taken": taken})
    for left in facts.left_behind:
        found.warn("could not remove the probe directory {path}: {message}",
                   "remove it by hand", code="probe_left_behind",
                   fields={"path": _p(left.path), "message": left.message})
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
        out["probe_names_taken"] = [str(_occupant(o)) for o in facts.names_taken]
    if facts.failure is not None:
        out["failure"] = {"step": facts.failure.step.value, "kind": facts.failure.kind.value,
                          "errno": facts.failure.errno, "path": _p(facts.failure.path)}
    if facts.obstacle is not None:
        out["obstacle"] = facts.obstacle.value
    return out


def _health(facts: DirectoryFacts) -> Text:
    """One phrase for a healthy directory: what was proven and how much room there is."""
    parts: list[str | Text] = []
    if facts.will_be_created:
        parts.append(Text("missing; SGLang's mkdir -p can create it in {parent}",
                          parent=_p(facts.examined or "")))
    if facts.write_test_passed:
        parts.append(Text("1 MiB write+fsync ok"))
    if facts.free_bytes is not None:
        parts.append(Text("{free} free", free=approx_bytes(facts.free_bytes)))
    if facts.mount is not None:
        parts.append(f"{facts.mount.fstype}, {facts.owner}:{facts.group} {facts.mode}")
    return Text.join("; ", parts)


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
    except BadSetting as exc:
        return Result.error(exc.text, env=env)

    plan = _plan(ctx.env.get(RECORDER), ctx.env.get(SEED))
    target = _absolute(plan.directory)
    facts = probe_directory(target, probe_name=probe_name)
    found = Findings(plan.notes)
    found.extend(_judge(facts, min_bytes, min_inodes))
    details: dict[str, Any] = {"directory": _p(target), "source": str(plan.source),
                               "sglang_reads": RECORDER, "probe": _details(facts)}
    seed_target = None if plan.seed_directory is None else _absolute(plan.seed_directory)
    if seed_target is not None and seed_target != target:
        seed_facts = probe_directory(seed_target, probe_name=probe_name)
        details["seed_directory_probe"] = _details(seed_facts)
        found.extend(_reworded(f, Text("{seed}'s directory: {summary}", seed=SEED,
                                       summary=_text(f.summary_message)),
                               code=f"seed_dir_{f.code}")
                     for f in _judge(seed_facts, min_bytes, min_inodes))

    mode = ctx.options.get("expert_recorder_mode")
    if isinstance(mode, str) and mode:   # the launch records: a risk becomes a failure
        found = Findings(_reworded(f, Text("{summary} (the launch sets "
                                           "--expert-distribution-recorder-mode {mode})",
                                           summary=_text(f.summary_message),
                                           mode=shown(mode, 40)), status=Status.FAIL)
                         if f.status is Status.WARN else f for f in found)
    where = Text("Dumps go to {directory} ({source})", directory=_p(target), source=plan.source)
    result = found.result(Text("{where}: {health}", where=where, health=_health(facts)),
                          details=details, env=env)
    if result.status is Status.OK:
        return result
    remedies = [_text(m) for m in result.remedy_parts]
    if result.status is Status.FAIL and seed_target is None:
        remedies.append(Text("or point SGLang elsewhere: export {recorder}=/path/to/writable/dir",
                             recorder=RECORDER))
    summary = Text("{where}, but {summary}", where=where,
                   summary=Text.join("; ", [_text(m) for m in result.summary_parts]))
    return replace(result, summary=str(summary), summary_parts=(summary.message,),
                               remedy="\n".join(str(r) for r in remedies),
                               remedy_parts=tuple(r.message for r in remedies))


def _reworded(finding: Finding, summary: Text, *, code: str | None = None,
              status: Status | None = None) -> Finding:
    """The finding with a new summary (a Text, so it is still translated)."""
    remedy = _text(finding.remedy_message) if finding.remedy_message else None
    return Findings().add(status or finding.status, summary, remedy, code=code or finding.code)
