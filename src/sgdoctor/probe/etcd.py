"""The doctor's probe of etcd members: what each endpoint answers, as facts.

Every endpoint is probed in parallel (connect, /health, authenticate, status, alarms, one key
read); ``checks/etcd.py`` judges the facts. The client lives in ``etcd_client``, the TLS
material in ``etcd_tls``; both are re-exported here for mesh.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.parse.endpoints import Endpoint
from sgdoctor.probe.etcd_client import EtcdClient, EtcdError, TlsPortError, prefix_end
from sgdoctor.probe.etcd_tls import TlsMaterial, client_tls_context
from sgdoctor.probe.http import HttpConnection, is_local_address, printable
from sgdoctor.probe.parallel import run_all
from sgdoctor.records import dataclass, field

TYPE_CHECKING = False

if TYPE_CHECKING:
    import ssl
    from typing import Any

    from sgdoctor.parse.endpoints import EtcdConfig

MAX_PARALLEL = 64  # one thread per endpoint; a real cluster has 3 to 7 members
# Failures worth knowing whether the peer is this host: a firewall is likely only elsewhere.
_PEER_SENSITIVE = (FailureKind.REFUSED, FailureKind.UNREACHABLE)


@dataclass
class MemberReport:
    """What one endpoint told us. ``failure`` set: the probe stopped at ``step``."""

    endpoint: str
    host: str | None = None
    port: int | None = None
    probed: bool = True
    reachable: bool = False
    connect_ms: float | None = None
    tls_ms: float | None = None
    latency_ms: float | None = None
    health: str | None = None
    health_reason: str | None = None
    health_status: int | None = None
    version: str | None = None
    member_id: str | None = None
    cluster_id: str | None = None
    leader: str | None = None
    raft_term: int | None = None
    db_size: int | None = None
    alarms: list[str] = field(default_factory=list)
    alarms_refused: str | None = None   # the alarms call needs more rights (etcd's words)
    member_errors: list[str] = field(default_factory=list)
    authenticated_as: str | None = None
    auth_required: bool = False         # a key read was refused for want of credentials
    failure: ProbeError | None = None
    step: str | None = None
    other_scheme: str | None = None     # the port answers the other protocol (http/https)
    peer_client_urls: list[str] | None = None  # /health failed but the peer API's /members
                                               # answered: etcd's PEER port (its client URLs)
    peer_local: bool | None = None      # for refusals: was the address dialled this host's?
    notes: list[str] = field(default_factory=list)

    def facts(self) -> dict[str, Any]:
        """The JSON-able facts that say something (the failure as kind and message)."""
        out = {k: v for k, v in self.__dict__.items()
               if k not in ("failure", "probed") and v is not None and v != []
               and (v is not False or k in ("reachable", "peer_local"))}
        if self.failure is not None:
            out["failure"] = {"kind": self.failure.kind.value, "message": self.failure.message}
        return out


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
        report.probed = False
        return report
    client = EtcdClient.for_endpoint(endpoint, tls=tls, username=username, password=password,
                                     timeout=max(0.01, deadline - time.monotonic()),
                                     deadline=deadline)
    report.step = "connect"
    try:
        client.conn.open(deadline)
        report.reachable = True
        report.connect_ms = client.conn.timings.connect_ms
        report.tls_ms = client.conn.timings.tls_ms
        report.step = "GET /health"
        started = time.monotonic()
        report.health_status, body = client.health()
        report.latency_ms = round((time.monotonic() - started) * 1000, 2)
        report.health = str(body.get("health"))
        report.health_reason = str(body.get("reason") or "") or None
        if username is not None:
            report.step = "authenticate"
            client.authenticate()
            report.authenticated_as = username
        report.step = "status"
        _read_status(client.status(), report)
        report.step = "alarms"
        try:
            report.alarms = sorted({str(a.get("alarm")) for a in client.alarms()
                                    if a.get("alarm") not in (None, "NONE")})
        except EtcdError as exc:
            if exc.kind is not FailureKind.AUTH:
                raise
            report.alarms_refused = exc.message
        report.step = "read a key"
        try:
            client.get("sgdoctor/probe", limit=1)
        except EtcdError as exc:
            if exc.kind is FailureKind.AUTH and username is None:
                report.auth_required = True
            raise
        report.step = None
    except ProbeError as exc:
        report.failure = exc
        if isinstance(exc, TlsPortError):
            report.other_scheme = "https"
        elif exc.kind in (FailureKind.CLOSED, FailureKind.TLS) and \
                report.step in ("connect", "GET /health"):
            report.other_scheme = _other_scheme(endpoint, deadline)
        elif exc.kind is FailureKind.PROTOCOL and report.step == "GET /health":
            report.peer_client_urls = _peer_members(endpoint, tls, deadline)
        if exc.kind in _PEER_SENSITIVE and client.conn.address:
            report.peer_local = is_local_address(client.conn.address)
    finally:
        client.close()
    return report


def _read_status(reply: Mapping[str, Any], report: MemberReport) -> None:
    header = reply.get("header") or {}
    report.version = reply.get("version")
    report.member_id = header.get("member_id")
    report.cluster_id = header.get("cluster_id")
    report.leader = reply.get("leader")
    report.raft_term = _int(reply.get("raftTerm"))
    report.db_size = _int(reply.get("dbSize"))
    report.member_errors = [str(problem) for problem in reply.get("errors") or []]


def _peer_members(endpoint: Endpoint, tls: ssl.SSLContext | None,
                  deadline: float) -> list[str] | None:
    """The client URLs etcd's peer API lists at ``GET /members`` (only the peer port serves
    it; the client port's /health is what 404s there), or None when this is not that API."""
    short = min(deadline, time.monotonic() + 0.5)
    client = EtcdClient.for_endpoint(endpoint, tls=tls, timeout=0.5, deadline=short)
    try:
        status, members = client.request("GET", "/members", auth=False)
    except ProbeError:
        return None
    finally:
        client.close()
    if status != 200 or not isinstance(members, list) or not members or not all(
            isinstance(m, dict) and "peerURLs" in m for m in members):
        return None
    return [str(url) for m in members for url in (m.get("clientURLs") or [])]


def _other_scheme(endpoint: Endpoint, deadline: float) -> str | None:
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
        return "https"
    conn = HttpConnection(endpoint.host, endpoint.port)
    try:
        response = conn.request("GET", "/health", deadline=short)
    except ProbeError:
        return None
    finally:
        conn.close()
    try:
        body = json.loads(response.body)
    except ValueError:
        return None
    return "http" if isinstance(body, dict) and "health" in body else None


def probe_endpoints(endpoints: list[Endpoint], *, tls_material: TlsMaterial | None,
                    username: str | None, password: str | None,
                    deadline: float) -> list[MemberReport]:
    """Probe every endpoint at once; the wall time is one endpoint's, whatever their number.
    One report per endpoint, in order (those past MAX_PARALLEL are not probed)."""
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
                                port=endpoint.port, failure=tls_error, step="TLS material")
        return probe_member(endpoint, tls=tls if endpoint.scheme == "https" else None,
                            username=username, password=password, deadline=deadline)

    def fallback(index: int, exc: BaseException | None) -> MemberReport:
        endpoint = endpoints[index]
        failure = (ProbeError(FailureKind.TIMEOUT, "no answer within the timeout") if exc is None
                   else ProbeError(FailureKind.INTERNAL, f"probe failed: {type(exc).__name__}: "
                                                         f"{printable(str(exc).encode())}"))
        return MemberReport(endpoint=endpoint.display, host=endpoint.host, port=endpoint.port,
                            failure=failure)

    probed = endpoints[:MAX_PARALLEL]
    reports = run_all([functools.partial(one, ep) for ep in probed], deadline, fallback)
    return reports + [MemberReport(endpoint=ep.display, host=ep.host, port=ep.port,
                                   probed=False, notes=list(ep.notes))
                      for ep in endpoints[MAX_PARALLEL:]]


def etcd_password(env: Mapping[str, str], config: EtcdConfig) -> str | None:
    """ETCD_AUTH_PASSWORD when Dynamo authenticates with a password (it then ignores TLS)."""
    return env.get("ETCD_AUTH_PASSWORD") if config.auth == "password" else None


__all__ = ["EtcdClient", "EtcdError", "MemberReport", "TlsMaterial", "client_tls_context",
           "etcd_password", "probe_endpoints", "probe_member", "prefix_end"]
