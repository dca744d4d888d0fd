"""expert_record.dir through the real CLI: which variable SGLang really reads, and what the
value means to it (``Path(os.environ.get(RECORDER, "/tmp"))``, no expansion of any kind)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sgdoctor.checks.expert_record import expert_record_dir

from conftest import json_report, result_of, run_cli
from sgdoctor.api import Context, Status
from sgdoctor.parse.verdict import PATH_LIMIT

RECORDER = "SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR"
SEED = "SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR"


@pytest.fixture
def config(tmp_path):
    """No free-space minimum, so verdicts do not depend on how full this machine's disk is."""
    def write(body: str = "min_free_bytes = 0\nmin_free_inodes = 0") -> list[str]:
        path = tmp_path / "sgdoctor.toml"
        path.write_text(f'[checks."expert_record.dir"]\n{body}\n')
        return ["--config", str(path)]
    return write


def run(env: dict[str, str], args: list[str], **kwargs):
    proc = run_cli(["--format", "json", "--only", "expert_record.dir", *args], env, **kwargs)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc, result_of(json_report(proc), "expert_record.dir")


def test_unset_means_sglang_default_tmp(config):
    proc, item = run({}, config())
    assert proc.returncode == 0
    assert item["status"] == "ok", item
    assert item["summary"].startswith("Dumps go to /tmp (")
    assert "SGLang's default" in item["summary"] and "write+fsync ok" in item["summary"]
    assert item["details"]["directory"] == "/tmp"
    assert item["env"] == [RECORDER, SEED]
    assert item["details"]["findings"] == []


def test_recorder_dir_is_probed_and_described(tmp_path, config):
    rec = tmp_path / "rec"
    rec.mkdir()
    proc, item = run({RECORDER: str(rec)}, config())
    assert item["status"] == "ok"
    assert item["summary"].startswith(f"Dumps go to {rec} (from {RECORDER})")
    probe = item["details"]["probe"]
    assert probe["write_test"].startswith("passed") and probe["owner"] and probe["filesystem"]
    assert list(rec.iterdir()) == []


def test_only_the_seed_spelling_warns_that_sglang_writes_to_tmp(tmp_path, config):
    rec = tmp_path / "rec"
    rec.mkdir()
    proc, item = run({SEED: str(rec)}, config())
    assert proc.returncode == 0
    assert item["status"] == "warn"
    assert "upstream SGLang reads" in item["summary"]
    assert "would silently write to /tmp" in item["summary"]
    assert f"export {RECORDER}={rec}" in item["remedy"]
    assert item["details"]["directory"] == "/tmp"
    assert item["details"]["seed_directory_probe"]["path"] == str(rec)
    assert item["details"]["seed_directory_probe"]["write_test"].startswith("passed")
    assert item["details"]["findings"] == [
        {"code": "seed_spelling_only", "status": "warn", "summary": item["summary"].split(
            ", but ", 1)[1], "remedy": f"export {RECORDER}={rec} (the name SGLang reads)"}]


def test_only_the_seed_spelling_pointing_at_a_file_fails(tmp_path, config):
    bad = tmp_path / "file"
    bad.write_text("")
    proc, item = run({SEED: str(bad)}, config())
    assert proc.returncode == 1
    assert item["status"] == "fail"
    assert f"{SEED}'s directory: {bad} is a file" in item["summary"]
    assert "would silently write to /tmp" not in item["summary"]   # a warning, under a fail
    assert [(f["code"], f["status"]) for f in item["details"]["findings"]] == [
        ("seed_spelling_only", "warn"), ("seed_dir_not_a_directory", "fail")]
    assert item["remedy"].splitlines() == [
        f"remove or rename {bad}, or choose another directory",
        f"export {RECORDER}={bad} (the name SGLang reads)"]


def test_both_spellings_differing_warns_and_probes_the_one_sglang_reads(tmp_path, config):
    used, ignored = tmp_path / "used", tmp_path / "ignored"
    used.mkdir()
    proc, item = run({RECORDER: str(used), SEED: str(ignored)}, config())
    assert item["status"] == "warn"
    assert "differ" in item["summary"] and f"ignores {SEED}" in item["summary"]
    assert item["details"]["directory"] == str(used)
    assert "seed_directory_probe" not in item["details"]
    assert f"unset {SEED}" in item["remedy"]
    assert [f["code"] for f in item["details"]["findings"]] == ["spellings_differ"]


def test_both_spellings_equal_is_fine(tmp_path, config):
    _, item = run({RECORDER: str(tmp_path), SEED: str(tmp_path)}, config())
    assert item["status"] == "ok", item


def test_empty_value_means_the_working_directory(tmp_path, config):
    _, item = run({RECORDER: ""}, config(), cwd=tmp_path)
    assert item["status"] == "warn"
    assert "current working directory" in item["summary"]
    assert [f["code"] for f in item["details"]["findings"]] == ["empty_value"]
    assert item["details"]["directory"] == str(tmp_path)


@pytest.mark.parametrize(("value", "words", "code"), [
    ("~/records", "does not expand '~'", "tilde_not_expanded"),
    ("$HOME/records", "does not expand variables", "variable_not_expanded"),
    ("records", "is relative", "relative_path"),
])
def test_values_sglang_does_not_expand_warn(tmp_path, config, value, words, code):
    _, item = run({RECORDER: value}, config(), cwd=tmp_path)
    assert item["status"] == "warn"
    assert words in item["summary"]
    assert [f["code"] for f in item["details"]["findings"]] == [code]
    assert item["details"]["directory"] == os.path.join(str(tmp_path), value)
    assert item["details"]["probe"]["will_be_created"] is True
    assert list(tmp_path.iterdir()) == [tmp_path / "sgdoctor.toml"]


def test_non_utf8_value_is_shown_escaped(tmp_path, config):
    value = os.fsdecode(bytes(tmp_path) + b"/rec\xff")
    proc, item = run({RECORDER: value}, config())
    assert item["status"] == "ok"
    assert "rec\\xff" in item["summary"]


def test_missing_directory_is_ok_and_not_created(tmp_path, config):
    _, item = run({RECORDER: str(tmp_path / "new" / "dir")}, config())
    assert item["status"] == "ok"
    assert f"mkdir -p can create it in {tmp_path}" in item["summary"]
    assert not (tmp_path / "new").exists()


def test_low_space_minimum_from_config_warns(tmp_path, config):
    _, item = run({RECORDER: str(tmp_path)}, config("min_free_bytes = 1125899906842624000"))
    assert item["status"] == "warn"
    assert "free on the filesystem" in item["summary"]
    assert [f["code"] for f in item["details"]["findings"]] == ["low_space"]


@pytest.mark.parametrize("body", ["min_free_inodes = -1", 'probe_name = "../escape"'])
def test_bad_settings_are_a_check_error_naming_them(config, body):
    proc, item = run({}, config(body))
    assert proc.returncode == 3
    assert item["status"] == "error"
    assert body.split(" ")[0] in item["summary"]


@pytest.mark.parametrize("body", ['min_free_bytes = "lots"', "probe_name = 3"])
def test_settings_of_the_wrong_type_are_a_usage_error_naming_them(config, body):
    proc = run_cli(["--only", "expert_record.dir", *config(body)])
    assert proc.returncode == 2 and proc.stdout == ""
    assert f'[checks."expert_record.dir"] {body.split(" ")[0]}' in proc.stderr


def test_table_output_names_the_problem(tmp_path):
    proc = run_cli(["--only", "expert_record.dir"], {SEED: str(tmp_path)})
    assert proc.returncode == 0
    assert "expert_record.dir" in proc.stdout and "/tmp" in proc.stdout


def test_explain_says_which_variable_sglang_reads():
    proc = run_cli(["explain", "expert_record.dir"])
    assert proc.returncode == 0
    assert RECORDER in proc.stdout and "1 MiB" in proc.stdout


def test_check_function_directly_with_settings(tmp_path):
    """The plugin API path the runner uses, without the CLI: settings reach the probe."""
    ctx = Context({RECORDER: str(tmp_path)}, deadline=time.monotonic() + 5,
                  settings={"min_free_bytes": 0, "probe_name": "fixed-name"})
    (tmp_path / "fixed-name").symlink_to(Path("/etc/hostname"))
    result = expert_record_dir(ctx)
    assert result.status is Status.WARN
    assert "fixed-name (a symlink to /etc/hostname)" in result.summary
    assert (tmp_path / "fixed-name").is_symlink()


def test_huge_value_is_a_verdict_with_a_bounded_summary(config):
    proc, item = run({RECORDER: "/" + "x" * 100_000}, config())
    assert item["status"] == "fail"
    assert "File name too long" in item["summary"]
    assert [f["code"] for f in item["details"]["findings"]] == ["write_failed"]
    assert len(item["summary"]) < 3 * PATH_LIMIT and "100001 characters" in item["summary"]


def test_seed_value_in_the_remedy_is_shell_quoted(tmp_path, config):
    spaced = tmp_path / "with space"
    spaced.mkdir()
    _, item = run({SEED: str(spaced)}, config())
    assert f"export {RECORDER}='{spaced}'" in item["remedy"]


def test_control_characters_in_the_value_cannot_garble_the_report(tmp_path, config):
    _, item = run({RECORDER: f"{tmp_path}/a\nb\x1b[31m"}, config())
    assert "\n" not in item["summary"] and "\x1b" not in item["summary"]
    assert "a\\nb\\x1b[31m" in item["summary"]


def test_every_finding_of_both_directories_is_listed_with_its_code(tmp_path, config):
    """Through the real CLI: the seed's spelling (warn), its value's trap (warn), and its
    directory (a file: fail) — all in details.findings, the fail alone in the summary."""
    (tmp_path / "rec").write_text("")
    _, item = run({SEED: "rec"}, config(), cwd=tmp_path)
    assert item["status"] == "fail"
    assert [(f["code"], f["status"]) for f in item["details"]["findings"]] == [
        ("seed_spelling_only", "warn"), ("seed_relative_path", "warn"),
        ("seed_dir_not_a_directory", "fail")]
    assert item["summary"] == (
        f"Dumps go to /tmp ({RECORDER} unset: SGLang's default), but {SEED}'s directory: "
        f"{tmp_path}/rec is a file, not a directory; the writer's mkdir would fail")
    assert item["remedy"].splitlines() == [
        f"remove or rename {tmp_path}/rec, or choose another directory",
        f"export {RECORDER}=rec (the name SGLang reads)",
        f"set {SEED} to an absolute path"]
