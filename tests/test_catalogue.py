"""The catalogue covers the owner's seed table and the companions, consistently."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sgdoctor.parse.catalogue import (
    CATALOGUE,
    FAMILIES,
    entries,
    env_check_id,
    explain_text,
    lookup,
)
from sgdoctor.redact import is_secret_name

SEED_VARIABLES = [
    "SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR", "GLOO_SOCKET_IFNAME", "MACA_SMALL_PAGESIZE_ENABLE",
    "NVSHMEM_DISABLE_CUDA_VMM", "NVSHMEM_SYMMETRIC_SIZE", "TRITON_DISABLE_MACA_OPT_MMA_PREFETCH",
    "TRITON_ENABLE_ELEMENTWISE_PK_FMA_OPT", "TRITON_ENABLE_MACA_CHAIN_DOT_OPT",
    "TRITON_ENABLE_MACA_COMPILER_INT8_OPT", "TRITON_ENABLE_MACA_OPT_MOVE_DOT_OPERANDS_OUT_LOOP",
    "MACA_PATH", "LD_LIBRARY_PATH", "PATH", "RUSTUP_DIST_SERVER", "RUSTUP_UPDATE_ROOT",
    "PYTHONPATH", "ETCD_ENDPOINTS", "NATS_SERVER", "DYN_LOG",
    "PYTORCH_ENABLE_PG_HIGH_PRIORITY_STREAM", "MACA_DIRECT_DISPATCH",
    "MACA_GRAPH_LAUNCH_QUEUE_POLICY", "MCDBG_GRAPH_LAUNCH_QUEUE_POLICY", "FUSED_RMSNORM_QUANT",
    "TORCHDYNAMO_DISABLE",
]
COMPANIONS = [
    "SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR", "ETCD_AUTH_USERNAME", "ETCD_AUTH_PASSWORD",
    "ETCD_AUTH_CA", "ETCD_AUTH_CLIENT_CERT", "ETCD_AUTH_CLIENT_KEY", "NATS_AUTH_USERNAME",
    "NATS_AUTH_PASSWORD", "NATS_AUTH_TOKEN", "NATS_AUTH_NKEY", "NATS_AUTH_CREDENTIALS_FILE",
    "NATS_TLS_CA_CERT_PATH", "NATS_TLS_CLIENT_CERT_PATH", "NATS_TLS_CLIENT_KEY_PATH",
    "NATS_TLS_INSECURE", "DYN_DISCOVERY_BACKEND", "DYN_REQUEST_PLANE", "DYN_EVENT_PLANE",
    "NCCL_SOCKET_IFNAME", "MCCL_SOCKET_IFNAME", "MACA_VISIBLE_DEVICES", "MACA_MPS_MODE",
    "TORCH_COMPILE_DISABLE",
]
# design.md's check ids for the variables that probing checks own.
OWNED = {"GLOO_SOCKET_IFNAME": "gloo.interface", "ETCD_ENDPOINTS": "etcd.endpoints",
         "NATS_SERVER": "nats.server", "MACA_PATH": "maca.sdk",
         "SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR": "expert_record.dir",
         "SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR": "expert_record.dir",
         "PATH": "env.path", "PYTHONPATH": "env.pythonpath",
         "LD_LIBRARY_PATH": "env.ld_library_path", "ETCD_AUTH_PASSWORD": "etcd.endpoints",
         "NATS_AUTH_TOKEN": "nats.server", "NVSHMEM_SYMMETRIC_SIZE": "env.nvshmem_symmetric_size"}
CHECK_ID = re.compile(r"(gloo\.interface|etcd\.endpoints|nats\.server|maca\.(sdk|libs|devices)|"
                      r"expert_record\.dir|env\.[a-z0-9_]+)\Z")
# The owner's table (seeds/000_c0244fcb5b7b9346.txt), kept verbatim beside the tests.
SEED = Path(__file__).parent / "data" / "seed_table_zh.md"


def test_every_seed_variable_and_companion_has_an_entry() -> None:
    missing = [n for n in SEED_VARIABLES + COMPANIONS if n not in CATALOGUE]
    assert not missing


def test_seed_table_itself_is_covered() -> None:
    names = re.findall(r"^\|([A-Z][A-Z0-9_]+)\|", SEED.read_text(), re.M)
    assert len(names) == 25
    assert sorted(names) == sorted(SEED_VARIABLES)
    examples = dict(re.findall(r"^\|([A-Z][A-Z0-9_]+)\|.*\|([^|]*)\|$", SEED.read_text(), re.M))
    for name, example in examples.items():
        if example and "、" not in example:
            assert CATALOGUE[name].example == example, name


@pytest.mark.parametrize("entry", list(entries()), ids=lambda e: e.name)
def test_entry_is_complete(entry) -> None:
    assert entry.title and entry.consumer and entry.source and entry.rule and entry.default
    assert len(entry.meaning_en) > 20
    assert re.search(r"[\u4e00-\u9fff]", entry.meaning_zh), "Chinese meaning is Chinese"
    assert CHECK_ID.match(entry.check), entry.check
    assert not entry.default.startswith("unset")
    if entry.check.startswith("env.") and entry.name not in ("PATH", "PYTHONPATH",
                                                              "LD_LIBRARY_PATH"):
        assert entry.check == env_check_id(entry.name)
        assert entry.parse is not None, "an env.<name> check needs a value rule"
    if entry.example is not None and entry.parse is not None:
        assert entry.parse(entry.example, {}).meaning


@pytest.mark.parametrize(("name", "check"), sorted(OWNED.items()))
def test_check_ids_follow_the_design(name: str, check: str) -> None:
    assert CATALOGUE[name].check == check


def test_secret_flag_agrees_with_central_redaction() -> None:
    for entry in entries():
        assert entry.secret == is_secret_name(entry.name), entry.name


def test_seed_spelling_points_to_the_real_one() -> None:
    seed = CATALOGUE["SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR"]
    assert seed.canonical == "SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR"
    assert "NOT read" in seed.meaning_en


def test_unconfirmed_is_said_where_facts_say_so() -> None:
    for name in ("MACA_SMALL_PAGESIZE_ENABLE", "MACA_DIRECT_DISPATCH", "FUSED_RMSNORM_QUANT",
                 "MACA_GRAPH_LAUNCH_QUEUE_POLICY", "TRITON_ENABLE_MACA_CHAIN_DOT_OPT"):
        entry = CATALOGUE[name]
        assert "UNCONFIRMED" in entry.rule or "UNCONFIRMED" in entry.meaning_en


def test_lookup() -> None:
    assert lookup("DYN_LOG") is CATALOGUE["DYN_LOG"]
    assert lookup("dyn_log") is CATALOGUE["DYN_LOG"]
    assert lookup("NO_SUCH_VARIABLE") is None
    assert len(list(entries())) == len(CATALOGUE)


def test_families_are_closed_sets_of_known_names() -> None:
    for prefix in FAMILIES:
        assert len([n for n in CATALOGUE if n.startswith(prefix)]) >= 2


def test_explain_text_both_languages() -> None:
    en = explain_text(CATALOGUE["NVSHMEM_SYMMETRIC_SIZE"])
    assert en.startswith("NVSHMEM_SYMMETRIC_SIZE: ") and "Parsed as: sscanf" in en
    zh = explain_text(CATALOGUE["NVSHMEM_SYMMETRIC_SIZE"], "zh")
    assert "对称堆" in zh and "解析规则" in zh
    secret = explain_text(CATALOGUE["NATS_AUTH_TOKEN"])
    assert "Secret: yes" in secret
