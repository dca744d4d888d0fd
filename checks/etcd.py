"""etcd.endpoints: can Dynamo reach a healthy etcd with the configured endpoints and auth?"""

from __future__ import annotations

import time

from sgdoctor.api import Context, Result, check
from sgdoctor.parse.endpoints import ETCD_TLS_VARS, etcd_config, etcd_usage

ENV = ("ETCD_ENDPOINTS", "ETCD_AUTH_USERNAME", "ETCD_AUTH_PASSWORD", *ETCD_TLS_VARS,
       "DYN_DISCOVERY_BACKEND")

REMEDIES = {
    "config": "Fix ETCD_ENDPOINTS: comma-separated URLs, no spaces, e.g. "
              "http://10.0.0.5:2379,http://10.0.0.6:2379",
    "refused": "Start etcd on that host and port, or point ETCD_ENDPOINTS at a running member",
    "dns": "Use a host name this node can resolve, or the member's IP address",
    "timeout": "Check that a firewall or wrong address is not swallowing the traffic, and that "
               "etcd listens on this address (--listen-client-urls)",
    "unreachable": "Check the route to the etcd host (wrong network or interface?)",
    "certificate": "Set ETCD_AUTH_CA to the CA that signed the etcd server certificate (PEM "
                   "text or a path), and a client certificate/key it accepts",
    "tls": "Match the scheme to the server: https:// with ETCD_AUTH_CA/CLIENT_CERT/CLIENT_KEY "
           "for a TLS port, http:// for a plain one",
    "tls_config": "Give ETCD_AUTH_CA, ETCD_AUTH_CLIENT_CERT and ETCD_AUTH_CLIENT_KEY as PEM "
                  "text or as paths to readable PEM files",
    "auth": "Set ETCD_AUTH_USERNAME and ETCD_AUTH_PASSWORD to an etcd user allowed to read "
            "and write Dynamo's keys",
    "alarm": "Free space: compact and defragment (etcdctl compact/defrag), raise "
             "--quota-backend-bytes if needed, then `etcdctl alarm disarm`",
    "unhealthy": "Look at the member's logs; a cluster without a leader has lost quorum",
    "protocol": "This port does not speak etcd's HTTP API: check the host and port "
                "(etcd's client port is 2379 by default)",
    "too_large": "This port does not speak etcd's HTTP API: check the host and port",
    "closed": "Something on this port closes connections: check the host and port",
}


def _remedy(kinds: list[str]) -> str:
    seen = [REMEDIES[k] for k in dict.fromkeys(kinds) if k in REMEDIES]
    return "; ".join(seen) or "Check the etcd members listed in the details"


@check("etcd.endpoints", title="etcd endpoints", env=ENV, timeout=5.0,
       tags=("network", "dynamo"))
def etcd_endpoints(ctx: Context) -> Result:
    """Every ETCD_ENDPOINTS entry, split exactly like Dynamo (no trimming), probed in
    parallel: TCP connect, /health, authentication, status (version, leader, raft term,
    db size) and alarms. Fails when no endpoint is usable or any entry is malformed (Dynamo
    would not start); warns when some are down or the members disagree on the leader."""
    usage = etcd_usage(ctx.env)
    if usage.used is False:
        return Result.skip(f"etcd is not used: {usage.reason}", env=usage.env)

    from sgdoctor.probe.etcd import TlsMaterial, etcd_password, probe_endpoints

    cfg = etcd_config(ctx.env)
    env = tuple(dict.fromkeys((*cfg.env, *usage.env)))
    material = TlsMaterial.from_env(ctx.env, cfg)
    password = etcd_password(ctx.env, cfg)
    deadline = time.monotonic() + ctx.timeout(float(ctx.setting("timeout", 5.0)))
    reports = probe_endpoints(cfg.endpoints, tls_material=material, username=cfg.username,
                              password=password, deadline=deadline)

    defaulted = cfg.endpoints[0].defaulted
    details = {
        "endpoints": [r.as_details() for r in reports],
        "source": "default (ETCD_ENDPOINTS unset)" if defaulted else "ETCD_ENDPOINTS",
        "auth": cfg.auth,
        "notes": list(cfg.ignored),
    }
    if material is not None and material.given_as_paths():
        details["notes"].append(
            f"{', '.join(material.given_as_paths())} given as file paths: Dynamo's etcd.rs "
            "passes the value itself to the TLS library as PEM text, so a path may not work "
            "with your Dynamo release (UNCONFIRMED across releases)")
    names = ", ".join(r.endpoint for r in reports)
    where = f"{names} (the default: ETCD_ENDPOINTS is unset)" if defaulted else names

    good = [r for r in reports if r.healthy]
    bad = [r for r in reports if not r.healthy]
    if not good:
        first = bad[0]
        summary = (f"no usable etcd endpoint: {where}: {first.error}" if len(bad) == 1
                   else f"none of {len(bad)} etcd endpoints is usable "
                        f"({first.endpoint}: {first.error})")
        remedy = _remedy([r.error_kind or "" for r in bad])
        if defaulted:
            remedy = f"Set ETCD_ENDPOINTS to your etcd members (it is unset). {remedy}"
        return Result.fail(summary, remedy=remedy, details=details, env=env)

    invalid = [r for r in bad if r.error_kind == "config"]
    if invalid:
        # Dynamo builds one client from every entry: a single malformed URL stops it at
        # start-up, however healthy the other members are.
        summary = (f"ETCD_ENDPOINTS has {len(invalid)} malformed "
                   f"entr{'y' if len(invalid) == 1 else 'ies'} that Dynamo cannot use "
                   f"({'; '.join(f'{r.endpoint}: {r.error}' for r in invalid)}); Dynamo would "
                   "not start, although other members answer")
        return Result.fail(summary, remedy=REMEDIES["config"], details=details, env=env)

    leaders = {r.leader for r in good if r.leader}
    clusters = {r.cluster_id for r in good if r.cluster_id}
    versions = ", ".join(sorted({r.version for r in good if r.version}))
    problems = []
    if bad:
        down = "; ".join(f"{r.endpoint}: {r.error}" for r in bad)
        problems.append(f"{len(bad)} of {len(reports)} etcd endpoints unusable ({down})")
    if len(clusters) > 1:
        problems.append("the endpoints belong to different etcd clusters "
                        f"(cluster ids {', '.join(sorted(clusters))})")
    elif len(leaders) > 1:
        problems.append(f"members disagree on the leader ({', '.join(sorted(leaders))})")
    if problems or cfg.ignored or details["notes"]:
        remedy = (_remedy([r.error_kind or "" for r in bad]) if bad else
                  "Make ETCD_ENDPOINTS list members of ONE cluster" if problems else
                  "See the notes in the details")
        summary = "; ".join(problems) if problems else \
            f"etcd reachable at {where}, but: {'; '.join(details['notes'])}"
        return Result.warn(summary, remedy=remedy, details=details, env=env)
    fastest = min(r.latency_ms or 0.0 for r in good)
    return Result.ok(f"etcd {versions or '?'} healthy at {where} ({fastest:.1f} ms)",
                     details=details, env=env)
