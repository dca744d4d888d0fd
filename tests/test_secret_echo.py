"""Peers that echo the password back, escaped the way real servers escape it (JSON's
\\u00e9, a control character first): no format may carry the secret in any form."""

from __future__ import annotations

import contextlib
import json
import socket
import threading

import pytest

from conftest import run_cli

FORMATS = ("table", "json", "prometheus", "junit", "nagios")
PASSWORDS = ("\u00e9chosecret-0451", "\x01chosecret-0452", "\u00e9\x02mixed-echo-0453")
PROTOCOLS = ("http-json", "http-text", "nats")


def forms(secret: str) -> list[str]:
    """What a leak could look like in a report: raw, JSON-escaped, repr'd, unicode-escaped,
    the printable tail left when the first characters were escaped or replaced, and the
    8-character head a server may cut it to."""
    tail = secret.lstrip("\u00e9\x01\x02")
    out = {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1], tail,
           secret.encode("unicode_escape").decode("ascii")}
    out |= {f[:8] for f in list(out) if len(f) >= 8}
    return sorted(out)


class EchoPeer:
    """Answers every connection in one protocol, quoting ``secret`` back in its error."""

    def __init__(self, protocol: str, secret: str) -> None:
        self.protocol, self.secret = protocol, secret
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.done = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.settimeout(10)
            if self.protocol.startswith("http"):
                request = conn.recv(65536)
                if request.startswith(b"GET /health"):
                    body = b'{"health":"true"}'
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                    request = conn.recv(65536)
                body = (json.dumps({"error": f"authentication failed for {self.secret}",
                                    "code": 3, "message": self.secret}).encode()
                        if self.protocol == "http-json" else
                        f"auth failed for {self.secret}".encode("utf-8", "surrogateescape"))
                conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                             % (len(body), body))
            else:
                conn.sendall(b'INFO {"server_id":"echo","version":"2.10.0","auth_required":true,'
                             b'"max_payload":1048576,"proto":1}\r\n')
                conn.recv(65536)
                conn.sendall(f"-ERR 'Authorization Violation for {self.secret}'\r\n"
                             .encode("utf-8", "surrogateescape"))
            self.done.wait(5)

    def close(self) -> None:
        self.done.set()
        self.sock.close()


@pytest.mark.parametrize("secret", PASSWORDS)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_echoed_password_never_reaches_any_format(protocol: str, secret: str) -> None:
    peer = EchoPeer(protocol, secret)
    try:
        if protocol.startswith("http"):
            env = {"ETCD_ENDPOINTS": f"http://127.0.0.1:{peer.port}",
                   "ETCD_AUTH_USERNAME": "root", "ETCD_AUTH_PASSWORD": secret}
            only = "etcd.endpoints"
        else:
            env = {"NATS_SERVER": f"nats://127.0.0.1:{peer.port}",
                   "NATS_AUTH_USERNAME": "user", "NATS_AUTH_PASSWORD": secret}
            only = "nats.server"
        for fmt in FORMATS:
            proc = run_cli(["--only", only, "--format", fmt, "--timeout", "5", "-v"], env)
            assert "Traceback" not in proc.stderr, proc.stderr
            assert proc.stdout.strip(), f"{fmt}: empty output; stderr: {proc.stderr}"
            for leak in forms(secret):
                assert leak not in proc.stdout, f"{fmt} leaks {leak!r}:\n{proc.stdout}"
                assert leak not in proc.stderr, f"{fmt} leaks {leak!r} on stderr"
    finally:
        peer.close()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("how", ["env", "flag"])
def test_usage_errors_never_echo_a_url_password(fmt: str, how: str) -> None:
    where = "http://user:s3cretpw-0454@host/checks"
    env = {"SGDOCTOR_CHECKS_DIR": where} if how == "env" else {}
    args = [] if how == "env" else ["--checks-dir", where]
    proc = run_cli([*args, "--format", fmt], env)
    assert proc.returncode == (3 if fmt == "nagios" else 2), proc.stderr
    assert "checks directory" in proc.stderr and "***" in proc.stderr, proc.stderr
    assert "s3cretpw" not in proc.stdout + proc.stderr
