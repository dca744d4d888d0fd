"""Each maca.*, libs.* and launch.* check failing on a real (fake-rooted) node, rendered by the
real CLI with --lang zh: the summary and the remedy are Chinese, the values in them verbatim,
and the JSON of the same run is the English one (issue 17)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import json_report, result_of, run_cli
from fakesdk import _gcc, have_gcc

CJK = re.compile(r"[\u4e00-\u9fff]")


def config(base: Path, check_id: str, **settings: str) -> str:
    path = base / "sgdoctor.toml"
    lines = [f'[checks."{check_id}"]'] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def zh_report(check_id: str, env: dict[str, str], args: tuple[str, ...] = (),
              status: str = "fail", command: list[str] | None = None) -> tuple[str, dict]:
    """The zh table of one check (wide, so no value is wrapped) and the JSON of the same run
    in zh and in en, which must agree. With `command`: `check … -- COMMAND`."""
    base = ["--only", check_id, *args]
    if command is not None:
        base = ["check", *base]
    tail = [] if command is None else ["--", *command]
    table = run_cli([*base, "--lang", "zh", "--no-color", *tail], {"COLUMNS": "250", **env})
    assert "Traceback" not in table.stderr, table.stderr
    docs = []
    for lang in ("zh", "en"):
        proc = run_cli([*base, "--lang", lang, "--format", "json", *tail], env)
        docs.append(result_of(json_report(proc), check_id))
    zh, en = docs
    assert zh["status"] == status, zh
    for key in ("status", "summary", "remedy"):
        assert zh[key] == en[key], key
    assert zh["details"]["findings"] == en["details"]["findings"]
    for text in (zh["summary"], zh["remedy"] or ""):
        assert not CJK.search(text), text             # JSON stays English
    return table.stdout, zh


def assert_chinese(table: str, *verbatim: str, chinese_remedy: bool = True) -> None:
    """The summary and (unless the remedy is only a command) a remedy line are Chinese; the
    values are there as given."""
    lines = table.splitlines()
    row = next(line for line in lines if "✗" in line or "!" in line[:3])
    assert CJK.search(row), table
    remedies = [line for line in lines if line.strip().startswith("→")]
    assert remedies, table
    assert any(CJK.search(line) for line in remedies) is chinese_remedy, table
    for value in verbatim:
        assert value in table, (value, table)


# --- maca.sdk, maca.libs, maca.devices, libs.duplicates -------------------------------------

def test_maca_sdk_missing_path_in_zh(tmp_path):
    missing = str(tmp_path / "maca-9.9")
    table, doc = zh_report("maca.sdk", {"MACA_PATH": missing},
                           ("--config", config(tmp_path, "maca.sdk",
                                               maca_dir=str(tmp_path / "maca"))))
    assert doc["summary"] == f"MACA_PATH={missing} does not exist"
    assert_chinese(table, f"MACA_PATH={missing} 不存在", f"export MACA_PATH={tmp_path}/maca")
    assert "让 MACA_PATH 指向已安装的 SDK" in table


def test_maca_sdk_below_minimum_in_zh(tmp_path):
    sdk = tmp_path / "maca"
    for sub in ("lib", "include", "mxgpu_llvm/bin"):
        (sdk / sub).mkdir(parents=True)
    for tool in ("mxcc", "ld.lld"):
        (sdk / "mxgpu_llvm/bin" / tool).write_text("#!/bin/sh\n")
        (sdk / "mxgpu_llvm/bin" / tool).chmod(0o755)
    (sdk / "Version.txt").write_text("Version:3.6.0\n")
    table, doc = zh_report("maca.sdk", {"MACA_PATH": str(sdk)},
                           ("--config", config(tmp_path, "maca.sdk", min_version="3.7.0")))
    assert "older than the minimum 3.7.0" in doc["summary"]
    assert_chinese(table, "MACA 3.6.0 低于最低版本 3.7.0", "使用 >= 3.7.0 的 MACA SDK")


def test_maca_libs_not_on_the_path_in_zh(tmp_path):
    (tmp_path / "maca" / "lib").mkdir(parents=True)
    maca = str(tmp_path / "maca")
    table, doc = zh_report("maca.libs", {"MACA_PATH": maca, "LD_LIBRARY_PATH": "/nowhere"},
                           ("--config", config(tmp_path, "maca.libs",
                                               libraries=["libmcruntime.so"])))
    assert "LD_LIBRARY_PATH does not contain" in doc["summary"]
    assert_chinese(table, f"LD_LIBRARY_PATH 中没有 {maca}/lib", "libmcruntime.so 无法加载",
                   "→ export LD_LIBRARY_PATH=/opt/mxdriver/lib:${MACA_PATH}/lib:",
                   chinese_remedy=False)        # the remedy is the export line, verbatim


def test_maca_devices_missing_in_zh(tmp_path):
    table, doc = zh_report("maca.devices", {"MACA_PATH": "/opt/maca", "PATH": "/nonexistent"},
                           ("--config", config(tmp_path, "maca.devices", root=str(tmp_path),
                                               driver_dir=str(tmp_path / "mxdriver"),
                                               maca_dir=str(tmp_path / "maca"))))
    assert doc["summary"].startswith("no MetaX devices:")
    assert_chinese(table, f"没有 MetaX 设备：缺少 {tmp_path}/dev/mxcd", "MACA_PATH 已设置",
                   "docker run --device=/dev/mxcd --device=/dev/dri --group-add video ...")


@pytest.mark.skipif(not have_gcc(), reason="needs gcc")
def test_libs_duplicates_in_zh(tmp_path):
    dirs = [tmp_path / "a", tmp_path / "b"]
    for n, directory in enumerate(dirs):
        directory.mkdir()
        _gcc(directory / "libdup.so.1", f"int dup_value(void) {{ return {n}; }}\n",
             "-Wl,-soname,libdup.so.1")
    table, doc = zh_report("libs.duplicates",
                           {"LD_LIBRARY_PATH": ":".join(map(str, dirs)),
                            "MACA_PATH": "/nonexistent-maca"}, status="warn")
    assert "libdup.so.1: 2 copies" in doc["summary"]
    assert_chinese(table, f"libdup.so.1：共 2 份副本；胜出的是 {dirs[0]}/libdup.so.1",
                   "只保留一份 libdup.so.1")


# --- launch.* (`sgdoctor check -- COMMAND`) ---------------------------------------------------

SERVER = ["python3", "-m", "sglang.launch_server"]


def test_launch_command_refused_argument_in_zh():
    table, doc = zh_report("launch.command", {}, command=[*SERVER, "--model-path", "/m",
                                                          "--no-such-flag"], status="warn")
    assert doc["summary"].startswith("the server will refuse this: ")
    assert_chinese(table, "服务器会拒绝：", "--no-such-flag", "修正启动命令")


def test_launch_model_without_config_json_in_zh(tmp_path):
    model = tmp_path / "weights"
    model.mkdir()
    table, doc = zh_report("launch.model", {}, command=[*SERVER, "--model-path", str(model)])
    assert "has no config.json" in doc["summary"]
    assert_chinese(table, f"--model-path {model} 中没有 config.json",
                   "让 --model-path 指向包含 config.json 的目录")


def test_launch_rendezvous_numeric_host_in_zh():
    command = [*SERVER, "--model-path", "/m", "--nnodes", "2", "--node-rank", "1",
               "--dist-init-addr", "12345:5000"]
    table, doc = zh_report("launch.rendezvous", {}, command=command)
    assert "is numeric" in doc["summary"]
    assert_chinese(table, "--dist-init-addr 的主机 12345 是数字", "0.0.48.57",
                   "使用 node rank 0 的点分地址或真实主机名")


def test_launch_router_nats_unset_in_zh():
    command = ["python3", "-m", "dynamo.frontend", "--router-mode", "kv", "--event-plane",
               "nats"]
    table, doc = zh_report("launch.router", {}, command=command, status="warn")
    assert "NATS_SERVER is unset" in doc["summary"]
    assert_chinese(table, "NATS_SERVER 未设置", "nats://localhost:4222",
                   "→ export NATS_SERVER=nats://<nats host>:4222", chinese_remedy=False)


def test_launch_topology_in_zh():
    command = [*SERVER, "--model-path", "/m", "--tp-size", "3", "--nnodes", "2",
               "--node-rank", "5"]
    table, doc = zh_report("launch.topology", {"MACA_VISIBLE_DEVICES": "0"}, command=command)
    assert "--node-rank 5 is outside 0..1" in doc["summary"]
    assert_chinese(table, "--node-rank 5 超出 --nnodes 2 对应的范围 0..1",
                   "--tp-size 3 × --pp-size 1 不能被 --nnodes 2 整除",
                   "为每个节点分配 0 到 1 之间互不相同的 --node-rank")
