"""`sgdoctor exec`: gate a command on the checks, then become it (same PID)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import BASE_ENV, run_cli, validate_report

PLUGINS = str(Path(__file__).parent / "plugins")
DEMO = ["--checks-dir", PLUGINS, "--only", "demo.ok,demo.fail,demo.warn"]

CHILD = r"""
import os, signal, sys, time
out = sys.argv[1]
info = {"pid": os.getpid(), "argv": sys.argv[2:], "env": os.environ.get("DEMO_VALUE"),
        "exe": os.readlink("/proc/self/exe")}
def on_term(signum, frame):
    with open(out + ".term", "w") as fh:
        fh.write("SIGTERM")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
with open(out, "w") as fh:
    import json; json.dump(info, fh)
if "--linger" in sys.argv:
    time.sleep(30)
sys.exit(int(os.environ.get("CHILD_EXIT", "0")))
"""


def _spawn(tmp_path, extra_env=None, args=(), linger=False):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out = tmp_path / "child.json"
    env = {**BASE_ENV, **(extra_env or {})}
    cmd = [sys.executable, "-m", "sgdoctor", "exec", *DEMO, *args, "--",
           sys.executable, str(script), str(out), "a b", "c", *(["--linger"] if linger else [])]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True), out


def test_exec_becomes_the_command_with_same_pid_env_and_exit_code(tmp_path):
    proc, out = _spawn(tmp_path, {"DEMO_VALUE": "passed-through", "CHILD_EXIT": "7"})
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 7, stderr
    info = json.loads(out.read_text())
    assert info["pid"] == proc.pid
    assert info["argv"] == ["a b", "c"]
    assert info["exe"] == os.path.realpath(sys.executable)
    assert info["env"] == "passed-through"
    assert "warn demo.warn" in stderr and stdout == ""


def test_exec_command_receives_sigterm_sent_to_the_entrypoint(tmp_path):
    proc, out = _spawn(tmp_path, args=(), linger=True)
    deadline = time.monotonic() + 30
    while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert out.exists(), proc.communicate()[1]
    os.kill(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert Path(f"{out}.term").read_text() == "SIGTERM"


def test_failing_check_blocks_the_command_and_writes_the_report(tmp_path):
    report = tmp_path / "report.json"
    proc, out = _spawn(tmp_path, {"DEMO_FAIL": "1"}, args=("--report", str(report)))
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert not out.exists(), "the command must never start"
    assert "sgdoctor: fail demo.fail: DEMO_FAIL=1 -- fix: unset DEMO_FAIL" in stderr
    doc = validate_report(json.loads(report.read_text()))
    assert doc["status"] == "fail"
    assert stdout == ""


def test_report_is_written_when_the_command_starts_too(tmp_path):
    report = tmp_path / "r.json"
    proc, out = _spawn(tmp_path, args=("--report", str(report)))
    proc.communicate(timeout=60)
    assert proc.returncode == 0 and out.exists()
    assert validate_report(json.loads(report.read_text()))["status"] == "warn"


def test_fail_on_warn_blocks_too(tmp_path):
    proc, out = _spawn(tmp_path, args=("--fail-on", "warn"))
    proc.communicate(timeout=60)
    assert proc.returncode == 1 and not out.exists()


def test_missing_and_non_executable_commands_exit_like_a_shell(tmp_path):
    proc = run_cli(["exec", *DEMO, "--", "no-such-command-sgd"])
    assert proc.returncode == 127 and "command not found" in proc.stderr
    data = tmp_path / "data.txt"
    data.write_text("not a program")
    proc = run_cli(["exec", *DEMO, "--", str(data)])
    assert proc.returncode == 126 and "permission denied" in proc.stderr
    proc = run_cli(["exec", *DEMO, "--", str(tmp_path)])
    assert proc.returncode == 126
    proc = run_cli(["exec", *DEMO])
    assert proc.returncode == 2


def test_command_inherits_exactly_the_environment_given():
    """Under a C locale Python adds LC_CTYPE at start-up (PEP 538); COMMAND must not see it.

    The command is coreutils' env, not Python, which would coerce the locale itself."""
    given = {b"PATH": os.environ["PATH"].encode(), b"HOME": b"/root", b"SGDOCTOR_CONFIG": b"",
             b"ODD": b"caf\xe9", b"EMPTY": b""}
    proc = subprocess.run([sys.executable, "-m", "sgdoctor", "exec", *DEMO, "--", "env", "-0"],
                          env=given, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    seen = dict(item.split(b"=", 1) for item in proc.stdout.split(b"\0") if item)
    assert seen == given
