"""The bounded HTTP client against a scripted peer: framing it must understand."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from sgdoctor.probe.http import HttpConnection, ProbeError


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
