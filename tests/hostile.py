"""Misbehaving servers on loopback, to prove probes end in a clear fail and never hang.

    with HostileServer("silent") as srv:     # srv.port, srv.url("http")
        ...

Modes:
  silent          accept, then say nothing (keep the connection open)
  garbage         send binary junk, then keep the connection open
  close           accept and close at once
  huge            an HTTP reply announcing and sending a 10 MB body
  endless         an HTTP reply without length whose body never ends
  endless_header  an HTTP status line followed by a header that never ends
  drip            one byte of a valid-looking HTTP reply every 0.2 s, forever
  tls             a TLS server (self-signed) that answers nothing useful in clear text
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import tempfile
import threading
import time

MODES = ("silent", "garbage", "close", "huge", "endless", "endless_header", "drip", "tls")
TEN_MB = 10 * 1024 * 1024


class HostileServer:
    def __init__(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(mode)
        self.mode = mode
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.conns: list[socket.socket] = []
        self.tls_context = _self_signed_context() if mode == "tls" else None
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def url(self, scheme: str) -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> HostileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        for conn in list(self.conns):
            with contextlib.suppress(OSError):
                conn.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            getattr(self, f"_{self.mode}")(conn)
            self.stopping.wait()
        with contextlib.suppress(OSError):
            conn.close()

    def _send_forever(self, conn: socket.socket, block: bytes, pause: float = 0.0) -> None:
        while not self.stopping.is_set():
            conn.sendall(block)
            if pause:
                time.sleep(pause)

    def _silent(self, conn: socket.socket) -> None:
        return None

    def _garbage(self, conn: socket.socket) -> None:
        conn.sendall(b"\x00\xff\x13garbage\x7f\x80\x81 not a protocol\r\n" * 4)

    def _close(self, conn: socket.socket) -> None:
        conn.close()

    def _huge(self, conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % TEN_MB)
        chunk = b"x" * 65536
        for _ in range(TEN_MB // len(chunk)):
            conn.sendall(chunk)

    def _endless(self, conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
        self._send_forever(conn, b"{" * 65536)

    def _endless_header(self, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Endless: ")
        self._send_forever(conn, b"a" * 65536)

    def _drip(self, conn: socket.socket) -> None:
        reply = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"z" * 100000
        for byte in reply:
            if self.stopping.is_set():
                return
            conn.sendall(bytes([byte]))
            time.sleep(0.2)

    def _tls(self, conn: socket.socket) -> None:
        assert self.tls_context is not None
        conn.settimeout(5)
        wrapped = self.tls_context.wrap_socket(conn, server_side=True)
        self.conns.append(wrapped)


def _self_signed_context() -> ssl.SSLContext:
    from servers import make_pki

    with tempfile.TemporaryDirectory() as tmp:
        pki = make_pki(os.path.join(tmp, "pki"), name="hostile")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki.path("server.pem"), pki.path("server-key.pem"))
    return context
