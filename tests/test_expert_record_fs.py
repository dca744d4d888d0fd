"""expert_record.dir on real filesystems, through the real CLI.

Every mount happens inside a private mount namespace (`unshare -m --propagation private`)
together with the sgdoctor run, so nothing leaks to the host or to parallel tests; the
directories are unique (mkdtemp) and removed afterwards. Tests that drop privileges run
sgdoctor as `nobody` through setpriv, after expert_record_mountns.py has made this very
interpreter reachable for that user inside the namespace.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import json_report, result_of, run_cli, unavailable

RECORDER = "SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR"
SEED = "SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR"
HELPER = str(Path(__file__).with_name("expert_record_mountns.py"))


@pytest.fixture
def ns(needs_root):
    for tool in ("unshare", "mount", "setpriv"):
        if not shutil.which(tool):
            unavailable(f"{tool} (util-linux / mount) is not installed")
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                           capture_output=True, timeout=10)
    if probe.returncode != 0:
        unavailable(f"cannot create a mount namespace: {probe.stderr.decode().strip()}")


@pytest.fixture
def base(ns):
    """A unique, world-traversable scratch directory (tmp_path lives under a 0700 dir)."""
    path = tempfile.mkdtemp(prefix="sgd-er-", dir="/tmp")
    os.chmod(path, 0o755)
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


def nobody() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        unavailable("there is no user 'nobody'")
        raise


def owned_by_nobody(path: Path, mode: int = 0o755) -> Path:
    user = nobody()
    path.mkdir()
    path.chmod(mode)          # mkdir's mode is filtered by the umask
    os.chown(path, user.pw_uid, user.pw_gid)
    return path


def run_in_ns(base: Path, setup: str, env: dict[str, str], *, as_nobody: bool = False,
              settings: str = "", after: str = "") -> subprocess.CompletedProcess[str]:
    """`setup` (shell, as root) and then sgdoctor, in one private mount namespace."""
    args = ["--format", "json", "--only", "expert_record.dir"]
    if settings:
        config = base / "config.toml"
        config.write_text(f'[checks."expert_record.dir"]\n{settings}\n')
        config.chmod(0o644)
        args += ["--config", str(config)]
    lines = ["set -e", setup]
    command = '"$@"'
    if as_nobody:
        user = nobody()
        workdir = base / "stash"
        workdir.mkdir(exist_ok=True)
        lines.append(f"{shlex.quote(sys.executable)} {shlex.quote(HELPER)} {user.pw_uid} "
                     f"{user.pw_gid} {shlex.quote(str(workdir))}")
        command = f'setpriv --reuid={user.pw_uid} --regid={user.pw_gid} --clear-groups -- "$@"'
    script = "\n".join([*lines, "set +e", command, "rc=$?", after, "exit $rc"])
    return run_cli(args, {"PYTHONDONTWRITEBYTECODE": "1", **env},
                   prefix=["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"],
                   cwd="/")


def report(proc: subprocess.CompletedProcess[str]) -> dict:
    assert "Traceback" not in proc.stderr, proc.stderr
    return result_of(json_report(proc), "expert_record.dir")


def codes(item: dict) -> list[tuple[str, str]]:
    return [(f["code"], f["status"]) for f in item["details"]["findings"]]


def leftovers(proc: subprocess.CompletedProcess[str]) -> list[str]:
    for line in proc.stderr.splitlines():
        if line.startswith("LEFT="):
            return line[len("LEFT="):].split()
    raise AssertionError(f"no LEFT= line in stderr:\n{proc.stderr}")


LIST = 'echo "LEFT=$(ls -A "$D" | tr "\\n" " ")" >&2'


def test_read_only_tmpfs_fails_naming_the_mount(base):
    target = base / "ro"
    target.mkdir()
    proc = run_in_ns(base, f"D={target}\nmount -t tmpfs -o ro,size=1m sgd-ro-test $D",
                     {RECORDER: str(target)})
    item = report(proc)
    assert proc.returncode == 1
    assert item["status"] == "fail"
    assert "read-only" in item["summary"] and f"mounted read-only at {target}" in item["summary"]
    assert "tmpfs sgd-ro-test" in item["summary"]
    probe = item["details"]["probe"]
    assert probe["filesystem"] == "tmpfs" and probe["read_only_mount"] is True
    assert probe["mount_options"].split(",")[0] == "ro"
    assert "writable" in item["remedy"]
    assert codes(item) == [("low_space", "warn"), ("read_only", "fail")]   # a 1 MiB tmpfs
    assert probe["failure"] == {"step": "create_file", "kind": "read_only", "errno": "EROFS",
                                "path": str(target)}
    assert item["remedy"].splitlines()[-1] == (
        f"or point SGLang elsewhere: export {RECORDER}=/path/to/writable/dir")


def test_read_only_bind_mount_fails_and_writes_nothing_to_its_source(base):
    source, target = base / "src", base / "bound"
    source.mkdir()
    target.mkdir()
    proc = run_in_ns(base, f"mount --bind {source} {target}\n"
                     f"mount -o remount,bind,ro {target}", {RECORDER: str(target)})
    item = report(proc)
    assert item["status"] == "fail" and "read-only filesystem" in item["summary"]
    assert item["details"]["probe"]["mount_point"] == str(target)
    assert list(source.iterdir()) == []


def test_missing_directory_under_a_read_only_mount_fails(base):
    target = base / "ro"
    target.mkdir()
    proc = run_in_ns(base, f"mount -t tmpfs -o ro,size=1m sgd-ro-test {target}",
                     {RECORDER: str(target / "a" / "b")})
    item = report(proc)
    assert item["status"] == "fail" and "read-only" in item["summary"]
    assert item["details"]["probe"]["examined"] == str(target)
    assert codes(item) == [("low_space", "warn"), ("read_only", "fail")]
    assert item["details"]["probe"]["failure"]["step"] == "create_directory"


def test_full_small_tmpfs_fails_with_enospc_and_leaves_nothing(base):
    target = base / "full"
    target.mkdir()
    proc = run_in_ns(base, f"D={target}\nmount -t tmpfs -o size=512k sgd-full-test $D",
                     {RECORDER: str(target)}, after=LIST)
    item = report(proc)
    assert item["status"] == "fail"
    assert "ENOSPC" in item["summary"]
    assert codes(item) == [("low_space", "warn"), ("no_space", "fail")]
    assert "minimum" not in item["summary"]          # the warning is listed, not summarised
    assert item["remedy"].splitlines()[:2] == [
        "free space or inodes there, or point the recorder at a larger filesystem",
        "free space there, or point the recorder at a larger filesystem; per-token and "
        "per-pass dumps are written by every rank and can be large"]
    assert leftovers(proc) == []


def test_small_tmpfs_with_room_for_the_probe_warns_low_space(base):
    target = base / "small"
    target.mkdir()
    proc = run_in_ns(base, f"D={target}\nmount -t tmpfs -o size=8m sgd-small-test $D",
                     {RECORDER: str(target)}, after=LIST)
    item = report(proc)
    assert proc.returncode == 0
    assert item["status"] == "warn"
    assert "free on the filesystem" in item["summary"] and "minimum 1.0 GiB" in item["summary"]
    assert item["details"]["probe"]["write_test"].startswith("passed")
    assert codes(item) == [("low_space", "warn")]
    assert leftovers(proc) == []


def test_free_space_minimum_is_configurable(base):
    target = base / "small"
    target.mkdir()
    proc = run_in_ns(base, f"mount -t tmpfs -o size=8m sgd-small-test {target}",
                     {RECORDER: str(target)}, settings="min_free_bytes = 4194304")
    item = report(proc)
    assert item["status"] == "ok", item
    assert "free" in item["summary"] and "tmpfs" in item["summary"]


def test_few_free_inodes_warn(base):
    target = base / "inodes"
    target.mkdir()
    proc = run_in_ns(base, f"mount -t tmpfs -o size=64m,nr_inodes=100 sgd-inode-test {target}",
                     {RECORDER: str(target)}, settings="min_free_bytes = 0")
    item = report(proc)
    assert item["status"] == "warn"
    assert "free inodes" in item["summary"] and "minimum 10000" in item["summary"]
    assert codes(item) == [("low_inodes", "warn")]


def test_directory_of_another_user_fails_with_owner_mode_and_remedy(base):
    target = base / "rootowned"
    target.mkdir()
    target.chmod(0o755)
    proc = run_in_ns(base, "true", {RECORDER: str(target)}, as_nobody=True)
    item = report(proc)
    assert proc.returncode == 1
    assert item["status"] == "fail", item
    assert f"nobody may not create a file in {target}" in item["summary"]
    assert "owner root:root, mode 0755" in item["summary"]
    assert f"chown nobody {target}" in item["remedy"]
    assert item["details"]["probe"]["user"] == "nobody"
    assert codes(item) == [("permission_denied", "fail")]
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("mode", [0o700, 0o333])
def test_directory_owned_by_the_dropped_user_passes(base, mode):
    """The control for the test above: same layout, but nobody owns the directory (0333:
    writable but not readable is enough for the writer, so it is enough for the probe)."""
    target = owned_by_nobody(base / "mine", mode)
    proc = run_in_ns(base, "true", {RECORDER: str(target)}, as_nobody=True)
    item = report(proc)
    assert item["status"] == "ok", item
    assert item["details"]["probe"]["owner"] == "nobody"
    assert item["details"]["probe"]["mode"] == f"{mode:04o}"
    assert list(target.iterdir()) == []


def test_missing_directory_the_dropped_user_cannot_create_fails(base):
    parent = base / "rootparent"
    parent.mkdir()
    parent.chmod(0o755)
    proc = run_in_ns(base, "true", {RECORDER: str(parent / "records")}, as_nobody=True)
    item = report(proc)
    assert item["status"] == "fail"
    assert f"nobody may not create a directory in {parent}" in item["summary"]
    assert codes(item) == [("permission_denied", "fail")]
    assert list(parent.iterdir()) == []


def test_symlink_planted_at_the_probe_name_is_never_followed_nor_deleted(base):
    target = base / "shared"
    target.mkdir()
    target.chmod(0o1777)
    victim = base / "victim"
    victim.write_text("precious\n")
    planted = target / "probe-fixed"
    planted.symlink_to(victim)
    dangling = target / "probe-dangling"
    created_through = base / "created-through-symlink"
    dangling.symlink_to(created_through)
    for name in ("probe-fixed", "probe-dangling"):
        proc = run_in_ns(base, "true", {RECORDER: str(target)}, as_nobody=True,
                         settings=f'probe_name = "{name}"')
        item = report(proc)
        assert item["status"] == "warn", item
        assert f"{name} (a symlink to " in item["summary"] and "left untouched" in item["summary"]
        assert codes(item) == [("probe_name_taken", "warn")]
    assert victim.read_text() == "precious\n"
    assert planted.is_symlink() and os.readlink(planted) == str(victim)
    assert dangling.is_symlink() and not created_through.exists()
    assert sorted(p.name for p in target.iterdir()) == ["probe-dangling", "probe-fixed"]


def test_path_that_is_a_file_fails(base):
    target = base / "afile"
    target.write_text("x")
    proc = run_in_ns(base, "true", {RECORDER: str(target)}, as_nobody=True)
    item = report(proc)
    assert item["status"] == "fail"
    assert f"{target} is a file, not a directory" in item["summary"]
    assert codes(item) == [("not_a_directory", "fail")]
    assert target.read_text() == "x"


def test_missing_directory_under_a_writable_parent_passes_and_creates_nothing(base):
    parent = owned_by_nobody(base / "parent")
    proc = run_in_ns(base, "true", {RECORDER: str(parent / "a" / "b")}, as_nobody=True)
    item = report(proc)
    assert item["status"] == "ok", item
    assert "SGLang's mkdir -p can create it" in item["summary"]
    assert list(parent.iterdir()) == []


def test_unsearchable_parent_fails_saying_so(base):
    locked = base / "locked"
    locked.mkdir()
    locked.chmod(0o700)
    proc = run_in_ns(base, "true", {RECORDER: str(locked / "rec")}, as_nobody=True)
    item = report(proc)
    assert item["status"] == "fail"
    assert "a parent directory is not searchable" in item["summary"]
    assert "chmod" in item["remedy"]
    assert codes(item) == [("permission_denied", "fail")]
