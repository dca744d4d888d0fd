"""A tiny HTTP/1.1 client bounded in time AND size, for probing servers we do not trust.

Why not http.client: its timeouts are per socket operation, so a server that drips one byte a
second (or sends 10 MB of headers) can hold it far past any deadline. Here every read and
write is clamped to one absolute deadline and every reply is capped in size.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import sys
import time

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.probe import host_arg
from sgdoctor.records import dataclass, field

TYPE_CHECKING = False

if TYPE_CHECKING:
    import ssl

MAX_BODY = 1 << 20          # 1 MiB: an etcd status or alarm reply is a few hundred bytes
MAX_HEADER = 64 << 10
_CHUNK = 65536
__all__ = ["FailureKind", "HttpConnection", "HttpResponse", "ProbeError", "Timings",
           "classify_os_error", "is_local_address", "is_local_host", "printable", "remaining"]


@dataclass
class HttpResponse:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def text(self, limit: int = 200) -> str:
        """The body as printable text, shortened: for error messages."""
        return printable(self.body, limit)


def printable(data: bytes, limit: int = 80) -> str:
    text = data[:limit].decode("utf-8", "replace")
    text = "".join(c if c.isprintable() else "." for c in text)
    return text + ("…" if len(data) > limit else "")


def remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ProbeError(FailureKind.TIMEOUT, "timed out")
    return left


# OpenSSL reason codes (ssl.SSLError.reason) of a handshake with something that is not TLS.
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "UNKNOWN_PROTOCOL",
                      "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST"})
_UNREACHABLE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN,
                          errno.ENETDOWN})
_CLOSED = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})


def _tls_failure(exc: OSError) -> ProbeError | None:
    """The kind of an ssl error, by its class and OpenSSL reason code; None if not TLS."""
    if "ssl" not in sys.modules:  # no TLS was used, so this cannot be an ssl error
        return None
    import ssl  # waits for a half-done import in another thread instead of racing it

    if isinstance(exc, ssl.SSLCertVerificationError):
        return ProbeError(FailureKind.CERTIFICATE,
                          f"certificate rejected: {exc.verify_message or exc}")
    if isinstance(exc, (ssl.SSLZeroReturnError, ssl.SSLEOFError)):
        return ProbeError(FailureKind.CLOSED, "the server closed the connection during the "
                                              "TLS handshake")
    if not isinstance(exc, ssl.SSLError):
        return None
    reason = exc.reason or ""
    if reason in _NOT_TLS:
        return ProbeError(FailureKind.TLS, f"TLS handshake failed ({reason}): the server does "
                                           "not speak TLS on this port")
    if reason.startswith(("SSLV3_ALERT_", "TLSV1_ALERT_", "TLSV13_ALERT_")):
        return ProbeError(FailureKind.CERTIFICATE,
                          f"the server refused our TLS handshake ({reason}); a client "
                          "certificate may be missing or rejected")
    return ProbeError(FailureKind.TLS, f"TLS error: {reason or exc}")


def classify_os_error(exc: OSError) -> ProbeError:
    """An OS or ssl error as a typed failure: by exception class and errno, never by text."""
    tls = _tls_failure(exc)
    if tls is not None:
        return tls
    if isinstance(exc, socket.gaierror):
        return ProbeError(FailureKind.DNS, f"cannot resolve the host name: {exc.strerror or exc}")
    if isinstance(exc, TimeoutError):  # socket.timeout, and any errno ETIMEDOUT
        return ProbeError(FailureKind.TIMEOUT, "timed out")
    if isinstance(exc, ConnectionRefusedError):
        return ProbeError(FailureKind.REFUSED, "connection refused")
    if isinstance(exc, ConnectionError) or exc.errno in _CLOSED:
        return ProbeError(FailureKind.CLOSED, "the server closed the connection")
    words = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno in _UNREACHABLE:
        return ProbeError(FailureKind.UNREACHABLE, words)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return ProbeError(FailureKind.PERMISSION, words)
    return ProbeError(FailureKind.IO, words)


def is_local_address(address: str) -> bool:
    """Whether ``address`` (an IP) belongs to this host: loopback, or bindable here."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if ip.is_loopback:
        return True
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.bind((address, 0))
    except OSError:
        return False
    return True


def is_local_host(host: str) -> bool | None:
    """Whether every address of ``host`` belongs to this host; None when it does not resolve.
    Callers use it after a refusal, when the name has just resolved."""
    try:
        infos = socket.getaddrinfo(host_arg(host), None, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    return all(is_local_address(str(info[4][0])) for info in infos) if infos else None


@dataclass
class Timings:
    connect_ms: float | None = None
    tls_ms: float | None = None


class HttpConnection:
    """One keep-alive connection to host:port (TLS when a context is given)."""

    def __init__(self, host: str, port: int, *, tls: ssl.SSLContext | None = None,
                 max_body: int = MAX_BODY) -> None:
        self.host, self.port, self.tls, self.max_body = host, port, tls, max_body
        self.sock: socket.socket | None = None
        self.address: str | None = None
        self.timings = Timings()

    def open(self, deadline: float) -> None:
        started = time.monotonic()
        try:
            sock = self._connect(deadline)
        except OSError as exc:
            raise classify_os_error(exc) from None
        self.timings.connect_ms = round((time.monotonic() - started) * 1000, 2)
        if self.tls is not None:
            started = time.monotonic()
            try:
                sock.settimeout(remaining(deadline))
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
            except OSError as exc:
                sock.close()
                raise classify_os_error(exc) from None
            except ProbeError:
                sock.close()
                raise
            self.timings.tls_ms = round((time.monotonic() - started) * 1000, 2)
        self.sock = sock

    def _connect(self, deadline: float) -> socket.socket:
        """socket.create_connection, remembering the address dialled last (``address``: the
        one a refusal came from)."""
        infos = socket.getaddrinfo(host_arg(self.host), self.port, 0, socket.SOCK_STREAM)
        failure: OSError = OSError(errno.EADDRNOTAVAIL, "the host name has no address")
        for family, kind, proto, _, sockaddr in infos:
            self.address = str(sockaddr[0])
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(remaining(deadline))
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                failure = exc
            except ProbeError:
                sock.close()
                raise
        raise failure

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None

    def request(self, method: str, path: str, *, body: bytes = b"",
                headers: dict[str, str] | None = None, deadline: float) -> HttpResponse:
        if self.sock is None:
            self.open(deadline)
        host = f"[{self.host}]" if ":" in self.host else self.host
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{self.port}",
                 "User-Agent: sgdoctor", "Accept: application/json",
                 f"Content-Length: {len(body)}"]
        if body:
            lines.append("Content-Type: application/json")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body
        try:
            self._send(payload, deadline)
            response, keep = self._read_response(method, deadline)
        except OSError as exc:
            self.close()
            raise classify_os_error(exc) from None
        except ProbeError:
            self.close()
            raise
        if not keep:
            self.close()
        return response

    def _send(self, payload: bytes, deadline: float) -> None:
        assert self.sock is not None
        view = memoryview(payload)
        while view:
            self.sock.settimeout(remaining(deadline))
            sent = self.sock.send(view)
            view = view[sent:]

    def _recv(self, deadline: float) -> bytes:
        assert self.sock is not None
        self.sock.settimeout(remaining(deadline))
        return self.sock.recv(_CHUNK)

    def _read_response(self, method: str, deadline: float) -> tuple[HttpResponse, bool]:
        buf = b""
        while b"\r\n\r\n" not in buf:
            if len(buf) > MAX_HEADER:
                raise ProbeError(FailureKind.TOO_LARGE,
                                 f"no end of HTTP headers within {MAX_HEADER} bytes "
                                 f"(starts with {printable(buf)!r})")
            data = self._recv(deadline)
            if not data:
                if not buf:
                    raise ProbeError(FailureKind.CLOSED,
                                     "the server closed the connection without answering")
                raise ProbeError(FailureKind.PROTOCOL, f"not an HTTP reply: {printable(buf)!r}")
            buf += data
            if not buf.startswith(b"HTTP/"[: len(buf)]):
                raise ProbeError(FailureKind.PROTOCOL,
                                 f"not an HTTP server (it answered {printable(buf)!r})")
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise ProbeError(FailureKind.PROTOCOL,
                             f"malformed HTTP status line {printable(head)!r}")
        status, reason = int(parts[1]), parts[2] if len(parts) > 2 else ""
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        keep = headers.get("connection", "").lower() != "close" and parts[0] == "HTTP/1.1"
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return HttpResponse(status, reason, headers), keep
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body, rest = self._read_chunked(rest, deadline)
        elif "content-length" in headers:
            length = headers["content-length"]
            if not length.isdigit():
                raise ProbeError(FailureKind.PROTOCOL, f"bad Content-Length {length!r}")
            if int(length) > self.max_body:
                raise ProbeError(FailureKind.TOO_LARGE, f"reply of {int(length)} bytes exceeds "
                                                        f"the {self.max_body}-byte limit")
            body = self._fill(rest, int(length), deadline)[: int(length)]
        else:
            body, keep = self._read_to_close(rest, deadline), False
        return HttpResponse(status, reason, headers, body), keep

    def _fill(self, buf: bytes, length: int, deadline: float) -> bytes:
        """``buf`` extended by reads until it holds at least ``length`` bytes."""
        while len(buf) < length:
            data = self._recv(deadline)
            if not data:
                raise ProbeError(FailureKind.CLOSED, "the server closed the connection after "
                                                     f"{len(buf)} of {length} bytes")
            buf += data
        return buf

    def _read_to_close(self, buf: bytes, deadline: float) -> bytes:
        while True:
            if len(buf) > self.max_body:
                raise ProbeError(FailureKind.TOO_LARGE,
                                 f"reply exceeds the {self.max_body}-byte limit")
            data = self._recv(deadline)
            if not data:
                return buf
            buf += data

    def _read_chunked(self, buf: bytes, deadline: float) -> tuple[bytes, bytes]:
        body = b""
        while True:
            while b"\r\n" not in buf:
                if len(buf) > 1024:
                    raise ProbeError(FailureKind.PROTOCOL, "malformed chunked encoding")
                data = self._recv(deadline)
                if not data:
                    raise ProbeError(FailureKind.CLOSED,
                                     "the server closed the connection mid-reply")
                buf += data
            size_line, buf = buf.split(b"\r\n", 1)
            try:
                size = int(size_line.split(b";", 1)[0].strip() or b"x", 16)
            except ValueError:
                raise ProbeError(FailureKind.PROTOCOL, "malformed chunked encoding") from None
            if size == 0:
                return body, buf
            if len(body) + size > self.max_body:
                raise ProbeError(FailureKind.TOO_LARGE,
                                 f"reply exceeds the {self.max_body}-byte limit")
            buf = self._fill(buf, size + 2, deadline)
            body += buf[:size]
            buf = buf[size + 2:]
