"""A NATS server as Dynamo needs it: connect (with Dynamo's auth), round trip, JetStream.

nats-py does the protocol, auth (user/password, token, nkey, credentials file) and TLS. It is
asyncio-based and chatty, so each probe runs its own event loop in a daemon thread under one
overall timeout, with reconnection off and every callback and log line silenced: a silent or
garbage-speaking server ends as a fail, never as a hang or as noise on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.parse.endpoints import NATS_TLS_VARS, Endpoint
from sgdoctor.probe.http import classify_os_error, is_local_host
from sgdoctor.probe.parallel import run_all
from sgdoctor.probe.tls_material import client_context, pem_from_file, read_file

TRUE_VALUES = ("1", "true", "on", "yes")
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
        return self.connected and self.jetstream is True and self.failure is None

    def facts(self) -> dict[str, Any]:
        """The fields that say something: unset ones and empty collections are left out."""
        return {k: v for k, v in self.__dict__.items()
                if k not in ("failure", "probed")
                and (v is not None and v != [] and v != {} or k == "connected")}


def connect_options(env: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """Dynamo's NatsAuth precedence, as nats-py keyword arguments: (method, kwargs).

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
    insecure = (env.get("NATS_TLS_INSECURE") or "").lower() in TRUE_VALUES
    if not (any(paths.values()) or insecure):
        return None
    ca, cert, key = (pem_from_file(path, name) if path else None
                     for name, path in paths.items())
    context = client_context(ca, cert, key if cert else None)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _quiet() -> None:
    """nats-py logs through logging; without a handler Python prints WARNINGs to stderr."""
    for name in ("nats", "nats.aio.client", "asyncio"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
        logger.propagate = False


def _from_outside(exc: BaseException) -> bool:
    """Raised by the network, nats-py, nkeys or TLS: something about the server or the
    credentials, as opposed to a bug in this module."""
    package = (type(exc).__module__ or "").split(".")[0]
    return isinstance(exc, (OSError, EOFError, TimeoutError, asyncio.TimeoutError)) or \
        package in ("nats", "nkeys", "ssl", "asyncio", "json", "binascii")


# The NATS protocol's -ERR codes are fixed strings (no numbers); nats-py raises the ones met
# while connecting as errors.Error("nats: '<code>'"). Compared whole, never searched.
_SERVER_ERRORS = {
    "nats: 'Authorization Violation'": FailureKind.AUTH,
    "nats: 'Authentication Timeout'": FailureKind.AUTH,
    "nats: 'User Authentication Expired'": FailureKind.AUTH,
    "nats: 'User Authentication Revoked'": FailureKind.AUTH,
    "nats: 'Account Authentication Expired'": FailureKind.AUTH,
    "nats: 'Secure Connection - TLS Required'": FailureKind.TLS,
    "nats: 'Maximum Connections Exceeded'": FailureKind.SERVER,
}


def _failure(exc: BaseException) -> ProbeError:
    """A nats-py, nkeys, ssl or OS error as a typed failure, by its class (and, for the
    server's -ERR, by the protocol's fixed error string)."""
    from nats import errors

    text = str(exc) or type(exc).__name__
    if isinstance(exc, ProbeError):
        return exc
    if isinstance(exc, errors.AuthorizationError):
        return ProbeError(FailureKind.AUTH, "Authorization Violation")
    if type(exc) is errors.Error and text in _SERVER_ERRORS:
        return ProbeError(_SERVER_ERRORS[text], text)
    if isinstance(exc, errors.InvalidUserCredentialsError) or \
            (type(exc).__module__ or "").split(".")[0] in ("nkeys", "binascii"):
        return ProbeError(FailureKind.INVALID, f"{type(exc).__name__}: {text}")
    if isinstance(exc, (errors.SecureConnRequiredError, errors.SecureConnWantedError,
                        errors.SecureConnFailedError)):
        return ProbeError(FailureKind.TLS, f"{type(exc).__name__}: {text}")
    if isinstance(exc, OSError):
        return classify_os_error(exc)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return ProbeError(FailureKind.TIMEOUT, "no answer within the timeout")
    if isinstance(exc, (errors.UnexpectedEOF, EOFError)):
        return ProbeError(FailureKind.PROTOCOL, "the connection closed before a NATS greeting "
                                                "(INFO)")
    if isinstance(exc, errors.NoServersError):
        return ProbeError(FailureKind.PROTOCOL, "no NATS handshake completed (no INFO from "
                                                "the server, or the connection was closed)")
    return ProbeError(FailureKind.PROTOCOL, f"{type(exc).__name__}: {text}")


async def _probe(url: str, report: NatsReport, kwargs: dict[str, Any],
                 tls: ssl.SSLContext | None, deadline: float) -> None:
    from nats.js.errors import APIError, NoStreamResponseError, ServiceUnavailableError

    import nats

    errors: list[BaseException] = []
    failed = asyncio.Event()

    async def on_error(exc: BaseException) -> None:
        errors.append(exc)
        failed.set()

    async def ignore(*_: Any) -> None:
        return None

    def left() -> float:
        return max(0.05, deadline - time.monotonic())

    started = time.monotonic()
    # nats-py retries the initial connect after reconnect_time_wait even with reconnection
    # off; the first error reported through error_cb is the verdict, so stop right there.
    connecting = asyncio.ensure_future(nats.connect(
        servers=[url], name="sgdoctor", connect_timeout=left(), allow_reconnect=False,
        max_reconnect_attempts=0, reconnect_time_wait=left(), error_cb=on_error,
        disconnected_cb=ignore, closed_cb=ignore, reconnected_cb=ignore, ping_interval=3600,
        **({"tls": tls} if tls is not None else {}), **kwargs))
    watcher = asyncio.ensure_future(failed.wait())
    await asyncio.wait({connecting, watcher}, return_when=asyncio.FIRST_COMPLETED)
    watcher.cancel()
    if not connecting.done() or connecting.cancelled() or connecting.exception():
        connecting.cancel()
        exc = None if not connecting.done() or connecting.cancelled() \
            else connecting.exception()
        failures = [_failure(e) for e in [*errors, exc] if e is not None]
        report.failure = next((f for f in failures if f.kind is FailureKind.AUTH), None) \
            or (failures[0] if failures else _failure(TimeoutError()))
        return
    nc = connecting.result()
    try:
        report.connected = True
        report.connect_ms = round((time.monotonic() - started) * 1000, 2)
        info = getattr(nc, "_server_info", {}) or {}
        report.version = str(info.get("version") or "") or None
        report.server_id = info.get("server_id")
        report.server_name = info.get("server_name")
        report.max_payload = nc.max_payload or info.get("max_payload")
        report.tls = bool(info.get("tls_required") or tls is not None)
        flushed = time.monotonic()
        await nc.flush(timeout=left())  # type: ignore[arg-type]  # a float works: wait_for
        report.rtt_ms = round((time.monotonic() - flushed) * 1000, 2)
        js = nc.jetstream(timeout=left())
        try:
            account = await js.account_info()
        except (ServiceUnavailableError, NoStreamResponseError, APIError,
                nats.errors.NoRespondersError, nats.errors.TimeoutError) as exc:
            report.jetstream = False
            report.jetstream_error = type(exc).__name__
            return
        report.jetstream = True
        report.jetstream_account = {
            "memory": account.memory, "storage": account.storage,
            "streams": account.streams, "consumers": account.consumers}
    except Exception as exc:
        if not _from_outside(exc):
            raise  # our own bug: the runner reports it as an error, not as the server's fault
        report.failure = _failure(exc)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), timeout=max(0.05, min(0.5, left())))


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
            import nkeys  # noqa: F401 - nats-py needs it for nkey/credentials auth
        except ImportError:
            report.missing_dependency = "nkeys"
            return report
    _quiet()
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda *_: None)
    try:
        loop.run_until_complete(asyncio.wait_for(
            _probe(endpoint.url, report, kwargs, tls, deadline),
            timeout=max(0.05, deadline - time.monotonic())))
    except (asyncio.TimeoutError, TimeoutError):
        if report.failure is None:
            report.failure = ProbeError(FailureKind.TIMEOUT, "no answer within the timeout")
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        try:
            loop.run_until_complete(asyncio.sleep(0))
        finally:
            loop.close()
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
