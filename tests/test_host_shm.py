"""host.shm against real tmpfs mounts of chosen sizes over /dev/shm, each in a private mount
namespace (unshare -m), with the real CLI running inside; --host-root trees for the hostile
cases (FIFOs, missing entries) that a real /dev cannot safely be made into."""

from __future__ import annotations

import os

import pytest

from host_helpers import (
    cli_result,
    codes,
    config_args,
    device_of,
    mountinfo_line,
    need_unshare,
    run_check,
    tree,
)
from sgdoctor.api import Status

TWO_GPUS = {"MACA_VISIBLE_DEVICES": "0,1"}


@pytest.fixture
def unshare_ok():
    need_unshare()


def shm(size: str, extra: str = "", options: str = "") -> str:
    opts = f"size={size}" + (f",{options}" if options else "")
    return f"mount -t tmpfs -o {opts} tmpfs /dev/shm\n{extra}"


def test_dockers_64m_default_fails_on_two_gpus(unshare_ok):
    code, item = cli_result("host.shm", env=TWO_GPUS, setup=shm("64m"))
    assert code == 1 and item["status"] == "fail", item
    assert codes(item) == {"too_small"}
    assert "64.0 MiB" in item["summary"] and "2 GPUs" in item["summary"]
    assert item["details"]["size_bytes"] == 64 << 20
    assert item["details"]["required_bytes"] == 1 << 30
    lines = item["remedy"].splitlines()
    assert "docker run --shm-size=4g ..." in lines
    assert any("medium: Memory" in line and "mountPath: /dev/shm" in line for line in lines)


def test_eight_gpus_need_more_than_the_two_gpu_floor(unshare_ok, tmp_path):
    env = {"MACA_VISIBLE_DEVICES": ",".join(str(i) for i in range(8))}
    code, item = cli_result("host.shm", config_args(tmp_path, "host.shm", 'warn_below_bytes = 0'),
                            env, setup=shm("1536m"))
    assert item["status"] == "fail" and codes(item) == {"too_small"}, item
    assert item["details"]["required_bytes"] == 8 * 7 * (32 << 20)
    assert "8 GPUs (MACA_VISIBLE_DEVICES)" in item["summary"]


def test_64m_on_one_gpu_is_a_warning(unshare_ok):
    code, item = cli_result("host.shm", env={"MACA_VISIBLE_DEVICES": "0"}, setup=shm("64m"))
    assert code == 0 and item["status"] == "warn", item
    assert codes(item) == {"small"}


def test_big_enough_is_ok(unshare_ok):
    code, item = cli_result("host.shm", env=TWO_GPUS, setup=shm("8g"))
    assert code == 0 and item["status"] == "ok", item
    assert item["details"]["mount"] == {"mount_point": "/dev/shm", "fstype": "tmpfs",
                                        "read_only": False}
    assert item["details"]["write_tested"] is True
    assert "8.0 GiB" in item["summary"]


def test_probe_leaves_nothing_behind(tmp_path):
    from sgdoctor.probe.hostroot import HostRoot
    from sgdoctor.probe.hostshm import probe_shm

    root = _root(tmp_path, _shm_mounts(tmp_path))
    (root / "dev" / "shm" / "nccl-other").write_text("kept")
    facts = probe_shm(HostRoot(str(root)), write=True)
    assert facts.write_tested and facts.write_error is None
    assert os.listdir(root / "dev" / "shm") == ["nccl-other"]


def test_under_a_host_root_nothing_is_written(tmp_path):
    root = _root(tmp_path, _shm_mounts(tmp_path))
    result = run_check("host.shm", settings={"warn_below_bytes": 0},
                       options={"host_root": str(root)})
    assert result.status is Status.OK, result
    assert result.details["write_tested"] is False
    assert "not write-tested under --host-root" in result.summary
    assert os.listdir(root / "dev" / "shm") == []


def test_thresholds_are_settings(unshare_ok, tmp_path):
    args = config_args(tmp_path, "host.shm", 'multi_gpu_min_bytes = "32MiB"\n'
                       'per_pair_bytes = "1MiB"\nwarn_below_bytes = "48m"')
    code, item = cli_result("host.shm", args, TWO_GPUS, setup=shm("64m"))
    assert item["status"] == "ok", item
    assert item["details"]["required_bytes"] == 32 << 20


def test_bad_setting_is_an_error_not_a_verdict(tmp_path):
    code, item = cli_result("host.shm", config_args(tmp_path, "host.shm",
                                                    'per_pair_bytes = "lots"'))
    assert code == 3 and item["status"] == "error", item
    assert "per_pair_bytes" in item["summary"]


def test_read_only_mount_fails(unshare_ok):
    code, item = cli_result("host.shm", env=TWO_GPUS, setup=shm("8g", options="ro"))
    assert item["status"] == "fail" and codes(item) == {"read_only"}, item


def test_full_shm_fails_with_no_space(unshare_ok):
    fill = "fallocate -l 64m /dev/shm/filler\n"
    code, item = cli_result("host.shm", env={"MACA_VISIBLE_DEVICES": "0"},
                            setup=shm("64m", fill))
    assert item["status"] == "fail" and "no_space" in codes(item), item


def test_stale_segments_leave_too_little_free(unshare_ok, tmp_path):
    args = config_args(tmp_path, "host.shm", 'multi_gpu_min_bytes = "64MiB"\n'
                       'per_pair_bytes = 0\nwarn_below_bytes = 0')
    fill = "fallocate -l 100m /dev/shm/nccl-stale\n"
    code, item = cli_result("host.shm", args, TWO_GPUS, setup=shm("128m", fill))
    assert item["status"] == "fail" and codes(item) == {"low_free"}, item
    assert "ls -la /dev/shm" in item["remedy"]


def test_unwritable_for_this_user_fails(unshare_ok):
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    code, item = cli_result("host.shm", env=TWO_GPUS, setup=shm("8g", options="mode=755"),
                            prefix=prefix)
    assert item["status"] == "fail" and codes(item) == {"not_writable"}, item
    assert "chmod 1777" in item["remedy"]


# --- --host-root trees: the kernel's file layout, with the hostile shapes in it -----------

def _shm_mounts(tmp_path) -> str:
    """/ and a /dev/shm mount whose device is the tree's own, as on a real node."""
    return mountinfo_line("/") + mountinfo_line("/dev/shm", device=device_of(tmp_path))


def _root(tmp_path, mounts: str, shm_dir: bool = True):
    files = {"proc/1/mountinfo": mounts}
    if shm_dir:
        files["dev/shm/"] = ""
    return tree(tmp_path, files)


def test_tp_size_from_the_launch_command_wins(tmp_path):
    root = _root(tmp_path, _shm_mounts(tmp_path))
    result = run_check("host.shm", env={"MACA_VISIBLE_DEVICES": "0"},
                       settings={"multi_gpu_min_bytes": 0, "per_pair_bytes": "1TiB"},
                       options={"host_root": str(root), "tp_size": 4})
    assert result.status is Status.FAIL and codes(result) == {"too_small"}, result
    assert result.details["gpus"] == 4 and result.details["gpus_from"] == "--tp-size 4"


def test_tp_size_over_nodes_counts_this_nodes_share(tmp_path):
    root = _root(tmp_path, _shm_mounts(tmp_path))
    result = run_check("host.shm", options={"host_root": str(root), "tp_size": 16,
                                             "nnodes": 2})
    assert result.details["gpus"] == 8


def test_render_nodes_beside_mxcd_count_gpus(tmp_path):
    root = _root(tmp_path, _shm_mounts(tmp_path))
    (root / "dev" / "mxcd").write_text("")
    (root / "dev" / "dri").mkdir()
    for n in (128, 129, 130):
        (root / "dev" / "dri" / f"renderD{n}").write_text("")
    result = run_check("host.shm", options={"host_root": str(root)})
    assert result.details["gpus"] == 3 and "render nodes" in result.details["gpus_from"]


def test_no_shm_and_no_gpu_is_a_skip(tmp_path):
    root = _root(tmp_path, mountinfo_line("/"), shm_dir=False)
    result = run_check("host.shm", options={"host_root": str(root)})
    assert result.status is Status.SKIP, result


def test_missing_shm_with_gpus_fails(tmp_path):
    root = _root(tmp_path, mountinfo_line("/"), shm_dir=False)
    result = run_check("host.shm", env=TWO_GPUS, options={"host_root": str(root)})
    assert result.status is Status.FAIL and codes(result) == {"missing"}, result


def test_shm_on_the_root_filesystem_is_a_warning(tmp_path):
    root = _root(tmp_path, mountinfo_line("/", "overlay"))
    result = run_check("host.shm", settings={"warn_below_bytes": 0},
                       options={"host_root": str(root)})
    assert "not_own_mount" in codes(result), result
    assert result.details["mount"]["mount_point"] == "/"


def test_shm_not_tmpfs_is_a_warning(tmp_path):
    root = _root(tmp_path, mountinfo_line("/", "overlay")
                 + mountinfo_line("/dev/shm", "ext4", device=device_of(tmp_path)))
    result = run_check("host.shm", settings={"warn_below_bytes": 0},
                       options={"host_root": str(root)})
    assert codes(result) == {"not_tmpfs"}, result


@pytest.mark.parametrize("hostile", ["fifo", "missing", "garbage"])
def test_unreadable_mount_table_is_a_clear_warning(tmp_path, hostile):
    root = tree(tmp_path, {"dev/shm/": "", "proc/1/": ""})
    if hostile == "fifo":
        os.mkfifo(root / "proc" / "1" / "mountinfo")
    elif hostile == "garbage":
        (root / "proc" / "1" / "mountinfo").write_bytes(b"\xff\xfe not a mount table\n")
    result = run_check("host.shm", settings={"warn_below_bytes": 0},
                       options={"host_root": str(root)})
    assert result.status is Status.WARN and codes(result) == {"mountinfo_unreadable"}, result


def test_shm_that_is_a_fifo_fails(tmp_path):
    root = tree(tmp_path, {"proc/1/mountinfo": mountinfo_line("/"), "dev/": ""})
    os.mkfifo(root / "dev" / "shm")
    result = run_check("host.shm", env=TWO_GPUS, options={"host_root": str(root)})
    assert result.status is Status.FAIL and codes(result) == {"not_a_directory"}, result


def test_missing_host_root_is_an_error(tmp_path):
    result = run_check("host.shm", options={"host_root": str(tmp_path / "absent")})
    assert result.status is Status.ERROR and "host root" in result.summary


def test_a_dev_shm_not_propagated_into_the_container_is_said(tmp_path):
    root = _root(tmp_path, mountinfo_line("/") + mountinfo_line("/dev/shm", device="0:4242"))
    result = run_check("host.shm", settings={"warn_below_bytes": 0},
                       options={"host_root": str(root)})
    assert result.status is Status.WARN and codes(result) == {"not_visible"}, result
    assert "mountPropagation: HostToContainer" in result.summary


def test_segments_already_there_are_counted(unshare_ok, tmp_path):
    args = config_args(tmp_path, "host.shm", 'multi_gpu_min_bytes = "64MiB"\n'
                       'per_pair_bytes = 0\nwarn_below_bytes = 0')
    fill = ("fallocate -l 40m /dev/shm/nccl-a1\nfallocate -l 40m /dev/shm/nccl-b2\n"
            "fallocate -l 20m /dev/shm/other\n")
    code, item = cli_result("host.shm", args, TWO_GPUS, setup=shm("128m", fill))
    assert item["status"] == "fail" and codes(item) == {"low_free"}, item
    assert item["details"]["segments"] == {"count": 2, "bytes": 80 << 20}
    assert "2 nccl-*/mccl-* segment(s) hold 80.0 MiB" in item["summary"]


def test_a_dev_shm_symlink_is_followed_inside_the_host_root(tmp_path):
    root = tree(tmp_path, {"proc/1/mountinfo": mountinfo_line("/")
                           + mountinfo_line("/run/shm", device=device_of(tmp_path)),
                           "run/shm/": "", "dev/": ""})
    (root / "dev" / "shm").symlink_to("/run/shm")
    result = run_check("host.shm", settings={"warn_below_bytes": 0},
                       options={"host_root": str(root)})
    assert result.details["path"] == f"{root}/run/shm" and result.details["kind"] == "dir"
    assert result.status is Status.OK, result               # its own tmpfs, at /run/shm
    assert result.details["mount"]["mount_point"] == "/run/shm"
