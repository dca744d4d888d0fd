"""A NATS server as Dynamo needs it: connect (with Dynamo's auth), round trip, JetStream.

probe/nats_wire.py speaks the protocol (auth: user/password, token, nkey, credentials file;
TLS) on a socket in a daemon thread under one overall deadline: a silent or garbage-speaking
server ends as a fail, never as a hang or as noise on stdout.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.parse.endpoints import NATS_TLS_VARS, TRUE_VALUES, Endpoint
from sgdoctor.probe.http import is_local_host
from sgdoctor.probe.parallel import run_all
from sgdoctor.probe.tls_material import client_context, pem_from_file, read_file
from sgdoctor.records import dataclass, field

TYPE_CHECKING = False

if TYPE_CHECKING:
    import ssl
    from typing import Any

_PEER_SENSITIVE = (FailureKind.REFUSED, FailureKind.UNREACHABLE)


@dataclass
class NatsReport:
    """What one server told us; ``failure`` set means the probe could not finish."""

    server: str
    host: str | None = None
    port: int | None = None
    probed: bool = True
    connected: bool = False
    auth: str | None = None
    version: str | None = None
    server_id: str | None = None
    server_name: str | None = None
    max_payload: int | None = None
    connect_ms: float | None = None
    rtt_ms: float | None = None
    tls: bool = False
    jetstream: bool | None = None
    jetstream_account: dict[str, Any] = field(default_factory=dict)
    jetstream_error: str | None = None     # the account info request's exception class
    missing_dependency: str | None = None  # a package sgdoctor needs for this auth method
    failure: ProbeError | None = None
    peer_local: bool | None = None         # for refusals: is the server this host?
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.connected and self.failure is None

    def facts(self) -> dict[str, Any]:
        """The fields that say something: unset ones and empty collections are left out."""
        return {k: v for k, v in self.__dict__.items()
                if k not in ("failure", "probed")
                and (v is not None and v != [] and v != {} or k == "connected")}


def connect_options(env: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """Dynamo's NatsAuth precedence, as nats-py's keyword names: (method, kwargs).

    With nothing set Dynamo still sends user ``user`` / password ``user``; so do we.
    """
    def get(name: str) -> str | None:
        from sgdoctor.parse.endpoints import rust_var

        return rust_var(env, name)

    user, password = get("NATS_AUTH_USERNAME"), get("NATS_AUTH_PASSWORD")
    if user is not None and password is not None:
        return "user/password", {"user": user, "password": password}
    if (token := get("NATS_AUTH_TOKEN")) is not None:
        return "token", {"token": token}
    if (seed := get("NATS_AUTH_NKEY")) is not None:
        return "nkey", {"nkeys_seed_str": seed}
    if (creds := get("NATS_AUTH_CREDENTIALS_FILE")) is not None:
        return "credentials file", {"user_credentials": creds}
    return "Dynamo's default user/password (user:user)", {"user": "user", "password": "user"}


def tls_context(env: Mapping[str, str]) -> ssl.SSLContext | None:
    """NATS_TLS_* → a client context (None when none is set); TlsMaterialError names the
    variable whose file cannot be used."""
    paths = {name: env.get(name) or None for name in NATS_TLS_VARS[:3]}
    insecure = (env.get("NATS_TLS_INSECURE") or "").strip().lower() in TRUE_VALUES
    if not (any(paths.values()) or insecure):
        return None
    ca, cert, key = (pem_from_file(path, name) if path else None
                     for name, path in paths.items())
    context = client_context(ca, cert, key if cert else None)
    if insecure:
        import ssl

        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def probe_server(endpoint: Endpoint, env: Mapping[str, str], *, deadline: float) -> NatsReport:
    """Connect to one NATS server like Dynamo, then ask for the JetStream account."""
    report = NatsReport(server=endpoint.display, host=endpoint.host, port=endpoint.port,
                        notes=list(endpoint.notes))
    if endpoint.error or endpoint.url is None:
        report.probed = False
        return report
    report.auth, kwargs = connect_options(env)
    try:
        tls = tls_context(env)
        if "user_credentials" in kwargs:
            read_file(kwargs["user_credentials"], "NATS_AUTH_CREDENTIALS_FILE")
    except ProbeError as exc:
        report.failure = exc
        return report
    if "nkeys_seed_str" in kwargs or "user_credentials" in kwargs:
        try:
            import nkeys  # noqa: F401 - signs the nonce for nkey/credentials auth
        except ImportError:
            report.missing_dependency = "nkeys"
            return report
    from sgdoctor.probe import nats_wire

    nats_wire.probe(endpoint.host or "", endpoint.port or 4222, report, kwargs, tls, deadline)
    if report.failure is not None and report.failure.kind in _PEER_SENSITIVE and endpoint.host:
        report.peer_local = is_local_host(endpoint.host)
    return report


def probe_servers(servers: list[Endpoint], env: Mapping[str, str], *,
                  deadline: float) -> list[NatsReport]:
    """Probe every server at once, each in its own thread and event loop."""
    def fallback(index: int, exc: BaseException | None) -> NatsReport:
        server = servers[index]
        failure = (ProbeError(FailureKind.TIMEOUT, "no answer within the timeout") if exc is None
                   else ProbeError(FailureKind.INTERNAL, f"probe failed: {type(exc).__name__}: "
                                                         f"{exc}"))
        return NatsReport(server=server.display, host=server.host, port=server.port,
                          failure=failure)

    servers = servers[:16]  # Dynamo takes ONE address; more entries are reported, not dialled
    return run_all([functools.partial(probe_server, s, env, deadline=deadline)
                    for s in servers], deadline, fallback)
