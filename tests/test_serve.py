"""`sgdoctor serve`: real HTTP requests against a real server process."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BASE_ENV, validate_report

PLUGINS = str(Path(__file__).parent / "plugins")


class Served:
    def __init__(self, args, env, tmp_path):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sgdoctor", "serve", "--listen", "127.0.0.1:0", *args],
            env={**BASE_ENV, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert match, line + self.proc.stderr.read()
        self.port = int(match.group(1))

    def get(self, path, method="GET"):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        conn.request(method, path)
        resp = conn.getresponse()
        body = resp.read().decode()
        conn.close()
        return resp.status, resp.getheader("Content-Type"), body

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.communicate(timeout=20)


@pytest.fixture
def served(tmp_path):
    started = []

    def start(args, env=None):
        s = Served(args, env or {}, tmp_path)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.communicate()


def _counting_plugin(tmp_path, sleep=0.0):
    counter = tmp_path / "runs"
    (tmp_path / "plug").mkdir()
    (tmp_path / "plug" / "count.py").write_text(
        "import time\nfrom sgdoctor.api import Result, check\n"
        "@check('count.run', title='counts its runs')\n"
        "def counted(ctx):\n"
        f"    time.sleep({sleep})\n"
        f"    open({str(counter)!r}, 'a').write('x')\n"
        "    return Result.ok('fine')\n")
    return counter, ["--checks-dir", str(tmp_path / "plug"), "--only", "count.run"]


def test_paths_formats_and_methods(served, tmp_path):
    s = served(["--checks-dir", PLUGINS, "--only", "demo.ok,demo.warn"])
    status, ctype, body = s.get("/healthz")
    assert status == 200 and ctype.startswith("application/json")
    assert validate_report(json.loads(body))["status"] == "warn"
    status, ctype, body = s.get("/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    from prometheus_client.parser import text_string_to_metric_families

    names = {f.name for f in text_string_to_metric_families(body)}
    assert {"sgdoctor_check_status", "sgdoctor_up"} <= names
    assert validate_report(json.loads(s.get("/report")[2]))["checks"]
    for fmt, needle in (("table", "demo.warn"), ("junit", "<testsuite"),
                        ("nagios", "SGDOCTOR WARNING"), ("prometheus", "sgdoctor_up 1")):
        status, _, body = s.get(f"/report?format={fmt}")
        assert status == 200 and needle in body, (fmt, body)
    assert s.get("/report?format=yaml")[0] == 400
    assert s.get("/")[0] == 404
    assert s.get("/metrics/extra")[0] == 404
    assert s.get("/healthz", method="POST")[0] == 405
    assert s.get("/healthz", method="DELETE")[0] == 405
    status, _, body = s.get("/healthz", method="HEAD")
    assert status == 200 and body == ""
    _, err = s.stop()
    assert s.proc.returncode == 0 and "stopped" in err


def test_healthz_turns_503_when_a_check_starts_failing(served, tmp_path):
    ready = tmp_path / "ready"
    ready.touch()
    s = served(["--checks-dir", PLUGINS, "--only", "demo.file", "--interval", "300ms"],
               {"DEMO_WAIT_FILE": str(ready)})
    assert s.get("/healthz")[0] == 200
    ready.unlink()
    deadline = time.monotonic() + 10
    while s.get("/healthz")[0] != 503 and time.monotonic() < deadline:
        time.sleep(0.1)
    status, _, body = s.get("/healthz")
    assert status == 503
    assert json.loads(body)["status"] == "fail"
    ready.touch()
    deadline = time.monotonic() + 10
    while s.get("/healthz")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert s.get("/healthz")[0] == 200


def test_concurrent_requests_start_no_extra_runs(served, tmp_path):
    counter, args = _counting_plugin(tmp_path)
    s = served([*args, "--interval", "1h"])
    assert s.get("/healthz")[0] == 200
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        paths = ["/healthz", "/metrics", "/report"] * 7
        results = list(pool.map(lambda p: s.get(p)[0], paths[:20]))
    assert results == [200] * 20
    assert counter.read_text() == "x"


def test_first_request_waits_for_the_first_run(served, tmp_path):
    counter, args = _counting_plugin(tmp_path, sleep=1.5)
    s = served(args)
    began = time.monotonic()
    status, _, body = s.get("/healthz")
    assert status == 200
    assert time.monotonic() - began >= 1.0
    assert json.loads(body)["counts"]["ok"] == 1


def test_bad_listen_address_is_a_usage_error():
    from conftest import run_cli

    proc = run_cli(["serve", "--listen", "nonsense"])
    assert proc.returncode == 2 and "HOST:PORT" in proc.stderr


def test_healthz_follows_a_real_etcd_going_down(served):
    from conftest import unavailable
    from servers import EtcdServer, etcd_binary

    if etcd_binary() is None:
        unavailable("Debian etcd-server is not installed")
    with EtcdServer() as etcd:
        s = served(["--only", "etcd.endpoints", "--interval", "300ms", "--timeout", "2s"],
                   {"ETCD_ENDPOINTS": etcd.url})
        status, _, body = s.get("/healthz")
        assert status == 200, body
        etcd.stop()
        deadline = time.monotonic() + 15
        while s.get("/healthz")[0] != 503 and time.monotonic() < deadline:
            time.sleep(0.2)
        status, _, body = s.get("/healthz")
        assert status == 503
        (item,) = json.loads(body)["checks"]
        assert item["id"] == "etcd.endpoints" and item["status"] == "fail"
        metrics = s.get("/metrics")[2]
        assert 'sgdoctor_check_status{check="etcd.endpoints",status="fail"} 1' in metrics
        etcd.start()
        deadline = time.monotonic() + 15
        while s.get("/healthz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert s.get("/healthz")[0] == 200


def _threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return int(next(line for line in fh if line.startswith("Threads:")).split()[1])


def _wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_idle_connections_are_bounded_and_closed(served):
    import socket

    from sgdoctor.serve import IDLE_TIMEOUT, MAX_CONNECTIONS

    s = served(["--checks-dir", PLUGINS, "--only", "demo.ok"])
    assert s.get("/healthz")[0] == 200
    idle = []
    for _ in range(MAX_CONNECTIONS):
        idle.append(socket.create_connection(("127.0.0.1", s.port), timeout=20))
    # Every slot is held by an idle client: one more is told so at once, and closed.
    extra = socket.create_connection(("127.0.0.1", s.port), timeout=20)
    reply = extra.recv(4096)
    assert reply.startswith(b"HTTP/1.1 503 ") and b"too many connections" in reply
    assert extra.recv(4096) == b""
    assert _threads(s.proc.pid) <= MAX_CONNECTIONS + 8
    # Idle connections are closed by the server, which then serves again.
    began = time.monotonic()
    for sock in idle:
        assert sock.recv(4096) == b""
    assert time.monotonic() - began < IDLE_TIMEOUT + 20
    for sock in [*idle, extra]:
        sock.close()
    _wait_for(lambda: s.get("/healthz")[0] == 200)
    _wait_for(lambda: _threads(s.proc.pid) <= 8)


def test_listen_backlog_takes_a_scrape_storm(served):
    s = served(["--checks-dir", PLUGINS, "--only", "demo.ok"])
    out = subprocess.run(["ss", "-ltnH", f"sport = :{s.port}"], capture_output=True,
                         text=True, timeout=20).stdout.split()
    assert out and int(out[2]) >= 128, out   # Send-Q of a listening socket: its backlog


def test_a_client_resetting_the_connection_is_no_traceback(served):
    import socket
    import struct

    s = served(["--checks-dir", PLUGINS, "--only", "demo.ok"])
    assert s.get("/healthz")[0] == 200
    for request in (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"GET /report HTTP/1.1\r\n\r\n"):
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=20)
        sock.sendall(request)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()   # RST, not FIN
    assert s.get("/metrics")[0] == 200
    _, err = s.stop()
    assert "Traceback" not in err and "Error" not in err, err
