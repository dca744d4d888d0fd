"""`sgdoctor serve`: the last run's verdict over HTTP, for sidecars and DaemonSets.

One background thread runs the checks every interval; requests only ever read the last
report, so twenty concurrent scrapes never start twenty runs. Connections are bounded: at
most MAX_CONNECTIONS at once (more get a 503 and are closed), an idle one is closed after
IDLE_TIMEOUT, and the listen backlog takes a scrape storm. A client that resets or goes
away costs one closed socket, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from sgdoctor.report import FORMATS, RenderOptions, Report, reporter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TEXT = "text/plain; charset=utf-8"
JSON = "application/json; charset=utf-8"
MAX_CONNECTIONS = 64   # connections served at once; more are refused with a 503
IDLE_TIMEOUT = 10.0    # seconds a connection may sit idle (or trickle a request)
BACKLOG = 256          # listen queue: a fleet's scrapes arriving at once
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
         b"Content-Length: 21\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
         b"too many connections\n")


class Latest:
    """The most recent report, and a way to wait (bounded) for the first one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.report: Report | None = None
        self.runs = 0

    def publish(self, report: Report) -> None:
        with self._cond:
            self.report = report
            self.runs += 1
            self._cond.notify_all()

    def get(self, timeout: float) -> Report | None:
        with self._cond:
            self._cond.wait_for(lambda: self.report is not None, timeout)
            return self.report


class Checker(threading.Thread):
    """Runs the checks every `interval` seconds until stopped."""

    def __init__(self, run: Callable[[], Report], interval: float, latest: Latest) -> None:
        super().__init__(name="sgdoctor-checker", daemon=True)
        self.run_once, self.interval, self.latest = run, interval, latest
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            began = time.monotonic()
            try:
                report = self.run_once()
            except Exception as exc:  # a run must never kill the server
                sys.stderr.write(f"sgdoctor serve: run failed: {type(exc).__name__}: {exc}\n")
            else:
                self.latest.publish(report)
                counts = ", ".join(f"{v} {k}" for k, v in report.counts.items() if v)
                sys.stderr.write(f"sgdoctor serve: run {self.latest.runs}: "
                                 f"{report.status.value} ({counts})\n")
            self.stopped.wait(max(0.0, self.interval - (time.monotonic() - began)))


def make_handler(latest: Latest, options: RenderOptions,
                 healthy: Callable[[Report], bool], first_wait: float) -> type:
    """Every path renders the latest report through the reporter registry."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "sgdoctor"
        sys_version = ""
        protocol_version = "HTTP/1.1"
        timeout = IDLE_TIMEOUT

        def log_message(self, format: str, *args: object) -> None:
            return

        def _send(self, code: int, body: str, ctype: str) -> None:
            data = body.encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlsplit(self.path)
            if url.path not in ("/healthz", "/metrics", "/report"):
                self._send(404, "not found: try /healthz, /metrics or /report\n", TEXT)
                return
            fmt = {"/healthz": "json", "/metrics": "prometheus"}.get(url.path, "json")
            if url.path == "/report":
                fmt = parse_qs(url.query).get("format", ["json"])[0]
                if fmt not in FORMATS:
                    self._send(400, f"unknown format {fmt!r}: choose one of "
                               f"{', '.join(FORMATS)}\n", TEXT)
                    return
            report = latest.get(first_wait)
            if report is None:
                self._send(503, json.dumps({"status": "starting",
                                            "detail": "the first run has not finished"}) + "\n",
                           JSON)
                return
            code = 200 if url.path != "/healthz" or healthy(report) else 503
            chosen = reporter(fmt)
            self._send(code, chosen.render(report, options), chosen.content_type)

        do_HEAD = do_GET  # noqa: N815

        def _refuse(self) -> None:
            self.send_response(405)
            self.send_header("Allow", "GET, HEAD")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse  # noqa: N815

    return Handler


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT`, `[::1]:PORT` or `:PORT` (loopback)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen {value!r}: expected HOST:PORT")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


class Server(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` of them."""

    daemon_threads = True
    request_queue_size = BACKLOG

    def __init__(self, address: tuple[str, int], handler: type,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that resets, times out or hangs up is routine: no traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return
        sys.stderr.write(f"sgdoctor serve: request from {client_address[0]} failed: "
                         f"{type(error).__name__}: {error}\n")
