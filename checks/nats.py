"""nats.server: can Dynamo connect to NATS, with JetStream, using the configured auth?"""

from __future__ import annotations

import time

from sgdoctor.checks.network import (
    STARTUP_KINDS,
    DynamoRelease,
    Service,
    describe,
    dynamo_release,
    remedies,
    remedy_lines,
    startup_retry_line,
)

from sgdoctor.api import Context, FailureKind, Findings, Result, Text, check
from sgdoctor.parse.endpoints import NATS_TLS_VARS, nats_config, nats_usage
from sgdoctor.records import dataclass

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from sgdoctor.probe.nats import NatsReport

ENV = ("NATS_SERVER", "NATS_AUTH_USERNAME", "NATS_AUTH_PASSWORD", "NATS_AUTH_TOKEN",
       "NATS_AUTH_NKEY", "NATS_AUTH_CREDENTIALS_FILE", *NATS_TLS_VARS,
       "DYN_REQUEST_PLANE", "DYN_EVENT_PLANE", "NATS_STARTUP_CONNECT_TIMEOUT_SECONDS")
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
CONFIG_REMEDY = Text("Set NATS_SERVER to ONE URL starting with nats:// (or tls:// with "
                     "NATS_TLS_*), e.g. nats://10.0.0.5:4222")
TLS_SCHEME_REMEDY = Text("Use NATS_SERVER=tls://HOST:PORT with NATS TLS, or unset NATS_TLS_* "
                         "for a plain nats:// server")
PLANE_REMEDY = Text("Set DYN_REQUEST_PLANE to nats or tcp and DYN_EVENT_PLANE to exactly nats "
                    "or zmq (or unset them); env.dyn_request_plane / env.dyn_event_plane say "
                    "the same")
TLS_REQUIRED_REMEDY = Text("Use NATS_SERVER=tls://HOST:PORT and NATS_TLS_CA_CERT_PATH=<the CA "
                           "that signed the server certificate>")
JETSTREAM_REMEDY = Text("Run nats-server with JetStream enabled (`-js`, or `jetstream {}` in "
                        "its config) and give it a --store_dir")
PAYLOAD_REMEDY = Text("Raise max_payload in nats-server's config (e.g. `max_payload: 8MB`), or "
                      "use the tcp request plane (DYN_REQUEST_PLANE=tcp)")
MIB = 1024 * 1024
RETRY = startup_retry_line("NATS", "NATS_STARTUP_CONNECT_TIMEOUT_SECONDS")


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
    assert failure is not None
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
    lines = list(remedy_lines(REMEDIES, failure, report.peer_local, report.port))
    if kind in STARTUP_KINDS:
        lines.append(RETRY)
    return Problem(kind.value, kind.value, text, tuple(lines))


def _tls_required(report: NatsReport, scheme: str | None) -> bool:
    """A nats:// URL to a server that demands TLS (it says so in INFO, or the upgrade the
    probe attempts on its own fails): Dynamo 1.6.1 does not connect."""
    if scheme != "nats":
        return False
    if report.failure is not None:
        return report.failure.kind in (FailureKind.TLS, FailureKind.CERTIFICATE)
    return report.tls


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
    """NATS_SERVER as Dynamo reads it (one nats:// or tls:// URL; default
    nats://localhost:4222), when Dynamo 1.6.1 connects at all (request plane nats, event plane
    nats, or no event plane and NATS_SERVER set); connected with Dynamo's auth precedence:
    server version, round-trip time, max_payload, then the JetStream account."""
    usage = nats_usage(ctx.env)
    release = dynamo_release(ctx.options, ctx.env, ctx.timeout(2.0))
    found = Findings()
    details: dict[str, Any] = {"usage": usage.reason, "dynamo": release.as_json()}
    if usage.error is not None:
        # Dynamo stops before it dials anything: the honest answer to "will Dynamo's NATS
        # connection come up" is no, and exec must refuse the launch as env.dyn_* does.
        found.fail(Text("Dynamo will not start: {error}", error=usage.error), PLANE_REMEDY,
                   code="invalid_plane")
        return found.result("", details=details, env=usage.env)
    used = bool(usage.used)
    reason: str | Text = usage.reason
    if release.before_1_6 and not used:
        used, reason = True, Text("{release} predates the 1.6 rules sgdoctor verified; older "
                                  "releases connect to NATS always (UNCONFIRMED where that "
                                  "changed)", release=release.describe())
        details["usage"] = str(reason)
    if not used:
        return Result.skip(Text("NATS is not used: {reason} (rule of {release})",
                                reason=reason, release=release.describe()),
                           details=details, env=usage.env)

    from sgdoctor.probe.nats import probe_servers

    cfg = nats_config(ctx.env)
    env = tuple(dict.fromkeys((*cfg.env, *usage.env)))
    if cfg.error:
        details.update(servers=[s.display for s in cfg.servers], auth=cfg.auth)
        remedy = TLS_SCHEME_REMEDY if cfg.error_code == "tls_scheme" else CONFIG_REMEDY
        found.fail(cfg.error, remedy, code=cfg.error_code or "invalid_server")
        return found.result("", details=details, env=env)
    deadline = time.monotonic() + ctx.timeout(float(ctx.setting("timeout", 5.0)))
    server = cfg.servers[0]
    report = probe_servers([server], ctx.env, deadline=deadline)[0]
    problem = None
    if report.probed and report.failure is not None or report.missing_dependency:
        problem = _problem(report)
    error = (problem.kind, str(problem.text)) if problem else None
    details.update(servers=[_details(report, error)], auth=cfg.auth,
                   source="default (NATS_SERVER unset)" if server.defaulted else "NATS_SERVER")
    if report.missing_dependency or (report.failure is not None
                                     and report.failure.kind is FailureKind.INTERNAL):
        # a fault of sgdoctor or its install, not of the server
        assert problem is not None
        return Result.error(Text("cannot probe {server}: {problem}", server=report.server,
                                 problem=problem.text), details=details, env=env)
    where: str | Text = (Text("{server} (the default: NATS_SERVER is unset)",
                              server=report.server) if server.defaulted else report.server)
    if _tls_required(report, server.scheme):
        found.fail(Text("NATS at {where} requires TLS, but NATS_SERVER uses nats://: Dynamo "
                        "does not connect (it enables NATS TLS only for tls://)", where=where),
                   TLS_REQUIRED_REMEDY, code="tls_required")
        return found.result("", details=details, env=env)
    if problem is not None:
        lines = [Text("Set NATS_SERVER (it is unset)"), *problem.remedy] if server.defaulted \
            else list(problem.remedy)
        found.fail(Text("NATS at {where}: {problem} (used: {reason})", where=where,
                        problem=problem.text, reason=reason),
                   Text.join("\n", lines) if lines else Text("Check the NATS server"),
                   code=problem.code)
        return found.result("", details=details, env=env)
    _judge_jetstream(found, report, release)
    request_nats = (ctx.env.get("DYN_REQUEST_PLANE") or "").lower() == "nats"
    if request_nats and report.max_payload is not None and report.max_payload <= MIB:
        found.warn(Text("max_payload is {size} KiB (NATS' default): with DYN_REQUEST_PLANE=nats "
                        "a request larger than that (a long prompt) fails as \"request timed "
                        "out\" while NATS logs \"maximum payload exceeded\" (dynamo#9734)",
                        size=report.max_payload // 1024), PAYLOAD_REMEDY,
                   code="max_payload_default")
    payload = f"{report.max_payload // 1024} KiB" if report.max_payload else "?"
    fields = {"version": report.version or "?", "where": where,
              "rtt": f"{report.rtt_ms or 0.0:.1f}", "payload": payload}
    summary = (Text("NATS {version} at {where} with JetStream (rtt {rtt} ms, max_payload "
                    "{payload})", **fields) if report.jetstream else
               Text("NATS {version} at {where} without JetStream (rtt {rtt} ms, max_payload "
                    "{payload})", **fields))
    return found.result(summary,
                        details=details, env=env)


def _judge_jetstream(found: Findings, report: NatsReport, release: DynamoRelease) -> None:
    """JetStream off: a 1.6.1 worker starts without it; older releases refused to."""
    if report.jetstream:
        return
    said = report.jetstream_error or "?"
    if release.before_1_6:
        found.fail(Text("JetStream is not enabled on this server (account info request: "
                        "{error}); {release} refuses to start without it (dynamo PR#2590)",
                        error=said, release=release.describe()), JETSTREAM_REMEDY,
                   code="jetstream_disabled")
    else:
        found.warn(Text("JetStream is not enabled on this server (account info request: "
                        "{error}): {release} starts without it (verified on 1.6.1; older "
                        "releases refused), but features that keep state in NATS may need it "
                        "(UNCONFIRMED: KV-aware routing)", error=said,
                        release=release.describe()), JETSTREAM_REMEDY,
                   code="jetstream_disabled")
