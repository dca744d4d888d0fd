"""`launch.rendezvous`: the address every rank of a multi-node launch meets at
(--dist-init-addr, or MASTER_ADDR/MASTER_PORT) resolves to something sane, and this node's
side of it works: rank 0 can bind it, the others can reach it."""

from __future__ import annotations

import errno

from sgdoctor.api import Context, Findings, Result, Text, check
from sgdoctor.parse.ports import split_host_port
from sgdoctor.parse.verdict import shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ENV = ("MASTER_ADDR", "MASTER_PORT")


@check("launch.rendezvous", title="Launch rendezvous address", env=ENV, timeout=10.0,
       tags=("launch", "network"), settings={})
def launch_rendezvous(ctx: Context) -> Result:
    """The address comes from --dist-init-addr HOST:PORT, else MASTER_ADDR and MASTER_PORT.
    It must resolve (a numeric host name such as `12345`, which getaddrinfo reads as
    0.0.48.57, or any 0.x.y.z result is a fail), and not to loopback when --nnodes > 1. On
    node rank 0 it must be an address of this host with the port free to bind (torch's
    store listens there); on the other ranks it must accept a TCP connection within the
    check's time — under `--wait` the check is retried until rank 0 is up."""
    from sgdoctor.probe.launch import bind_here, dial, resolve

    if ctx.options.get("launch") is None:
        return Result.skip("no launch command given", env=ENV)
    from sgdoctor.parse.launch import from_options, numeric_reading

    launch = from_options(ctx.options)
    if launch is None or not launch.parsed:
        return Result.skip("no parsed SGLang launch command", env=ENV)
    if launch.program == "dynamo.frontend":
        return Result.skip("the Dynamo frontend joins no torch rendezvous", env=ENV)
    nnodes = launch.get("nnodes", 1)
    rank = launch.get("node_rank", 0)
    given = launch.get("dist_init_addr")
    source = "--dist-init-addr"
    if not given and ctx.env.get("MASTER_ADDR") and ctx.env.get("MASTER_PORT"):
        given, source = f"{ctx.env['MASTER_ADDR']}:{ctx.env['MASTER_PORT']}", \
            "MASTER_ADDR/MASTER_PORT"
    found = Findings()
    if not given:
        if isinstance(nnodes, int) and nnodes > 1:
            found.fail(Text("--nnodes {nnodes} but no --dist-init-addr (nor MASTER_ADDR and "
                            "MASTER_PORT): the nodes have no address to meet at",
                            nnodes=nnodes),
                       "add --dist-init-addr <rank-0 host>:<port> to every node's command",
                       code="missing_address")
            return found.result("", env=ENV)
        return Result.skip("single-node launch without a rendezvous address", env=ENV)
    split = split_host_port(str(given))
    if split is None or not split[0]:
        found.warn(Text("{source} {address} is not HOST:PORT: the server decides what it "
                        "makes of it", source=source, address=shown(str(given), 80)),
                   "write it as HOST:PORT, e.g. 10.0.0.1:5000",
                   code="malformed_address")
        return found.result("", env=ENV)
    host, port = split
    details: dict[str, Any] = {"address": shown(str(given), 120), "source": source,
                               "host": shown(host, 80), "port": port, "nnodes": nnodes,
                               "node_rank": rank}
    numeric = numeric_reading(host)
    if numeric is not None:
        found.fail(Text("{source} host {host} is numeric: getaddrinfo reads it as {address}, "
                        "not as a host name", source=source, host=shown(host, 40),
                        address=numeric),
                   "use the dotted address or a real host name of node rank 0",
                   code="numeric_hostname")
        return found.result("", details=details, env=ENV)
    resolved = resolve(host, port, ctx.timeout(3.0))
    details["addresses"] = list(resolved.addresses)
    if resolved.error is not None:
        found.fail(Text("{source} host {host} does not resolve: {error}", source=source,
                        host=shown(host, 80), error=shown(resolved.error.message)),
                   "fix the name (DNS, /etc/hosts, the headless Service of rank 0), or use its "
                   "IP address", code="unresolvable")
        return found.result("", details=details, env=ENV)
    import ipaddress  # only for a rendezvous that resolved: a run without one never needs it

    ips = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved.addresses]
    zero = [str(ip) for ip in ips if ip.version == 4 and str(ip).startswith("0.")]
    if zero:
        found.fail(Text("{source} host {host} resolves to {addresses}: no node can be "
                        "reached there", source=source, host=shown(host, 80),
                        addresses=", ".join(zero)),
                   "fix the name's record, or use the IP of node rank 0", code="zero_address")
        return found.result("", details=details, env=ENV)
    multi = isinstance(nnodes, int) and nnodes > 1
    if multi and all(ip.is_loopback for ip in ips):
        found.fail(Text("{source} {address} is loopback ({addresses}) on a {nnodes}-node "
                        "launch: the other nodes would dial themselves", source=source,
                        address=shown(str(given), 80), addresses=", ".join(map(str, ips)),
                        nnodes=nnodes),
                   "use an address of node rank 0 that the other nodes reach",
                   code="loopback_multi_node")
        return found.result("", details=details, env=ENV)
    first = resolved.addresses[0]
    if rank == 0:
        _judge_rank0(found, source, host, port, first, bind_here(first, port))
    else:
        error = dial(first, port, ctx.timeout(5.0))
        details["dial"] = "ok" if error is None else error.kind.value
        if error is not None:
            found.fail(Text("node rank 0's rendezvous {host}:{port} ({address}) is not "
                            "reachable from node rank {rank}: {error}", host=shown(host, 80),
                            port=port, address=first, rank=rank,
                            error=shown(error.message)),
                       "start node rank 0 first (exec --wait retries until it listens), "
                       "and check routes and firewalls between the nodes", code="unreachable")
    fields = {"source": source, "host": shown(host, 80), "port": port, "address": first}
    summary = (Text("{source} {host}:{port} → {address}, bindable here (node rank 0)", **fields)
               if rank == 0 else
               Text("{source} {host}:{port} → {address}, reachable", **fields))
    return found.result(summary, details=details, env=ENV)


def _judge_rank0(found: Findings, source: str, host: str, port: int, address: str,
                 error: OSError | None) -> None:
    if error is None:
        return
    if error.errno == errno.EADDRNOTAVAIL:
        found.fail(Text("{source} {host} ({address}) is not an address of this host, but "
                        "this is node rank 0, which listens there", source=source,
                        host=shown(host, 80), address=address),
                   "point --dist-init-addr at node rank 0 (this node), or give this node "
                   "--node-rank > 0", code="not_this_host")
    elif error.errno == errno.EADDRINUSE:
        found.fail(Text("port {port} of {address} is already in use: node rank 0 cannot "
                        "listen for the other nodes", port=port, address=address),
                   Text("{command}    (stop the holder, or choose another --dist-init-addr "
                        "port)", command=f"ss -tlnp 'sport = :{port}'"), code="port_in_use")
    else:
        found.fail(Text("binding {address}:{port} failed: {error}", address=address,
                        port=port, error=error.strerror or str(error)),
                   "choose another --dist-init-addr port", code="bind_failed")
