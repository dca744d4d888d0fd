"""The host checks through the real CLI with --host-root, as the DaemonSet runs them: one
prepared node tree in the kernel's own layouts (mountinfo, /proc/<pid>/limits and comm,
/proc/net/tcp, the sysctl files, the /sys/class/infiniband ABI; there is no RDMA hardware
here), judged as a monitor of a node whose servers already run."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from conftest import json_report, result_of, run_cli, unavailable
from host_helpers import codes, config_args, device_of, mountinfo_line, tree

LIMITS = ("Limit                     Soft Limit           Hard Limit           Units     \n"
          "Max open files            1048576              1048576              files     \n"
          "Max locked memory         8388608              8388608              bytes     \n")
TCP = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
       "timeout inode\n"
       "   0: 00000000:7530 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0   "
       "     0 4242 1 0000000000000000 100 0 0 10 0\n")


def node(tmp_path):
    files = {
        "proc/1/comm": "systemd\n",
        "proc/1/limits": LIMITS.replace("8388608", "unlimited"),
        "proc/1/status": "Name:\tsystemd\nCapEff:\t000001ffffffffff\nSeccomp:\t0\n",
        "proc/1/net/tcp": TCP,
        "proc/812/comm": "containerd\n",
        "proc/812/limits": LIMITS,
        "proc/sys/kernel/yama/ptrace_scope": "1\n",
        "proc/sys/net/ipv4/ip_local_port_range": "1024\t65000\n",
        "proc/sys/net/ipv4/ip_local_reserved_ports": "\n",
        "sys/class/infiniband/mlx5_0/": "",
        "dev/shm/": "",
        "dev/mxcd": "",
        "dev/dri/": "",
    }
    root = tree(tmp_path / "node", files)
    for n in range(8):
        (root / "dev" / "dri" / f"renderD{128 + n}").write_text("")
    (root / "proc" / "1" / "mountinfo").write_text(
        mountinfo_line("/", "ext4") + mountinfo_line("/dev/shm", device=device_of(root)))
    return root


def test_a_node_seen_through_host_root(tmp_path):
    root = node(tmp_path)
    args = ["--format", "json", "--only", "host.shm,host.limits,host.ptrace,host.ports",
            "--host-root", str(root)]
    proc = run_cli(args)
    assert "Traceback" not in proc.stderr, proc.stderr
    doc = json_report(proc)
    assert proc.returncode == 1, proc.stdout

    shm = result_of(doc, "host.shm")
    assert shm["status"] == "ok", shm
    assert shm["details"]["gpus"] == 8 and shm["details"]["write_tested"] is False
    assert shm["details"]["path"] == f"{root}/dev/shm"

    limits = result_of(doc, "host.limits")
    assert limits["status"] == "fail" and codes(limits) == {"memlock_rdma"}, limits
    assert limits["details"]["source"] == f"{root}/proc/812/limits"
    assert limits["summary"].startswith("containerd, whose limits containers inherit: locked "
                                        "memory is limited to 8 MiB")

    ptrace = result_of(doc, "host.ptrace")
    assert ptrace["status"] == "ok" and "containers need CAP_SYS_PTRACE" in ptrace["summary"]

    ports = result_of(doc, "host.ports")
    assert ports["status"] == "warn" and codes(ports) == {"ephemeral"}, ports
    assert ports["details"]["ports"][0]["held_by"] == [{"state": "LISTEN", "owner": None}]
    assert "bind" not in ports["details"]["ports"][0]        # not our namespace to bind in


def test_prometheus_and_settings_through_host_root(tmp_path):
    root = node(tmp_path)
    args = ["--format", "prometheus", "--only", "host.ports,host.disk", "--host-root",
            str(root), *config_args(tmp_path, "host.ports", 'in_use = "fail"')]
    proc = run_cli(args)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert re.search(r'^sgdoctor_check_status\{check="host.ports",status="fail"\} 1$',
                     proc.stdout, re.M), proc.stdout


def test_a_missing_host_root_is_a_usage_error(tmp_path):
    proc = run_cli(["--only", "host.shm", "--host-root", str(tmp_path / "absent")])
    assert proc.returncode == 2
    assert "host root" in proc.stderr and "Traceback" not in proc.stderr


def test_unreadable_files_end_in_clear_verdicts():
    """Root reads everything, so the CLI runs as nobody over a tree it may enter but whose
    kernel files it may not read."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        unavailable("this test needs root and setpriv(1)")
    base = tempfile.mkdtemp(prefix="sgdoctor-unreadable-")
    try:
        os.chmod(base, 0o755)
        root = tree(Path(base), {
            "proc/1/limits": LIMITS, "proc/1/mountinfo": mountinfo_line("/"),
            "proc/1/status": "CapEff:\t0\nSeccomp:\t2\n", "proc/1/net/tcp": TCP,
            "proc/sys/kernel/yama/ptrace_scope": "1\n",
            "proc/sys/net/ipv4/ip_local_port_range": "32768 60999\n", "dev/shm/": ""})
        for rel in ("proc/1/limits", "proc/1/mountinfo", "proc/sys/kernel/yama/ptrace_scope",
                    "proc/sys/net/ipv4/ip_local_port_range", "proc/1/net/tcp"):
            os.chmod(root / rel, 0)
        for path in [root, *root.rglob("*")]:
            if path.is_dir():
                os.chmod(path, 0o755)
        proc = run_cli(["--format", "json", "--only", "host.shm,host.limits,host.ptrace,"
                        "host.ports", "--host-root", str(root)],
                       prefix=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
        assert "Traceback" not in proc.stderr, proc.stderr
        doc = json_report(proc)
        expected = {"host.shm": {"mountinfo_unreadable"},
                    "host.limits": {"limits_unreadable"},
                    "host.ptrace": {"yama_unreadable"},
                    "host.ports": {"range_unreadable", "sockets_unreadable"}}
        for check_id, wanted in expected.items():
            item = result_of(doc, check_id)
            assert item["status"] == "warn", item
            assert wanted <= codes(item), (check_id, item)
            assert "Permission denied" in item["summary"], item
    finally:
        shutil.rmtree(base, ignore_errors=True)
