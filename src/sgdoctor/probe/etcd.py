"""etcd through its JSON gateway (``/v3/...``), with auth, TLS, and hard time/size bounds.

``EtcdClient`` is the reusable part (health, status, alarms, and the kv/lease calls a mesh
test needs); ``probe_endpoints`` runs the doctor's probe against every endpoint in parallel.
etcd encodes int64 fields as JSON strings and keys/values as base64.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.parse.endpoints import ETCD_TLS_VARS, Endpoint
from sgdoctor.probe.http import HttpConnection, printable
from sgdoctor.probe.parallel import run_all

if TYPE_CHECKING:
    import ssl

    from sgdoctor.parse.endpoints import EtcdConfig

PEM_MARK = "-----BEGIN"
BAD_ALARMS = ("NOSPACE", "CORRUPT")
MAX_PARALLEL = 64  # one thread per endpoint; a real cluster has 3 to 7 members


# ---------------------------------------------------------------- TLS material

@dataclass(frozen=True)
class TlsMaterial:
    """ETCD_AUTH_CA / _CLIENT_CERT / _CLIENT_KEY: PEM text or file paths (both are seen)."""

    ca: str
    cert: str
    key: str

    @classmethod
    def from_env(cls, env: Mapping[str, str], config: EtcdConfig) -> TlsMaterial | None:
        """The three ETCD_AUTH_* TLS values, when Dynamo would use them."""
        return cls(*(env[name] for name in ETCD_TLS_VARS)) if config.tls else None

    def given_as_paths(self) -> list[str]:
        names = ("ETCD_AUTH_CA", "ETCD_AUTH_CLIENT_CERT", "ETCD_AUTH_CLIENT_KEY")
        return [n for n, v in zip(names, (self.ca, self.cert, self.key), strict=True)
                if not v.lstrip().startswith(PEM_MARK)]


def _pem(value: str, variable: str) -> str:
    """PEM text from the value itself or from the file it names; never echoes PEM text."""
    if value.lstrip().startswith(PEM_MARK):
        return value
    if len(value) > 4096 or "\n" in value:
        raise ProbeError(FailureKind.TLS_CONFIG,
                         f"{variable} is neither PEM text (-----BEGIN …) nor a "
                         "file path")
    try:
        with open(value, encoding="ascii", errors="replace") as handle:
            text = handle.read(1 << 20)
    except OSError as exc:
        raise ProbeError(FailureKind.TLS_CONFIG,
                         f"{variable}: cannot read {value}: {exc.strerror or exc}") from None
    if PEM_MARK not in text:
        raise ProbeError(FailureKind.TLS_CONFIG, f"{variable}: {value} holds no PEM block")
    return text


def client_tls_context(material: TlsMaterial | None) -> ssl.SSLContext:
    """A verifying client context; with material, its CA and client identity are loaded.

    ssl can only load a client certificate from files, so PEM text is written to a private
    (0600) temporary directory that is removed as soon as the context holds it.
    """
    import ssl

    if material is None:
        return ssl.create_default_context()
    ca = _pem(material.ca, "ETCD_AUTH_CA")
    cert = _pem(material.cert, "ETCD_AUTH_CLIENT_CERT")
    key = _pem(material.key, "ETCD_AUTH_CLIENT_KEY")
    try:
        context = ssl.create_default_context(cadata=ca)
    except (ssl.SSLError, ValueError):
        raise ProbeError(FailureKind.TLS_CONFIG,
                         "ETCD_AUTH_CA does not hold a usable PEM certificate") from None
    with tempfile.TemporaryDirectory(prefix="sgdoctor-tls-") as tmp:
        os.chmod(tmp, 0o700)
        cert_path, key_path = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        for path, text in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
        try:
            context.load_cert_chain(cert_path, key_path)
        except (ssl.SSLError, ValueError):
            raise ProbeError(FailureKind.TLS_CONFIG,
                             "ETCD_AUTH_CLIENT_CERT and ETCD_AUTH_CLIENT_KEY do "
                             "not form a usable certificate/key pair") from None
    return context


# ---------------------------------------------------------------- client

# gRPC status codes in the gateway's error replies (google.golang.org/grpc/codes).
INVALID_ARGUMENT, FAILED_PRECONDITION, PERMISSION_DENIED, UNAUTHENTICATED = 3, 9, 7, 16
# etcd's auth errors everywhere; InvalidArgument is one only where our request is well
# formed by construction (authenticate: "authentication failed"; a range read with a key:
# "user name is empty").
_AUTH_CODES = frozenset({PERMISSION_DENIED, UNAUTHENTICATED})
_AUTH_CODES_AT = {"/v3/auth/authenticate": frozenset({INVALID_ARGUMENT}),
                  "/v3/kv/range": frozenset({INVALID_ARGUMENT})}


class EtcdError(ProbeError):
    """etcd answered with an error (HTTP status, gRPC code and message from the gateway)."""

    def __init__(self, status: int, message: str, code: int | None = None,
                 path: str = "") -> None:
        auth = code in _AUTH_CODES or code in _AUTH_CODES_AT.get(path, ())
        super().__init__(FailureKind.AUTH if auth else FailureKind.SERVER, message)
        self.status, self.code = status, code


def b64(data: str | bytes) -> str:
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def unb64(data: str | None) -> bytes:
    return base64.b64decode(data or "")


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
        if response.status == 400 and b"HTTP request to an HTTPS server" in response.body:
            raise ProbeError(FailureKind.TLS,
                             "this port speaks TLS: use https:// (with ETCD_AUTH_CA, "
                             "ETCD_AUTH_CLIENT_CERT and ETCD_AUTH_CLIENT_KEY)")
        try:
            decoded = json.loads(response.body or b"{}")
        except ValueError:
            raise ProbeError(FailureKind.PROTOCOL,
                             f"HTTP {response.status} with a reply that is not "
                             f"JSON: {response.text(80)!r} — is this etcd?") from None
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
        payload: dict[str, Any] = {"key": b64(key), "value": b64(value)}
        if lease:
            payload["lease"] = str(lease)
        return self.call("/v3/kv/put", payload)

    def get(self, key: str | bytes, *, prefix: bool = False,
            limit: int = 0) -> list[tuple[bytes, bytes, int]]:
        """[(key, value, lease id)] for one key or, with prefix, every key under it."""
        raw = key.encode("utf-8", "surrogateescape") if isinstance(key, str) else key
        payload: dict[str, Any] = {"key": b64(raw)}
        if prefix:
            payload["range_end"] = b64(prefix_end(raw))
        if limit:
            payload["limit"] = str(limit)
        kvs = self.call("/v3/kv/range", payload).get("kvs") or []
        return [(unb64(kv.get("key")), unb64(kv.get("value")), int(kv.get("lease") or 0))
                for kv in kvs if isinstance(kv, dict)]

    def delete(self, key: str | bytes, *, prefix: bool = False) -> int:
        raw = key.encode("utf-8", "surrogateescape") if isinstance(key, str) else key
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


# ---------------------------------------------------------------- the doctor's probe

@dataclass
class MemberReport:
    """What one endpoint told us; ``error`` set means it is not usable by Dynamo."""

    endpoint: str
    host: str | None = None
    port: int | None = None
    reachable: bool = False
    healthy: bool = False
    connect_ms: float | None = None
    tls_ms: float | None = None
    latency_ms: float | None = None
    health: str | None = None
    health_reason: str | None = None
    version: str | None = None
    member_id: str | None = None
    cluster_id: str | None = None
    leader: str | None = None
    raft_term: int | None = None
    db_size: int | None = None
    alarms: list[str] = field(default_factory=list)
    auth: str | None = None
    error: str | None = None
    error_kind: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_details(self) -> dict[str, Any]:
        """The fields that say something: unset ones and empty lists are left out."""
        return {k: v for k, v in self.__dict__.items() if v is not None and v != []
                and (v is not False or k in ("reachable", "healthy"))}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def probe_member(endpoint: Endpoint, *, tls: ssl.SSLContext | None, username: str | None,
                 password: str | None, deadline: float) -> MemberReport:
    """Connect, /health, authenticate, status, alarms, and a read that needs auth."""
    report = MemberReport(endpoint=endpoint.display, host=endpoint.host, port=endpoint.port,
                          notes=list(endpoint.notes))
    if endpoint.error:
        report.error, report.error_kind = endpoint.error, "config"
        return report
    client = EtcdClient.for_endpoint(endpoint, tls=tls, username=username, password=password,
                                     timeout=max(0.01, deadline - time.monotonic()),
                                     deadline=deadline)
    step = "connect"
    try:
        client.conn.open(deadline)
        report.reachable = True
        report.connect_ms, report.tls_ms = client.conn.timings.connect_ms, \
            client.conn.timings.tls_ms
        step = "GET /health"
        started = time.monotonic()
        status, body = client.health()
        report.latency_ms = round((time.monotonic() - started) * 1000, 2)
        report.health = str(body.get("health"))
        report.health_reason = str(body.get("reason") or "") or None
        healthy = status == 200 and report.health == "true"
        if username is not None:
            step = "authenticate"
            client.authenticate()
            report.auth = f"authenticated as {username}"
        step = "status"
        status_reply = client.status()
        header = status_reply.get("header") or {}
        report.version = status_reply.get("version")
        report.member_id = header.get("member_id")
        report.cluster_id = header.get("cluster_id")
        report.leader = status_reply.get("leader")
        report.raft_term = _int(status_reply.get("raftTerm"))
        report.db_size = _int(status_reply.get("dbSize"))
        for problem in status_reply.get("errors") or []:
            report.notes.append(f"member reports: {problem}")
        step = "alarms"
        try:
            report.alarms = sorted({str(a.get("alarm")) for a in client.alarms()
                                    if a.get("alarm") not in (None, "NONE")})
        except EtcdError as exc:
            if exc.kind is not FailureKind.AUTH:
                raise
            report.notes.append(f"alarms not readable with these credentials: {exc.message}")
        step = "read a key"
        try:
            client.get("sgdoctor/probe", limit=1)
        except EtcdError as exc:
            if exc.kind is not FailureKind.AUTH:
                raise
            if username is None:
                report.auth = "required"
                raise ProbeError(FailureKind.AUTH, "etcd requires authentication "
                                         f"({exc.message}), but ETCD_AUTH_USERNAME and "
                                         "ETCD_AUTH_PASSWORD are not both set") from None
            raise ProbeError(FailureKind.AUTH, f"user {username} cannot read keys: {exc.message}") \
                from None
        bad = [a for a in report.alarms if a in BAD_ALARMS]
        if bad:
            report.error_kind = "alarm"
            report.error = (f"alarm {', '.join(bad)} raised: the cluster refuses writes "
                            "until it is resolved and disarmed")
        elif not healthy:
            report.error_kind = "unhealthy"
            report.error = (f"/health says {report.health}"
                            + (f" ({report.health_reason})" if report.health_reason else "")
                            + f" (HTTP {status})")
        report.healthy = report.error is None
    except ProbeError as exc:
        report.error_kind = exc.kind
        report.error = _explain(exc, step, username)
        if exc.kind in ("closed", "tls") and step in ("connect", "GET /health"):
            hint = _other_scheme_hint(endpoint, deadline)
            if hint:
                report.error_kind, report.error = "tls", f"{report.error}: {hint}"
    finally:
        client.close()
    return report


def _other_scheme_hint(endpoint: Endpoint, deadline: float) -> str | None:
    """A port that hangs up on us may speak the other protocol: try it once, briefly."""
    assert endpoint.host is not None and endpoint.port is not None
    short = min(deadline, time.monotonic() + 0.5)
    if endpoint.scheme == "http":
        import ssl

        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        conn = HttpConnection(endpoint.host, endpoint.port, tls=insecure)
        try:
            conn.open(short)
        except ProbeError:
            return None
        finally:
            conn.close()
        return ("this port speaks TLS: use https:// (with ETCD_AUTH_CA, ETCD_AUTH_CLIENT_CERT "
                "and ETCD_AUTH_CLIENT_KEY)")
    conn = HttpConnection(endpoint.host, endpoint.port)
    try:
        response = conn.request("GET", "/health", deadline=short)
    except ProbeError:
        return None
    finally:
        conn.close()
    if b"health" in response.body:
        return "this port speaks plain HTTP, not TLS — use http://"
    return None


def _explain(exc: ProbeError, step: str, username: str | None) -> str:
    if exc.kind == "timeout":
        return f"no answer within the timeout ({step})"
    if isinstance(exc, EtcdError) and step == "authenticate":
        return f"authentication as {username} refused: {exc.message}"
    if step == "connect" or exc.kind in ("certificate", "tls", "auth"):
        return exc.message
    return f"{step}: {exc.message}"


def probe_endpoints(endpoints: list[Endpoint], *, tls_material: TlsMaterial | None,
                    username: str | None, password: str | None,
                    deadline: float) -> list[MemberReport]:
    """Probe every endpoint at once; the wall time is one endpoint's, whatever their number."""
    tls: ssl.SSLContext | None = None
    tls_error: ProbeError | None = None
    if any(ep.scheme == "https" for ep in endpoints):
        try:
            tls = client_tls_context(tls_material)
        except ProbeError as exc:
            tls_error = exc

    def one(endpoint: Endpoint) -> MemberReport:
        if tls_error is not None and endpoint.scheme == "https" and not endpoint.error:
            return MemberReport(endpoint=endpoint.display, host=endpoint.host,
                                port=endpoint.port, error=tls_error.message,
                                error_kind=tls_error.kind)
        return probe_member(endpoint, tls=tls if endpoint.scheme == "https" else None,
                            username=username, password=password, deadline=deadline)

    def fallback(index: int, exc: BaseException | None) -> MemberReport:
        endpoint = endpoints[index]
        message = ("no answer within the timeout" if exc is None
                   else f"probe failed: {type(exc).__name__}: {printable(str(exc).encode())}")
        return MemberReport(endpoint=endpoint.display, host=endpoint.host, port=endpoint.port,
                            error=message, error_kind="timeout" if exc is None else "error")

    probed = endpoints[:MAX_PARALLEL]
    reports = run_all([lambda ep=ep: one(ep) for ep in probed], deadline, fallback)
    return reports + [MemberReport(endpoint=ep.display, host=ep.host, port=ep.port,
                                   error=f"not probed: only the first {MAX_PARALLEL} "
                                         "endpoints are", error_kind="config")
                      for ep in endpoints[MAX_PARALLEL:]]


__all__ = ["EtcdClient", "EtcdError", "MemberReport", "TlsMaterial", "client_tls_context",
           "probe_endpoints", "probe_member", "prefix_end"]


def etcd_password(env: Mapping[str, str], config: EtcdConfig) -> str | None:
    """ETCD_AUTH_PASSWORD when Dynamo authenticates with a password (it then ignores TLS)."""
    return env.get("ETCD_AUTH_PASSWORD") if config.auth == "password" else None
