"""nats.server: can Dynamo connect to NATS, with JetStream, using the configured auth?"""

from __future__ import annotations

import time

from sgdoctor.api import Context, Result, check
from sgdoctor.parse.endpoints import NATS_TLS_VARS, nats_config, nats_usage

ENV = ("NATS_SERVER", "NATS_AUTH_USERNAME", "NATS_AUTH_PASSWORD", "NATS_AUTH_TOKEN",
       "NATS_AUTH_NKEY", "NATS_AUTH_CREDENTIALS_FILE", *NATS_TLS_VARS,
       "DYN_REQUEST_PLANE", "DYN_EVENT_PLANE")

REMEDIES = {
    "config": "Set NATS_SERVER to ONE URL starting with nats://, e.g. nats://10.0.0.5:4222",
    "refused": "Start nats-server on that host and port, or fix NATS_SERVER",
    "dns": "Use a host name this node can resolve, or the server's IP address",
    "timeout": "Check the address and any firewall; a NATS server greets every client at once",
    "auth": "Set the credentials the server expects: NATS_AUTH_USERNAME+NATS_AUTH_PASSWORD, "
            "NATS_AUTH_TOKEN, NATS_AUTH_NKEY or NATS_AUTH_CREDENTIALS_FILE (Dynamo tries them "
            "in that order)",
    "credentials": "Fix NATS_AUTH_NKEY (an nkey seed, starting with SU) or "
                   "NATS_AUTH_CREDENTIALS_FILE (a .creds file from nsc)",
    "jetstream": "Run nats-server with JetStream enabled (`-js`, or `jetstream {}` in its "
                 "config) and give it a --store_dir",
    "tls": "Match TLS to the server: NATS_TLS_CA_CERT_PATH (and client cert/key if required)",
    "tls_config": "Point NATS_TLS_CA_CERT_PATH / _CLIENT_CERT_PATH / _CLIENT_KEY_PATH at "
                  "readable PEM files",
    "certificate": "Set NATS_TLS_CA_CERT_PATH to the CA that signed the server certificate",
    "protocol": "This port does not speak NATS: check the host and port (4222 by default)",
}


@check("nats.server", title="NATS server", env=ENV, timeout=5.0, tags=("network", "dynamo"))
def nats_server(ctx: Context) -> Result:
    """NATS_SERVER as Dynamo reads it (must start with nats://; default
    nats://localhost:4222), connected with Dynamo's auth precedence: server version, id,
    round-trip time, max_payload, then the JetStream account, which Dynamo requires."""
    usage = nats_usage(ctx.env)
    if usage.used is False:
        return Result.skip(f"NATS is not used: {usage.reason}", env=usage.env)

    from sgdoctor.probe.nats import probe_servers

    cfg = nats_config(ctx.env)
    env = tuple(dict.fromkeys((*cfg.env, *usage.env)))
    deadline = time.monotonic() + ctx.timeout(float(ctx.setting("timeout", 5.0)))
    reports = probe_servers(cfg.servers, ctx.env, deadline=deadline)
    defaulted = cfg.servers[0].defaulted
    details = {"servers": [r.as_details() for r in reports], "auth": cfg.auth,
               "source": "default (NATS_SERVER unset)" if defaulted else "NATS_SERVER",
               "usage": usage.reason}
    if cfg.error:
        return Result.fail(cfg.error, remedy=REMEDIES["config"], details=details, env=env)

    report = reports[0]
    if report.error_kind == "error":  # a fault of sgdoctor or its install, not of the server
        return Result.error(f"cannot probe {report.server}: {report.error}", details=details,
                            env=env)
    where = f"{report.server} (the default: NATS_SERVER is unset)" if defaulted \
        else report.server
    if report.ok:
        payload = f"{report.max_payload // 1024} KiB" if report.max_payload else "?"
        return Result.ok(f"NATS {report.version or '?'} at {where} with JetStream "
                         f"(rtt {report.rtt_ms:.1f} ms, max_payload {payload})",
                         details=details, env=env)
    remedy = REMEDIES.get(report.error_kind or "", "Check the NATS server")
    if defaulted:
        remedy = f"Set NATS_SERVER (it is unset). {remedy}"
    summary = f"NATS at {where}: {report.error}"
    if usage.used is None:
        return Result.warn(
            f"{summary} — NATS may not be needed: {usage.reason}",
            remedy=f"{remedy}; or, if your Dynamo does not use NATS, set DYN_EVENT_PLANE=zmq "
                   "and DYN_REQUEST_PLANE=tcp to make that explicit",
            details=details, env=env)
    return Result.fail(summary, remedy=remedy, details=details, env=env)
