"""The NATS client protocol as the probe needs it, over a plain (or TLS-wrapped) socket.

A probe is a handshake, a PING and one JetStream request ($JS.API.INFO): nats-py and asyncio
cost 70–100 ms to import for that. This speaks the same lines as nats-py's connect does — INFO,
a TLS upgrade when the server requires it, CONNECT with Dynamo's auth (user/password, token,
an nkey or a credentials file signing the server's nonce; only ``nkeys`` is needed for those),
PING/PONG, then a request on a private inbox — and reports what went wrong in nats-py's terms
(the server's ``-ERR`` text, the JetStream error classes) so that checks see the same facts.
Every read is bounded in time (the deadline) and in size.
"""

from __future__ import annotations

import binascii
import contextlib
import json
import os
import socket
import time

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.probe import host_arg
from sgdoctor.probe.http import classify_os_error

TYPE_CHECKING = False

if TYPE_CHECKING:
    import ssl
    from typing import Any

MAX_LINE = 64 * 1024        # a control line (INFO with many connect_urls is a few KiB)
MAX_PAYLOAD = 1 << 20       # the JetStream account reply is a few hundred bytes
VERSION = "2.0"             # CONNECT's client version, as nats-py sends its own

# The NATS protocol's -ERR codes are fixed strings; compared whole, never searched.
SERVER_ERRORS = {
    "'Authorization Violation'": FailureKind.AUTH,
    "'Authentication Timeout'": FailureKind.AUTH,
    "'User Authentication Expired'": FailureKind.AUTH,
    "'User Authentication Revoked'": FailureKind.AUTH,
    "'Account Authentication Expired'": FailureKind.AUTH,
    "'Secure Connection - TLS Required'": FailureKind.TLS,
    "'Maximum Connections Exceeded'": FailureKind.SERVER,
}
# nats-py's class for each JetStream API error code (js/errors.py APIError.from_error).
_API_ERRORS = {503: "ServiceUnavailableError", 500: "ServerError", 404: "NotFoundError",
               400: "BadRequestError"}


class _Closed(Exception):
    """The server closed the connection."""


class _ServerError(Exception):
    """The server sent -ERR; ``code`` is its text after "-ERR " (quotes kept)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class _Wire:
    """Line and payload reads under one deadline, on a socket that may be upgraded to TLS."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock: socket.socket = sock
        self.deadline = deadline
        self.buffer = b""

    def left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left

    def _fill(self) -> None:
        self.sock.settimeout(self.left())
        chunk = self.sock.recv(65536)
        if not chunk:
            raise _Closed
        self.buffer += chunk

    def line(self) -> bytes:
        while True:
            end = self.buffer.find(b"\r\n")
            if end >= 0:
                line, self.buffer = self.buffer[:end], self.buffer[end + 2:]
                return line
            if len(self.buffer) > MAX_LINE:
                raise ProbeError(FailureKind.PROTOCOL, f"a protocol line longer than "
                                                       f"{MAX_LINE // 1024} KiB")
            self._fill()

    def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def send(self, data: bytes) -> None:
        self.sock.settimeout(self.left())
        self.sock.sendall(data)

    def op(self) -> bytes:
        """The next line that is not the server's own PING (answered) or +OK."""
        while True:
            line = self.line()
            if line == b"PING":
                self.send(b"PONG\r\n")
            elif line == b"+OK":
                continue
            elif line.startswith(b"-ERR"):
                raise _ServerError(line[4:].strip().decode("utf-8", errors="replace"))
            else:
                return line


def _read_creds(path: str) -> tuple[bytes, bytes]:
    """(user JWT, seed) from a .creds file, found as nats-py finds them."""
    jwt = seed = None
    with open(path, "rb") as fh:
        lines = fh.read().splitlines()
    for index, line in enumerate(lines[:-1]):
        if jwt is None and b"BEGIN NATS USER JWT" in line:
            jwt = lines[index + 1]
        elif seed is None and b"BEGIN USER NKEY SEED" in line:
            seed = lines[index + 1]
    if jwt is None or seed is None:
        raise ProbeError(FailureKind.INVALID, "the credentials file has no user JWT and "
                                              "seed (NATS USER JWT / USER NKEY SEED blocks)")
    return jwt, seed


def _keypair(seed: bytes) -> Any:
    import nkeys

    return nkeys.from_seed(bytearray(seed.strip()))


def _b64(data: bytes) -> str:
    """base64.b64encode's text (binascii alone: base64 imports struct and its own tables)."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _auth_fields(kwargs: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """CONNECT's auth fields, in nats-py's precedence (a signature only with a nonce)."""
    nonce = info.get("nonce")
    if nonce and "nkeys_seed_str" in kwargs:
        pair = _keypair(kwargs["nkeys_seed_str"].encode())
        return {"sig": _b64(pair.sign(nonce.encode())),
                "nkey": pair.public_key.decode()}
    if nonce and "user_credentials" in kwargs:
        jwt, seed = _read_creds(kwargs["user_credentials"])
        pair = _keypair(seed)
        return {"sig": _b64(pair.sign(nonce.encode())),
                "jwt": jwt.decode()}
    if "user" in kwargs and "password" in kwargs:
        return {"user": kwargs["user"], "pass": kwargs["password"]}
    if "token" in kwargs:
        return {"auth_token": kwargs["token"]}
    return {}


def _connect_line(info: dict[str, Any], kwargs: dict[str, Any]) -> bytes:
    options: dict[str, Any] = {"verbose": False, "pedantic": False, "lang": "python3",
                               "version": VERSION, "protocol": 1, "name": "sgdoctor"}
    if "headers" in info:
        options["headers"] = options["no_responders"] = info["headers"]
    options.update(_auth_fields(kwargs, info))
    return b"CONNECT " + json.dumps(options).encode() + b"\r\n"


def _info(line: bytes) -> dict[str, Any]:
    if not line.startswith(b"INFO "):
        raise ProbeError(FailureKind.PROTOCOL, "Error: nats: empty response from server when "
                                               "expecting INFO message")
    try:
        info = json.loads(line[5:].decode())
    except (ValueError, UnicodeDecodeError):
        raise ProbeError(FailureKind.PROTOCOL, "Error: nats: info message, json parse "
                                               "error") from None
    if not isinstance(info, dict):
        raise ProbeError(FailureKind.PROTOCOL, "Error: nats: info message, json parse error")
    return info


def _upgrade(wire: _Wire, host: str, tls: ssl.SSLContext | None) -> None:
    import ssl

    context = tls if tls is not None else ssl.create_default_context()
    sock = context.wrap_socket(wire.sock, server_hostname=host, do_handshake_on_connect=False)
    sock.settimeout(wire.left())
    sock.do_handshake()
    wire.sock, wire.buffer = sock, b""


def _account_info(wire: _Wire) -> tuple[dict[str, Any] | None, str | None]:
    """($JS.API.INFO reply, None) or (None, nats-py's error class name)."""
    inbox = f"_INBOX.{os.urandom(11).hex()}"
    wire.send(f"SUB {inbox} 1\r\nPUB $JS.API.INFO {inbox} 0\r\n\r\n".encode())
    while True:
        try:
            line = wire.op()
        except TimeoutError:
            return None, "TimeoutError"
        words = line.split()
        if not words or words[0] in (b"PONG", b"INFO"):
            continue
        if words[0] not in (b"MSG", b"HMSG") or len(words) < 4 or words[1] != inbox.encode():
            raise ProbeError(FailureKind.PROTOCOL, f"unexpected {line[:40]!r} while waiting "
                                                   f"for the JetStream reply")
        try:
            sizes = [int(w) for w in words[-2:]] if words[0] == b"HMSG" else [0, int(words[-1])]
        except ValueError:
            raise ProbeError(FailureKind.PROTOCOL, "a malformed MSG line") from None
        header_size, total = sizes
        if not 0 <= header_size <= total <= MAX_PAYLOAD:
            raise ProbeError(FailureKind.PROTOCOL, f"a JetStream reply of {total} bytes")
        body = wire.exactly(total + 2)[:total]
        headers, payload = body[:header_size], body[header_size:]
        if headers:
            status = headers.split(b"\r\n", 1)[0].split()
            if len(status) > 1 and status[1] == b"503":
                return None, "ServiceUnavailableError"   # no responders, as nats-py maps it
        try:
            reply = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise ProbeError(FailureKind.PROTOCOL, "the JetStream reply is not JSON") from None
        if not isinstance(reply, dict):
            raise ProbeError(FailureKind.PROTOCOL, "the JetStream reply is not a JSON object")
        if "error" in reply:
            code = reply["error"].get("code") if isinstance(reply["error"], dict) else None
            return None, _API_ERRORS.get(code, "APIError") if isinstance(code, int) \
                else "APIError"
        return reply, None


def _failure(exc: BaseException) -> ProbeError:
    """A failure while talking to the server, in the kinds nats-py's errors were mapped to."""
    if isinstance(exc, ProbeError):
        return exc
    if isinstance(exc, _ServerError):
        text = f"nats: {exc.code}"
        if exc.code.lower() == "'authorization violation'":
            return ProbeError(FailureKind.AUTH, "Authorization Violation")
        kind = SERVER_ERRORS.get(exc.code)
        return ProbeError(kind, text) if kind else ProbeError(FailureKind.PROTOCOL,
                                                              f"Error: {text}")
    if isinstance(exc, _Closed):
        return ProbeError(FailureKind.PROTOCOL, "the connection closed before a NATS greeting "
                                                "(INFO)")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return ProbeError(FailureKind.TIMEOUT, "no answer within the timeout")
    if isinstance(exc, OSError):
        return classify_os_error(exc)
    module = (type(exc).__module__ or "").split(".")[0]
    if module in ("nkeys", "binascii"):
        return ProbeError(FailureKind.INVALID, f"{type(exc).__name__}: {exc}")
    raise exc


def probe(host: str, port: int, report: Any, kwargs: dict[str, Any],
          tls: ssl.SSLContext | None, deadline: float) -> None:
    """Connect, PING, ask for the JetStream account; fills ``report`` (a probe.nats.NatsReport,
    not imported here: that module imports this one), ``failure`` set on failure.

    A bug of this module is raised, not reported as the server's fault."""
    started = time.monotonic()
    try:
        if "nkeys_seed_str" in kwargs:  # nats-py decodes the seed before it dials
            _keypair(kwargs["nkeys_seed_str"].encode())
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        # bytes work at run time (getaddrinfo takes them); typeshed says str
        sock = socket.create_connection((host_arg(host), port),  # type: ignore[arg-type]
                                        timeout=left)
    except Exception as exc:
        report.failure = _failure(exc)
        return
    wire = _Wire(sock, deadline)
    info: dict[str, Any] | None = None
    try:
        info = _info(wire.line())
        if info.get("tls_required"):
            _upgrade(wire, host, tls)
        wire.send(_connect_line(info, kwargs) + b"PING\r\n")
        while wire.op() != b"PONG":
            pass
        report.connected = True
        report.connect_ms = round((time.monotonic() - started) * 1000, 2)
        report.version = str(info.get("version") or "") or None
        report.server_id = info.get("server_id")
        report.server_name = info.get("server_name")
        report.max_payload = info.get("max_payload")
        report.tls = bool(info.get("tls_required") or tls is not None)
        flushed = time.monotonic()
        wire.send(b"PING\r\n")
        while wire.op() != b"PONG":
            pass
        report.rtt_ms = round((time.monotonic() - flushed) * 1000, 2)
        account, error = _account_info(wire)
        if account is None:
            report.jetstream, report.jetstream_error = False, error
            return
        report.jetstream = True
        report.jetstream_account = {key: account.get(key) for key in
                                    ("memory", "storage", "streams", "consumers")}
    except _Closed:
        report.failure = _failure(_Closed()) if info is None else ProbeError(
            FailureKind.CLOSED, "the server closed the connection during the NATS handshake"
            if not report.connected else "the server closed the connection")
    except Exception as exc:
        report.failure = _failure(exc)
    finally:
        with contextlib.suppress(OSError):
            wire.sock.close()
