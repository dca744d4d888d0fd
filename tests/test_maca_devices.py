"""`maca.devices` against a fake root (device nodes made with mknod) and fake `mx-smi` scripts.

A fake /dev cannot stand in for a GPU, so the check takes a root directory setting; the
`mx-smi` scripts print the real `mx-smi -L` formats (facts.md).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from sgdoctor.checks.maca_devices import maca_devices

from conftest import json_report, result_of, run_cli, unavailable
from sgdoctor.api import Context, Status

HEALTHY = "".join(f'echo "GPU#{i}    MXC500      0000:{0x0e + i:02x}:00.0   Available"\n'
                  for i in range(8))
# The fake scripts run with the check's PATH, which the tests keep empty of real tools.
SLEEP = shutil.which("sleep") or "/bin/sleep"
YES = shutil.which("yes") or "/usr/bin/yes"
ONE_BAD = HEALTHY.replace(
    "0000:11:00.0   Available", "0000:11:00.0   Not Available(MetaX Sysfs File Unaccessible)")


def make_nodes(root: Path, *, mxcd: str | None = "char", render: int = 1,
               render_kind: str = "char", mode: int = 0o660, gid: int = 0) -> None:
    """dev/mxcd and dev/dri/renderD128.. under ``root``: real character devices (mknod)."""
    dri = root / "dev" / "dri"
    dri.mkdir(parents=True, exist_ok=True)

    def node(path: Path, kind: str, major: int, minor: int) -> None:
        if kind == "char":
            os.mknod(path, stat.S_IFCHR | mode, os.makedev(major, minor))
        else:
            path.write_text("not a device\n")
        os.chown(path, 0, gid)
        os.chmod(path, mode)        # mknod's mode is filtered by the umask

    if mxcd:
        node(root / "dev" / "mxcd", mxcd, 240, 0)
    for i in range(render):
        node(dri / f"renderD{128 + i}", render_kind, 226, 128 + i)


def fake_smi(driver: Path, body: str) -> Path:
    """An executable `mx-smi` in <driver>/bin printing what a real one prints for -L."""
    (driver / "bin").mkdir(parents=True, exist_ok=True)
    script = driver / "bin" / "mx-smi"
    script.write_text('#!/bin/sh\n[ "$1" = "-L" ] || exit 64\n'
                      'echo "mx-smi  version: 2.3.1"\necho\n' + body)
    script.chmod(0o755)
    return script


def codes(result) -> list[str]:
    return [f["code"] for f in result.details["findings"]]


def run(base: Path, env: dict[str, str] | None = None, *, budget: float = 5.0, **settings):
    settings.setdefault("root", str(base))
    settings.setdefault("driver_dir", str(base / "mxdriver"))
    settings.setdefault("maca_dir", str(base / "maca"))
    full_env = {"PATH": str(base / "nobin")}
    full_env.update(env or {})
    return maca_devices(Context(full_env, deadline=time.monotonic() + budget, settings=settings))


# --- nothing there ---------------------------------------------------------------------

def test_no_devices_and_no_maca_skips(tmp_path):
    r = run(tmp_path)
    assert r.status is Status.SKIP and "no MetaX device" in r.summary


def test_render_nodes_of_another_gpu_without_maca_skip(tmp_path, needs_root):
    make_nodes(tmp_path, mxcd=None, render=1)       # say an iGPU's renderD128
    r = run(tmp_path)
    assert r.status is Status.SKIP and "no MACA software" in r.summary


def test_no_devices_with_maca_path_fails_with_docker_flags(tmp_path):
    r = run(tmp_path, {"MACA_PATH": "/opt/maca"})
    assert r.status is Status.FAIL
    assert "MACA_PATH is set" in r.summary
    assert "--device=/dev/mxcd --device=/dev/dri --group-add video" in r.remedy
    assert codes(r) == ["no_devices"]


def test_no_devices_with_sdk_on_disk_fails(tmp_path):
    (tmp_path / "maca").mkdir()
    r = run(tmp_path)
    assert r.status is Status.FAIL and "maca exists" in r.summary


# --- node shapes -----------------------------------------------------------------------

def test_regular_files_where_devices_should_be_fail(tmp_path):
    make_nodes(tmp_path, mxcd="file", render_kind="file")
    fake_smi(tmp_path / "mxdriver", HEALTHY)
    r = run(tmp_path)
    assert r.status is Status.FAIL
    assert f"{tmp_path}/dev/mxcd is a regular file, not a character device" in r.summary
    assert "renderD128 is a regular file" in r.summary
    assert r.details["mxcd"]["kind"] == "file"
    assert codes(r) == ["mxcd_not_character_device", "render_node_not_character_device"]


def test_healthy_eight_gpus(tmp_path, needs_root):
    make_nodes(tmp_path, render=8)
    fake_smi(tmp_path / "mxdriver", HEALTHY)
    r = run(tmp_path, {"MACA_PATH": "/opt/maca"})
    assert r.status is Status.OK, r.summary
    assert "8 GPU(s) available per mx-smi" in r.summary and "8 render node(s)" in r.summary
    assert r.details["findings"] == []
    assert len(r.details["gpus"]) == 8 and r.details["mxcd"]["rdev"] == [240, 0]
    assert r.details["mx_smi"]["path"] == str(tmp_path / "mxdriver" / "bin" / "mx-smi")


def test_missing_mxcd_with_render_nodes_fails(tmp_path, needs_root):
    make_nodes(tmp_path, mxcd=None)
    fake_smi(tmp_path / "mxdriver", HEALTHY)
    r = run(tmp_path)
    assert r.status is Status.FAIL
    assert "mxcd is missing (1 render node(s) present)" in r.summary
    assert "mx-smi is at" in r.summary
    assert "--device=/dev/mxcd" in r.remedy


def test_missing_render_nodes_fails(tmp_path, needs_root):
    make_nodes(tmp_path, render=0)
    fake_smi(tmp_path / "mxdriver", HEALTHY)
    r = run(tmp_path)
    assert r.status is Status.FAIL and "no render node" in r.summary
    assert codes(r) == ["no_render_node"]


def test_fail_and_warnings_fold_by_the_one_policy(tmp_path, needs_root):
    """The fail's summary alone; every remedy, the fail's first, one per line."""
    make_nodes(tmp_path, render=0)
    r = run(tmp_path, {"MACA_VISIBLE_DEVICES": "GPU-aa,GPU-aa"})
    assert r.status is Status.FAIL
    assert r.summary == f"no render node {tmp_path}/dev/dri/renderD*"
    assert r.remedy.splitlines() == [
        "Pass the devices to the container: docker run --device=/dev/mxcd --device=/dev/dri "
        "--group-add video ...",
        f"Add {tmp_path}/mxdriver/bin to PATH (or mount the MetaX driver tools into the "
        "container)",
        "Prefer GPU indices, e.g. MACA_VISIBLE_DEVICES=0,1",
        "List each GPU once"]
    assert codes(r) == ["no_render_node", "mx_smi_not_found", "visible_uuid_unverified",
                        "visible_devices_duplicate"]


# --- mx-smi ----------------------------------------------------------------------------

def test_not_available_gpu_fails_naming_it(tmp_path, needs_root):
    make_nodes(tmp_path, render=8)
    fake_smi(tmp_path / "mxdriver", ONE_BAD)
    r = run(tmp_path)
    assert r.status is Status.FAIL
    assert "1 of 8 GPU(s) not available" in r.summary
    assert "GPU#3 (0000:11:00.0): Not Available(MetaX Sysfs File Unaccessible)" in r.summary
    assert "show-unavailable-reason" in r.remedy
    assert codes(r) == ["gpu_unavailable"]


def test_hanging_mx_smi_fails_in_time_and_leaves_nothing_behind(tmp_path, needs_root):
    make_nodes(tmp_path)
    pidfile = tmp_path / "sleep.pid"
    fake_smi(tmp_path / "mxdriver", f'{SLEEP} 60 &\necho $! > {pidfile}\nwait\n')
    start = time.monotonic()
    r = run(tmp_path, budget=2.0, mx_smi_timeout=30)   # the check's deadline wins
    took = time.monotonic() - start
    assert r.status is Status.FAIL, r.summary
    assert "did not answer within" in r.summary and "killed" in r.summary
    assert codes(r) == ["mx_smi_hung"]
    assert took < 3.0   # about 1.85 s: the deadline less the probe margin, plus the kill
    pid = int(pidfile.read_text())
    assert not _alive(pid), "the hung mx-smi's child survived"


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs, allowing a moment for an async SIGKILL to land."""
    for _ in range(40):
        if not _running(pid):
            return False
        time.sleep(0.05)
    return True


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_mx_smi_error_exit_is_reported(tmp_path, needs_root):
    make_nodes(tmp_path)
    fake_smi(tmp_path / "mxdriver", 'echo "Failed to initialize mxsml: Driver Not Loaded" >&2\n'
                                    "exit 9\n")
    r = run(tmp_path)
    assert r.status is Status.FAIL
    assert "failed (exit 9): Failed to initialize mxsml: Driver Not Loaded" in r.summary
    assert codes(r) == ["mx_smi_failed"] and "lsmod | grep metax" in r.remedy


def test_mx_smi_escape_sequences_do_not_reach_the_summary(tmp_path, needs_root):
    make_nodes(tmp_path)
    fake_smi(tmp_path / "mxdriver", "printf 'GPU#0    MXC500   0000:0e:00.0   "
                                    "Not Available(\\033[2Jboom)\\n'\n")
    r = run(tmp_path)
    assert r.status is Status.FAIL and "\x1b" not in r.summary
    assert "Not Available(\\x1b[2Jboom)" in r.summary


def test_mx_smi_that_cannot_be_executed(tmp_path, needs_root):
    make_nodes(tmp_path)
    smi = fake_smi(tmp_path / "mxdriver", "")
    smi.write_bytes(b"\x7fELF\x02garbage")       # executable bit, but no valid program
    r = run(tmp_path)
    assert r.status is Status.FAIL
    assert "could not be run: Exec format error" in r.summary
    assert codes(r) == ["mx_smi_not_runnable"]


def test_mx_smi_missing_its_library_points_at_ld_library_path(tmp_path, needs_root):
    make_nodes(tmp_path)
    fake_smi(tmp_path / "mxdriver", 'echo "mx-smi: error while loading shared libraries: '
                                    'libmxsml.so: cannot open shared object file" >&2\nexit 127\n')
    r = run(tmp_path)
    assert r.status is Status.FAIL and "exit 127" in r.summary
    assert f"LD_LIBRARY_PATH={tmp_path}/mxdriver/lib:" in r.remedy
    assert codes(r) == ["mx_smi_libraries_missing"]


def test_mx_smi_loader_words_with_another_exit_are_not_read_as_a_loader_failure(
        tmp_path, needs_root):
    """The verdict keys on the loader's exit status (127), never on the words it printed."""
    make_nodes(tmp_path)
    fake_smi(tmp_path / "mxdriver", 'echo "error while loading shared libraries" >&2\nexit 3\n')
    r = run(tmp_path)
    assert codes(r) == ["mx_smi_failed"] and "LD_LIBRARY_PATH" not in r.remedy


def test_mx_smi_listing_no_gpu_fails(tmp_path, needs_root):
    make_nodes(tmp_path)
    fake_smi(tmp_path / "mxdriver", 'echo "No MetaX GPU found"\n')
    r = run(tmp_path)
    assert r.status is Status.FAIL and "lists no GPU" in r.summary
    assert codes(r) == ["no_gpu_listed"]


def test_endless_output_is_cut_off(tmp_path, needs_root):
    make_nodes(tmp_path)
    fake_smi(tmp_path / "mxdriver", f"{YES} GPU#0\n")
    r = run(tmp_path)
    assert r.status is Status.FAIL and "more than 1 MiB" in r.summary
    assert codes(r) == ["mx_smi_output_too_large"]


def test_unreadable_gpu_lines_warn_and_do_not_count_as_zero(tmp_path, needs_root):
    make_nodes(tmp_path, render=2)
    fake_smi(tmp_path / "mxdriver", 'echo "GPU#0    MXC500   0000:0e:00.0   Initializing"\n')
    r = run(tmp_path, {"MACA_VISIBLE_DEVICES": "1"})
    assert r.status is Status.WARN, r.summary
    assert "cannot read" in r.summary and "Initializing" in r.summary
    assert codes(r) == ["mx_smi_unreadable_lines"]


def test_mx_smi_missing_warns(tmp_path, needs_root):
    make_nodes(tmp_path)
    r = run(tmp_path)
    assert r.status is Status.WARN and "mx-smi is not on PATH" in r.summary
    assert codes(r) == ["mx_smi_not_found"]


def test_mx_smi_on_path_wins_over_driver_dir(tmp_path, needs_root):
    make_nodes(tmp_path, render=8)
    fake_smi(tmp_path / "mxdriver", ONE_BAD)
    on_path = fake_smi(tmp_path / "usr", HEALTHY)
    r = run(tmp_path, {"PATH": str(on_path.parent)})
    assert r.status is Status.OK and r.details["mx_smi"]["path"] == str(on_path)


# --- MACA_VISIBLE_DEVICES --------------------------------------------------------------

@pytest.mark.parametrize("value, status, words, code", [
    ("0,7", Status.OK, None, None),
    ("0,8", Status.FAIL, "names GPU index 8 but only 8 GPU(s) exist (0..7, by mx-smi)",
     "visible_index_out_of_range"),
    ("", Status.WARN, "set but empty", "visible_devices_empty"),
    ("0,gpu1", Status.WARN, "'gpu1' is neither a device index nor a GPU UUID",
     "visible_devices_malformed"),
    ("1,1", Status.WARN, "lists '1' twice", "visible_devices_duplicate"),
    ("GPU-123", Status.WARN, "UUID-like", "visible_uuid_unverified"),
])
def test_visible_devices_against_mx_smi(tmp_path, needs_root, value, status, words, code):
    make_nodes(tmp_path, render=8)
    fake_smi(tmp_path / "mxdriver", HEALTHY)
    r = run(tmp_path, {"MACA_VISIBLE_DEVICES": value})
    assert r.status is status, r.summary
    assert codes(r) == ([code] if code else [])
    if words:
        assert words in r.summary and r.remedy
    assert "MACA_VISIBLE_DEVICES" in r.env


def test_visible_uuid_checked_when_mx_smi_prints_uuids(tmp_path, needs_root):
    make_nodes(tmp_path)
    fake_smi(tmp_path / "mxdriver",
             'echo "GPU#0    MXC600-AL    0000:06:00.0    Available (UUID: GPU-aa-1)"\n')
    assert run(tmp_path, {"MACA_VISIBLE_DEVICES": "GPU-aa-1"}).status is Status.OK
    r = run(tmp_path, {"MACA_VISIBLE_DEVICES": "GPU-bb-2"})
    assert r.status is Status.FAIL and "'GPU-bb-2', which mx-smi does not list" in r.summary
    assert codes(r) == ["visible_uuid_unknown"]


def test_visible_devices_counted_by_render_nodes_without_mx_smi(tmp_path, needs_root):
    make_nodes(tmp_path, render=2)
    r = run(tmp_path, {"MACA_VISIBLE_DEVICES": "2"})
    assert r.status is Status.FAIL and "by render nodes" in r.summary


# --- permissions, as an unprivileged user ------------------------------------------------

def _as_nobody(root: str, groups: str | None) -> dict:
    """Run the check in a child as uid 65534 (root bypasses permission bits)."""
    if not shutil.which("setpriv"):
        unavailable("setpriv (util-linux) is missing")
    code = ("import json,sys,time\nfrom sgdoctor.api import Context\n"
            "from sgdoctor.checks.maca_devices import maca_devices\n"
            "r=maca_devices(Context({'PATH':'/nonexistent'},deadline=time.monotonic()+5,"
            "settings={'root':sys.argv[1],'driver_dir':sys.argv[1]+'/mxdriver',"
            "'maca_dir':sys.argv[1]+'/maca'}))\n"
            "print(json.dumps({'status':str(r.status),'summary':r.summary,"
            "'remedy':r.remedy}))\n")
    ids = ["--reuid=65534", "--regid=65534"]
    ids += [f"--groups={groups}"] if groups else ["--clear-groups"]
    usable = subprocess.run(["setpriv", *ids, sys.executable, "-c", "import sgdoctor"],
                            capture_output=True, text=True, timeout=30, cwd="/")
    if usable.returncode != 0:
        unavailable(f"uid 65534 cannot run {sys.executable}: {usable.stderr.strip()[:200]}")
    proc = subprocess.run(["setpriv", *ids, sys.executable, "-c", code, root],
                          capture_output=True, text=True, timeout=30, cwd="/")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def world_readable_root():
    path = tempfile.mkdtemp(prefix="sgdoctor-devs-")
    os.chmod(path, 0o755)
    yield Path(path)
    shutil.rmtree(path)


def test_nodes_not_readwrite_name_the_group(world_readable_root, needs_root):
    make_nodes(world_readable_root, gid=44, mode=0o660)
    fake_smi(world_readable_root / "mxdriver", HEALTHY.splitlines()[0] + "\n")
    doc = _as_nobody(str(world_readable_root), None)
    assert doc["status"] == "fail"
    assert "mxcd is not read-write for this user" in doc["summary"]
    assert "group video, which this user is not in" in doc["summary"]
    assert "--group-add video" in doc["remedy"]


def test_group_membership_grants_access(world_readable_root, needs_root):
    make_nodes(world_readable_root, gid=44, mode=0o660)
    fake_smi(world_readable_root / "mxdriver", HEALTHY.splitlines()[0] + "\n")
    doc = _as_nobody(str(world_readable_root), "44")
    assert doc["status"] == "ok", doc


# --- through the real CLI --------------------------------------------------------------

def cli(base: Path, env: dict[str, str], *args: str, **settings) -> tuple[int, dict, float]:
    settings.setdefault("root", str(base))
    settings.setdefault("driver_dir", str(base / "mxdriver"))
    settings.setdefault("maca_dir", str(base / "maca"))
    config = base / "sgdoctor.toml"
    config.write_text('[checks."maca.devices"]\n' + "".join(
        f"{k} = {json.dumps(v)}\n" for k, v in settings.items()))
    full_env = {"PATH": str(base / "nobin")}
    full_env.update(env)
    start = time.monotonic()
    proc = run_cli(["--only", "maca.devices", "--format", "json", "--config", str(config),
                    *args], full_env)
    took = time.monotonic() - start
    return proc.returncode, result_of(json_report(proc), "maca.devices"), took


def test_cli_healthy(tmp_path, needs_root):
    make_nodes(tmp_path, render=8)
    fake_smi(tmp_path / "mxdriver", HEALTHY)
    code, res, _ = cli(tmp_path, {"MACA_PATH": "/opt/maca", "MACA_VISIBLE_DEVICES": "0,1"})
    assert code == 0 and res["status"] == "ok", res
    assert [g["index"] for g in res["details"]["gpus"]] == list(range(8))
    assert res["env"] == ["MACA_PATH", "MACA_VISIBLE_DEVICES", "PATH"]


def test_cli_not_available_fails(tmp_path, needs_root):
    make_nodes(tmp_path, render=8)
    fake_smi(tmp_path / "mxdriver", ONE_BAD)
    code, res, _ = cli(tmp_path, {})
    assert code == 1 and res["status"] == "fail" and "GPU#3" in res["summary"]
    assert [(f["code"], f["status"]) for f in res["details"]["findings"]] == [
        ("gpu_unavailable", "fail")]


def test_cli_hanging_mx_smi_is_a_fail_before_the_run_deadline(tmp_path, needs_root):
    make_nodes(tmp_path)
    pidfile = tmp_path / "sleep.pid"
    fake_smi(tmp_path / "mxdriver", f'{SLEEP} 60 &\necho $! > {pidfile}\nwait\n')
    code, res, took = cli(tmp_path, {}, "--timeout", "2s", mx_smi_timeout=30)
    assert res["status"] == "fail" and "did not answer" in res["summary"], res
    assert code == 1 and took < 10
    assert not _alive(int(pidfile.read_text()))


def test_cli_no_devices_in_a_maca_container(tmp_path):
    code, res, _ = cli(tmp_path, {"MACA_PATH": "/opt/maca"})
    assert code == 1 and res["status"] == "fail"
    assert "--device=/dev/mxcd --device=/dev/dri --group-add video" in res["remedy"]
    assert [f["code"] for f in res["details"]["findings"]] == ["no_devices"]


def test_cli_bad_timeout_setting_is_an_error(tmp_path, needs_root):
    make_nodes(tmp_path)
    fake_smi(tmp_path / "mxdriver", HEALTHY)
    code, res, _ = cli(tmp_path, {}, mx_smi_timeout=-1)
    assert code == 3 and res["status"] == "error" and "mx_smi_timeout" in res["summary"]
    # The wrong type is caught before anything runs: a usage error naming check and key.
    config = tmp_path / "typed.toml"
    config.write_text('[checks."maca.devices"]\nmx_smi_timeout = "soon"\n')
    proc = run_cli(["--only", "maca.devices", "--config", str(config)])
    assert proc.returncode == 2 and proc.stdout == ""
    assert '[checks."maca.devices"] mx_smi_timeout' in proc.stderr
