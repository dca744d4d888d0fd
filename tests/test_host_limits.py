"""host.limits with real limits set by prlimit(1) on the CLI process, a real process named by
the pid setting, and --host-root trees (the kernel's /proc/<pid>/limits layout and the
/sys/class/infiniband ABI; no RDMA hardware here) for RDMA devices and hostile files."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import unavailable
from host_helpers import cli_result, codes, config_args, run_check, tree
from sgdoctor.api import Status

MIB = 1 << 20
HEADER = "Limit                     Soft Limit           Hard Limit           Units     \n"


@pytest.fixture
def prlimit():
    if not shutil.which("prlimit"):
        unavailable("this test needs prlimit(1) (util-linux)")

    def prefix(*limits: str) -> list[str]:
        return ["prlimit", *limits, "--"]
    return prefix


def limits_file(memlock: str = "unlimited  unlimited  bytes",
                nofile: str = "1048576  1048576  files") -> str:
    return (HEADER + "Max cpu time              unlimited            unlimited            seconds\n"
            f"Max open files            {nofile}\n"
            f"Max locked memory         {memlock}\n")


# This machine's root lacks CAP_SYS_RESOURCE (hard limits memlock 8 MiB, nofile 20000 here):
# prlimit may only lower limits, so "unlimited" is covered by the --host-root trees below.
@pytest.fixture
def relaxed(tmp_path):
    """Settings that take nofile out of the verdict, so a test judges memlock alone."""
    return config_args(tmp_path, "host.limits", "nofile_min = 1024")


def test_8mib_memlock_with_an_ib_transport_configured_fails(prlimit, relaxed):
    code, item = cli_result("host.limits", relaxed, {"NCCL_IB_HCA": "mlx5_0,mlx5_1"},
                            prefix=prlimit("--memlock=8388608:8388608"))
    assert code == 1 and item["status"] == "fail", item
    assert codes(item) == {"memlock_rdma"}
    assert "8 MiB" in item["summary"] and "NCCL_IB_HCA=mlx5_0,mlx5_1" in item["summary"]
    assert item["details"]["limits"]["Max locked memory"] == {
        "soft": 8 * MIB, "hard": 8 * MIB, "unit": "bytes"}
    lines = item["remedy"].splitlines()
    assert lines[:2] == ["ulimit -l unlimited", "docker run --ulimit memlock=-1:-1 ..."]
    assert "LimitMEMLOCK=infinity" in lines[2]


@pytest.mark.parametrize("env", [{"NVSHMEM_IB_ENABLE_IBGDA": "1"},
                                 {"NCCL_NET": "IB"},
                                 {"NVSHMEM_REMOTE_TRANSPORT": "IBRC"},
                                 {"MCCL_IB_HCA": "=mlx5_0:1"}])
def test_other_ways_of_asking_for_ib(prlimit, relaxed, env):
    code, item = cli_result("host.limits", relaxed, env, prefix=prlimit("--memlock=8388608"))
    assert item["status"] == "fail" and codes(item) == {"memlock_rdma"}, item


def test_nvshmem_ibgda_off_asks_for_nothing(prlimit, relaxed):
    code, item = cli_result("host.limits", relaxed, {"NVSHMEM_IB_ENABLE_IBGDA": "false"},
                            prefix=prlimit("--memlock=8388608"))
    assert item["status"] == "ok", item
    assert item["details"]["ib_requested_by"] == []


def test_small_memlock_without_rdma_is_a_warning(prlimit, relaxed):
    code, item = cli_result("host.limits", relaxed, prefix=prlimit("--memlock=65536"))
    assert code == 0 and item["status"] == "warn", item
    assert codes(item) == {"memlock_small"}
    assert "64 KiB" in item["summary"]


def test_raisable_nofile_is_ok(prlimit, tmp_path):
    args = config_args(tmp_path, "host.limits", "nofile_min = 16384")
    code, item = cli_result("host.limits", args, prefix=prlimit("--memlock=8388608",
                                                                "--nofile=1024:20000"))
    assert code == 0 and item["status"] == "ok", item
    assert "memlock 8 MiB, nofile soft 1024 / hard 20000" in item["summary"]


def test_low_hard_nofile_is_a_warning(prlimit):
    code, item = cli_result("host.limits", prefix=prlimit("--memlock=8388608",
                                                          "--nofile=1024:4096"))
    assert item["status"] == "warn" and codes(item) == {"nofile_hard_low"}, item
    assert "hard limit 4096" in item["summary"] and "(1024)" in item["summary"]
    assert "docker run --ulimit nofile=65535:1048576 ..." in item["remedy"].splitlines()


def test_soft_nofile_already_high_needs_no_raise(prlimit, tmp_path):
    args = config_args(tmp_path, "host.limits", "nofile_min = 16384")
    code, item = cli_result("host.limits", args, prefix=prlimit("--memlock=8388608",
                                                                "--nofile=16384:16384"))
    assert item["status"] == "ok", item


def test_thresholds_are_settings(prlimit, tmp_path):
    args = config_args(tmp_path, "host.limits", 'rdma_memlock_min_bytes = "8MiB"\n'
                       "nofile_min = 4096")
    code, item = cli_result("host.limits", args, {"NCCL_IB_HCA": "mlx5_0"},
                            prefix=prlimit("--memlock=8388608", "--nofile=1024:4096"))
    assert item["status"] == "ok", item
    assert item["details"]["thresholds"]["rdma_memlock_min_bytes"] == 8 * MIB


def test_limits_of_another_process_by_pid(prlimit, tmp_path):
    child = subprocess.Popen([*prlimit("--memlock=65536:65536"), "sleep", "120"])
    try:
        # prlimit execs sleep in place, so the pid is the limited process itself
        for _ in range(1000):
            with open(f"/proc/{child.pid}/limits") as fh:
                if "65536" in fh.read():
                    break
        args = config_args(tmp_path, "host.limits", f"pid = {child.pid}\nnofile_min = 1024")
        code, item = cli_result("host.limits", args)
    finally:
        child.kill()
        child.wait()
    assert item["status"] == "warn" and codes(item) == {"memlock_small"}, item
    assert item["details"]["source"] == f"/proc/{child.pid}/limits"


def test_bad_pid_setting_is_an_error(tmp_path):
    code, item = cli_result("host.limits", config_args(tmp_path, "host.limits",
                                                       'pid = "../1"'))
    assert item["status"] == "error" and "pid" in item["summary"], item


# --- --host-root trees --------------------------------------------------------------------

def test_rdma_devices_with_8mib_memlock_fail(tmp_path):
    root = tree(tmp_path, {"proc/1/limits": limits_file("8388608  8388608  bytes"),
                           "sys/class/infiniband/mlx5_0/": "",
                           "sys/class/infiniband/mlx5_1/": ""})
    result = run_check("host.limits", options={"host_root": str(root)})
    assert result.status is Status.FAIL and codes(result) == {"memlock_rdma"}, result
    assert "mlx5_0, mlx5_1" in result.summary
    assert result.details["rdma_devices"] == ["mlx5_0", "mlx5_1"]
    assert result.details["source"] == f"{root}/proc/1/limits"


def test_rdma_devices_with_ib_disabled_warn(tmp_path):
    root = tree(tmp_path, {"proc/1/limits": limits_file("8388608  8388608  bytes"),
                           "sys/class/infiniband/mlx5_0/": ""})
    result = run_check("host.limits", env={"NCCL_IB_DISABLE": "1", "MCCL_IB_DISABLE": "1"},
                       options={"host_root": str(root)})
    assert result.status is Status.WARN and codes(result) == {"memlock_rdma"}, result


def test_rdma_devices_with_unlimited_memlock_ok(tmp_path):
    root = tree(tmp_path, {"proc/1/limits": limits_file(),
                           "sys/class/infiniband/mlx5_0/": ""})
    result = run_check("host.limits", options={"host_root": str(root)})
    assert result.status is Status.OK, result
    assert "RDMA: mlx5_0" in result.summary


@pytest.mark.parametrize("memlock", ["lots  lots  bytes", "-5  8388608  bytes",
                                     "8388608", "\xff\xfe  1  bytes"])
def test_garbage_limit_line_is_a_clear_warning(tmp_path, memlock):
    root = tree(tmp_path, {"proc/1/limits": limits_file(memlock)})
    result = run_check("host.limits", options={"host_root": str(root)})
    assert result.status is Status.WARN and codes(result) == {"limit_unreadable"}, result
    assert "Max locked memory" in result.summary


def test_limits_file_without_the_lines(tmp_path):
    root = tree(tmp_path, {"proc/1/limits": HEADER})
    result = run_check("host.limits", options={"host_root": str(root)})
    assert codes(result) == {"limit_unreadable"}
    assert "(no such line)" in result.summary


def test_limits_fifo_is_a_warning_not_a_hang(tmp_path):
    root = tree(tmp_path, {"proc/1/": ""})
    os.mkfifo(root / "proc" / "1" / "limits")
    result = run_check("host.limits", options={"host_root": str(root)})
    assert result.status is Status.WARN and codes(result) == {"limits_unreadable"}, result


def test_no_proc_under_the_host_root_is_a_skip(tmp_path):
    result = run_check("host.limits", options={"host_root": str(tmp_path)})
    assert result.status is Status.SKIP, result


def test_unlistable_infiniband_class_is_said(tmp_path):
    root = tree(tmp_path, {"proc/1/limits": limits_file(), "sys/class/": ""})
    (root / "sys" / "class" / "infiniband").write_text("not a directory")
    result = run_check("host.limits", options={"host_root": str(root)})
    assert result.status is Status.WARN and codes(result) == {"rdma_unknown"}, result


def test_under_a_host_root_the_container_runtimes_limits_count(tmp_path):
    root = tree(tmp_path, {"proc/1/limits": limits_file("8388608  8388608  bytes"),
                           "proc/1/comm": "systemd\n",
                           "proc/300/comm": "containerd\n",
                           "proc/300/limits": limits_file(),
                           "proc/301/comm": "containerd-shim\n",
                           "sys/class/infiniband/mlx5_0/": ""})
    result = run_check("host.limits", options={"host_root": str(root)})
    assert result.status is Status.OK, result
    assert result.details["source"] == f"{root}/proc/300/limits"
    assert result.summary.startswith("containerd, whose limits containers inherit: memlock")
    (root / "proc" / "300" / "limits").write_text(limits_file("65536  65536  bytes"))
    result = run_check("host.limits", options={"host_root": str(root)})
    assert result.status is Status.FAIL, result
    assert result.summary.startswith("containerd, whose limits containers inherit: locked")


def test_without_a_runtime_the_nodes_pid_1_counts(tmp_path):
    root = tree(tmp_path, {"proc/1/limits": limits_file("8388608  8388608  bytes"),
                           "proc/1/comm": "systemd\n", "proc/2/comm": b"\xff\xfe"})
    result = run_check("host.limits", options={"host_root": str(root)})
    assert result.details["whose"] == "the node's pid 1"
    assert result.status is Status.OK, result
