"""The host checks, engine and progress lines in Chinese (issue 17): a failing case of each
check rendered by the real CLI with --lang zh says its summary and remedy in Chinese with
the values, paths, variables and commands verbatim, and its JSON stays English."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import BASE_ENV, json_report, result_of, run_cli, unavailable
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
    assert f"端口 {port}（Dynamo 前端 HTTP（DYN_HTTP_PORT））已被占用：pid " in summary
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


# --- the engine's own texts, --wait's progress and exec's errors -----------------------------

ENGINE_PLUGIN = '''
import threading

from sgdoctor.api import Findings, Result, check

@check("zh.crash", title="crash")
def crash(ctx):
    raise RuntimeError("boom at /opt/x")

@check("zh.hang", title="hang", timeout=0.5)
def hang(ctx):
    threading.Event().wait(30)
    return Result.ok("never")

@check("zh.down", title="down")
def down(ctx):
    found = Findings()
    found.fail("Unknown interface {name}", "Set {var} to one of: {names}",
               code="missing_interface",
               fields={"name": "bond0", "var": "GLOO_SOCKET_IFNAME", "names": "eth0"})
    return found.result("fine")

@check("zh.after", title="after", depends_on=["zh.down"])
def after(ctx):
    return Result.ok("fine")

@check("zh.ignored", title="ignored")
def ignored(ctx):
    return Result.fail("Unknown interface {name}", remedy="Set {var} to one of: {names}",
                       fields={"name": "ib9", "var": "NCCL_SOCKET_IFNAME", "names": "eth0"})
'''


def _junit(stdout: str) -> dict[str, tuple[str, str]]:
    """check id → (status element, its message) in a JUnit report."""
    out = {}
    for case in ET.fromstring(stdout).iter("testcase"):
        for element in case:
            out[case.get("name", "")] = (element.tag, element.get("message") or element.text
                                         or "")
    return out


def test_engine_texts_in_chinese(tmp_path):
    (tmp_path / "zh_engine.py").write_text(ENGINE_PLUGIN)
    base = ["--checks-dir", str(tmp_path), "--only", "zh.*", "--ignore",
            "zh.ignored=known on this rack", "--lang", "zh"]
    proc = run_cli([*base, "-f", "junit"])
    assert proc.returncode == 1, proc.stderr
    cases = _junit(proc.stdout)
    assert cases["zh.crash"] == ("error", "检查项抛出了 RuntimeError：boom at /opt/x")
    assert cases["zh.hang"] == ("error", "未能在 0.5 秒内完成")
    assert cases["zh.after"] == ("skipped", "已跳过：它依赖的 zh.down 结果为失败")
    tag, said = cases["zh.ignored"]
    assert tag == "skipped" and said.endswith("（已忽略：known on this rack）"), said
    assert "ib9" in said and "NCCL_SOCKET_IFNAME" not in said
    doc = json_report(run_cli([*base, "-f", "json"]))
    assert result_of(doc, "zh.crash")["summary"] == "check raised RuntimeError: boom at /opt/x"
    assert result_of(doc, "zh.hang")["summary"] == "did not finish in 0.5 s"
    assert result_of(doc, "zh.after")["summary"] == \
        "skipped: it depends on zh.down, which ended in fail"
    assert result_of(doc, "zh.ignored")["summary"] == \
        "Unknown interface ib9 (ignored: known on this rack)"


def test_wait_progress_in_chinese(tmp_path):
    (tmp_path / "zh_engine.py").write_text(ENGINE_PLUGIN)
    proc = run_cli(["--checks-dir", str(tmp_path), "--only", "zh.down,zh.after", "--wait",
                    "1s", "--interval", "200ms", "-f", "json"], {"LANG": "zh_CN.UTF-8"})
    assert proc.returncode == 1
    assert re.search(r"^sgdoctor: 正在等待 zh\.down, zh\.after（已用 \d+ 秒，共 1 秒）$",
                     proc.stderr, re.M), proc.stderr
    assert json_report(proc)["lang"] == "zh"
    english = run_cli(["--checks-dir", str(tmp_path), "--only", "zh.down", "--wait", "1s",
                       "--interval", "200ms", "--lang", "en", "-f", "json"],
                      {"LANG": "zh_CN.UTF-8"})
    assert "sgdoctor: waiting for zh.down (" in english.stderr


def test_interrupted_wait_says_so_in_chinese(tmp_path):
    plugins = str(Path(__file__).parent / "plugins")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sgdoctor", "--checks-dir", plugins, "--only", "demo.file",
         "-f", "json", "--wait", "60s", "--interval", "200ms"],
        env={**BASE_ENV, "DEMO_WAIT_FILE": str(tmp_path / "never"), "LANG": "zh_CN.UTF-8"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    first = proc.stderr.readline()      # the first progress line: one attempt is complete
    assert first.startswith("sgdoctor: 正在等待 demo.file（已用 "), first
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert re.search(r"^sgdoctor: 等待期间被 SIGTERM 中断：以下报告来自第 \d+ 次尝试，即最后一次"
                     r"完整的尝试$", err, re.M), err
    assert json.loads(out)["lang"] == "zh"


def test_exec_errors_in_chinese(tmp_path):
    (tmp_path / "zh_ok.py").write_text("from sgdoctor.api import Result, check\n"
                                       "@check('zh.ok', title='ok')\n"
                                       "def fine(ctx):\n    return Result.ok('fine')\n")
    base = ["exec", "--checks-dir", str(tmp_path), "--only", "zh.ok"]
    missing = run_cli([*base, "--", "no-such-command-zh"], {"LANG": "zh_CN.UTF-8"})
    assert missing.returncode == 127, missing.stderr
    assert "sgdoctor: no-such-command-zh：找不到命令" in missing.stderr
    plain = tmp_path / "plain.txt"
    plain.write_text("not a program")
    denied = run_cli([*base, "--lang", "zh", "--", str(plain)])
    assert denied.returncode == 126, denied.stderr
    assert f"sgdoctor: {plain}：权限不足（不是可执行文件）" in denied.stderr
    english = run_cli([*base, "--lang", "en", "--", "no-such-command-zh"],
                      {"LANG": "zh_CN.UTF-8"})
    assert "sgdoctor: no-such-command-zh: command not found" in english.stderr
