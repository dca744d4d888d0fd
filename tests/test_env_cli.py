"""The env checks and `sgdoctor env` through the real CLI, with crafted environments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import json_report, result_of, run_cli

ENV_ONLY = ["--only", "env.*", "--format", "json"]


def report(env: dict[str, str]) -> dict:
    proc = run_cli(ENV_ONLY, env)
    assert proc.returncode in (0, 1), proc.stderr
    return json_report(proc)


def one(env: dict[str, str], check_id: str) -> dict:
    return result_of(report(env), check_id)


@pytest.mark.parametrize(("name", "value", "status", "text"), [
    ("TRITON_DISABLE_MACA_OPT_MMA_PREFETCH", "0", "warn", "disabled anyway"),
    ("TRITON_DISABLE_MACA_OPT_MMA_PREFETCH", "1", "ok", "MMA prefetch disabled"),
    ("TRITON_ENABLE_MACA_OPT_MOVE_DOT_OPERANDS_OUT_LOOP", "0", "warn", "ENABLES"),
    ("TRITON_ENABLE_MACA_OPT_MOVE_DOT_OPERANDS_OUT_LOOP", "false", "warn", "ENABLES"),
    ("NVSHMEM_SYMMETRIC_SIZE", "3g", "ok", "NVSHMEM_SYMMETRIC_SIZE=3g → 3 GiB per PE"),
    ("NVSHMEM_SYMMETRIC_SIZE", "2GB", "ok", "2 GiB per PE"),
    ("NVSHMEM_SYMMETRIC_SIZE", "3 g", "fail", "Invalid size in environment variable"),
    ("NVSHMEM_SYMMETRIC_SIZE", "-1g", "fail", "negative"),
    ("NVSHMEM_SYMMETRIC_SIZE", "3", "warn", "suffix is probably missing"),
    ("NVSHMEM_DISABLE_CUDA_VMM", "off", "warn", "NVSHMEM reads this as TRUE"),
    ("NVSHMEM_DISABLE_CUDA_VMM", "", "warn", "NVSHMEM reads this as TRUE"),
    ("NVSHMEM_DISABLE_CUDA_VMM", "1", "ok", "NVSHMEM reads this as TRUE"),
    ("DYN_LOG", "warning", "warn", "'warning' is not a level"),
    ("DYN_LOG", "dynamo_runtime=debug", "warn", "every target not named"),
    ("DYN_LOG", "info, dynamo_runtime=debug", "warn", "at position 6 has whitespace"),
    ("DYN_LOG", " info", "warn", "Dynamo logs nothing except"),
    ("DYN_LOG", "info,dynamo_runtime=debug", "ok", "target 'dynamo_runtime': debug and above"),
    ("DYN_LOGGING_JSONL", "y", "warn", "as FALSE"),
    ("PYTORCH_ENABLE_PG_HIGH_PRIORITY_STREAM", "1", "ok", "enabled"),
    ("PYTORCH_ENABLE_PG_HIGH_PRIORITY_STREAM", "0", "warn", "may ENABLE it"),
    ("PYTORCH_ENABLE_PG_HIGH_PRIORITY_STREAM", "on", "warn", "UNCONFIRMED"),
    ("MACA_GRAPH_LAUNCH_QUEUE_POLICY", "3", "ok", "queue policy 3"),
    ("MACA_GRAPH_LAUNCH_QUEUE_POLICY", "high", "warn", "not an integer"),
    ("FUSED_RMSNORM_QUANT", "True", "ok", "UNCONFIRMED"),
    ("MACA_SMALL_PAGESIZE_ENABLE", "yes", "warn", "not a shape seen"),
    ("TORCHDYNAMO_DISABLE", "1", "ok", "torch.compile disabled"),
    ("TORCHDYNAMO_DISABLE", "0", "warn", "has no effect"),
    ("TORCH_COMPILE_DISABLE", "true", "warn", "only exactly 1 disables"),
    ("DYN_REQUEST_PLANE", "http", "fail", "Invalid request plane mode"),
    ("DYN_EVENT_PLANE", "NATS", "fail", "Invalid event_plane value"),
    ("DYN_DISCOVERY_BACKEND", "", "fail", "Unknown key-value store type"),
    ("DYN_DISCOVERY_BACKEND", "ETCD", "fail", "Unknown key-value store type"),
    ("DYN_RESPONSE_PLANE", "udp", "fail", "not a response plane"),
    ("TRITON_ENABLE_MACA_COMPILER_INT8_OPT", "1", "warn", "does not read"),
    ("TRITON_DISABLE_MACA_COMPILER_INT8_OPT", "0", "warn", "ENABLES"),
    ("TRITON_DISABLE_ELEMENTWISE_PK_FMA_OPT", "0", "warn", "anyway"),
    ("RUSTUP_DIST_SERVER", "http://mirror.local/rust", "warn", "plain HTTP"),
    ("RUSTUP_DIST_SERVER", "mirrors.ustc.edu.cn/rust-static", "warn", "not an http(s) URL"),
    ("RUSTUP_UPDATE_ROOT", "https://mirrors.ustc.edu.cn/rust-static/rustup", "ok",
     "mirrors.ustc.edu.cn"),
])
def test_value_traps(name: str, value: str, status: str, text: str) -> None:
    result = one({name: value}, f"env.{name.lower()}")
    assert result["status"] == status, result
    assert text in result["summary"], result
    assert name in result["env"]
    if status in ("warn", "fail"):
        assert result["remedy"]


def test_a_fail_makes_exit_code_1_and_warn_does_not() -> None:
    assert run_cli(ENV_ONLY, {"NVSHMEM_SYMMETRIC_SIZE": "3 g"}).returncode == 1
    assert run_cli(ENV_ONLY, {"NVSHMEM_DISABLE_CUDA_VMM": "off"}).returncode == 0


def test_unset_optional_variable_is_skipped_with_its_default() -> None:
    result = one({}, "env.nvshmem_symmetric_size")
    assert result["status"] == "skip"
    assert result["summary"] == ("NVSHMEM_SYMMETRIC_SIZE is not set; default: 1 GiB per PE "
                                 "(NVSHMEM 3.8.0) (no NVSHMEM configuration file sets it "
                                 "either)")


def test_torchdynamo_disable_is_fine_when_torch_compile_disable_is_set() -> None:
    result = one({"TORCHDYNAMO_DISABLE": "1", "TORCH_COMPILE_DISABLE": "1"},
                 "env.torchdynamo_disable")
    assert result["status"] == "ok"
    assert result["env"] == ["TORCHDYNAMO_DISABLE", "TORCH_COMPILE_DISABLE"]


def test_variables_owned_by_probing_checks_get_no_env_check() -> None:
    ids = {c["id"] for c in report({})["checks"]}
    for owned in ("gloo_socket_ifname", "etcd_endpoints", "nats_server", "maca_path",
                  "sglang_expert_distribution_record_dir", "nats_auth_token"):
        assert f"env.{owned}" not in ids
    assert {"env.path", "env.pythonpath", "env.ld_library_path", "env.names"} <= ids


# --- path hygiene on real directories ------------------------------------------------------

@pytest.fixture
def tree(tmp_path: Path) -> dict[str, str]:
    good = tmp_path / "bin"
    good.mkdir()
    lib = tmp_path / "lib"
    lib.mkdir()
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    return {"good": str(good), "lib": str(lib), "shared": str(shared),
            "missing": str(tmp_path / "gone")}


def test_path_empty_entry_warns(tree: dict[str, str]) -> None:
    result = one({"PATH": f"{tree['good']}::/usr/bin"}, "env.path")
    assert result["status"] == "warn"
    assert "empty entry #2 means the current directory" in result["summary"]
    assert result["details"]["entries"][1]["kind"] == "empty"


def test_ld_library_path_world_writable_missing_and_duplicates(tree: dict[str, str]) -> None:
    value = f"{tree['lib']}:{tree['shared']}:{tree['missing']}:{tree['lib']}/"
    result = one({"LD_LIBRARY_PATH": value}, "env.ld_library_path")
    assert result["status"] == "warn"
    summary = result["summary"]
    assert f"world-writable #2 '{tree['shared']}'" in summary
    assert f"missing #3 '{tree['missing']}'" in summary
    assert "duplicates, harmless: #4" in summary
    assert result["remedy"].endswith(f"export LD_LIBRARY_PATH={tree['lib']}")


def test_pythonpath_relative_entry(tree: dict[str, str]) -> None:
    result = one({"PYTHONPATH": f"src:{tree['good']}"}, "env.pythonpath")
    assert result["status"] == "warn" and "relative entry #1 'src'" in result["summary"]


def test_clean_paths_are_ok(tree: dict[str, str]) -> None:
    doc = report({"PATH": f"{tree['good']}:/usr/bin", "LD_LIBRARY_PATH": tree["lib"]})
    assert result_of(doc, "env.path")["status"] == "ok"
    assert result_of(doc, "env.ld_library_path")["status"] == "ok"
    assert result_of(doc, "env.pythonpath")["status"] == "skip"


# --- env.names -------------------------------------------------------------------------------

def test_misspelt_names() -> None:
    result = one({"GLOO_SOCKET_IFNAMES": "bond0", "NATS_SERVERS": "nats://x:4222"}, "env.names")
    assert result["status"] == "warn"
    assert "GLOO_SOCKET_IFNAMES: did you mean GLOO_SOCKET_IFNAME?" in result["summary"]
    assert "NATS_SERVERS: did you mean NATS_SERVER?" in result["summary"]
    assert "GLOO_SOCKET_IFNAME" in result["env"]


def test_seed_spelling_is_not_noise_for_env_names() -> None:
    result = one({"SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR": "/data/expert"}, "env.names")
    assert result["status"] == "ok"


def test_names_can_be_ignored_through_config(tmp_path: Path) -> None:
    config = tmp_path / "sgdoctor.toml"
    config.write_text('[checks."env.names"]\nignore = ["NATS_SERVERS"]\n')
    proc = run_cli([*ENV_ONLY, "--config", str(config)], {"NATS_SERVERS": "x"})
    assert result_of(json_report(proc), "env.names")["status"] == "ok"


# --- hostile values --------------------------------------------------------------------------

def test_non_utf8_bytes_and_huge_values_end_in_a_verdict() -> None:
    env = {"DYN_LOG": "debug\udcff", "NVSHMEM_SYMMETRIC_SIZE": "9" * 100_000 + "\udcfe",
           "PATH": "/usr/bin:/tmp/caf\udce9", "MACA_DIRECT_DISPATCH": "\udcff" * 50_000}
    proc = run_cli(ENV_ONLY, env)
    doc = json_report(proc)
    assert result_of(doc, "env.dyn_log")["status"] == "warn"
    size = result_of(doc, "env.nvshmem_symmetric_size")
    assert size["status"] == "fail" and len(size["summary"]) < 2000
    assert result_of(doc, "env.maca_direct_dispatch")["status"] == "warn"
    assert doc["counts"]["error"] == 0
    assert "Traceback" not in proc.stderr


# --- sgdoctor env ------------------------------------------------------------------------------

def env_json(env: dict[str, str], *extra: str) -> dict:
    proc = run_cli(["env", "--format", "json", *extra], env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def by_name(doc: dict) -> dict[str, dict]:
    return {row["name"]: row for row in doc["variables"]}


def test_env_lists_every_catalogue_variable() -> None:
    from sgdoctor.parse.catalogue import CATALOGUE

    rows = by_name(env_json({"NVSHMEM_SYMMETRIC_SIZE": "3g"}))
    assert set(rows) == set(CATALOGUE)
    size = rows["NVSHMEM_SYMMETRIC_SIZE"]
    assert size["set"] and size["value"] == "3g" and size["status"] == "ok"
    assert "3 GiB per PE" in size["effect"]
    unset = rows["DYN_LOG"]
    assert not unset["set"] and unset["value"] is None and unset["effect"] == "default: info"
    gloo = rows["GLOO_SOCKET_IFNAME"]
    assert gloo["status"] is None and gloo["check"] == "gloo.interface"


def test_env_never_echoes_secrets() -> None:
    env = {"NATS_AUTH_TOKEN": "tok-8f3a9c", "ETCD_AUTH_PASSWORD": "hunter2-pw",
           "ETCD_ENDPOINTS": "http://root:hunter2-pw@10.0.0.5:2379",
           "ETCD_AUTH_CLIENT_KEY": "-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----"}
    for fmt in ("json", "table"):
        proc = run_cli(["env", "--format", fmt], env)
        assert proc.returncode == 0, proc.stderr
        for secret in ("tok-8f3a9c", "hunter2-pw", "MIIEv"):
            assert secret not in proc.stdout
    rows = by_name(env_json(env))
    assert rows["NATS_AUTH_TOKEN"]["value"] == "***"
    assert rows["ETCD_ENDPOINTS"]["value"] == "http://root:***@10.0.0.5:2379"


def test_env_chinese_meanings() -> None:
    rows = by_name(env_json({}, "--lang", "zh"))
    assert rows["NVSHMEM_SYMMETRIC_SIZE"]["meaning"].startswith("NVSHMEM 对称堆大小")
    proc = run_cli(["env", "--lang", "zh", "--set"], {"DYN_LOG": "warning"})
    assert proc.returncode == 0
    assert "含义" in proc.stdout and "Dynamo 的日志过滤规则" in proc.stdout
    unwrapped = proc.stdout.replace("\n        ", " ")
    assert "'warning' 在这里不是日志级别" in unwrapped   # the effect in Chinese too
    assert "'warning' is not a level" not in proc.stdout


def test_env_table_shows_verdicts_and_remedies() -> None:
    proc = run_cli(["env", "--set"], {"NVSHMEM_SYMMETRIC_SIZE": "3 g"})
    assert proc.returncode == 0
    assert "NVSHMEM_SYMMETRIC_SIZE" in proc.stdout and "fail" in proc.stdout
    assert "→ Write a number" in proc.stdout
    assert "GLOO_SOCKET_IFNAME" not in proc.stdout  # --set: only variables that are set


@pytest.mark.parametrize("args", [["env", "--lang", "fr"], ["env", "--format", "xml"]])
def test_env_usage_errors_exit_2(args: list[str]) -> None:
    proc = run_cli(args)
    assert proc.returncode == 2 and "error" in proc.stderr and "Traceback" not in proc.stderr


def test_explain_a_variable() -> None:
    proc = run_cli(["explain", "NVSHMEM_DISABLE_CUDA_VMM"])
    assert proc.returncode == 0, proc.stderr
    assert "'off' means TRUE" in proc.stdout and "env.nvshmem_disable_cuda_vmm" in proc.stdout
    zh = run_cli(["explain", "dyn_log", "--lang", "zh"])
    assert zh.returncode == 0 and "日志过滤" in zh.stdout


def test_catalogue_check_ids_exist_and_declare_the_variable() -> None:
    from sgdoctor.parse.catalogue import entries

    proc = run_cli(["list", "--format", "json"])
    assert proc.returncode == 0, proc.stderr
    checks = {c["id"]: c for c in json.loads(proc.stdout)["checks"]}
    for entry in entries():
        assert entry.check in checks, f"{entry.name}: no check {entry.check}"
        assert entry.name in checks[entry.check]["env"], f"{entry.check} does not read {entry.name}"


def test_the_seed_containers_own_values() -> None:
    """The owner's example values: all fine except the two mcTriton ENABLE names that
    mcTriton never reads (and MMA prefetch is off, as the seed intends)."""
    from sgdoctor.parse.catalogue import entries, env_check_id

    env = {e.name: e.example for e in entries() if e.example and e.parse and "、" not in e.example}
    env["DYN_LOG"] = "info"
    doc = report(env)
    set_ids = {env_check_id(name) for name in env}
    statuses = {c["id"]: c["status"] for c in doc["checks"] if c["id"] in set_ids}
    assert {k for k, v in statuses.items() if v != "ok"} == {
        "env.triton_enable_maca_compiler_int8_opt", "env.triton_enable_elementwise_pk_fma_opt"}
    assert statuses["env.torchdynamo_disable"] == "ok"
    assert result_of(doc, "env.names")["status"] == "ok"
