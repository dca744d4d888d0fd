"""host.ptrace with the real CLI: Yama's ptrace_scope given through a tmpfs mounted over
/proc/sys/kernel in a private mount namespace (a bind mount over the file needs the file,
and this kernel has no Yama), CAP_SYS_PTRACE really dropped with setpriv(1); seccomp modes
and hostile status files through --host-root trees."""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import unavailable
from host_helpers import cli_result, codes, need_unshare, run_check, tree
from sgdoctor.api import Status

DROP_PTRACE = ["setpriv", "--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace", "--"]
ALL_CAPS = "000001ffffffffff"
NO_PTRACE = f"{0x1ffffffffff & ~(1 << 19):016x}"
PID_1 = {"pid": 1}      # under --host-root, status is read only for a named process


@pytest.fixture
def yama():
    need_unshare()
    if not shutil.which("setpriv"):
        unavailable("this test needs setpriv(1) (util-linux)")

    def setup(scope: str) -> str:
        # A tmpfs over /proc/sys/kernel in the private namespace: works whether or not this
        # kernel has Yama (this one has not), and leaves nothing behind.
        return ("mount -t tmpfs none /proc/sys/kernel\n"
                "mkdir /proc/sys/kernel/yama\n"
                f"printf '{scope}\\n' > /proc/sys/kernel/yama/ptrace_scope")
    return setup


def test_scope_1_without_cap_sys_ptrace_warns(yama):
    code, item = cli_result("host.ptrace", env={"PYTORCH_CUDA_ALLOC_CONF":
                                                "expandable_segments:True"},
                            setup=yama("1"), prefix=DROP_PTRACE)
    assert code == 0 and item["status"] == "warn", item
    assert codes(item) == {"ptrace_restricted"}
    assert "Operation not permitted" in item["summary"]
    assert "PYTORCH_CUDA_ALLOC_CONF turns on expandable segments" in item["summary"]
    assert item["details"]["ptrace_scope"] == 1 and item["details"]["cap_sys_ptrace"] is False
    assert "docker run --cap-add SYS_PTRACE ..." in item["remedy"].splitlines()


def test_scope_1_with_cap_sys_ptrace_is_ok(yama):
    code, item = cli_result("host.ptrace", setup=yama("1"))
    assert item["status"] == "ok", item
    assert item["details"]["cap_sys_ptrace"] is True


def test_scope_2_without_the_capability_warns(yama):
    code, item = cli_result("host.ptrace", setup=yama("2"), prefix=DROP_PTRACE)
    assert item["status"] == "warn" and codes(item) == {"ptrace_admin_only"}, item


def test_scope_3_warns_even_with_the_capability(yama):
    code, item = cli_result("host.ptrace", setup=yama("3"))
    assert item["status"] == "warn" and codes(item) == {"ptrace_disabled"}, item
    assert "reboot" in item["remedy"]


def test_scope_0_is_ok_without_the_capability(yama):
    code, item = cli_result("host.ptrace", setup=yama("0"), prefix=DROP_PTRACE)
    assert item["status"] == "ok", item


def test_garbage_scope_is_a_clear_warning(yama):
    code, item = cli_result("host.ptrace", setup=yama("lots"))
    assert item["status"] == "warn" and codes(item) == {"yama_unreadable"}, item


def test_no_yama_and_no_seccomp_is_a_skip(tmp_path):
    root = tree(tmp_path, {"proc/1/status": f"Name:\tinit\nCapEff:\t{NO_PTRACE}\nSeccomp:\t0\n"})
    result = run_check("host.ptrace", options={"host_root": str(root)})
    assert result.status is Status.SKIP, result


# --- --host-root trees --------------------------------------------------------------------

def _root(tmp_path, scope: str | None, cap: str, seccomp: str = "0"):
    files = {"proc/1/status": f"Name:\tinit\nCapEff:\t{cap}\nSeccomp:\t{seccomp}\n"}
    if scope is not None:
        files["proc/sys/kernel/yama/ptrace_scope"] = scope
    return tree(tmp_path, files)


def test_seccomp_filter_without_the_capability_warns(tmp_path):
    root = _root(tmp_path, None, NO_PTRACE, "2")
    result = run_check("host.ptrace", settings=PID_1, options={"host_root": str(root)})
    assert result.status is Status.WARN and codes(result) == {"seccomp_filter"}, result


def test_seccomp_filter_with_the_capability_is_ok(tmp_path):
    root = _root(tmp_path, "1\n", ALL_CAPS, "2")
    result = run_check("host.ptrace", settings=PID_1, options={"host_root": str(root)})
    assert result.status is Status.OK, result
    assert "seccomp mode 2" in result.summary


def test_scope_and_seccomp_both_reported(tmp_path):
    root = _root(tmp_path, "1\n", NO_PTRACE, "2")
    result = run_check("host.ptrace", settings=PID_1, options={"host_root": str(root)})
    assert codes(result) == {"ptrace_restricted", "seccomp_filter"}, result


@pytest.mark.parametrize("status", ["Name:\tinit\n", "CapEff:\tzz\nSeccomp:\tx\n", b"\xff\x00"])
def test_status_without_usable_lines(tmp_path, status):
    root = tree(tmp_path, {"proc/1/status": status, "proc/sys/kernel/yama/ptrace_scope": "1\n"})
    result = run_check("host.ptrace", settings=PID_1, options={"host_root": str(root)})
    assert result.status is Status.WARN and codes(result) == {"status_unreadable"}, result


def test_status_fifo_and_yama_fifo(tmp_path):
    root = tree(tmp_path, {"proc/1/": "", "proc/sys/kernel/yama/": ""})
    os.mkfifo(root / "proc" / "1" / "status")
    os.mkfifo(root / "proc" / "sys" / "kernel" / "yama" / "ptrace_scope")
    result = run_check("host.ptrace", settings=PID_1, options={"host_root": str(root)})
    assert result.status is Status.WARN, result
    assert codes(result) == {"status_unreadable", "yama_unreadable"}


def test_pid_setting_reads_that_process(tmp_path):
    root = tree(tmp_path, {"proc/1/status": f"CapEff:\t{ALL_CAPS}\nSeccomp:\t0\n",
                           "proc/42/status": f"CapEff:\t{NO_PTRACE}\nSeccomp:\t0\n",
                           "proc/sys/kernel/yama/ptrace_scope": "1\n"})
    result = run_check("host.ptrace", settings={"pid": 42}, options={"host_root": str(root)})
    assert codes(result) == {"ptrace_restricted"}, result
    bad = run_check("host.ptrace", settings={"pid": "1;rm"}, options={"host_root": str(root)})
    assert bad.status is Status.ERROR


@pytest.mark.parametrize("scope,status,code", [("0", Status.OK, None), ("1", Status.OK, None),
                                               ("2", Status.WARN, "ptrace_admin_only"),
                                               ("3", Status.WARN, "ptrace_disabled")])
def test_under_a_host_root_the_kernels_side_is_judged(tmp_path, scope, status, code):
    root = _root(tmp_path, scope + "\n", NO_PTRACE, "2")     # pid 1's status is not the pods'
    result = run_check("host.ptrace", options={"host_root": str(root)})
    assert result.status is status, result
    assert codes(result) == ({code} if code else set())
    assert result.details["node_wide"] is True and result.details["cap_sys_ptrace"] is None
    if scope == "1":
        assert "containers need CAP_SYS_PTRACE" in result.summary
