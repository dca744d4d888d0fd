"""What a new operator types: options before the subcommand, -h and help, `-o -`, a closed
stdout; through the real CLI."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BASE_ENV, json_report, result_of, run_cli

PLUGINS = str(Path(__file__).parent / "plugins")
DEMO = ["--checks-dir", PLUGINS, "--only", "demo.ok,demo.warn"]


def test_format_before_list_applies():
    proc = run_cli(["--format", "json", "list"])
    assert proc.returncode == 0, proc.stderr
    assert any(row["id"] == "env.path" for row in json.loads(proc.stdout)["checks"])


def test_fail_on_before_exec_gates_the_command(tmp_path):
    marker = tmp_path / "started"
    proc = run_cli(["--fail-on", "warn", "exec", *DEMO, "--", "touch", str(marker)])
    assert proc.returncode == 1 and not marker.exists(), proc.stderr
    proc = run_cli(["--fail-on=fail", *DEMO[:2], "exec", "--only", "demo.warn", "--",
                    "touch", str(marker)])
    assert proc.returncode == 0 and marker.exists(), proc.stderr


def test_only_before_exec_selects(tmp_path):
    proc = run_cli(["--only", "demo.ok", "--checks-dir", PLUGINS, "exec", "--report",
                    str(tmp_path / "r.json"), "--", "true"])
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [c["id"] for c in doc["checks"]] == ["demo.ok"]


@pytest.mark.parametrize(("args", "option", "command"), [
    (["--format", "json", "env", "--set"], None, None),             # env takes --format
    (["--format", "json", "exec", "--", "true"], "--format", "exec"),
    (["--deep", "lib", "libc.so.6"], "--deep", "lib"),
    (["--wait", "5s", "serve"], "--wait", "serve"),
])
def test_an_option_the_subcommand_does_not_take_is_a_usage_error(args, option, command):
    proc = run_cli(args)
    if option is None:
        assert proc.returncode == 0 and json.loads(proc.stdout)["variables"]
        return
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert f"{option} is not an option of `sgdoctor {command}`" in proc.stderr


def test_check_options_still_work_before_and_after_check():
    for args in (["--format", "json", "check", *DEMO], ["check", "--format", "json", *DEMO],
                 ["--format", "json", *DEMO]):
        proc = run_cli(args)
        assert proc.returncode == 0, (args, proc.stderr)
        assert result_of(json_report(proc), "demo.ok")["status"] == "ok"


@pytest.mark.parametrize("args", [["-h"], ["help"], ["--help"]])
def test_help_forms(args):
    proc = run_cli(args)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: sgdoctor" in proc.stdout and "exec" in proc.stdout


@pytest.mark.parametrize("args", [["help", "exec"], ["exec", "-h"]])
def test_help_of_a_command(args):
    proc = run_cli(args)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: sgdoctor exec" in proc.stdout and "--fail-on" in proc.stdout


def test_help_of_an_unknown_command_suggests():
    proc = run_cli(["help", "exce"])
    assert proc.returncode == 2 and "did you mean exec?" in proc.stderr


def test_output_dash_is_stdout(tmp_path):
    proc = run_cli([*DEMO, "-f", "json", "-o", "-"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json_report(proc)["status"] == "warn"
    assert not (tmp_path / "-").exists()


def test_output_to_a_device_writes_it_and_keeps_the_device(tmp_path, needs_root):
    """Renaming a report over `-o /dev/null` once replaced the machine's /dev/null."""
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    for args in ([*DEMO, "-f", "json", "-o", str(null)],
                 ["exec", *DEMO, "--report", str(null), "--", "true"]):
        proc = run_cli(args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert stat.S_ISCHR(null.lstat().st_mode), args
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]  # no temp file left


def test_output_to_a_fifo(tmp_path):
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    proc = run_cli([*DEMO, "-f", "json", "-o", str(fifo)], cwd=tmp_path)
    assert proc.returncode == 2 and "nobody reads this FIFO" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader before the writer comes
    try:
        proc = run_cli([*DEMO, "-f", "json", "-o", str(fifo)], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(os.read(reader, 1 << 20))  # a small report: the pipe held it all
    finally:
        os.close(reader)
    assert doc["status"] == "warn"
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def closed_stdout(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI with file descriptor 1 closed (`>&-`)."""
    command = " ".join([sys.executable, "-m", "sgdoctor", *args]) + " >&-"
    return subprocess.run(["sh", "-c", command], env=BASE_ENV, cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def test_closed_stdout_with_output_file_works(tmp_path):
    proc = closed_stdout([*DEMO, "-f", "json", "-o", "r.json"], tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert json.loads((tmp_path / "r.json").read_text())["status"] == "warn"


@pytest.mark.parametrize("args", [DEMO, ["list"]])
def test_closed_stdout_without_output_is_one_line(tmp_path, args):
    proc = closed_stdout(args, tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "sgdoctor: error: stdout is closed: nowhere to write the report (give --output FILE)"]
