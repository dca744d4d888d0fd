"""expert_record.dir and mesh.gloo in Chinese (issue 17): a failing case through the CLI
with --lang zh has a Chinese summary and remedy with the paths and names verbatim, and the
JSON report is the English one."""

from __future__ import annotations

import json
import re

from conftest import json_report, result_of, run_cli

CJK = re.compile(r"[\u4e00-\u9fff]")
RECORDER = "SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR"


def _zh(args: list[str], env: dict[str, str], codes: tuple[int, ...] = (0, 1)
        ) -> tuple[str, list[str]]:
    """The table in Chinese at 250 columns, and its remedy lines."""
    proc = run_cli([*args, "--lang", "zh", "--no-color"], {**env, "COLUMNS": "250"})
    assert proc.returncode in codes, proc.stderr
    lines = proc.stdout.splitlines()
    remedies = [line.strip()[1:].strip() for line in lines if line.lstrip().startswith("→")]
    return proc.stdout, remedies


def _json(args: list[str], env: dict[str, str], check: str, lang: str) -> dict:
    doc = json_report(run_cli([*args, "-f", "json", "--lang", lang], env))
    assert doc["lang"] == lang
    result = result_of(doc, check)
    result.pop("duration_ms")
    findings = result["details"].get("findings")
    result["details"] = findings   # the rest are measurements (free space) that move
    return result


def test_expert_record_fail_in_chinese(tmp_path):
    target = tmp_path / "rec"
    target.write_text("not a directory")
    env = {RECORDER: str(target)}
    args = ["--only", "expert_record.dir"]
    text, remedies = _zh(args, env)
    row = next(line for line in text.splitlines() if "expert_record.dir" in line)
    assert "失败" in row and CJK.search(row), text
    flat = text.replace("\n", " ")
    assert f"记录文件写到 {target}（来自 {RECORDER}），但{target} 是文件而不是目录" in " ".join(
        flat.split()), text
    assert remedies and all(CJK.search(r) for r in remedies), text
    assert f"删除或重命名 {target}，或选择其他目录" in text
    assert f"export {RECORDER}=/path/to/writable/dir" in text
    en, zh = (_json(args, env, "expert_record.dir", lang) for lang in ("en", "zh"))
    assert en == zh and en["status"] == "fail"
    assert f"{target} is a file, not a directory" in en["summary"]
    assert not CJK.search(json.dumps(en, ensure_ascii=False)), en


def test_expert_record_seed_spelling_warning_in_chinese(tmp_path):
    env = {"SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR": "records"}
    args = ["--only", "expert_record.dir"]
    text, remedies = _zh(args, env)
    assert "只设置了 SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR=records" in text, text
    assert "SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR=records 是相对路径" in text, text
    assert f"export {RECORDER}=records（SGLang 读取的名字）" in remedies, remedies
    assert all(CJK.search(r) for r in remedies), remedies
    en, zh = (_json(args, env, "expert_record.dir", lang) for lang in ("en", "zh"))
    assert en == zh and en["status"] == "warn"
    assert not CJK.search(json.dumps(en, ensure_ascii=False)), en


def test_expert_record_bad_setting_in_chinese(tmp_path):
    config = tmp_path / "sgdoctor.toml"
    config.write_text('[checks."expert_record.dir"]\nmin_free_bytes = -1\n')
    text, _ = _zh(["--config", str(config), "--only", "expert_record.dir"], {}, codes=(3,))
    assert "设置项 min_free_bytes 必须是非负整数，而不是 -1" in text, text


# `sgdoctor mesh` takes its language from the locale (it has no --lang of its own).
ZH_LOCALE = {"LANG": "zh_CN.UTF-8"}


def _mesh_zh(args: list[str], env: dict[str, str]) -> tuple[str, list[str]]:
    proc = run_cli(["mesh", *args, "--no-color"], {**env, **ZH_LOCALE, "COLUMNS": "250"})
    assert proc.returncode == 1, proc.stderr
    remedies = [line.strip()[1:].strip() for line in proc.stdout.splitlines()
                if line.lstrip().startswith("→")]
    return proc.stdout, remedies


def _mesh(args: list[str], env: dict[str, str]) -> tuple[str, dict, dict]:
    """mesh.gloo's table in Chinese, and its JSON in English and in Chinese."""
    text, _ = _mesh_zh(args, env)
    docs = []
    for lang, locale in (("en", {}), ("zh", ZH_LOCALE)):
        doc = json_report(run_cli(["mesh", *args, "-f", "json"], {**env, **locale}))
        assert doc["lang"] == lang
        result = result_of(doc, "mesh.gloo")
        docs.append({k: result[k] for k in ("status", "summary", "remedy")})
    return text, docs[0], docs[1]


def test_mesh_without_etcd_in_chinese():
    from servers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    env = {"ETCD_ENDPOINTS": url, "GLOO_SOCKET_IFNAME": "lo"}
    text, en, zh = _mesh(["--group", "zh", "--expect", "2", "--timeout", "10s"], env)
    assert f"没有可用于与组内节点会合的 etcd 端点：{url}" in text, text
    assert "在本节点上检查 etcd 集群（`sgdoctor --only etcd.endpoints`）" in text, text
    assert en == zh and en["status"] == "fail"
    assert en["summary"].startswith(f"no usable etcd endpoint to meet the group: {url}")
    assert not CJK.search(json.dumps(en, ensure_ascii=False)), en


def test_mesh_missing_nodes_in_chinese(etcd):
    env = {"ETCD_ENDPOINTS": etcd.url, "GLOO_SOCKET_IFNAME": "lo"}
    args = ["--group", "zh-alone", "--expect", "2", "--timeout", "3s", "--name", "solo"]
    text, remedies = _mesh_zh(args, env)
    flat = " ".join(text.split())
    assert "预期 2 个节点，只有 1 个加入了组 zh-alone（缺 1 个）；已加入：solo" in flat, text
    assert "本节点的 Gloo 地址 127.0.0.1 是回环地址" not in flat   # a fail shows its fails
    assert any(r.startswith("在缺失的节点上启动 `sgdoctor mesh --group zh-alone --expect 2`")
               for r in remedies), remedies
    assert all(CJK.search(r) for r in remedies), remedies
    en = result_of(json_report(run_cli(["mesh", *args, "-f", "json"], {**env, **ZH_LOCALE})),
                   "mesh.gloo")
    assert en["summary"].startswith("only 1 of 2 expected nodes joined group zh-alone")
    assert not CJK.search(json.dumps(en, ensure_ascii=False)), en


def test_fleet_drift_in_chinese():
    """The fleet verdict's templates nest (drift of what, who has which value): in zh every
    level is translated, node names and values verbatim."""
    from dataclasses import replace

    from sgdoctor import i18n
    from sgdoctor.parse.mesh import Listener, Member, Probe
    from sgdoctor.parse.mesh_verdict import judge

    def node(name: str, version: str, mtu: int, size: str | None) -> Member:
        return Member(name, f"tok-{name}", (Listener("eth1", "10.0.0.1", 4000, mtu),), version,
                      {"libmccl.so": {"soname": "libmccl.so", "path": "/opt/maca/lib"}},
                      "0.1.0", cluster={"NVSHMEM_SYMMETRIC_SIZE": size})

    members = {"a": node("a", "3.7.1.5", 1500, None), "b": node("b", "3.7.1.5", 1500, None),
               "c": node("c", "3.8.0", 9000, "2g")}
    members["c"] = replace(members["c"], libraries={"libmccl.so": {"path": None}})
    views = {a: {b: Probe(a != "c" or b != "a", 0.1, error="connection refused",
                          address="x:1") for b in members if b != a} for a in members}
    verdict = judge("g", "a", 4, members, views, {})
    i18n.MISSING.clear()
    texts = [(i18n.tr("zh", *f.summary_message), i18n.tr("zh", *f.remedy_message))
             for f in verdict.findings.problems() if f.remedy_message]
    assert not i18n.MISSING, i18n.MISSING
    joined = "\n".join(s + "\n" + r for s, r in texts)
    for expected in ("预期 4 个节点，只有 3 个加入了组 g（缺 1 个）；已加入：a, b, c",
                     "6 个节点对中有 1 个无法通过 Gloo 连接：c → a (x:1): connection refused",
                     "集群漂移：c 为 MACA 3.8.0，而 3 个节点中有 2 个为 MACA 3.7.1.5",
                     "集群漂移：c 为 MTU 9000，而 3 个节点中有 2 个为 MTU 1500",
                     "c 为 NVSHMEM_SYMMETRIC_SIZE=2 GiB，而 3 个节点中有 2 个为 "
                     "NVSHMEM_SYMMETRIC_SIZE 未设置（1 GiB）",
                     "c 为 MACA 库 libmccl.so → 未找到（多数派：/opt/maca/lib）",
                     "在 c 上安装与多数节点一致的 MACA 版本"):
        assert expected in joined, joined
    assert all(CJK.search(s) and CJK.search(r) for s, r in texts), texts
