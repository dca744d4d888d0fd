"""A Nagios plugin that leaves children behind — in its process group, or detached with
setsid — must leave nothing running once sgdoctor has exited."""

from __future__ import annotations

import os
import secrets
import stat
import time
from pathlib import Path

import pytest

from conftest import json_report, result_of, run_cli, unavailable


def _running_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(entry))
    return found


def _gone(marker: str, within: float = 30.0) -> list[int]:
    """Processes still carrying ``marker`` once ``within`` seconds have passed (none: [])."""
    deadline = time.monotonic() + within
    while (left := _running_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@pytest.mark.parametrize("how", ["background", "setsid"])
def test_detached_children_of_a_plugin_are_ended(tmp_path: Path, how: str) -> None:
    if how == "setsid" and os.geteuid() != 0:
        unavailable("a setsid child escapes the process group; only a cgroup (root) holds it")
    seconds = f"{300 + secrets.randbelow(600)}.{secrets.randbelow(10**6):06d}"
    spawn = "setsid sleep" if how == "setsid" else "sleep"
    plugin = tmp_path / "check_leaves"
    plugin.write_text("#!/bin/sh\n"
                      f"{spawn} {seconds} >/dev/null 2>&1 </dev/null &\n"
                      "echo 'OK - left a child | children=1'\nexit 0\n")
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    try:
        proc = run_cli(["--checks-dir", str(tmp_path), "--only", "plugin.check_leaves",
                        "--format", "json"])
        assert result_of(json_report(proc), "plugin.check_leaves")["status"] == "ok"
        assert _gone(seconds) == [], f"sleep {seconds} still running after sgdoctor exited"
    finally:
        for pid in _running_with(seconds):
            os.kill(pid, 9)


def test_a_plugin_runs_in_a_cgroup_that_is_removed_after(tmp_path: Path) -> None:
    from sgdoctor.probe.cgroup import _own_path, _v2_mount

    if os.geteuid() != 0:
        unavailable("this test needs root (a cgroup)")
    mount, own = _v2_mount(), _own_path()
    if mount is None or own is None:
        unavailable("no cgroup v2 is mounted")
    plugin = tmp_path / "check_where"
    plugin.write_text("#!/bin/sh\necho \"OK - $(grep '^0::' /proc/self/cgroup | cut -c4-)\"\n")
    plugin.chmod(0o755)
    proc = run_cli(["--checks-dir", str(tmp_path), "--only", "plugin.check_where",
                    "--format", "json"])
    summary = result_of(json_report(proc), "plugin.check_where")["summary"]
    box = summary.removeprefix("OK - ")
    assert Path(box).name.startswith("sgdoctor-"), summary
    assert not (Path(mount) / box.lstrip("/")).exists(), f"cgroup {box} was left behind"
