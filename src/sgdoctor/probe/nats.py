"""A NATS server as Dynamo needs it: connect (with Dynamo's auth), round trip, JetStream.

nats-py does the protocol, auth (user/password, token, nkey, credentials file) and TLS. It is
asyncio-based and chatty, so each probe runs its own event loop in a daemon thread under one
overall timeout, with reconnection off and every callback and log line silenced: a silent or
garbage-speaking server ends as a fail, never as a hang or as noise on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sgdoctor.parse.endpoints import Endpoint
from sgdoctor.probe.parallel import run_all

TRUE_VALUES = ("1", "true", "on", "yes")


@dataclass
class NatsReport:
    server: str
    host: str | None = None
    port: int | None = None
    connected: bool = False
    ok: bool = False
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
    error: str | None = None
    error_kind: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_details(self) -> dict[str, Any]:
        """The fields that say something: unset ones and empty collections are left out."""
        return {k: v for k, v in self.__dict__.items()
                if v is not None and v != [] and v != {} or k in ("connected", "ok")}


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
    """NATS_TLS_* → a client context (None when none is set).

    Raises ValueError naming an unreadable file, ssl.SSLError for unusable PEM content."""
    ca = env.get("NATS_TLS_CA_CERT_PATH")
    cert, key = env.get("NATS_TLS_CLIENT_CERT_PATH"), env.get("NATS_TLS_CLIENT_KEY_PATH")
    insecure = (env.get("NATS_TLS_INSECURE") or "").lower() in TRUE_VALUES
    if not (ca or cert or key or insecure):
        return None
    for name in ("NATS_TLS_CA_CERT_PATH", "NATS_TLS_CLIENT_CERT_PATH", "NATS_TLS_CLIENT_KEY_PATH"):
        path = env.get(name)
        if path and not os.access(path, os.R_OK):
            raise ValueError(f"{name}={path} is not a readable file")
    context = ssl.create_default_context(cafile=ca or None)
    if cert:
        context.load_cert_chain(cert, key or None)
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
        package in ("nats", "nkeys", "ssl", "asyncio", "json")


def _classify(exc: BaseException, method: str) -> tuple[str, str]:
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    name = type(exc).__name__
    if "authorization" in lowered or "authentication" in lowered or "auth" in name.lower():
        return "auth", f"the server refused our credentials ({method}): {text}"
    if "seed" in lowered or "nkey" in lowered or "creds" in lowered:
        return "credentials", f"the {method} credentials cannot be used: {text}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "certificate", f"certificate rejected: {exc.verify_message or text}"
    if isinstance(exc, ssl.SSLError) or "tls" in lowered or "ssl" in lowered:
        return "tls", f"TLS problem: {text}"
    if isinstance(exc, socket.gaierror):
        return "dns", f"cannot resolve the host name: {exc.strerror or text}"
    if isinstance(exc, ConnectionRefusedError) or "refused" in lowered:
        return "refused", "connection refused (nothing listens on this port)"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) or "timeout" in lowered:
        return "timeout", "no answer within the timeout"
    if "expecting info" in lowered or name == "UnexpectedEOF":
        return "protocol", ("no NATS greeting (INFO) from this port: it closed the connection "
                            "or sent something else — not a NATS server?")
    if name == "NoServersError":
        return "protocol", ("could not complete the NATS handshake (no INFO from the server, "
                            "or the connection was closed): is this a NATS server?")
    return "protocol", f"{name}: {text}"


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
        cause = next((e for e in errors if "authoriz" in str(e).lower()), None) \
            or (errors[0] if errors else exc)
        report.error_kind, report.error = _classify(cause or TimeoutError(), report.auth or "?")
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
        await nc.flush(timeout=left())
        report.rtt_ms = round((time.monotonic() - flushed) * 1000, 2)
        js = nc.jetstream(timeout=left())
        try:
            account = await js.account_info()
        except (ServiceUnavailableError, NoStreamResponseError, APIError,
                nats.errors.NoRespondersError, nats.errors.TimeoutError) as exc:
            report.jetstream = False
            report.error_kind = "jetstream"
            report.error = ("JetStream not enabled on this server (account info request: "
                            f"{type(exc).__name__}); Dynamo refuses to start without it")
            return
        report.jetstream = True
        report.jetstream_account = {
            "memory": account.memory, "storage": account.storage,
            "streams": account.streams, "consumers": account.consumers}
        report.ok = True
    except Exception as exc:
        if not _from_outside(exc):
            raise  # our own bug: the runner reports it as an error, not as the server's fault
        report.error_kind, report.error = _classify(exc, report.auth or "?")
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), timeout=max(0.05, min(0.5, left())))


def probe_server(endpoint: Endpoint, env: Mapping[str, str], *, deadline: float) -> NatsReport:
    """Connect to one NATS server like Dynamo, then ask for the JetStream account."""
    report = NatsReport(server=endpoint.display, host=endpoint.host, port=endpoint.port,
                        notes=list(endpoint.notes))
    if endpoint.error or endpoint.url is None:
        report.error_kind, report.error = "config", endpoint.error or "invalid"
        return report
    report.auth, kwargs = connect_options(env)
    try:
        tls = tls_context(env)
    except (OSError, ssl.SSLError, ValueError) as exc:
        report.error_kind = "tls_config"
        report.error = (str(exc) if isinstance(exc, ValueError)
                        else f"NATS_TLS_* files unusable: {getattr(exc, 'strerror', None) or exc}")
        return report
    if "nkeys_seed_str" in kwargs or "user_credentials" in kwargs:
        try:
            import nkeys  # noqa: F401 - nats-py needs it for nkey/credentials auth
        except ImportError:
            report.error_kind = "error"
            report.error = (f"cannot test {report.auth} auth: the nkeys package is missing "
                            "(pip install nkeys beside sgdoctor)")
            return report
    _quiet()
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda *_: None)
    try:
        loop.run_until_complete(asyncio.wait_for(
            _probe(endpoint.url, report, kwargs, tls, deadline),
            timeout=max(0.05, deadline - time.monotonic())))
    except (asyncio.TimeoutError, TimeoutError):
        if report.error is None:
            report.error_kind = "timeout"
            report.error = ("no answer within the timeout" + (
                " (connected, but the server did not answer)" if report.connected
                else " (no NATS greeting; a NATS server sends INFO at once)"))
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        try:
            loop.run_until_complete(asyncio.sleep(0))
        finally:
            loop.close()
    return report


def probe_servers(servers: list[Endpoint], env: Mapping[str, str], *,
                  deadline: float) -> list[NatsReport]:
    """Probe every server at once, each in its own thread and event loop."""
    def fallback(index: int, exc: BaseException | None) -> NatsReport:
        server = servers[index]
        return NatsReport(server=server.display, host=server.host, port=server.port,
                          error_kind="timeout" if exc is None else "error",
                          error="no answer within the timeout" if exc is None
                          else f"probe failed: {type(exc).__name__}: {exc}")

    servers = servers[:16]  # Dynamo takes ONE address; more entries are reported, not dialled
    return run_all([lambda s=s: probe_server(s, env, deadline=deadline) for s in servers],
                   deadline, fallback)
