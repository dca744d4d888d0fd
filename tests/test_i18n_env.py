"""The env checks, `sgdoctor env` and the catalogue's value parsers in Chinese (issue 17):
a bad value's summary and remedy are Chinese with the value verbatim, `env --lang zh` has
no English effect or verdict left, and the JSON (env's included) stays English."""

from __future__ import annotations

import json
import re

import pytest

from conftest import json_report, result_of, run_cli
from sgdoctor import i18n

CJK = re.compile(r"[\u4e00-\u9fff]")
# One bad value per parser family (every value parser of the catalogue is among them).
BAD = {
    "NVSHMEM_SYMMETRIC_SIZE": "3x",                   # nvshmem size
    "NVSHMEM_DISABLE_CUDA_VMM": "yes-please",         # nvshmem bool
    "MACA_DIRECT_DISPATCH": "maybe",                  # closed-source MetaX flag
    "MACA_GRAPH_LAUNCH_QUEUE_POLICY": "high",         # closed-source MetaX integer
    "TRITON_DISABLE_MACA_OPT_MMA_PREFETCH": "0",      # read by presence
    "TRITON_ENABLE_MACA_CHAIN_DOT_OPT": "x",          # MetaX flag
    "TRITON_ENABLE_MACA_COMPILER_INT8_OPT": "1",      # a name nobody reads
    "TRITON_ENABLE_MACA_OPT_MOVE_DOT_OPERANDS_OUT_LOOP": "false",   # Python truthiness
    "RUSTUP_DIST_SERVER": "http://mirror.example:8080",
    "DYN_DISCOVERY_BACKEND": "ETCD",
    "ETCD_LEASE_TTL": "10s",
    "ETCD_KEEPALIVE_INTERVAL_SECONDS": "2",
    "DYN_REQUEST_PLANE": "grpc",
    "DYN_EVENT_PLANE": "NATS",
    "DYN_RESPONSE_PLANE": "udp",
    "DYN_LOG": "warning,dynamo=verbose",
    "DYN_LOGGING_JSONL": "enabled",
    "PYTORCH_ENABLE_PG_HIGH_PRIORITY_STREAM": "0",
    "TORCHDYNAMO_DISABLE": "true",
    "TORCH_COMPILE_DISABLE": "yes",
    "PYTHONPATH": ":relative/dir",
    "LD_LIBRARY_PATH": "/nonexistent-z2-lib",
    "GLOO_SOCKET_IFNAMES": "eth0",                    # env.names: a misspelt name
}


def _zh_lines(check: str, env: dict[str, str]) -> str:
    proc = run_cli(["--only", check, "--lang", "zh", "--no-color"], {**env, "COLUMNS": "250"})
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stdout


def _json(check: str, env: dict[str, str], lang: str) -> dict:
    doc = json_report(run_cli(["--only", check, "-f", "json", "--lang", lang], env))
    assert doc["lang"] == lang
    result = result_of(doc, check)
    result.pop("duration_ms")
    return result


@pytest.mark.parametrize(("check", "env", "verbatim", "status"), [
    ("env.nvshmem_symmetric_size", {"NVSHMEM_SYMMETRIC_SIZE": "3x"},
     ["NVSHMEM_SYMMETRIC_SIZE=3x", "'x'", "Invalid size in environment variable", "2048m"],
     "fail"),
    ("env.dyn_log", {"DYN_LOG": "warning,dynamo=verbose"},
     ["DYN_LOG=warning,dynamo=verbose", "'verbose'", "请用 debug", "DYN_LOG=warn,dynamo=debug"],
     "warn"),
    ("env.dyn_event_plane", {"DYN_EVENT_PLANE": "NATS"},
     ["'NATS'", "nats", "Invalid event_plane value", "DYN_EVENT_PLANE"], "fail"),
    ("env.pythonpath", {"PYTHONPATH": ":relative/dir"},
     ["PYTHONPATH", "#1", "#2 'relative/dir'", "unset PYTHONPATH"], "warn"),
    ("env.names", {"GLOO_SOCKET_IFNAMES": "eth0"},
     ["是否想写 GLOO_SOCKET_IFNAME？", "GLOO_SOCKET_IFNAMES → GLOO_SOCKET_IFNAME",
      '[checks."env.names"]'], "warn"),
])
def test_a_bad_value_in_chinese_keeps_its_values_and_the_json_english(check, env, verbatim,
                                                                      status):
    text = _zh_lines(check, env)
    row = next(line for line in text.splitlines() if check in line)
    remedy = [line for line in text.splitlines() if line.lstrip().startswith("→")]
    assert CJK.search(row) and remedy and all(CJK.search(line) for line in remedy), text
    for value in verbatim:
        assert value in text.replace("\n", " "), (value, text)
    en, zh = _json(check, env, "en"), _json(check, env, "zh")
    assert en == zh and en["status"] == status
    assert not CJK.search(json.dumps(en, ensure_ascii=False)), en


def test_env_in_zh_leaves_no_effect_or_verdict_in_english():
    from sgdoctor.cli_env import rows

    i18n.MISSING.clear()
    table = rows(BAD, "zh", local=True)
    assert not i18n.MISSING, sorted(i18n.MISSING)
    bad = [r for r in table if r["set"] and r["status"] in ("warn", "fail")]
    assert {r["name"] for r in bad} >= set(BAD) - {"GLOO_SOCKET_IFNAMES"}, bad
    for r in (r for r in table if r["set"]):
        assert CJK.search(r["effect"]), r
        assert r["remedy"] is None or all(CJK.search(line) for line in r["remedy"].split("\n")), r
    unset = next(r for r in table if r["name"] == "ETCD_STARTUP_CONNECT_TIMEOUT_SECONDS")
    assert unset["effect"] == "默认：120 秒", unset


def test_every_default_in_words_is_translated_and_values_stay_verbatim():
    from sgdoctor.cli_env import rows
    from sgdoctor.parse.catalogue import DEFAULT_TEXTS, entries

    defaults = {e.default for e in entries()}
    assert set(DEFAULT_TEXTS) <= defaults                      # no stale entry
    assert {d for d in defaults if " " in d} <= set(DEFAULT_TEXTS)   # words, not a value
    i18n.MISSING.clear()
    table = {r["name"]: r for r in rows({}, "zh", local=True)}
    assert not i18n.MISSING, sorted(i18n.MISSING)
    assert all(CJK.search(r["effect"]) for r in table.values()), table
    assert table["DYN_REQUEST_PLANE"]["effect"] == "默认：tcp"
    assert table["NCCL_SOCKET_IFNAME"]["effect"] == \
        "默认：除 lo 和 docker* 之外的任意网卡；由 gloo.interface 检查"
    english = {r["name"]: r for r in rows({}, "zh")}
    assert english["NCCL_SOCKET_IFNAME"]["effect"] == \
        "default: any interface except lo and docker*; checked by gloo.interface"


def test_env_table_in_zh_through_the_cli():
    out = run_cli(["env", "--set", "--lang", "zh"], {**BAD, "COLUMNS": "120"}).stdout
    effects = [line for line in out.splitlines() if line.lstrip().startswith("实际效果")]
    assert len(effects) >= len(BAD) - 1, out
    assert all(CJK.search(line[len("        实际效果: "):]) for line in effects), out
    verdicts = {line.split()[0] for line in out.splitlines()[1:] if line[:1].strip()}
    assert verdicts <= {"正常", "警告", "失败", "跳过", "出错", "参见"}, verdicts
    assert "DYN_REQUEST_PLANE=grpc → 'grpc'" in out and "DYN_LOG=warn,dynamo=debug" in out


def test_env_json_stays_english_in_zh():
    docs = [json.loads(run_cli(["env", "--set", "-f", "json", "--lang", lang], BAD).stdout)
            for lang in ("en", "zh")]
    assert [d.pop("lang") for d in docs] == ["en", "zh"]
    for doc in docs:
        for row in doc["variables"]:
            row.pop("meaning")   # the one column in the chosen language
    assert docs[0] == docs[1]
    text = json.dumps(docs[1]["variables"], ensure_ascii=False).replace("meaning_zh", "")
    effects = [r["effect"] for r in docs[1]["variables"]] + \
        [r["remedy"] for r in docs[1]["variables"] if r["remedy"]]
    assert effects and not any(CJK.search(e) for e in effects), text


def test_explain_of_a_variable_in_chinese_translates_its_rule_and_default():
    from sgdoctor.parse.catalogue import entries, explain_text, lookup

    def zh(text: str) -> str:
        return i18n.tr("zh", text)

    i18n.MISSING.clear()
    for entry in entries():
        explain_text(entry, "zh", zh)
    assert not i18n.MISSING, sorted(i18n.MISSING)       # every rule has a translation
    text = explain_text(lookup("NVSHMEM_SYMMETRIC_SIZE"), "zh", zh)
    assert "  解析规则: sscanf(\"%lf%c\")：一个数字，后面最多跟一个 k/m/g/t 后缀" in text, text
    assert "  默认: 每个 PE 1 GiB（NVSHMEM 3.8.0）" in text, text
    english = explain_text(lookup("NVSHMEM_SYMMETRIC_SIZE"))
    assert "  Default: 1 GiB per PE (NVSHMEM 3.8.0)" in english, english
    assert explain_text(lookup("DYN_REQUEST_PLANE"), "zh", zh).count("  默认: tcp") == 1
    cli = run_cli(["explain", "NVSHMEM_SYMMETRIC_SIZE", "--lang", "zh"]).stdout
    assert "  默认: 每个 PE 1 GiB（NVSHMEM 3.8.0）" in cli, cli
