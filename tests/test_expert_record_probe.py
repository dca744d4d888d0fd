"""The pieces behind expert_record.dir, called directly: the mountinfo parser, the directory
probe on this machine's real filesystem (tmp_path), which returns facts, and the check's
judgement of those facts (codes, summaries, remedies)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sgdoctor.checks.expert_record import _judge

from sgdoctor.api import FailureKind, Status
from sgdoctor.parse.mountinfo import mount_for, parse_mountinfo
from sgdoctor.probe import writable
from sgdoctor.probe.writable import Obstacle, Step, probe_directory

GIB = 1 << 30
SAMPLE = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
36 27 98:0 /mnt1 /mnt/with\\040space rw master:1 shared:7 - ext3 /dev/root rw,errors=continue
40 27 254:0 /srv/data /data ro,relatime - ext4 /dev/vda rw,discard
41 40 0:50 / /data/scratch rw - tmpfs tmpfs rw,size=1024k
42 40 0:51 / /data/scratch rw - tmpfs second ro,size=8k
garbage line without separator
"""


# --- /proc/self/mountinfo -------------------------------------------------------------------

def test_mountinfo_fields_escapes_and_optional_fields():
    entries = parse_mountinfo(SAMPLE)
    assert len(entries) == 6
    spaced = entries[2]
    assert spaced.mount_point == "/mnt/with space"
    assert (spaced.fstype, spaced.source, spaced.device) == ("ext3", "/dev/root", (98, 0))
    assert spaced.super_options == ("rw", "errors=continue")


def test_read_only_comes_from_the_mount_or_the_superblock():
    by_point = {}
    for entry in parse_mountinfo(SAMPLE):
        by_point[entry.mount_point] = entry       # the stacked one wins, as in mount_for
    assert by_point["/data"].read_only            # ro bind of a rw filesystem
    assert by_point["/data/scratch"].read_only    # ro superblock
    assert not by_point["/"].read_only


def test_longest_mount_point_wins_and_a_stacked_mount_hides_the_one_below():
    entries = parse_mountinfo(SAMPLE)
    assert mount_for(entries, "/data/scratch/x").source == "second"
    assert mount_for(entries, "/data/scratchy").mount_point == "/data"
    assert mount_for(entries, "/etc").mount_point == "/"
    assert mount_for(entries, "/proc").fstype == "proc"


def test_device_rules_out_a_hidden_mount():
    entries = parse_mountinfo(SAMPLE + "50 27 0:60 / /data rw - tmpfs over rw\n")
    # /data/scratch (0:50, 0:51) is hidden under the later /data tmpfs (0:60).
    assert mount_for(entries, "/data/scratch", device=(0, 60)).source == "over"
    assert mount_for(entries, "/data/scratch", device=(9, 9)) is None


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_mountinfo_parser_never_raises(text):
    for entry in parse_mountinfo(text):
        assert isinstance(entry.read_only, bool)


def test_this_hosts_mountinfo_finds_the_root_mount():
    entries = parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    dev = os.stat("/").st_dev
    assert mount_for(entries, "/", (os.major(dev), os.minor(dev))).mount_point == "/"


# --- the probe ------------------------------------------------------------------------------

def judged(facts, min_free_bytes: int = 0, min_free_inodes: int = 0) -> list[str]:
    return [f.code for f in _judge(facts, min_free_bytes, min_free_inodes)]


def test_writable_directory_passes_and_reports_owner_mode_filesystem(tmp_path):
    facts = probe_directory(str(tmp_path))
    assert facts.obstacle is None and facts.failure is None and judged(facts) == []
    assert facts.write_test_passed and facts.exists and facts.examined == str(tmp_path)
    assert facts.mode == f"{stat.S_IMODE(tmp_path.stat().st_mode):04o}"
    assert facts.owner == "root" and facts.user == "root"
    assert facts.mount is not None and facts.mount.fstype and facts.mount.mount_point
    assert facts.free_bytes > 0
    assert list(tmp_path.iterdir()) == []


def test_free_space_and_inode_minimums_are_the_checks_judgement(tmp_path):
    facts = probe_directory(str(tmp_path))
    codes = judged(facts, min_free_bytes=1 << 60, min_free_inodes=1 << 60)
    assert "low_space" in codes
    if facts.free_inodes is not None:        # None: no inode table (btrfs)
        assert "low_inodes" in codes
    assert all(f.status is Status.WARN for f in _judge(facts, 1 << 60, 1 << 60))
    assert judged(facts) == []


def test_missing_directory_is_ok_when_creatable_and_nothing_is_created(tmp_path):
    before = sorted(os.listdir(tmp_path))
    facts = probe_directory(str(tmp_path / "a" / "b" / "c"))
    assert judged(facts) == [], facts
    assert facts.will_be_created is True and not facts.exists
    assert facts.examined == str(tmp_path)
    assert facts.write_test_passed
    assert sorted(os.listdir(tmp_path)) == before


def test_a_file_is_not_a_directory(tmp_path):
    path = tmp_path / "f"
    path.write_text("keep")
    facts = probe_directory(str(path))
    assert facts.obstacle is Obstacle.NOT_A_DIRECTORY and facts.regular_file
    assert judged(facts) == ["not_a_directory"]
    assert path.read_text() == "keep"


def test_a_file_among_the_parents_fails(tmp_path):
    (tmp_path / "f").write_text("")
    facts = probe_directory(str(tmp_path / "f" / "sub"))
    assert facts.obstacle is Obstacle.ANCESTOR_NOT_DIRECTORY
    assert judged(facts) == ["ancestor_not_directory"]


def test_dangling_symlink_at_the_path_fails_like_mkdir_would(tmp_path):
    link = tmp_path / "records"
    link.symlink_to(tmp_path / "gone")
    facts = probe_directory(str(link))
    assert facts.obstacle is Obstacle.DANGLING_SYMLINK
    assert facts.obstacle_path == str(tmp_path / "gone")
    assert judged(facts) == ["dangling_symlink"]
    assert not (tmp_path / "gone").exists()


def test_symlink_to_a_directory_is_followed_like_the_writer_does(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    facts = probe_directory(str(tmp_path / "link"))
    assert judged(facts) == [] and facts.write_test_passed
    assert list(real.iterdir()) == []


def test_symlink_loop_fails(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    facts = probe_directory(str(tmp_path / "a"))
    assert facts.obstacle is Obstacle.SYMLINK_LOOP and judged(facts) == ["symlink_loop"]


def test_planted_symlink_is_skipped_and_a_fresh_name_is_used(tmp_path):
    victim = tmp_path.parent / f"{tmp_path.name}-victim"
    victim.write_text("precious")
    (tmp_path / "planted").symlink_to(victim)
    names = iter(["planted", "fresh-probe"])
    try:
        facts = probe_directory(str(tmp_path), probe_name=lambda: next(names))
        assert judged(facts) == [] and facts.write_test_passed
        assert facts.names_taken == [writable.Occupant("planted", "symlink", str(victim))]
        assert victim.read_text() == "precious"
        assert os.readlink(tmp_path / "planted") == str(victim)
        assert sorted(os.listdir(tmp_path)) == ["planted"]
    finally:
        victim.unlink()


def test_name_taken_on_every_attempt_warns_and_touches_nothing(tmp_path):
    (tmp_path / "mine").write_text("data")
    facts = probe_directory(str(tmp_path), probe_name=lambda: "mine")
    assert facts.write_test_skipped and not facts.write_test_passed
    (finding,) = _judge(facts, 0, 0)
    assert finding.code == "probe_name_taken" and finding.status is Status.WARN
    assert "mine (a file)" in finding.summary
    assert (tmp_path / "mine").read_text() == "data"


def test_default_probe_names_are_unpredictable():
    names = {writable.default_probe_name() for _ in range(50)}
    assert len(names) == 50
    assert all(n.startswith(".sgdoctor-probe-") and "/" not in n for n in names)


def test_probe_is_removed_only_if_it_is_still_ours(tmp_path, monkeypatch):
    """Someone swaps our probe for their own file mid-test: we must not delete theirs."""
    real_fsync = os.fsync

    def swap_then_fsync(fd):
        real_fsync(fd)
        for name in os.listdir(tmp_path):
            os.rename(tmp_path / name, tmp_path / "ours-moved")
            (tmp_path / name).write_text("theirs")
    monkeypatch.setattr(writable.os, "fsync", swap_then_fsync)
    facts = probe_directory(str(tmp_path), probe_name=lambda: "probe")
    assert judged(facts) == []
    assert (tmp_path / "probe").read_text() == "theirs"


@pytest.mark.parametrize(("code", "kind", "finding"),
                         [(errno.EDQUOT, FailureKind.NO_SPACE, "quota"),
                          (errno.EIO, FailureKind.IO, "write_failed")])
def test_errors_this_machine_cannot_produce_still_become_findings(tmp_path, monkeypatch,
                                                                 code, kind, finding):
    """EROFS, EACCES and ENOSPC are produced for real in test_expert_record_fs.py; a quota
    or a failing disk cannot be had here, so only these are injected."""
    real_write = os.write

    def failing_write(fd, data):
        real_write(fd, data[:10])
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(writable.os, "write", failing_write)
    facts = probe_directory(str(tmp_path))
    assert facts.failure is not None
    assert (facts.failure.kind, facts.failure.step, facts.failure.path) == (
        kind, Step.CREATE_FILE, str(tmp_path))
    assert facts.failure.errno == errno.errorcode[code]
    (judgement,) = _judge(facts, 0, 0)
    assert judgement.code == finding and judgement.status is Status.FAIL and judgement.remedy
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("code", "kind"), [
    (errno.EROFS, FailureKind.READ_ONLY), (errno.EACCES, FailureKind.PERMISSION),
    (errno.EPERM, FailureKind.PERMISSION), (errno.ENOSPC, FailureKind.NO_SPACE),
    (errno.EDQUOT, FailureKind.NO_SPACE), (errno.ENOENT, FailureKind.NOT_FOUND),
    (errno.EIO, FailureKind.IO), (None, FailureKind.IO)])
def test_errno_kinds(code, kind):
    assert writable.failure_kind(code) is kind


def test_non_utf8_path_is_probed_not_raised(tmp_path):
    name = os.fsdecode(b"rec\xff")
    facts = probe_directory(os.path.join(str(tmp_path), name))
    assert judged(facts) == [] and facts.write_test_passed
    assert facts.path == os.path.join(str(tmp_path), name)


def test_relative_path_without_a_working_directory_is_a_finding(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    here = os.getcwd()
    os.chdir(gone)
    try:
        gone.rmdir()
        facts = probe_directory("records")
    finally:
        os.chdir(here)
    assert facts.obstacle is Obstacle.NO_WORKING_DIRECTORY
    assert judged(facts) == ["no_working_directory"]


@pytest.mark.parametrize("path", ["/tmp/a\0b", "/tmp/\ud800"])
def test_impossible_paths_are_a_finding_not_an_exception(path):
    facts = probe_directory(path)
    assert facts.obstacle is Obstacle.INVALID_PATH
    (finding,) = _judge(facts, 0, 0)
    assert finding.code == "invalid_path" and finding.summary.startswith("/tmp/")
    finding.summary.encode("utf-8")      # escaped: no NUL, no lone surrogate
    assert "\0" not in finding.summary
