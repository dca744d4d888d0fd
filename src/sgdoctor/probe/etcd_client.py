"""An etcd v3 client over its JSON gateway (``/v3/...``), every call bounded in time and size.

Health, status and alarms for the doctor; kv, transactions and leases for the mesh
rendezvous. etcd encodes int64 fields as JSON strings and keys/values as base64 (and leaves out
fields at their zero value: a count of 0, a txn that did not succeed); its errors carry gRPC
codes.
"""

from __future__ import annotations

import binascii
import json
import time
from collections.abc import Mapping, Sequence

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.probe.etcd_tls import client_tls_context
from sgdoctor.probe.http import HttpConnection
from sgdoctor.records import dataclass

TYPE_CHECKING = False

if TYPE_CHECKING:
    import ssl
    from typing import Any

    from sgdoctor.parse.endpoints import Endpoint

# What Go's TLS server answers a plain HTTP request with (net/http, server.go).
GO_TLS_PORT_REPLY = b"Client sent an HTTP request to an HTTPS server.\n"


class TlsPortError(ProbeError):
    """A plain HTTP request reached a port that speaks TLS (the peer said so)."""


# gRPC status codes in the gateway's error replies (google.golang.org/grpc/codes).
INVALID_ARGUMENT, FAILED_PRECONDITION, PERMISSION_DENIED, UNAUTHENTICATED = 3, 9, 7, 16
# etcd's auth errors everywhere; InvalidArgument is one only where our request is well
# formed by construction (authenticate: "authentication failed"; a range read with a key:
# "user name is empty").
_AUTH_CODES = frozenset({PERMISSION_DENIED, UNAUTHENTICATED})
_AUTH_CODES_AT = {"/v3/auth/authenticate": frozenset({INVALID_ARGUMENT}),
                  "/v3/kv/range": frozenset({INVALID_ARGUMENT}),
                  "/v3/kv/txn": frozenset({INVALID_ARGUMENT})}


class EtcdError(ProbeError):
    """etcd answered with an error (HTTP status, gRPC code and message from the gateway)."""

    def __init__(self, status: int, message: str, code: int | None = None,
                 path: str = "") -> None:
        auth = code in _AUTH_CODES or code in _AUTH_CODES_AT.get(path, ())
        super().__init__(FailureKind.AUTH if auth else FailureKind.SERVER, message)
        self.status, self.code = status, code


def _raw(data: str | bytes) -> bytes:
    return data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data


def b64(data: str | bytes) -> str:
    """base64.b64encode's text (binascii alone: base64 imports struct and its own tables)."""
    return binascii.b2a_base64(_raw(data), newline=False).decode("ascii")


def unb64(data: str | None) -> bytes:
    """base64.b64decode's bytes (ValueError where it raises one: binascii.Error is one)."""
    return binascii.a2b_base64(data or "")


@dataclass(frozen=True)
class RangeReply:
    """One range read: [(key, value, lease)] (values empty when keys_only), whether more keys
    lie past the limit, how many keys the range holds, and the revision it was read at."""

    kvs: list[tuple[bytes, bytes, int]]
    more: bool
    count: int
    revision: int


@dataclass(frozen=True)
class TxnReply:
    """A transaction's outcome: whether its compares held, the revision it ran at (the
    revision of its writes, if any), and one reply per operation of the branch taken (each
    {"response_put": ...} or {"response_range": ...}; ``range_reply`` reads the latter)."""

    succeeded: bool
    revision: int
    responses: list[dict[str, Any]]


def created_at(key: str | bytes, revision: int) -> dict[str, Any]:
    """A txn compare: ``key``'s create_revision equals ``revision`` (0: the key is absent)."""
    return {"target": "CREATE", "key": b64(key), "create_revision": str(revision),
            "result": "EQUAL"}


def put_op(key: str | bytes, value: str | bytes, *, lease: int = 0) -> dict[str, Any]:
    payload: dict[str, Any] = {"key": b64(key), "value": b64(value)}
    if lease:
        payload["lease"] = str(lease)
    return {"request_put": payload}


def range_op(key: str | bytes, end: str | bytes, *, limit: int = 0, revision: int = 0,
             serializable: bool = False, count_only: bool = False,
             keys_only: bool = False) -> dict[str, Any]:
    """A txn's range read; a txn whose ranges are all ``serializable`` (and that writes
    nothing) is answered from the member's own view, without the quorum round."""
    return {"request_range": _range_request(_raw(key), _raw(end), limit=limit,
                                            revision=revision, serializable=serializable,
                                            count_only=count_only, keys_only=keys_only)}


def _range_request(key: bytes, end: bytes, *, limit: int = 0, revision: int = 0,
                   serializable: bool = False, count_only: bool = False,
                   keys_only: bool = False) -> dict[str, Any]:
    payload: dict[str, Any] = {"key": b64(key), "range_end": b64(end)}
    if limit:
        payload["limit"] = str(limit)
    if revision:
        payload["revision"] = str(revision)
    if serializable:
        payload["serializable"] = True
    if count_only:
        payload["count_only"] = True
    if keys_only:
        payload["keys_only"] = True
    return payload


def _int(value: Any, what: str) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        raise ProbeError(FailureKind.PROTOCOL, f"etcd's {what} is not a number: "
                                               f"{str(value)[:40]!r}") from None


def _revision(reply: Mapping[str, Any]) -> int:
    header = reply.get("header")
    return _int(header.get("revision") if isinstance(header, dict) else None, "revision")


def _range_reply(reply: Any) -> RangeReply:
    if not isinstance(reply, dict):
        raise ProbeError(FailureKind.PROTOCOL, "etcd's range reply is not a JSON object")
    kvs = []
    for kv in reply.get("kvs") or []:
        if not isinstance(kv, dict):
            continue
        try:
            kvs.append((unb64(kv.get("key")), unb64(kv.get("value")),
                        _int(kv.get("lease"), "lease id")))
        except (ValueError, TypeError):
            raise ProbeError(FailureKind.PROTOCOL, "a key or value etcd returned is not "
                                                   "base64") from None
    return RangeReply(kvs, bool(reply.get("more")), _int(reply.get("count"), "count"),
                      _revision(reply))


def range_reply(response: Mapping[str, Any]) -> RangeReply:
    """The range read of one txn response (a put's response raises ProbeError PROTOCOL)."""
    if "response_range" not in response:
        raise ProbeError(FailureKind.PROTOCOL, "etcd answered a txn's range with another reply")
    return _range_reply(response["response_range"])


class EtcdClient:
    """One etcd member over HTTP(S), keep-alive, every call bounded by ``timeout`` seconds
    (and by an optional absolute ``deadline`` on time.monotonic())."""

    def __init__(self, host: str, port: int, *, tls: ssl.SSLContext | None = None,
                 username: str | None = None, password: str | None = None,
                 timeout: float = 2.0, deadline: float | None = None) -> None:
        self.conn = HttpConnection(host, port, tls=tls)
        self.username, self._password = username, password
        self.timeout, self.deadline = timeout, deadline
        self.token: str | None = None
        self.received = 0    # reply body bytes (the mesh bench counts them)

    @classmethod
    def for_endpoint(cls, endpoint: Endpoint, **kwargs: Any) -> EtcdClient:
        if endpoint.host is None or endpoint.port is None:
            raise ValueError(f"invalid endpoint {endpoint.display!r}: {endpoint.error}")
        if endpoint.scheme == "https" and kwargs.get("tls") is None:
            kwargs["tls"] = client_tls_context(None)
        elif endpoint.scheme != "https":
            kwargs["tls"] = None
        return cls(endpoint.host, endpoint.port, **kwargs)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> EtcdClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _deadline(self) -> float:
        deadline = time.monotonic() + self.timeout
        return deadline if self.deadline is None else min(deadline, self.deadline)

    def request(self, method: str, path: str, payload: Mapping[str, Any] | None = None,
                *, auth: bool = True) -> tuple[int, Any]:
        """(HTTP status, decoded JSON) — raises ProbeError for anything that is not JSON."""
        deadline = self._deadline()
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = {"Authorization": self.token} if auth and self.token else None
        response = self.conn.request(method, path, body=body, headers=headers,
                                     deadline=deadline)
        self.received += len(response.body)
        if response.status == 400 and response.body == GO_TLS_PORT_REPLY:
            raise TlsPortError(FailureKind.TLS, "plain HTTP refused with HTTP 400 (\"Client "
                                                "sent an HTTP request to an HTTPS server\")")
        try:
            decoded = json.loads(response.body or b"{}")
        except ValueError:
            raise ProbeError(FailureKind.PROTOCOL,
                             f"HTTP {response.status} with a reply that is not "
                             f"JSON: {response.text(80)!r}") from None
        return response.status, decoded

    def call(self, path: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST to the gateway; an error reply raises EtcdError."""
        status, decoded = self.request("POST", path, payload or {})
        if not isinstance(decoded, dict):
            raise ProbeError(FailureKind.PROTOCOL,
                             f"unexpected reply from {path}: not a JSON object")
        if status != 200 or "error" in decoded:
            message = str(decoded.get("message") or decoded.get("error") or f"HTTP {status}")
            code = decoded.get("code")
            raise EtcdError(status, message, code if isinstance(code, int) else None, path)
        return decoded

    def authenticate(self) -> None:
        """Trade ETCD_AUTH_USERNAME/PASSWORD for a token (sent as the Authorization header)."""
        reply = self.call("/v3/auth/authenticate",
                          {"name": self.username, "password": self._password})
        token = reply.get("token")
        if not isinstance(token, str) or not token:
            raise ProbeError(FailureKind.PROTOCOL, "etcd authenticated us but returned no token")
        self.token = token

    # -- maintenance
    def health(self) -> tuple[int, dict[str, Any]]:
        """GET /health: (status, body) — 200 {"health":"true"} (3.4) or with "reason" (3.5+),
        503 with {"health":"false","reason":...} when unhealthy."""
        status, decoded = self.request("GET", "/health", auth=False)
        if not isinstance(decoded, dict) or "health" not in decoded:
            raise ProbeError(FailureKind.PROTOCOL,
                             f"/health answered HTTP {status} without a health "
                             "field — is this etcd?")
        return status, decoded

    def status(self) -> dict[str, Any]:
        return self.call("/v3/maintenance/status", {})

    def alarms(self) -> list[dict[str, Any]]:
        alarms = self.call("/v3/maintenance/alarm", {"action": "GET"}).get("alarms") or []
        return [a for a in alarms if isinstance(a, dict)]

    # -- kv and leases (keys/values base64 on the wire; ids int64 as strings)
    def put(self, key: str | bytes, value: str | bytes, *, lease: int = 0) -> dict[str, Any]:
        return self.call("/v3/kv/put", put_op(key, value, lease=lease)["request_put"])

    def get(self, key: str | bytes, *, prefix: bool = False,
            limit: int = 0) -> list[tuple[bytes, bytes, int]]:
        """[(key, value, lease id)] for one key or, with prefix, every key under it."""
        raw = _raw(key)
        payload: dict[str, Any] = {"key": b64(raw)}
        if prefix:
            payload["range_end"] = b64(prefix_end(raw))
        if limit:
            payload["limit"] = str(limit)
        kvs = self.call("/v3/kv/range", payload).get("kvs") or []
        return [(unb64(kv.get("key")), unb64(kv.get("value")), int(kv.get("lease") or 0))
                for kv in kvs if isinstance(kv, dict)]

    def range_page(self, key: bytes, end: bytes, *, limit: int, revision: int = 0,
                   serializable: bool = False, keys_only: bool = False
                   ) -> tuple[list[tuple[bytes, bytes, int]], bool, int]:
        """One page of [key, end): ([(key, value, lease)], more, revision read at).
        ``serializable`` skips the quorum round (the member's own, possibly older, view);
        ``keys_only`` leaves the values out (empty)."""
        reply = _range_reply(self.call("/v3/kv/range", _range_request(
            key, end, limit=limit, revision=revision, serializable=serializable,
            keys_only=keys_only)))
        return reply.kvs, reply.more, reply.revision

    def txn(self, compare: Sequence[Mapping[str, Any]], success: Sequence[Mapping[str, Any]],
            failure: Sequence[Mapping[str, Any]] = ()) -> TxnReply:
        """One transaction (``created_at`` compares; ``put_op``/``range_op`` operations): all
        its reads and writes at one revision, atomically. A reply without a revision, or
        with another number of responses than the branch taken has operations, raises
        ProbeError PROTOCOL."""
        reply = self.call("/v3/kv/txn", {"compare": list(compare), "success": list(success),
                                         "failure": list(failure)})
        succeeded = bool(reply.get("succeeded"))
        responses = reply.get("responses") or []
        revision = _revision(reply)
        expected = len(success if succeeded else failure)
        if (not revision or not isinstance(responses, list) or len(responses) != expected
                or not all(isinstance(r, dict) for r in responses)):
            raise ProbeError(FailureKind.PROTOCOL, f"etcd's txn reply has no revision or not "
                                                   f"{expected} responses")
        return TxnReply(succeeded, revision, responses)

    def delete(self, key: str | bytes, *, prefix: bool = False) -> int:
        raw = _raw(key)
        payload: dict[str, Any] = {"key": b64(raw)}
        if prefix:
            payload["range_end"] = b64(prefix_end(raw))
        return int(self.call("/v3/kv/deleterange", payload).get("deleted") or 0)

    def lease_grant(self, ttl: int) -> int:
        return int(self.call("/v3/lease/grant", {"TTL": str(ttl)})["ID"])

    def lease_keepalive(self, lease: int) -> int:
        """One keep-alive round trip; returns the refreshed TTL (0 when the lease is gone)."""
        reply = self.call("/v3/lease/keepalive", {"ID": str(lease)})
        result = reply.get("result", reply)
        return int(result.get("TTL") or 0) if isinstance(result, dict) else 0

    def lease_revoke(self, lease: int) -> None:
        self.call("/v3/lease/revoke", {"ID": str(lease)})


def prefix_end(prefix: bytes) -> bytes:
    """etcd's range_end for "every key starting with prefix"."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\x00"
    return stripped[:-1] + bytes([stripped[-1] + 1])


__all__ = ["EtcdClient", "EtcdError", "RangeReply", "TlsPortError", "TxnReply", "b64",
           "created_at", "prefix_end", "put_op", "range_op", "range_reply", "unb64"]
