"""probe/nats_wire.py against scripted NATS peers: what a real nats-server in tests/test_nats.py
does not show (credentials-file signatures, -ERR kinds, JetStream API errors, a server PING
during the handshake, oversized lines)."""

from __future__ import annotations

import base64
import functools
import json
import socket
import threading
import time

import pytest

from sgdoctor.errors import FailureKind
from sgdoctor.probe import nats_wire
from sgdoctor.probe.nats import NatsReport

nkeys = pytest.importorskip("nkeys")
NONCE = "pXoyuVWGjGrAv8A"
ACCOUNT = {"type": "io.nats.jetstream.api.v1.account_info_response", "memory": 5,
           "storage": 7, "streams": 1, "consumers": 2, "limits": {}}


class Peer:
    """A one-connection NATS peer: INFO, then ``script(conn, connect_options)``."""

    def __init__(self, info: dict | bytes, script) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.info, self.script = info, script
        self.connect: dict | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            info = self.info if isinstance(self.info, bytes) else \
                b"INFO " + json.dumps(self.info).encode() + b"\r\n"
            conn.sendall(info)
            reader = conn.makefile("rb")
            line = reader.readline()
            if not line.startswith(b"CONNECT "):
                return
            self.connect = json.loads(line[8:])
            self.script(conn, reader)
            time.sleep(3)

    def run(self, kwargs: dict | None = None, timeout: float = 2.0) -> NatsReport:
        report = NatsReport(server=f"nats://127.0.0.1:{self.port}")
        started = time.monotonic()
        nats_wire.probe("127.0.0.1", self.port, report, kwargs or {"user": "u", "password": "p"},
                        None, time.monotonic() + timeout)
        assert time.monotonic() - started < timeout + 0.5
        self.listener.close()
        return report


def _pong_then_js(reply: bytes | None):
    def script(conn, reader) -> None:
        assert reader.readline() == b"PING\r\n"
        conn.sendall(b"PONG\r\n")
        assert reader.readline() == b"PING\r\n"
        conn.sendall(b"PONG\r\n")
        sub = reader.readline().split()
        pub = reader.readline().split()
        reader.readline()
        assert sub[0] == b"SUB" and pub[:2] == [b"PUB", b"$JS.API.INFO"] and pub[2] == sub[1]
        if reply is not None:
            conn.sendall(b"MSG %s 1 %d\r\n%s\r\n" % (sub[1], len(reply), reply))
    return script


def test_credentials_file_signs_the_nonce_with_its_seed(tmp_path):
    pair = nkeys.from_seed(bytearray(_seed()))
    jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5In0.fake.sig"
    creds = tmp_path / "user.creds"
    creds.write_text(f"-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n"
                     f"************************* IMPORTANT *************************\n\n"
                     f"-----BEGIN USER NKEY SEED-----\n{_seed().decode()}\n"
                     f"------END USER NKEY SEED------\n")
    peer = Peer({"server_id": "S1", "version": "2.10.0", "max_payload": 1024, "nonce": NONCE,
                 "auth_required": True, "headers": True},
                _pong_then_js(json.dumps(ACCOUNT).encode()))
    report = peer.run({"user_credentials": str(creds)})
    assert report.failure is None and report.connected and report.jetstream is True
    assert report.jetstream_account == {"memory": 5, "storage": 7, "streams": 1, "consumers": 2}
    assert peer.connect["jwt"] == jwt and "nkey" not in peer.connect
    assert peer.connect["headers"] is True and peer.connect["no_responders"] is True
    assert pair.verify(NONCE.encode(), base64.b64decode(peer.connect["sig"]))


@functools.lru_cache(maxsize=1)
def _seed() -> bytes:
    from servers import make_nkey

    return make_nkey()[0].encode()


def test_nkey_sends_public_key_and_signature():
    pair = nkeys.from_seed(bytearray(_seed()))
    peer = Peer({"nonce": NONCE, "auth_required": True}, _pong_then_js(b'{"memory": 0}'))
    report = peer.run({"nkeys_seed_str": _seed().decode()})
    assert report.jetstream is True
    assert peer.connect["nkey"] == pair.public_key.decode()
    assert pair.verify(NONCE.encode(), base64.b64decode(peer.connect["sig"]))
    assert "user" not in peer.connect and "auth_token" not in peer.connect


@pytest.mark.parametrize(("err", "kind", "message"), [
    (b"-ERR 'Authorization Violation'", FailureKind.AUTH, "Authorization Violation"),
    (b"-ERR 'Maximum Connections Exceeded'", FailureKind.SERVER,
     "nats: 'Maximum Connections Exceeded'"),
    (b"-ERR 'Secure Connection - TLS Required'", FailureKind.TLS,
     "nats: 'Secure Connection - TLS Required'"),
    (b"-ERR 'Something New'", FailureKind.PROTOCOL, "Error: nats: 'Something New'"),
])
def test_server_errors_by_their_fixed_strings(err, kind, message):
    def script(conn, reader) -> None:
        reader.readline()
        conn.sendall(err + b"\r\n")

    report = Peer({"auth_required": True}, script).run()
    assert report.failure is not None and not report.connected
    assert (report.failure.kind, report.failure.message) == (kind, message)


def test_a_server_ping_during_the_handshake_is_answered_and_api_errors_named():
    answered = threading.Event()

    def script(conn, reader) -> None:
        reader.readline()
        conn.sendall(b"PING\r\n+OK\r\n")
        if reader.readline() == b"PONG\r\n":
            answered.set()
        conn.sendall(b"PONG\r\n")
        _pong_after_ping(conn, reader)

    report = Peer({"headers": True}, script).run()
    assert answered.is_set()
    assert report.connected and report.jetstream is False
    assert report.jetstream_error == "ServerError"


def _pong_after_ping(conn, reader) -> None:
    reader.readline()
    conn.sendall(b"PONG\r\n")
    sub = reader.readline().split()
    reader.readline()
    reader.readline()
    reply = b'{"error": {"code": 500, "description": "boom"}}'
    conn.sendall(b"MSG %s 1 %d\r\n%s\r\n" % (sub[1], len(reply), reply))


def test_no_responders_and_no_reply():
    def no_responders(conn, reader) -> None:
        reader.readline()
        conn.sendall(b"PONG\r\n")
        reader.readline()
        conn.sendall(b"PONG\r\n")
        sub = reader.readline().split()
        headers = b"NATS/1.0 503\r\n\r\n"
        conn.sendall(b"HMSG %s 1 %d %d\r\n%s\r\n" % (sub[1], len(headers), len(headers),
                                                   headers))

    report = Peer({"headers": True}, no_responders).run()
    assert (report.jetstream, report.jetstream_error) == (False, "ServiceUnavailableError")
    report = Peer({}, _pong_then_js(None)).run(timeout=1.0)
    assert report.connected and (report.jetstream, report.jetstream_error) == (False,
                                                                              "TimeoutError")


def test_garbage_and_oversized_greetings_are_protocol_failures():
    report = Peer(b"HELLO\r\n", lambda *_: None).run()
    assert report.failure.kind is FailureKind.PROTOCOL and "INFO" in report.failure.message
    report = Peer(b"INFO {not json\r\n", lambda *_: None).run()
    assert report.failure.kind is FailureKind.PROTOCOL and "json" in report.failure.message
    report = Peer(b"INFO " + b"x" * (nats_wire.MAX_LINE + 10), lambda *_: None).run()
    assert report.failure.kind is FailureKind.PROTOCOL and "longer" in report.failure.message


def test_a_close_after_info_is_said_as_such():
    def close(conn, reader) -> None:
        conn.shutdown(socket.SHUT_RDWR)

    report = Peer({}, close).run()
    assert report.failure.kind is FailureKind.CLOSED and "handshake" in report.failure.message
