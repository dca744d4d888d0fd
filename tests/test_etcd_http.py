"""The bounded HTTP client against a scripted peer: framing it must understand."""

from __future__ import annotations

import errno
import socket
import threading
import time

import pytest

from sgdoctor.errors import FailureKind
from sgdoctor.probe.http import HttpConnection, ProbeError, classify_os_error


def serve_once(replies: list[bytes]) -> int:
    """A loopback peer that answers each request it reads with the next scripted reply."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def run() -> None:
        conn, _ = listener.accept()
        with conn:
            for reply in replies:
                conn.recv(65536)
                conn.sendall(reply)
            time.sleep(0.5)
        listener.close()

    threading.Thread(target=run, daemon=True).start()
    return listener.getsockname()[1]


def test_chunked_reply_and_keep_alive():
    port = serve_once([
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\n{\"a\":\r\n3;ext=1\r\n 1}\r\n0\r\n\r\n",
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 18\r\n\r\n"
        b'{"health":"false"}',
    ])
    conn = HttpConnection("127.0.0.1", port)
    deadline = time.monotonic() + 2
    first = conn.request("GET", "/x", deadline=deadline)
    assert (first.status, first.body) == (200, b'{"a": 1}')
    second = conn.request("GET", "/health", deadline=deadline)  # same connection
    assert (second.status, second.body) == (503, b'{"health":"false"}')
    conn.close()


@pytest.mark.parametrize("reply, kind", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", "protocol"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "protocol"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "closed"),
    (b"SSH-2.0-OpenSSH_9.2\r\n", "protocol"),
])
def test_malformed_replies_are_classified(reply, kind):
    port = serve_once([reply])
    conn = HttpConnection("127.0.0.1", port)
    with pytest.raises(ProbeError) as caught:
        conn.request("GET", "/", deadline=time.monotonic() + 2)
    assert caught.value.kind == kind


@pytest.mark.parametrize("exc, kind", [
    (OSError(errno.EHOSTUNREACH, "No route to host"), FailureKind.UNREACHABLE),
    (OSError(errno.ENETUNREACH, "Network is unreachable"), FailureKind.UNREACHABLE),
    (OSError(errno.ETIMEDOUT, "Connection timed out"), FailureKind.TIMEOUT),
    (OSError(errno.ECONNREFUSED, "Connection refused"), FailureKind.REFUSED),
    (OSError(errno.ECONNRESET, "Connection reset by peer"), FailureKind.CLOSED),
    (OSError(errno.EPERM, "Operation not permitted"), FailureKind.PERMISSION),
    (OSError(errno.EMFILE, "Too many open files"), FailureKind.IO),
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), FailureKind.DNS),
])
def test_os_errors_are_classified_by_errno_and_type(exc, kind):
    """The OS's words are kept, but the kind comes from errno and class alone: a message
    that says "refused" on an EMFILE must not become REFUSED."""
    assert classify_os_error(exc).kind is kind


def test_a_misleading_message_does_not_change_the_kind():
    assert classify_os_error(OSError(errno.EMFILE, "connection refused")).kind is FailureKind.IO


def test_refused_connect_is_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn = HttpConnection("127.0.0.1", port)
    with pytest.raises(ProbeError) as caught:
        conn.request("GET", "/", deadline=time.monotonic() + 2)
    assert caught.value.kind is FailureKind.REFUSED


def test_tls_to_a_plain_server_is_a_tls_failure():
    import ssl

    port = serve_once([b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"])
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    conn = HttpConnection("127.0.0.1", port, tls=context)
    with pytest.raises(ProbeError) as caught:
        conn.open(time.monotonic() + 2)
    assert caught.value.kind is FailureKind.TLS and "WRONG_VERSION_NUMBER" in caught.value.message
