"""The host checks, engine and progress lines in Chinese (issue 17): a failing case of each
check rendered by the real CLI with --lang zh says its summary and remedy in Chinese with
the values, paths, variables and commands verbatim, and its JSON stays English."""

from __future__ import annotations

import re
import shutil
import socket
import xml.etree.ElementTree as ET

from conftest import json_report, result_of, run_cli, unavailable
from host_helpers import config_args, tree
from test_i18n import compiled  # noqa: F401  (the .mo compiled from the .po under test)

CJK = re.compile("[\u4e00-\u9fff]")
NO_PTRACE = f"{0x1ffffffffff & ~(1 << 19):016x}"


def zh_and_json(check_id: str, args: list[str], env: dict[str, str] | None = None,
                prefix: list[str] | None = None) -> tuple[str, str, dict]:
    """The check's summary and remedy as the zh JUnit report says them, and its JSON result
    (asked for with --lang zh too)."""
    base = ["--only", check_id, "--lang", "zh", *args]
    proc = run_cli([*base, "-f", "junit"], env, prefix=prefix)
    assert "Traceback" not in proc.stderr, proc.stderr
    case = next(c for c in ET.fromstring(proc.stdout).iter("testcase")
                if c.get("name") == check_id)
    failure = case.find("failure")
    if failure is not None:
        summary, remedy = failure.get("message", ""), failure.text or ""
    else:
        out = case.find("system-out")
        assert out is not None and out.text, proc.stdout
        head, _, remedy = out.text.partition("\n")
        assert head.startswith("警告："), head
        summary = head.removeprefix("警告：")
    doc = json_report(run_cli([*base, "-f", "json"], env, prefix=prefix))
    assert doc["lang"] == "zh"
    return summary, remedy, result_of(doc, check_id)


def assert_chinese(summary: str, remedy: str, item: dict, verbatim: list[str],
                   commands: list[str] = ()) -> None:
    """Every summary part and the remedy in Chinese, the values verbatim, command lines
    whole (copyable), and the JSON of the same run English."""
    for part in summary.split("；"):
        assert CJK.search(part), summary
    assert CJK.search(remedy), remedy
    for value in verbatim:
        assert value in summary + "\n" + remedy, (value, summary, remedy)
    lines = remedy.splitlines()
    for command in commands:
        assert command in lines, (command, lines)
    assert item["status"] in ("warn", "fail"), item
    for text in (item["summary"], item["remedy"] or ""):
        assert not CJK.search(text), text
    for command in commands:
        assert command in item["remedy"].splitlines()


def test_host_ptrace_in_chinese(tmp_path):
    root = tree(tmp_path / "root", {
        "proc/1/status": f"Name:\tinit\nCapEff:\t{NO_PTRACE}\nSeccomp:\t2\n",
        "proc/sys/kernel/yama/ptrace_scope": "1\n"})
    args = ["--host-root", str(root), *config_args(tmp_path, "host.ptrace", "pid = 1")]
    summary, remedy, item = zh_and_json("host.ptrace", args, {
        "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"})
    assert {f["code"] for f in item["details"]["findings"]} == {"ptrace_restricted",
                                                               "seccomp_filter"}
    assert "kernel.yama.ptrace_scope=1（仅限子孙进程）且没有 CAP_SYS_PTRACE" in summary
    assert_chinese(summary, remedy, item, [
        "Operation not permitted", "PYTORCH_CUDA_ALLOC_CONF", "Seccomp: 2"],
        ["docker run --cap-add SYS_PTRACE ...",
         'Kubernetes: securityContext: {capabilities: {add: ["SYS_PTRACE"]}}'])
    assert "在宿主机上：sysctl -w kernel.yama.ptrace_scope=0" in remedy.splitlines()
    assert "descendants only" in item["summary"]


def test_host_disk_in_chinese(tmp_path):
    home = tmp_path / "hf"
    home.mkdir()
    args = config_args(tmp_path, "host.disk", 'min_free_bytes = "1000TiB"')
    summary, remedy, item = zh_and_json("host.disk", args, {"HF_HOME": str(home)})
    assert item["details"]["findings"][0]["code"] == "low_space"
    assert f"HF_HUB_CACHE {home}/hub 只剩" in summary and "（低于 1000.0 TiB）" in summary
    assert_chinese(summary, remedy, item, [str(home), "HF_HUB_CACHE"])
    assert "has only" in item["summary"] and "free space on" in item["remedy"]


def test_host_ip_in_chinese():
    summary, remedy, item = zh_and_json("host.ip", [], {"HOST_IP": "192.0.2.77"})
    assert [f["code"] for f in item["details"]["findings"]] == ["not_local"]
    assert summary.startswith("SGLang 将通告 192.0.2.77（来自 HOST_IP），但本机没有任何接口"), \
        summary
    assert_chinese(summary, remedy, item, ["192.0.2.77", "HOST_IP", "hostNetwork",
                                           "SGLANG_HOST_IP"])
    assert "no interface of this host has" in item["summary"]


def test_host_limits_in_chinese(tmp_path):
    if not shutil.which("prlimit"):
        unavailable("this test needs prlimit(1) (util-linux)")
    args = config_args(tmp_path, "host.limits", "nofile_min = 1024")
    summary, remedy, item = zh_and_json("host.limits", args, {"NCCL_IB_HCA": "mlx5_0"},
                                        prefix=["prlimit", "--memlock=8388608:8388608", "--"])
    assert item["status"] == "fail" and item["details"]["findings"][0]["code"] == "memlock_rdma"
    assert summary.startswith("锁定内存（memlock）被限制为 8 MiB（硬限制 8 MiB），但 "
                              "NCCL_IB_HCA=mlx5_0 要求使用 RDMA"), summary
    assert_chinese(summary, remedy, item, ["ibv_reg_mr ... Cannot allocate memory",
                                           "systemctl edit containerd",
                                           "[Service] LimitMEMLOCK=infinity"],
                   ["ulimit -l unlimited", "docker run --ulimit memlock=-1:-1 ..."])
    assert "locked memory is limited to 8 MiB" in item["summary"]


def test_nccl_interface_in_chinese():
    name = "nosuchif0"
    assert name not in dict(socket.if_nameindex()).values()
    summary, remedy, item = zh_and_json("nccl.interface", [], {"NCCL_SOCKET_IFNAME": name})
    assert item["status"] == "fail", item
    assert "empty_selection" in {f["code"] for f in item["details"]["findings"]}
    assert f"NCCL_SOCKET_IFNAME='{name}' 没有选中任何有地址的接口" in summary
    assert_chinese(summary, remedy, item, ["Bootstrap : no socket interface found"])
    assert "selects no interface" in item["summary"]



def test_host_shm_in_chinese(tmp_path):
    args = config_args(tmp_path, "host.shm", 'per_pair_bytes = "1000TiB"')
    summary, remedy, item = zh_and_json("host.shm", args, {"MACA_VISIBLE_DEVICES": "0,1"})
    assert item["status"] == "fail" and "too_small" in {
        f["code"] for f in item["details"]["findings"]}, item
    assert "2 个 GPU（MACA_VISIBLE_DEVICES）至少需要 2000.0 TiB" in summary
    assert_chinese(summary, remedy, item, ["/dev/shm", "Error while creating shared memory segment",
                                           "volumeMounts: [{name: dshm, mountPath: /dev/shm}]"],
                   ["docker run --shm-size=2048000g ..."])
    assert "在宿主机本身上：mount -o remount,size=2048000G /dev/shm" in remedy.splitlines()
    assert "need at least" in item["summary"]


def test_host_ports_in_chinese():
    with socket.socket() as held:
        held.bind(("0.0.0.0", 0))
        held.listen()
        port = held.getsockname()[1]
        summary, remedy, item = zh_and_json("host.ports", [], {"DYN_HTTP_PORT": str(port)})
    assert item["status"] == "fail" and "port_in_use" in {
        f["code"] for f in item["details"]["findings"]}, item
    assert f"端口 {port}（Dynamo frontend HTTP (DYN_HTTP_PORT)）已被占用：pid " in summary
    assert_chinese(summary, remedy, item, [str(port)])
    assert f"ss -tlnp 'sport = :{port}'    （找到并停止占用者，或把服务器改到空闲端口）" in \
        remedy.splitlines()
    assert "is already in use" in item["summary"]


def test_host_rdma_in_chinese(tmp_path):
    root = tree(tmp_path / "root", {"sys/": ""})
    summary, remedy, item = zh_and_json("host.rdma", ["--host-root", str(root)],
                                        {"NCCL_IB_HCA": "mlx5_0"})
    assert item["status"] == "fail" and [f["code"] for f in item["details"]["findings"]] == \
        ["no_devices", "hca_missing"], item
    assert summary.startswith("已要求使用 RDMA（设置了 NCCL_IB_HCA），但本节点"), summary
    assert "NCCL_IB_HCA='mlx5_0'：mlx5_0 不匹配本节点上的任何 HCA 端口" in summary
    assert_chinese(summary, remedy, item, ["/sys/class/infiniband", "NET/IB : No device found",
                                           "`docker run --device=/dev/infiniband`",
                                           "`modprobe ib_uverbs mlx5_ib`"])
    assert "has no RDMA device" in item["summary"]
