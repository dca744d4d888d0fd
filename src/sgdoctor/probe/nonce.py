"""The mesh's TCP handshake: a small server on the Gloo address and the dialler that times it.

The client sends ``SGDOCTOR-MESH 1 <group> <nonce>``; the server answers
``SGDOCTOR-MESH 1 <group> <nonce> <token> <name>``, its token being the random one it
registered in etcd. An echo server, another service or an sgdoctor of an earlier run on
that port therefore cannot pass for the peer. The server is hostile-input safe: lines are
bounded, every connection has a deadline, and concurrent connections are capped.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
import time

from sgdoctor.parse.mesh import Listener, Probe
from sgdoctor.probe.http import classify_os_error, printable

MAGIC = b"SGDOCTOR-MESH 1"
MAX_LINE = 512
MAX_EXCHANGES = 8
MAX_CLIENTS = 2048      # concurrent handshakes (a 1024-node group dials at once)
BACKLOG = 4096          # accept queue (the kernel caps it at net.core.somaxconn)
CONNECTION_TIMEOUT = 3.0   # a handshake is three short lines
ROUND_TRIPS = 3


class NonceServer:
    """Answers the handshake on every given address until ``close()``."""

    def __init__(self, group: str, name: str, token: str) -> None:
        self.group, self.name, self.token = group.encode(), name.encode(), token.encode()
        self.sockets: list[socket.socket] = []
        self.stopped = threading.Event()
        self.slots = threading.BoundedSemaphore(MAX_CLIENTS)
        self.served = 0    # handshakes answered (under lock: handlers run concurrently)
        self._lock = threading.Lock()

    def listen(self, address: str, port: int = 0) -> int:
        """Bind and listen on address:port (0: ephemeral); returns the port."""
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
            sock.listen(BACKLOG)
            sock.settimeout(0.2)
        except OSError:
            sock.close()
            raise
        self.sockets.append(sock)
        threading.Thread(target=self._accept, args=(sock,), daemon=True,
                         name=f"sgdoctor-mesh-accept-{address}").start()
        return sock.getsockname()[1]

    def close(self) -> None:
        self.stopped.set()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self, sock: socket.socket) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self.slots.acquire(blocking=False):
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True,
                             name="sgdoctor-mesh-conn").start()

    def _serve(self, conn: socket.socket) -> None:
        deadline = time.monotonic() + CONNECTION_TIMEOUT
        buf = b""
        try:
            for _ in range(MAX_EXCHANGES):
                line, buf = _read_line(conn, buf, deadline)
                parts = line.split(b" ")
                if line[: len(MAGIC)] != MAGIC or len(parts) != 4 or len(parts[3]) != 32:
                    return
                conn.settimeout(max(0.01, deadline - time.monotonic()))
                with self._lock:
                    self.served += 1
                conn.sendall(b" ".join([MAGIC, self.group, parts[3], self.token, self.name])
                             + b"\n")
        except (OSError, ValueError):
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            self.slots.release()


def _read_line(conn: socket.socket, buf: bytes, deadline: float) -> tuple[bytes, bytes]:
    """One ``\\n``-terminated line of at most MAX_LINE bytes; ValueError for anything else."""
    while b"\n" not in buf:
        if len(buf) > MAX_LINE:
            raise ValueError(f"no end of line within {MAX_LINE} bytes")
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        conn.settimeout(left)
        data = conn.recv(MAX_LINE)
        if not data:
            raise ValueError("closed" if not buf else f"closed mid-line after {printable(buf)!r}")
        buf += data
    line, rest = buf.split(b"\n", 1)
    if len(line) > MAX_LINE:
        raise ValueError(f"line longer than {MAX_LINE} bytes")
    return line, rest


def dial(listener: Listener, *, group: str, name: str, token: str, timeout: float) -> Probe:
    """Connect to a peer's listener, check ROUND_TRIPS handshakes, return the fastest RTT."""
    deadline = time.monotonic() + timeout
    where = listener.display()
    try:
        sock = socket.create_connection((listener.address, listener.port), timeout=timeout)
    except OSError as exc:
        return Probe(False, error=classify_os_error(exc).message, address=where)
    best: float | None = None
    buf = b""
    try:
        for _ in range(ROUND_TRIPS):
            nonce = secrets.token_hex(16).encode()
            started = time.monotonic()
            sock.settimeout(max(0.01, deadline - started))
            sock.sendall(b" ".join([MAGIC, group.encode(), nonce]) + b"\n")
            line, buf = _read_line(sock, buf, deadline)
            rtt = (time.monotonic() - started) * 1000
            if line != b" ".join([MAGIC, group.encode(), nonce, token.encode(), name.encode()]):
                return Probe(False, error=f"a different process answers there (it said "
                                          f"{printable(line)!r}), not {name}'s sgdoctor "
                                          "mesh", address=where)
            best = rtt if best is None else min(best, rtt)
    except ValueError as exc:
        return Probe(False, error=f"the handshake failed: {exc} — is {where} {name}'s "
                                  "sgdoctor mesh?", address=where)
    except OSError as exc:
        return Probe(False, error=f"the handshake failed: {classify_os_error(exc).message}",
                     address=where)
    finally:
        with contextlib.suppress(OSError):
            sock.close()
    return Probe(True, rtt_ms=round(best or 0.0, 3), address=where)
