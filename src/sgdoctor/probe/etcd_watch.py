"""One etcd v3 watch over the JSON gateway: POST /v3/watch answers with an endless chunked
stream of JSON objects, one per line ({"result": WatchResponse} or {"error": ...}).

Why not EtcdClient.call: that reads a whole reply, and a watch reply never ends. Here the
stream is read incrementally; opening is bounded by one call timeout, every later read by
the caller's wait, everything by the absolute deadline, and one message by ``max_message``
bytes (a catching-up watcher gets up to 1000 revisions in one message, far above the 1 MiB
cap on ordinary replies). Facts only: the caller decides what a cancel or a silence means.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.probe.etcd_client import EtcdError, b64, unb64
from sgdoctor.probe.http import HttpConnection, classify_os_error, printable, remaining
from sgdoctor.records import dataclass, field

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from sgdoctor.probe.etcd_client import EtcdClient

MAX_MESSAGE = 64 << 20      # one watch response (a catch-up batch of many revisions)
MAX_HEAD = 64 << 10
_CHUNK = 256 << 10


@dataclass(frozen=True)
class Event:
    """One change of one key: PUT (with its value) or DELETE, at ``revision``."""

    kind: str
    key: bytes
    value: bytes
    revision: int


@dataclass
class WatchReply:
    """One WatchResponse: its events, or a created / progress / canceled notice."""

    revision: int                   # header revision (etcd's current one when it was sent)
    events: list[Event] = field(default_factory=list)
    created: bool = False
    canceled: bool = False
    compact_revision: int = 0       # > 0 with canceled: the start revision was compacted
    cancel_reason: str = ""

    @property
    def progress(self) -> bool:
        """A progress notification: every event up to ``revision`` has been delivered."""
        return not (self.events or self.created or self.canceled)


def revision_of(value: Any) -> int:
    """An int64 field as etcd's gateway sends it (a string); 0 when absent or malformed."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def parse_reply(doc: Any) -> WatchReply:
    """A decoded stream object as a WatchReply; an error object raises EtcdError."""
    if not isinstance(doc, dict):
        raise ProbeError(FailureKind.PROTOCOL, "a watch message is not a JSON object")
    if "error" in doc:
        error = doc["error"]
        error = error if isinstance(error, dict) else {"message": str(error)}
        code = error.get("grpc_code", error.get("code"))
        raise EtcdError(revision_of(error.get("http_code")) or 500,
                        str(error.get("message") or "the watch failed"),
                        code if isinstance(code, int) else None, "/v3/watch")
    result = doc.get("result")
    if not isinstance(result, dict):
        raise ProbeError(FailureKind.PROTOCOL, "a watch message has no result")
    header = result.get("header")
    reply = WatchReply(revision_of(header.get("revision")) if isinstance(header, dict) else 0,
                       created=bool(result.get("created")),
                       canceled=bool(result.get("canceled")),
                       compact_revision=revision_of(result.get("compact_revision")),
                       cancel_reason=str(result.get("cancel_reason") or ""))
    for item in result.get("events") or []:
        kv = item.get("kv") if isinstance(item, dict) else None
        if not isinstance(kv, dict):
            continue
        kind = "DELETE" if item.get("type") == "DELETE" else "PUT"
        try:
            key, value = unb64(kv.get("key")), unb64(kv.get("value"))
        except ValueError:
            raise ProbeError(FailureKind.PROTOCOL, "a watch event is not base64") from None
        reply.events.append(Event(kind, key, value, revision_of(kv.get("mod_revision"))))
    return reply


class WatchStream:
    """A watch of [key, end) from ``start_revision`` on its own connection to the member
    ``client`` talks to (same TLS context and auth token); ``received`` counts body bytes."""

    def __init__(self, client: EtcdClient, key: bytes, end: bytes, start_revision: int, *,
                 progress_notify: bool = True, max_message: int = MAX_MESSAGE) -> None:
        self.conn = HttpConnection(client.conn.host, client.conn.port, tls=client.conn.tls)
        self.token = client.token
        self.request = {"create_request": {"key": b64(key), "range_end": b64(end),
                                           "start_revision": str(start_revision),
                                           "progress_notify": progress_notify}}
        self.max_message = max_message
        self.received = 0
        self._raw = bytearray()      # bytes off the socket, still chunk-encoded
        self._body = bytearray()     # decoded body bytes not yet split into messages
        self._left = 0               # bytes left in the current chunk (then its CRLF)
        self._crlf = False
        self._ended = False
        self._pending: list[WatchReply] = []

    def close(self) -> None:
        self.conn.close()

    def open(self, deadline: float) -> WatchReply:
        """Send the watch and read up to etcd's "created" answer (by ``deadline``); a watch
        refused at once (auth, a compacted start revision) comes back canceled."""
        body = json.dumps(self.request).encode()
        host = f"[{self.conn.host}]" if ":" in self.conn.host else self.conn.host
        lines = ["POST /v3/watch HTTP/1.1", f"Host: {host}:{self.conn.port}",
                 "User-Agent: sgdoctor", "Accept: application/json",
                 "Content-Type: application/json", f"Content-Length: {len(body)}"]
        if self.token:
            lines.append(f"Authorization: {self.token}")
        try:
            self.conn.open(deadline)
            assert self.conn.sock is not None
            self.conn.sock.settimeout(remaining(deadline))
            self.conn.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            self._read_head(deadline)
            while True:
                replies = self.read(deadline)
                if replies:
                    break
                remaining(deadline)
        except BaseException:
            self.close()
            raise
        first = replies[0]
        if not (first.created or first.canceled):
            self.close()
            raise ProbeError(FailureKind.PROTOCOL, "etcd's watch did not start with created")
        self._pending = replies[1:]
        return first

    def read(self, until: float) -> list[WatchReply]:
        """The replies that arrive by ``until`` (none: a silent stream, which is normal);
        the stream ending raises ProbeError CLOSED."""
        pending, self._pending = self._pending, []
        if pending:
            return pending
        while True:
            replies = list(self._messages())
            if replies:
                return replies
            if self._ended:
                raise ProbeError(FailureKind.CLOSED, "etcd ended the watch stream")
            left = until - time.monotonic()
            if left <= 0:
                return []
            self._fill(left)

    def _fill(self, wait: float) -> None:
        """One read off the socket, for up to ``wait`` seconds (a timeout is no error)."""
        sock = self.conn.sock
        if sock is None:
            raise ProbeError(FailureKind.CLOSED, "the watch stream is closed")
        try:
            sock.settimeout(max(0.001, wait))
            data = sock.recv(_CHUNK)
        except TimeoutError:
            return
        except OSError as exc:
            self.close()
            raise classify_os_error(exc) from None
        if not data:
            self.close()
            raise ProbeError(FailureKind.CLOSED, "etcd closed the watch stream")
        self._raw += data
        self._dechunk()

    def _read_head(self, deadline: float) -> None:
        assert self.conn.sock is not None
        while b"\r\n\r\n" not in self._raw:
            if len(self._raw) > MAX_HEAD:
                raise ProbeError(FailureKind.TOO_LARGE, "no end of HTTP headers in the watch "
                                                        "reply")
            self.conn.sock.settimeout(remaining(deadline))
            try:
                data = self.conn.sock.recv(_CHUNK)
            except OSError as exc:
                raise classify_os_error(exc) from None
            if not data:
                raise ProbeError(FailureKind.CLOSED, "etcd closed the connection without "
                                                     "answering the watch")
            self._raw += data
        head, _, rest = bytes(self._raw).partition(b"\r\n\r\n")
        self._raw = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ProbeError(FailureKind.PROTOCOL,
                             f"not an HTTP reply to the watch: {printable(head)!r}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        status = int(parts[1])
        if status != 200:
            self._refused(status, headers, deadline)
        if "chunked" not in headers.get("transfer-encoding", "").lower():
            raise ProbeError(FailureKind.PROTOCOL, "etcd's watch reply is not a chunked stream")
        self._dechunk()

    def _refused(self, status: int, headers: dict[str, str], deadline: float) -> None:
        """An error reply (Content-Length, JSON) to the watch request: raise it."""
        length = headers.get("content-length", "")
        size = min(int(length), MAX_HEAD) if length.isdigit() else 0
        while len(self._raw) < size:
            assert self.conn.sock is not None
            self.conn.sock.settimeout(remaining(deadline))
            data = self.conn.sock.recv(_CHUNK)
            if not data:
                break
            self._raw += data
        try:
            doc = json.loads(bytes(self._raw[:size]) or b"{}")
        except ValueError:
            doc = {}
        message = doc.get("message") if isinstance(doc, dict) else None
        code = doc.get("code") if isinstance(doc, dict) else None
        raise EtcdError(status, str(message or f"HTTP {status}"),
                        code if isinstance(code, int) else None, "/v3/watch")

    def _dechunk(self) -> None:
        """Move whole chunk data from ``_raw`` into ``_body``."""
        raw = self._raw
        while raw and not self._ended:
            if self._left:
                take = min(self._left, len(raw))
                self._body += raw[:take]
                del raw[:take]
                self._left -= take
                self.received += take
                if self._left:
                    return
                self._crlf = True
            if self._crlf:
                if len(raw) < 2:
                    return
                if raw[:2] != b"\r\n":
                    raise ProbeError(FailureKind.PROTOCOL, "malformed chunked encoding")
                del raw[:2]
                self._crlf = False
            end = raw.find(b"\r\n")
            if end < 0:
                if len(raw) > 1024:
                    raise ProbeError(FailureKind.PROTOCOL, "malformed chunked encoding")
                return
            try:
                size = int(bytes(raw[:end]).split(b";", 1)[0].strip() or b"x", 16)
            except ValueError:
                raise ProbeError(FailureKind.PROTOCOL, "malformed chunked encoding") from None
            del raw[:end + 2]
            if size == 0:
                self._ended = True
            self._left = size
        if len(self._body) > self.max_message and b"\n" not in self._body:
            raise ProbeError(FailureKind.TOO_LARGE, f"a watch message exceeds the "
                                                    f"{self.max_message}-byte limit")

    def _messages(self) -> Iterator[WatchReply]:
        body = self._body
        while True:
            end = body.find(b"\n")
            if end < 0:
                return
            line = bytes(body[:end])
            del body[:end + 1]
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except ValueError:
                raise ProbeError(FailureKind.PROTOCOL, f"a watch message is not JSON: "
                                                       f"{printable(line)!r}") from None
            yield parse_reply(doc)


__all__ = ["Event", "MAX_MESSAGE", "WatchReply", "WatchStream", "parse_reply", "revision_of"]
