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
