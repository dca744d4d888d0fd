"""`sgdoctor mesh` without namespaces: the pure verdict, the handshake server against hostile
clients, and the real CLI against a real etcd on loopback."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import BASE_ENV, json_report, result_of, run_cli
from servers import EtcdServer, etcd_binary, free_port
from sgdoctor.parse.mesh import (
    Listener,
    Member,
    Probe,
    check_name,
    parse_member,
    parse_results,
    results_to_json,
)
from sgdoctor.parse.mesh_verdict import judge
from sgdoctor.probe.nonce import NonceServer, dial


def member(name: str, address: str = "10.0.0.1", version: str | None = "3.7.1.5",
           libs: dict | None = None) -> Member:
    return Member(name, f"tok-{name}", (Listener("eth1", address, 4000, 1500),), version,
                  libs or {"libmccl.so": {"soname": "libmccl.so", "path": "/opt/maca/lib"}},
                  "0.1.0")


def full(names: list[str], broken: set[tuple[str, str]] = frozenset()) -> dict:
    return {a: {b: Probe(False, error="connection refused", address="x:1") if (a, b) in broken
                else Probe(True, 0.1, address="x:1") for b in names if b != a} for a in names}


# ------------------------------------------------------------------ the pure verdict

def test_names_are_single_key_segments():
    assert check_name("node-7.rack2", "--name") is None
    for bad in ("", "a/b", "a b", "-x", "x" * 129, "n\udcff"):
        assert check_name(bad, "--name"), bad


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe", b"[]", b"{}", b'{"token": 5}', b"x" * 300000,
                                 b'{"token": "t", "listeners": [{"address": "nope", "port": 1},'
                                 b' {"address": "10.0.0.1", "port": 70000}, 7]}'])
def test_foreign_or_corrupt_registrations_never_raise(raw):
    parsed = parse_member("n1", raw)
    assert isinstance(parsed, str) or parsed.listeners == ()


def test_registration_and_results_round_trip():
    me = member("n1")
    assert parse_member("n1", me.to_json().encode()) == me
    probes = {"n2": Probe(True, 0.25, address="10.0.0.2:4000"),
              "n3": Probe(False, error="timed out", address="10.0.0.3:4000")}
    assert parse_results(results_to_json(probes).encode()) == probes
    assert parse_results(b"not json") is None


def problems(verdict, status: str | None = None) -> list[tuple[str, str, str | None]]:
    """(code, summary, remedy) of the findings worse than ok (of one status if given)."""
    return [(f.code, f.summary, f.remedy) for f in verdict.findings.problems()
            if status is None or f.status.value == status]


def test_a_healthy_group_is_a_complete_matrix():
    names = ["a", "b", "c"]
    verdict = judge("g", "a", 3, {n: member(n) for n in names}, full(names), {})
    assert problems(verdict) == []
    assert all(len(row) == 2 and all(c["rtt_ms"] == 0.1 for c in row.values())
               for row in verdict.matrix.values())


def test_every_broken_pair_is_listed_and_a_loopback_target_is_named():
    names = ["a", "b", "c"]
    members = {n: member(n) for n in names}
    members["c"] = member("c", address="127.0.0.1")
    verdict = judge("g", "a", 3, members, full(names, {("a", "c"), ("b", "c")}), {})
    (code, summary, remedy), = problems(verdict, "fail")
    assert code == "pairs_unreachable"
    assert summary.startswith("2 of 6 node pairs cannot connect over Gloo: a → c (x:1)")
    assert "b → c (x:1): connection refused" in summary
    assert "c registered a loopback address" in remedy
    assert verdict.matrix["b"]["c"] == {"error": "connection refused"}


def test_missing_members_and_missing_results():
    names = ["a", "b"]
    views = {"a": full(names)["a"]}
    verdict = judge("g", "a", 4, {n: member(n) for n in names}, views, {})
    assert problems(verdict, "fail")[0][:2] == (
        "nodes_missing", "only 2 of 4 expected nodes joined group g (2 missing); joined: a, b")
    assert "no results from b" in problems(verdict, "warn")[0][1]
    assert verdict.matrix["b"]["a"] is None


def test_drift_names_the_odd_node_and_a_tie_has_no_majority():
    names = ["a", "b", "c"]
    members = {n: member(n) for n in names}
    members["c"] = member("c", version="3.8.0", libs={"libmccl.so": {"soname": "libmccl.so.2",
                                                                     "path": "/usr/lib"}})
    verdict = judge("g", "a", 3, members, full(names), {})
    (code, summary, remedy), = problems(verdict, "fail")
    assert code == "maca_version_drift"
    assert summary == "fleet drift: c has MACA 3.8.0, while 2 of 3 nodes have MACA 3.7.1.5"
    assert remedy == "Install the MACA version of the majority on c"
    (code, summary, remedy), = problems(verdict, "warn")
    assert code == "maca_libraries_drift"
    assert summary == ("fleet drift: c has MACA libraries libmccl.so → /usr/lib (soname "
                       "libmccl.so.2) (majority: /opt/maca/lib), while 2 of 3 nodes have "
                       "the majority's set")
    assert remedy == "Install the MACA library set of the majority on c"
    tie = {"a": member("a"), "b": member("b", version="3.8.0")}
    (_, summary, _), = problems(judge("g", "a", 2, tie, full(["a", "b"]), {}))
    assert "no majority (a: MACA 3.7.1.5; b: MACA 3.8.0)" in summary


def _node(name: str, *, address: str = "10.0.0.1", mtu: int | None = 1500, devices: int = 1,
          ifname: str | None = "eth1", **cluster: str | None) -> Member:
    listeners = tuple(Listener("eth1", a, 4000, mtu) for a in address.split(","))
    return Member(name, f"tok-{name}", listeners, "3.7.1.5", {}, "0.1.0", None, devices,
                  ifname, {"NVSHMEM_SYMMETRIC_SIZE": None, "DYN_REQUEST_PLANE": None,
                           "DYN_EVENT_PLANE": None, "DYN_RESPONSE_PLANE": None, **cluster})


@pytest.mark.parametrize("odd,code,words", [
    (_node("c", address="fd00::3"), "gloo_family_drift",
     "c has IPv6 Gloo addresses, while 2 of 3 nodes have IPv4 Gloo addresses"),
    (_node("c", address="10.0.0.3,10.1.0.3", mtu=1500, devices=2, ifname="eth1,eth2"),
     "gloo_device_count_drift", "c has 2 gloo devices, while 2 of 3 nodes have 1 gloo device"),
    (_node("c", address="10.0.0.3", devices=1, ifname=None), None, None),
    (_node("c", mtu=9000), "mtu_drift", "c has MTU 9000, while 2 of 3 nodes have MTU 1500"),
    (_node("c", NVSHMEM_SYMMETRIC_SIZE="2g"), "cluster_variable_drift",
     "c has NVSHMEM_SYMMETRIC_SIZE=2 GiB, while 2 of 3 nodes have "
     "NVSHMEM_SYMMETRIC_SIZE=unset (1 GiB)"),
    (_node("c", DYN_REQUEST_PLANE="nats"), "cluster_variable_drift",
     "c has DYN_REQUEST_PLANE=nats, while 2 of 3 nodes have DYN_REQUEST_PLANE=tcp"),
    (_node("c", DYN_EVENT_PLANE="NATS"), "cluster_variable_drift",
     "c has DYN_EVENT_PLANE=NATS, while 2 of 3 nodes have DYN_EVENT_PLANE=zmq"),
])
def test_what_must_agree_across_the_fleet_is_a_fail_naming_the_node(odd, code, words):
    members = {"a": _node("a"), "b": _node("b", address="10.0.0.2"), "c": odd}
    found = problems(judge("g", "a", 3, members, full(["a", "b", "c"]), {}), "fail")
    if code is None:  # unset (the hostname) is one device, like one named interface
        assert found == []
        return
    assert [c for c, _, _ in found] == [code], found
    assert words in found[0][1]
    assert "(c differ" in found[0][2] or found[0][2].endswith(" on c")


def test_equal_meanings_are_not_drift():
    """1024m and 1g, TCP and tcp, unset and "tcp": the consumer reads them alike."""
    members = {"a": _node("a", NVSHMEM_SYMMETRIC_SIZE="1g", DYN_REQUEST_PLANE="TCP"),
               "b": _node("b", NVSHMEM_SYMMETRIC_SIZE="1024m", DYN_REQUEST_PLANE="tcp"),
               "c": _node("c", NVSHMEM_SYMMETRIC_SIZE="1G", DYN_REQUEST_PLANE=None)}
    assert problems(judge("g", "a", 3, members, full(["a", "b", "c"]), {})) == []


def test_the_new_record_fields_round_trip_and_hostile_ones_are_dropped():
    node = _node("n1", devices=2, ifname="eth1,eth2", NVSHMEM_SYMMETRIC_SIZE="2g")
    assert parse_member("n1", node.to_json().encode()) == node
    hostile = json.loads(node.to_json())
    hostile.update(gloo_devices=True, cluster={"PATH": "/x", "DYN_EVENT_PLANE": 5})
    parsed = parse_member("n1", json.dumps(hostile).encode())
    assert parsed.gloo_devices is None and parsed.cluster == {"DYN_EVENT_PLANE": None}


# ------------------------------------------------------------------ the handshake server

@pytest.fixture
def server():
    srv = NonceServer("g", "peer", "tok")
    port = srv.listen("127.0.0.1")
    yield srv, Listener("lo", "127.0.0.1", port)
    srv.close()


def test_dial_measures_the_round_trip_and_checks_the_token(server):
    _, listener = server
    ok = dial(listener, group="g", name="peer", token="tok", timeout=2)
    assert ok.ok and 0 < ok.rtt_ms < 1000
    stale = dial(listener, group="g", name="peer", token="other", timeout=2)
    assert not stale.ok and "a different process answers there" in stale.error
    assert not dial(listener, group="h", name="peer", token="tok", timeout=2).ok


def _raw_server(behaviour: str) -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)

    def serve():
        conn, _ = sock.accept()
        with conn:
            if behaviour == "echo":
                conn.sendall(conn.recv(1024))
            elif behaviour == "flood":
                conn.sendall(b"A" * 100_000)
            time.sleep(3)

    threading.Thread(target=serve, daemon=True).start()
    return sock, sock.getsockname()[1]


@pytest.mark.parametrize("behaviour,expected", [
    ("echo", "a different process answers there"),
    ("flood", "no end of line within 512 bytes"),
    ("silent", "timed out"),
])
def test_dial_detects_impostors_and_never_hangs(behaviour, expected):
    sock, port = _raw_server(behaviour)
    with sock:
        started = time.monotonic()
        probe = dial(Listener(None, "127.0.0.1", port), group="g", name="peer", token="tok",
                     timeout=1.0)
    assert time.monotonic() - started < 2
    assert not probe.ok and expected in probe.error


def test_nothing_listening_is_refused():
    probe = dial(Listener(None, "127.0.0.1", free_port()), group="g", name="p", token="t",
                 timeout=1.0)
    assert not probe.ok and "refused" in probe.error


def test_the_server_survives_hostile_clients_and_serves_the_next(server):
    srv, listener = server
    hostile = []
    for payload in (b"", b"GET / HTTP/1.0\r\n\r\n", b"X" * 5000, b"SGDOCTOR-MESH 1 g short\n",
                    b"\xff" * 100 + b"\n"):
        conn = socket.create_connection(("127.0.0.1", listener.port), timeout=2)
        if payload:
            conn.sendall(payload)
        hostile.append(conn)
    # Junk is answered by a hang-up, never by a handshake.
    for conn in hostile[1:]:
        conn.settimeout(2)
        with contextlib.suppress(ConnectionResetError):  # a reset is a hang-up too
            assert conn.recv(100) == b""
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        dial(listener, group="g", name="peer", token="tok", timeout=3))) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 10 and all(p.ok for p in results)
    for conn in hostile:
        conn.close()
    assert srv.served >= 30


# ------------------------------------------------------------------ the CLI on loopback


def _env(etcd, **extra) -> dict[str, str]:
    return {"ETCD_ENDPOINTS": etcd.url, "GLOO_SOCKET_IFNAME": "lo", **extra}


def _keys(etcd, prefix: str) -> list[str]:
    raw = prefix.encode()
    _, body = etcd.call("/v3/kv/range", {
        "key": base64.b64encode(raw).decode(),
        "range_end": base64.b64encode(raw[:-1] + bytes([raw[-1] + 1])).decode()})
    return [base64.b64decode(kv["key"]).decode() for kv in body.get("kvs", [])]


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sgdoctor", "mesh", *args],
                            env={**BASE_ENV, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_table_draws_the_matrix_of_a_two_node_group_on_one_host(etcd):
    procs = [_spawn(["--group", "tbl", "--expect", "2", "--timeout", "10s", "--name", n],
                    _env(etcd)) for n in ("left", "right")]
    outputs = [p.communicate(timeout=30) for p in procs]
    for proc, (out, _err) in zip(procs, outputs, strict=True):
        # Both on loopback of one host: reachable, but risky for a multi-node deployment.
        assert proc.returncode == 0, out
        assert "Gloo address 127.0.0.1 is loopback" in out
        assert "Gloo reachability" in out
        matrix = out.split("Gloo reachability", 1)[1].splitlines()
        assert matrix[1].split() == ["left", "right"]
        assert matrix[2].split()[:2] == ["left", "—"] and matrix[3].split()[2] == "—"
        assert float(matrix[2].split()[2]) > 0
    assert _keys(etcd, "/sgdoctor/mesh/tbl/") == []


@pytest.mark.parametrize("fmt,expect,marker,code", [
    ("prometheus", 1, 'check="mesh.gloo"', 0),
    ("junit", 1, "<testsuite", 0),
    ("nagios", 2, "SGDOCTOR CRITICAL", 2),  # nobody else joins: a fail, Nagios' code 2
])
def test_every_format_reports_the_mesh(etcd, fmt, expect, marker, code):
    proc = run_cli(["mesh", "--group", f"one-{fmt}", "--expect", str(expect), "--timeout", "3s",
                    "--format", fmt], _env(etcd))
    assert marker in proc.stdout, proc.stdout + proc.stderr
    assert proc.returncode == code, proc.stderr


def test_output_file_and_a_lone_node(etcd, tmp_path):
    """Also: the config file's only/skip choose what `check` runs, never the mesh's check."""
    out = tmp_path / "mesh.json"
    config = tmp_path / "sgdoctor.toml"
    config.write_text('only = ["etcd.*"]\nskip = ["mesh.*"]\n')
    proc = run_cli(["mesh", "--group", "lone", "--expect", "1", "--timeout", "5s",
                    "--format", "json", "--output", str(out), "--name", "solo",
                    "--config", str(config)], _env(etcd))
    assert proc.returncode == 0 and proc.stdout == ""
    doc = json.loads(out.read_text())
    result = result_of(doc, "mesh.gloo")
    assert doc["host"]["hostname"] == "solo"
    assert result["status"] == "ok" and "the only node of group lone" in result["summary"]


def test_etcd_down_fails_at_once_with_a_clear_message():
    proc = run_cli(["mesh", "--group", "g", "--expect", "3", "--timeout", "20s", "--format",
                    "json"], {"ETCD_ENDPOINTS": f"http://127.0.0.1:{free_port()}",
                              "GLOO_SOCKET_IFNAME": "lo"}, timeout=30)
    result = result_of(json_report(proc), "mesh.gloo")
    assert proc.returncode == 1
    assert result["summary"].startswith("no usable etcd endpoint to meet the group: "
                                        "http://127.0.0.1:")
    assert "refused" in result["summary"]
    assert "etcd.endpoints" in result["remedy"]


def test_a_name_already_registered_is_refused(etcd):
    first = _spawn(["--group", "dup", "--expect", "3", "--timeout", "8s", "--name", "twin"],
                   _env(etcd))
    try:
        deadline = time.monotonic() + 8
        while _keys(etcd, "/sgdoctor/mesh/dup/") != ["/sgdoctor/mesh/dup/twin"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        proc = run_cli(["mesh", "--group", "dup", "--expect", "3", "--timeout", "5s",
                        "--name", "twin", "--format", "json"], _env(etcd))
        result = result_of(json_report(proc), "mesh.gloo")
        assert proc.returncode == 1
        assert "another node is already registered as twin" in result["summary"]
    finally:
        first.kill()
        first.communicate(timeout=10)


def test_a_wrong_process_on_a_registered_port_is_detected(etcd):
    """A record pointing at an echo server (no lease: deleted by the test)."""
    sock, port = _raw_server("echo")
    record = Member("fake", "tok", (Listener("lo", "127.0.0.1", port),), None, {}, "0.1.0")
    key = "/sgdoctor/mesh/imp/fake"
    etcd.put(key, record.to_json())
    try:
        proc = run_cli(["mesh", "--group", "imp", "--expect", "2", "--timeout", "6s",
                        "--format", "json", "--name", "real"], _env(etcd))
    finally:
        sock.close()
        etcd.call("/v3/kv/deleterange", {"key": base64.b64encode(key.encode()).decode()})
    result = result_of(json_report(proc), "mesh.gloo")
    assert proc.returncode == 1
    assert "real → fake (127.0.0.1:" in result["summary"]
    assert "a different process answers there" in result["summary"]


@pytest.mark.parametrize("args,message", [
    (["--group", "a/b", "--expect", "2"], "--group 'a/b' must be"),
    (["--group", "g", "--expect", "0"], "--expect 0"),
    (["--group", "g", "--expect", "2", "--name", "x y"], "--name 'x y' must be"),
    (["--group", "g", "--expect", "2", "--port", "70000"], "--port 70000"),
    (["--group", "g", "--expect", "2", "--timeout", "soon"], "--timeout 'soon'"),
])
def test_usage_errors_exit_2(args, message):
    proc = run_cli(["mesh", *args], {})
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_a_bad_lease_ttl_setting_is_a_usage_error(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[checks."mesh.gloo"]\nlease_ttl = "soon"\n')
    proc = run_cli(["mesh", "--group", "g", "--expect", "2", "--config", str(config)], {})
    assert proc.returncode == 2
    assert "lease_ttl = 'soon'" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("mode", ["silent", "garbage", "drip"])
def test_a_hostile_etcd_endpoint_is_a_prompt_fail(mode):
    from hostile import HostileServer

    with HostileServer(mode) as srv:
        started = time.monotonic()
        proc = run_cli(["mesh", "--group", "g", "--expect", "2", "--timeout", "20s",
                        "--format", "json"], {"ETCD_ENDPOINTS": srv.url("http"),
                                              "GLOO_SOCKET_IFNAME": "lo"}, timeout=30)
    assert time.monotonic() - started < 10  # one bounded etcd call, not the 20 s timeout
    result = result_of(json_report(proc), "mesh.gloo")
    assert proc.returncode == 1
    assert result["summary"].startswith("no usable etcd endpoint to meet the group")


def test_etcd_with_password_auth(tmp_path):
    if etcd_binary() is None:
        from conftest import unavailable

        unavailable("etcd is not installed (Debian package etcd-server)")
    password = "pw-mesh-7Hq-never-printed"
    with EtcdServer() as server:
        server.enable_auth(password)
        env = {"ETCD_ENDPOINTS": server.url, "GLOO_SOCKET_IFNAME": "lo",
               "ETCD_AUTH_USERNAME": "root", "ETCD_AUTH_PASSWORD": password}
        good = run_cli(["mesh", "--group", "auth", "--expect", "1", "--timeout", "5s",
                        "--format", "json"], env)
        bad = run_cli(["mesh", "--group", "auth", "--expect", "1", "--timeout", "5s",
                       "--format", "json"], {**env, "ETCD_AUTH_PASSWORD": "wrong"})
    assert good.returncode == 0, good.stdout
    assert result_of(json_report(good), "mesh.gloo")["details"]["cleanup"].startswith(
        "lease revoked")
    assert bad.returncode == 1
    assert "authentication failed" in result_of(json_report(bad), "mesh.gloo")["summary"]
    for proc in (good, bad):
        assert password not in proc.stdout + proc.stderr


def test_a_busy_port_is_named_with_its_remedy(etcd):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = run_cli(["mesh", "--group", "busy", "--expect", "1", "--timeout", "5s",
                        "--port", str(port), "--format", "json"], _env(etcd))
    result = result_of(json_report(proc), "mesh.gloo")
    assert proc.returncode == 1
    assert result["summary"].startswith(f"cannot listen on the Gloo address 127.0.0.1:{port}")
    assert "Choose a free --port" in result["remedy"]


def test_maca_version_is_read_like_maca_sdk(tmp_path):
    from sgdoctor.probe.fleet import maca_version

    assert maca_version(str(tmp_path)) is None
    (tmp_path / "Version.txt").write_text("Version: 3.7.1.5\nbuild 42\n")
    assert maca_version(str(tmp_path)) == "3.7.1.5"
    (tmp_path / "Version.txt").write_bytes(b"\n")
    assert maca_version(str(tmp_path)) is None


def test_the_matrix_has_an_ascii_form():
    from sgdoctor.report.matrix import matrix_text

    text = matrix_text({"a": {"b": {"rtt_ms": 0.5}}, "b": {"a": {"error": "refused"}},
                        "c": {}}, unicode=False)
    lines = text.splitlines()
    assert lines[2].split() == ["a", "b", "c"]
    assert lines[3].split() == ["a", "-", "0.50", "?"]
    assert lines[4].split() == ["b", "x", "-", "?"]
    assert text.isascii()
