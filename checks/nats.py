"""nats.server: can Dynamo connect to NATS, with JetStream, using the configured auth?"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sgdoctor.checks.network import Service, describe, remedies, remedy_lines

from sgdoctor.api import Context, FailureKind, Findings, Result, Text, check
from sgdoctor.parse.endpoints import NATS_TLS_VARS, nats_config, nats_usage

if TYPE_CHECKING:
    from sgdoctor.probe.nats import NatsReport

ENV = ("NATS_SERVER", "NATS_AUTH_USERNAME", "NATS_AUTH_PASSWORD", "NATS_AUTH_TOKEN",
       "NATS_AUTH_NKEY", "NATS_AUTH_CREDENTIALS_FILE", *NATS_TLS_VARS,
       "DYN_REQUEST_PLANE", "DYN_EVENT_PLANE")
SERVICE = Service(name="NATS", daemon="nats-server", variable="NATS_SERVER", port=4222)
_FILES = "NATS_TLS_CA_CERT_PATH / _CLIENT_CERT_PATH / _CLIENT_KEY_PATH"

REMEDIES = remedies(SERVICE, {
    FailureKind.TIMEOUT: Text("Check the address and any firewall; a NATS server greets every "
                              "client at once"),
    FailureKind.AUTH: Text("Set the credentials the server expects: NATS_AUTH_USERNAME+"
                           "NATS_AUTH_PASSWORD, NATS_AUTH_TOKEN, NATS_AUTH_NKEY or "
                           "NATS_AUTH_CREDENTIALS_FILE (Dynamo tries them in that order)"),
    FailureKind.INVALID: Text("Fix NATS_AUTH_NKEY (an nkey seed, starting with SU) or "
                              "NATS_AUTH_CREDENTIALS_FILE (a .creds file from nsc)"),
    FailureKind.TLS: Text("Match TLS to the server: NATS_TLS_CA_CERT_PATH (and client cert/key "
                          "if required)"),
    FailureKind.TLS_CONFIG: Text("Point {files} at readable PEM files", files=_FILES),
    FailureKind.CERTIFICATE: Text("Set NATS_TLS_CA_CERT_PATH to the CA that signed the server "
                                  "certificate"),
    FailureKind.SERVER: Text("The server turned the connection away: look at its limits and "
                             "logs"),
    FailureKind.PROTOCOL: Text("This port does not speak NATS: check the host and port (4222 "
                               "by default)"),
})
CONFIG_REMEDY = Text("Set NATS_SERVER to ONE URL starting with nats://, e.g. "
                     "nats://10.0.0.5:4222")
JETSTREAM_REMEDY = Text("Run nats-server with JetStream enabled (`-js`, or `jetstream {}` in "
                        "its config) and give it a --store_dir")
EXPLICIT_REMEDY = Text("If your Dynamo does not use NATS, set DYN_EVENT_PLANE=zmq and "
                       "DYN_REQUEST_PLANE=tcp to make that explicit")


@dataclass(frozen=True)
class Problem:
    """Why one server is not usable: finding code, kind for the details, text, remedies."""

    code: str
    kind: str
    text: str | Text
    remedy: tuple[str | Text, ...] = ()


def _problem(report: NatsReport) -> Problem:
    failure = report.failure
    if report.missing_dependency:
        return Problem("missing_dependency", "error", Text(
            "cannot test {auth} auth: the {package} package is missing (pip install {package} "
            "beside sgdoctor)", auth=report.auth, package=report.missing_dependency))
    if failure is None:
        return Problem("jetstream_disabled", "jetstream",
                       Text("JetStream not enabled on this server (account info request: "
                            "{error}); Dynamo refuses to start without it",
                            error=report.jetstream_error or "?"),
                       (JETSTREAM_REMEDY,))
    kind = failure.kind
    words = describe(failure, report.peer_local, report.port)
    text: str | Text
    if kind is FailureKind.AUTH:
        text = Text("the server refused our credentials ({auth}): {words}", auth=report.auth,
                    words=words)
    elif kind is FailureKind.INVALID:
        text = Text("the {auth} credentials cannot be used: {words}", auth=report.auth,
                    words=words)
    elif kind is FailureKind.TIMEOUT:
        text = (Text("{words} (connected, but the server did not answer)", words=words)
                if report.connected else
                Text("{words} (no NATS greeting; a NATS server sends INFO at once)",
                     words=words))
    else:
        text = words
    return Problem(kind.value, kind.value, text,
                   tuple(remedy_lines(REMEDIES, failure, report.peer_local, report.port)))


def _details(report: NatsReport, error: tuple[str, str] | None) -> dict[str, Any]:
    """The report's facts plus the verdict on them (ok, error_kind, error)."""
    out = report.facts()
    out["ok"] = report.ok
    if error is not None:
        out["error_kind"], out["error"] = error
    return out


@check("nats.server", title="NATS server", env=ENV, timeout=5.0, tags=("network", "dynamo"),
       settings={})
def nats_server(ctx: Context) -> Result:
    """NATS_SERVER as Dynamo reads it (must start with nats://; default
    nats://localhost:4222), connected with Dynamo's auth precedence: server version, id,
    round-trip time, max_payload, then the JetStream account, which Dynamo requires."""
    usage = nats_usage(ctx.env)
    if usage.used is False:
        return Result.skip(Text("NATS is not used: {reason}", reason=usage.reason), env=usage.env)

    from sgdoctor.probe.nats import probe_servers

    cfg = nats_config(ctx.env)
    env = tuple(dict.fromkeys((*cfg.env, *usage.env)))
    deadline = time.monotonic() + ctx.timeout(float(ctx.setting("timeout", 5.0)))
    reports = probe_servers(cfg.servers, ctx.env, deadline=deadline)
    servers = []
    for server, report in zip(cfg.servers, reports, strict=False):
        error = None
        if not report.probed:
            error = ("config", server.error or "invalid")
        elif not report.ok:
            problem = _problem(report)
            error = (problem.kind, str(problem.text))
        servers.append(_details(report, error))
    details = {"servers": servers, "auth": cfg.auth,
               "source": "default (NATS_SERVER unset)" if cfg.servers[0].defaulted
               else "NATS_SERVER",
               "usage": usage.reason}
    found = Findings()
    if cfg.error:
        found.fail(cfg.error, CONFIG_REMEDY, code="invalid_server")
        return found.result("", details=details, env=env)

    report = reports[0]
    if report.missing_dependency or (report.failure is not None
                                     and report.failure.kind is FailureKind.INTERNAL):
        # a fault of sgdoctor or its install, not of the server
        return Result.error(Text("cannot probe {server}: {problem}", server=report.server,
                                 problem=_problem(report).text), details=details, env=env)
    defaulted = cfg.servers[0].defaulted
    where: str | Text = (Text("{server} (the default: NATS_SERVER is unset)",
                              server=report.server) if defaulted else report.server)
    if report.ok:
        payload = f"{report.max_payload // 1024} KiB" if report.max_payload else "?"
        return found.result(Text("NATS {version} at {where} with JetStream (rtt {rtt} ms, "
                                 "max_payload {payload})", version=report.version or "?",
                                 where=where, rtt=f"{report.rtt_ms or 0.0:.1f}",
                                 payload=payload), details=details, env=env)
    problem = _problem(report)
    lines = [Text("Set NATS_SERVER (it is unset)"), *problem.remedy] if defaulted \
        else list(problem.remedy)
    summary = Text("NATS at {where}: {problem}", where=where, problem=problem.text)
    if usage.used is None:
        found.warn(Text("{summary} — NATS may not be needed: {reason}", summary=summary,
                        reason=usage.reason),
                   Text.join("\n", [*lines, EXPLICIT_REMEDY]), code=problem.code)
    else:
        found.fail(summary, Text.join("\n", lines) if lines else
                   Text("Check the NATS server"), code=problem.code)
    return found.result("", details=details, env=env)
