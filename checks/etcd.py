"""etcd.endpoints: can Dynamo reach a healthy etcd with the configured endpoints and auth?"""

from __future__ import annotations

import time

from sgdoctor.checks.network import (
    STARTUP_KINDS,
    Service,
    describe,
    dynamo_release,
    remedies,
    remedy_lines,
    startup_retry_line,
)

from sgdoctor.api import Context, FailureKind, Findings, Result, Text, check
from sgdoctor.parse.endpoints import ETCD_TLS_VARS, Endpoint, etcd_config, etcd_usage
from sgdoctor.records import dataclass

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from sgdoctor.probe.etcd import MemberReport

ENV = ("ETCD_ENDPOINTS", "ETCD_AUTH_USERNAME", "ETCD_AUTH_PASSWORD", *ETCD_TLS_VARS,
       "DYN_DISCOVERY_BACKEND", "ETCD_STARTUP_CONNECT_TIMEOUT_SECONDS")
SERVICE = Service(name="etcd", daemon="etcd", variable="ETCD_ENDPOINTS", port=2379)
BAD_ALARMS = ("NOSPACE", "CORRUPT")
TLS_VARS_TEXT = Text("{ca}, {cert} and {key}", ca="ETCD_AUTH_CA", cert="ETCD_AUTH_CLIENT_CERT",
                     key="ETCD_AUTH_CLIENT_KEY")
SCHEME_HINTS = {
    "https": Text("this port speaks TLS: use https:// (with {tls_vars})", tls_vars=TLS_VARS_TEXT),
    "http": Text("this port speaks plain HTTP, not TLS — use http://"),
}

REMEDIES = remedies(SERVICE, {
    FailureKind.REFUSED: Text("Start etcd on that host and port, or point ETCD_ENDPOINTS at a "
                              "running member"),
    FailureKind.TIMEOUT: Text("Check that a firewall or wrong address is not swallowing the "
                              "traffic, and that etcd listens on this address "
                              "(--listen-client-urls)"),
    FailureKind.CERTIFICATE: Text("Set ETCD_AUTH_CA to the PEM text of the CA that signed the "
                                  "etcd server certificate, and a client certificate/key it "
                                  "accepts"),
    FailureKind.TLS: Text("Match the scheme to the server: https:// with {tls_vars} for a TLS "
                          "port, http:// for a plain one", tls_vars=TLS_VARS_TEXT),
    FailureKind.AUTH: Text("Set ETCD_AUTH_USERNAME and ETCD_AUTH_PASSWORD to an etcd user "
                           "allowed to read and write Dynamo's keys"),
    FailureKind.SERVER: Text("Look at the member's logs: it answered with an error of its own"),
    FailureKind.PROTOCOL: Text("This port does not speak etcd's HTTP API: check the host and "
                               "port (etcd's client port is 2379 by default)"),
    FailureKind.TOO_LARGE: Text("This port does not speak etcd's HTTP API: check the host and "
                                "port"),
    FailureKind.TLS_CONFIG: Text("Give {tls_vars} as PEM text", tls_vars=TLS_VARS_TEXT),
    FailureKind.INVALID: Text("Fix the etcd setting named in the finding"),
})
CONFIG_REMEDY = Text("Fix ETCD_ENDPOINTS: comma-separated URLs, no spaces, e.g. "
                     "http://10.0.0.5:2379,http://10.0.0.6:2379")
ALARM_REMEDY = Text("Free space: compact and defragment (etcdctl compact/defrag), raise "
                    "--quota-backend-bytes if needed, then `etcdctl alarm disarm`")
UNHEALTHY_REMEDY = Text("Look at the member's logs; a cluster without a leader has lost "
                        "quorum")
BACKEND_REMEDY = Text("Set DYN_DISCOVERY_BACKEND to exactly etcd, file, mem or kubernetes "
                      "(lower case), or unset it for etcd; env.dyn_discovery_backend says the "
                      "same")
ONE_CLUSTER = Text("Make ETCD_ENDPOINTS list members of ONE cluster")
RETRY = startup_retry_line("etcd", "ETCD_STARTUP_CONNECT_TIMEOUT_SECONDS")


@dataclass(frozen=True)
class Member:
    """One endpoint judged: usable, or why not (``kind`` is what the details call it)."""

    report: MemberReport
    kind: str | None = None
    error: str | Text | None = None
    remedy: tuple[str | Text, ...] = ()
    warning: Text | None = None  # usable, but suspicious (etcd's peer port)

    @property
    def healthy(self) -> bool:
        return self.kind is None

    def details(self) -> dict[str, Any]:
        out = self.report.facts()
        for said_below in ("failure", "member_errors", "alarms_refused", "authenticated_as",
                           "auth_required"):
            out.pop(said_below, None)
        out["healthy"] = self.healthy
        notes = list(self.report.notes)
        notes += [f"member reports: {problem}" for problem in self.report.member_errors]
        if self.report.alarms_refused:
            notes.append("alarms not readable with these credentials: "
                         f"{self.report.alarms_refused}")
        if notes:
            out["notes"] = notes
        if self.report.authenticated_as:
            out["auth"] = f"authenticated as {self.report.authenticated_as}"
        elif self.report.auth_required:
            out["auth"] = "required"
        if self.error is not None:
            out.update(error=str(self.error), error_kind=self.kind)
        if self.warning is not None:
            out["warning"] = str(self.warning)
        return out


def judge(endpoint: Endpoint, report: MemberReport, username: str | None) -> Member:
    """What one member's facts mean for Dynamo."""
    if endpoint.error:
        return Member(report, "config", endpoint.error, (CONFIG_REMEDY,))
    if not report.probed:
        return Member(report, "config", Text("not probed: only the first {count} endpoints "
                                             "are", count=_max_parallel()), (CONFIG_REMEDY,))
    failure = report.failure
    if failure is not None and report.peer_client_urls is not None:
        # etcd 3.4 serves Dynamo's gRPC on its peer port too (Dynamo 1.6.1 starts against it,
        # verified), while /health there is a 404: usable, but not where clients belong.
        urls = ", ".join(report.peer_client_urls) or "?"
        return Member(report, remedy=(Text("Point ETCD_ENDPOINTS at the member's client URL "
                                           "({urls}) instead of its peer port", urls=urls),),
                      warning=Text("this looks like etcd's peer port (GET /health is 404, the "
                                   "peer API's /members answers): etcd 3.4 answers Dynamo "
                                   "there, but clients belong on the client port"))
    if failure is not None:
        text = _failure_text(report, username)
        kind = failure.kind.value
        lines = list(remedy_lines(REMEDIES, failure, report.peer_local, report.port,
                                  pem_text_ok=True))
        if failure.kind in STARTUP_KINDS:
            lines.append(RETRY)
        if report.other_scheme:
            kind, text = "tls", Text("{text}: {hint}", text=text,
                                     hint=SCHEME_HINTS[report.other_scheme])
            lines = [REMEDIES[FailureKind.TLS]]
        return Member(report, kind, text, tuple(lines))
    bad = [a for a in report.alarms if a in BAD_ALARMS]
    if bad:
        return Member(report, "alarm", Text("alarm {alarms} raised: the cluster refuses writes "
                                            "until it is resolved and disarmed",
                                            alarms=", ".join(bad)), (ALARM_REMEDY,))
    if report.health_status != 200 or report.health != "true":
        reason = f" ({report.health_reason})" if report.health_reason else ""
        return Member(report, "unhealthy", Text("/health says {health}{reason} (HTTP {status})",
                                                health=report.health, reason=reason,
                                                status=report.health_status),
                      (UNHEALTHY_REMEDY,))
    return Member(report)


def _max_parallel() -> int:
    from sgdoctor.probe.etcd import MAX_PARALLEL

    return MAX_PARALLEL


def _failure_text(report: MemberReport, username: str | None) -> str | Text:
    failure = report.failure
    assert failure is not None
    step = report.step
    words = describe(failure, report.peer_local, report.port)
    if failure.kind is FailureKind.TIMEOUT:
        return (Text("no answer within the timeout ({step})", step=step) if step
                else failure.message)
    if step == "read a key" and failure.kind is FailureKind.AUTH:
        if report.auth_required:
            return Text("etcd requires authentication ({message}), but ETCD_AUTH_USERNAME and "
                        "ETCD_AUTH_PASSWORD are not both set", message=failure.message)
        return Text("user {user} cannot read keys: {message}", user=username,
                    message=failure.message)
    if step == "authenticate" and failure.kind in (FailureKind.AUTH, FailureKind.SERVER):
        return Text("authentication as {user} refused: {message}", user=username,
                    message=failure.message)
    if step in (None, "connect", "TLS material") or failure.kind in (
            FailureKind.CERTIFICATE, FailureKind.TLS, FailureKind.AUTH):
        return words
    return Text("{step}: {words}", step=step, words=words)


@check("etcd.endpoints", title="etcd endpoints", env=ENV, timeout=5.0,
       tags=("network", "dynamo"), settings={})
def etcd_endpoints(ctx: Context) -> Result:
    """Every ETCD_ENDPOINTS entry, split exactly like Dynamo (no trimming), probed in
    parallel: TCP connect, /health, authentication, status (version, leader, raft term,
    db size) and alarms. Fails when any entry is malformed or unusable, the entries belong to
    different clusters, or the TLS material is given as file paths (Dynamo 1.6.1 does not
    start in any of these); warns on etcd's peer port and on leader disagreement."""
    usage = etcd_usage(ctx.env)
    found = Findings()
    if usage.error is not None:
        found.fail(Text("Dynamo will not start: {error}", error=usage.error), BACKEND_REMEDY,
                   code="invalid_backend")
        return found.result("", details={"usage": usage.reason}, env=usage.env)
    if usage.used is False:
        return Result.skip(Text("etcd is not used: {reason}", reason=usage.reason), env=usage.env)

    from sgdoctor.probe.etcd import TlsMaterial, etcd_password, probe_endpoints

    release = dynamo_release(ctx.options, ctx.env, ctx.timeout(2.0))
    cfg = etcd_config(ctx.env)
    env = tuple(dict.fromkeys((*cfg.env, *usage.env)))
    material = TlsMaterial.from_env(ctx.env, cfg)
    password = etcd_password(ctx.env, cfg)
    deadline = time.monotonic() + ctx.timeout(float(ctx.setting("timeout", 5.0)))
    reports = probe_endpoints(cfg.endpoints, tls_material=material, username=cfg.username,
                              password=password, deadline=deadline)
    members = [judge(endpoint, report, cfg.username)
               for endpoint, report in zip(cfg.endpoints, reports, strict=True)]

    defaulted = cfg.endpoints[0].defaulted
    notes = list(cfg.ignored)
    details = {
        "endpoints": [m.details() for m in members],
        "source": "default (ETCD_ENDPOINTS unset)" if defaulted else "ETCD_ENDPOINTS",
        "auth": cfg.auth,
        "notes": notes,
        "dynamo": release.as_json(),
    }
    names = ", ".join(m.report.endpoint for m in members)
    where: str | Text = (Text("{names} (the default: ETCD_ENDPOINTS is unset)", names=names)
                         if defaulted else names)
    good = [m for m in members if m.healthy]
    bad = [m for m in members if not m.healthy]
    lines = list({str(line): line for m in bad for line in m.remedy}.values())
    # A path the probe could not even read is said by its member's failure, with its remedy.
    from sgdoctor.probe.tls_material import TlsMaterialError

    unreadable = {r.failure.variable for r in reports if isinstance(r.failure, TlsMaterialError)}
    paths = [name for name in (material.given_as_paths() if material is not None else [])
             if name not in unreadable]
    if paths:
        # Certificate::from_pem(value) in 1.6.1 (verified by running it) and in the earlier
        # etcd.rs too: a path is handed to the TLS library as if it were the PEM.
        said = {"names": ", ".join(paths), "release": release.describe()}
        found.fail(Text("{names} holds a file path, but {release} reads the PEM text itself "
                        "from the variable: it will not connect (\"Unable to connect to etcd "
                        "server\")", **said) if len(paths) == 1 else
                   Text("{names} hold file paths, but {release} reads the PEM text itself "
                        "from the variables: it will not connect (\"Unable to connect to etcd "
                        "server\")", **said),
                   Text.join("\n", (Text('export {name}="$(cat {path})"', name=name,
                                          path=ctx.env[name]) for name in paths)),
                   code="tls_material_path")
    if not good:
        first = bad[0]
        summary = (Text("no usable etcd endpoint: {where}: {error}", where=where,
                        error=first.error) if len(bad) == 1
                   else Text("none of {count} etcd endpoints is usable ({endpoint}: {error})",
                             count=len(bad), endpoint=first.report.endpoint, error=first.error))
        if defaulted:
            lines.insert(0, Text("Set ETCD_ENDPOINTS to your etcd members (it is unset)"))
        found.fail(summary, Text.join("\n", lines), code=_code(bad, "no_usable_endpoint"))
        return found.result("", details=details, env=env)

    invalid = [m for m in bad if m.kind == "config"]
    if invalid:
        # Dynamo builds one client from every entry: a single malformed URL stops it at
        # start-up, however healthy the other members are.
        which = Text.join("; ", (Text("{endpoint}: {error}", endpoint=m.report.endpoint,
                                      error=m.error) for m in invalid))
        found.fail(Text("ETCD_ENDPOINTS has {count} malformed entry that Dynamo cannot use "
                        "({which}); Dynamo would not start, although other members answer",
                        count=1, which=which) if len(invalid) == 1 else
                   Text("ETCD_ENDPOINTS has {count} malformed entries that Dynamo cannot use "
                        "({which}); Dynamo would not start, although other members answer",
                        count=len(invalid), which=which), CONFIG_REMEDY,
                   code="malformed_endpoint")
        return found.result("", details=details, env=env)

    if bad:
        down = Text.join("; ", (Text("{endpoint}: {error}", endpoint=m.report.endpoint,
                                     error=m.error) for m in bad))
        found.fail(Text("{count} of {total} etcd endpoints unusable ({down}): {release} does "
                        "not start when one listed member is down (verified on 1.6.1: \"Unable "
                        "to register service for discovery\")", count=len(bad),
                        total=len(members), down=down, release=release.describe()),
                   Text.join("\n", [*lines, Text("Or list only the members that run")]),
                   code=_code(bad, "endpoint_unusable"))
    for m in good:
        if m.warning is not None:
            found.warn(Text("{endpoint}: {warning}", endpoint=m.report.endpoint,
                            warning=m.warning), Text.join("\n", m.remedy), code="peer_port")
    clusters = {m.report.cluster_id for m in good if m.report.cluster_id}
    leaders = {m.report.leader for m in good if m.report.leader}
    if len(clusters) > 1:
        found.fail(Text("the endpoints belong to different etcd clusters (cluster ids {ids}): "
                        "Dynamo does not start (verified on 1.6.1: \"Unable to register "
                        "service for discovery\")", ids=", ".join(sorted(clusters))),
                   ONE_CLUSTER, code="different_clusters")
    elif len(leaders) > 1:
        found.warn(Text("members disagree on the leader ({leaders})",
                        leaders=", ".join(sorted(leaders))),
                   "Make ETCD_ENDPOINTS list members of ONE cluster",
                   code="leader_disagreement")
    if not len(found) and notes:
        found.warn(Text("etcd reachable at {where}, but: {notes}", where=where,
                        notes="; ".join(notes)),
                   "See the notes in the details", code="configuration_note")
    versions = ", ".join(sorted({m.report.version for m in good if m.report.version}))
    fastest = min(m.report.latency_ms or 0.0 for m in good)
    return found.result(Text("etcd {versions} healthy at {where} ({ms} ms)",
                             versions=versions or "?", where=where, ms=f"{fastest:.1f}"),
                        details=details, env=env)


def _code(bad: list[Member], fallback: str) -> str:
    """The finding code: the members' one failure kind when they share it."""
    kinds = {m.kind for m in bad}
    return f"{fallback}.{kinds.pop()}" if len(kinds) == 1 else fallback
