"""`host.ports`: the ports the server will bind are free, and outside the ephemeral range
where any outgoing connection may take them first."""

from __future__ import annotations

import errno
import time
from collections.abc import Iterable

from sgdoctor.api import Context, FailureKind, Findings, ProbeError, Result, Text, check
from sgdoctor.parse.verdict import shown

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from sgdoctor.parse.ports import PlannedPort
    from sgdoctor.probe.hostports import BindResult, PortFacts
    from sgdoctor.probe.hostroot import HostRoot

ENV = ("DYN_HTTP_PORT", "DYN_SYSTEM_PORT", "MASTER_PORT")
ENV_PORTS = {"DYN_HTTP_PORT": Text("Dynamo frontend HTTP ({variable})", variable="DYN_HTTP_PORT"),
             "DYN_SYSTEM_PORT": Text("Dynamo system status server ({variable})",
                                     variable="DYN_SYSTEM_PORT"),
             "MASTER_PORT": Text("torch rendezvous ({variable})", variable="MASTER_PORT")}
TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
              8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING"}
LAUNCH_KEYS = ("port", "dist_init_addr", "nnodes", "node_rank", "enable_dp_attention",
               "nccl_port", "disaggregation_mode", "disaggregation_bootstrap_port")


@check("host.ports", title="TCP ports the server binds", env=ENV, timeout=5.0, tags=("host",),
       settings={"ports": list[int], "in_use": str})
def host_ports(ctx: Context) -> Result:
    """SGLang binds its HTTP --port (30000), node rank 0 the --dist-init-addr port, and with
    DP attention the ZMQ ports derived from them (dist-init port + 1 … + 6, or --port + 233 …
    on one node); Dynamo's frontend binds DYN_HTTP_PORT. A port already bound — by a
    listener, or as the local port of some connection — makes the server die with EADDRINUSE:
    a fail naming the holder. A port inside net.ipv4.ip_local_port_range (and not in
    ip_local_reserved_ports) can be taken by any outgoing connection just before the server
    starts: a warning.

    Ports come from the launch command when sgdoctor knows it, else SGLang's defaults and
    the variables above. Settings: ports (more ports to check), in_use ("fail", "warn" or
    "ignore"; default fail, and ignore under --host-root, where the node's running servers
    hold their own ports).
    """
    from sgdoctor.parse.settings import choice_setting, ints_setting, setting_error
    from sgdoctor.probe.hostports import port_facts, try_bind
    from sgdoctor.probe.hostroot import HostRoot

    try:
        extra = ints_setting(ctx, "ports")
        root = HostRoot.from_options(ctx.options)
        # Under --host-root sgdoctor watches a node whose servers already run and hold
        # their ports; before a launch (on the node itself) a held port is a fail.
        in_use = choice_setting(ctx, "in_use", "fail" if root.on_host else "ignore",
                                ("fail", "warn", "ignore"))
        planned, source = _planned(ctx, extra)
    except ValueError as exc:
        return Result.error(setting_error("host.ports", exc), env=ENV)
    except ProbeError as exc:
        return Result.error(Text("--host-root: {error}", error=exc.message), env=ENV)
    found = Findings()
    for var in ENV:
        value = ctx.env.get(var)
        if value is not None and _port(value) is None:
            found.warn(Text("{variable}={value} is not a port number (1-65535)", variable=var,
                            value=shown(value, 40)),
                       Text("set {variable} to a port number, or unset it", variable=var),
                       code="port_env_invalid")
    if not planned:
        return Result.skip(Text("the launch command binds no TCP port"), env=ENV)
    # On the node itself a real bind (SO_REUSEADDR, as servers bind) answers first; the
    # socket table, whose dump is this check's dearest step, is read only to say who holds a
    # port that will not bind.
    binds = {item.port: try_bind(item.port) for item in planned} if root.on_host else {}
    facts = port_facts(root, ctx.timeout(2.0) + time.monotonic(),
                       sockets=not root.on_host or not all(b.ok for b in binds.values()))
    details: dict[str, Any] = {"ports_from": str(source), "ephemeral_range": facts.range,
                               "reserved_ports": len(facts.reserved), "ports": []}
    if (not root.on_host and _missing(facts.range_error)
            and all(_missing(e) for e in facts.socket_errors) and facts.socket_errors):
        return Result.skip(Text("no {sys} nor {net} under the host root",
                                sys="/proc/sys/net", net=f"/proc/{root.pid}/net"),
                           details=details, env=ENV)
    if facts.range_error is not None:
        found.warn(Text("cannot read the ephemeral port range: {error}",
                        error=shown(facts.range_error.message)), code="range_unreadable")
    if facts.reserved_error is not None:
        found.warn(Text("cannot read the reserved ports: {error}",
                        error=shown(facts.reserved_error.message)), code="reserved_unreadable")
    for error in facts.socket_errors:
        found.warn(Text("cannot read the socket table: {error}", error=shown(error.message)),
                   code="sockets_unreadable")

    holders = _holders(root, facts, planned, ctx.timeout(2.0))
    report = {"fail": found.fail, "warn": found.warn, "ignore": _noted(found)}[in_use]
    inside: list[PlannedPort] = []
    for item in planned:
        entry = _judge_port(report, facts, item, holders, binds.get(item.port))
        details["ports"].append(entry)
        if entry["in_ephemeral_range"]:
            inside.append(item)
    if inside and facts.range is not None:
        low, high = facts.range
        names = Text.join(", ", (Text("{port} ({name})", port=p.port, name=p.name)
                                 for p in inside))
        found.warn(Text("inside the ephemeral port range {low}-{high}: {names} — any outgoing "
                        "connection may take such a port just before the server binds it "
                        "(EADDRINUSE at start-up)", low=low, high=high, names=names),
                   _reserve_remedy(facts.reserved, inside, low), code="ephemeral")
    ports = ", ".join(str(p.port) for p in planned)
    where = (Text("outside the ephemeral range {low}-{high}", low=facts.range[0],
                  high=facts.range[1]) if facts.range else Text("ephemeral range unknown"))
    held = [str(e["port"]) for e in details["ports"]
            if e["held_by"] or e.get("bind") not in (None, "ok")]
    said = {"ports": ports, "source": source, "where": where}
    return found.result(Text("ports {ports} ({source}) are {held} already held (in_use = "
                             "\"ignore\"), the rest free and {where}", **said,
                             held=", ".join(held)) if held else
                        Text("ports {ports} ({source}) are free and {where}", **said),
                        details=details, env=ENV)


def _noted(found: Findings) -> Any:
    """A port held by the running server itself, recorded as an ok finding."""
    def note(summary: Text, remedy: Text | None = None, *, code: str) -> None:
        found.ok(summary, code=code)
    return note


def _port(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value.isascii() or not value.isdigit() or len(value) > 5:
            return None
        value = int(value)
    return value if isinstance(value, int) and 0 < value <= 65535 else None


def _missing(error: ProbeError | None) -> bool:
    return error is not None and error.kind is FailureKind.NOT_FOUND


def _planned(ctx: Context, extra: list[int]) -> tuple[list[PlannedPort], Text]:
    """Ports from the launch command (options), else SGLang's defaults; then env and
    settings. ValueError for options of the wrong shape."""
    from sgdoctor.parse.ports import PlannedPort, sglang_ports
    from sgdoctor.parse.settings import SettingError

    given = ctx.options.get("ports")
    planned: list[PlannedPort] = []
    if given is not None:
        items: Iterable[Any] = given.items() if isinstance(given, dict) else given
        if isinstance(given, (str, bytes)) or not isinstance(items, Iterable):
            raise SettingError(Text("option ports={value} must be a list or a mapping",
                                    value=repr(given)))
        for item in items:
            name, value = (item if isinstance(given, dict) else
                           (item.get("name", Text("launch command")), item.get("port"))
                           if isinstance(item, dict) else (Text("launch command"), item))
            port = _port(value)
            if port is None:
                raise SettingError(Text("option ports has {value}, not a port number",
                                        value=repr(value)))
            planned.append(PlannedPort(port, name if isinstance(name, Text) else str(name)))
        source = Text("the launch command")
    else:
        launch = {k: ctx.options[k] for k in LAUNCH_KEYS if k in ctx.options}
        port = _port(launch.get("port", 30000)) or 30000
        planned = sglang_ports(
            port=port, dist_init_addr=_text(launch.get("dist_init_addr")),
            nnodes=_count(launch.get("nnodes"), 1), node_rank=_count(launch.get("node_rank"), 0),
            dp_attention=launch.get("enable_dp_attention") is True,
            nccl_port=_port(launch.get("nccl_port")),
            disaggregation_mode=_text(launch.get("disaggregation_mode")),
            bootstrap_port=_port(launch.get("disaggregation_bootstrap_port")) or 8998)
        source = Text("the launch command") if launch else Text("SGLang's defaults")
    for var, name in ENV_PORTS.items():
        port = _port(ctx.env.get(var))
        if port is not None:
            planned.append(PlannedPort(port, name))
    planned += [PlannedPort(p, Text("setting ports")) for p in extra]
    unique: dict[int, PlannedPort] = {}
    for item in planned:
        if item.port in unique:
            unique[item.port] = PlannedPort(item.port, Text("{first} and {second}",
                                                            first=unique[item.port].name,
                                                            second=item.name))
        else:
            unique[item.port] = item
    return list(unique.values()), source


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 \
        else default


def _holders(root: HostRoot, facts: PortFacts, planned: list[PlannedPort],
             budget: float) -> dict[int, str]:
    from sgdoctor.parse.host import TCP_CLOSE, TCP_TIME_WAIT
    from sgdoctor.probe.hostports import socket_owners

    wanted = {p.port for p in planned}
    inodes = [s.inode for s in facts.sockets if s.port in wanted and s.blocks_ipv4_any
              and s.state not in (TCP_TIME_WAIT, TCP_CLOSE)]
    return socket_owners(root, inodes, time.monotonic() + budget) if inodes else {}


def _judge_port(report: Any, facts: PortFacts, item: PlannedPort, holders: dict[int, str],
                bound: BindResult | None) -> dict[str, Any]:
    """``bound``: how binding the port went (on the node itself; None under --host-root)."""
    from sgdoctor.parse.host import TCP_CLOSE, TCP_LISTEN, TCP_TIME_WAIT

    label = Text("port {port} ({name})", port=item.port, name=item.name)
    held = [s for s in facts.sockets if s.port == item.port and s.blocks_ipv4_any
            and s.state not in (TCP_TIME_WAIT, TCP_CLOSE)]
    inside = (facts.range is not None and facts.range[0] <= item.port <= facts.range[1]
              and item.port not in facts.reserved)
    entry: dict[str, Any] = {"port": item.port, "name": str(item.name),
                             "in_ephemeral_range": inside,
                             "held_by": [{"state": TCP_STATES.get(s.state, str(s.state)),
                                          "owner": holders.get(s.inode)} for s in held]}
    listeners = [s for s in held if s.state == TCP_LISTEN]
    free_remedy = Text("{command}    (find and stop the holder, or move the server to a free "
                       "port)", command=f"ss -tlnp 'sport = :{item.port}'")
    if listeners:
        owner = holders.get(listeners[0].inode)
        report(Text("{label} is already in use: {owner} listens on it", label=label,
                    owner=owner) if owner else
               Text("{label} is already in use: a listener holds it", label=label),
               free_remedy, code="port_in_use")
        return entry
    if held:
        owner = holders.get(held[0].inode)
        state = TCP_STATES.get(held[0].state, str(held[0].state))
        report(Text("{label} is taken as the local port of a connection ({state}, {owner}): "
                    "binding it fails with EADDRINUSE", label=label, state=state, owner=owner)
               if owner else
               Text("{label} is taken as the local port of a connection ({state}): binding it "
                    "fails with EADDRINUSE", label=label, state=state),
               free_remedy, code="port_taken")
        return entry
    if bound is not None:
        entry["bind"] = "ok" if bound.ok else shown(bound.message)
        if bound.ok:
            return entry
        said = {"label": label, "error": shown(bound.message)}
        if bound.errno == errno.EADDRINUSE:
            report(Text("{label} is already in use (bind: {error})", **said), free_remedy,
                   code="port_in_use")
        elif bound.errno == errno.EACCES:
            report(Text("{label} is below 1024 and this user may not bind it", label=label),
                   Text("use a port of 1024 or above, or grant CAP_NET_BIND_SERVICE"),
                   code="port_privileged")
        else:
            report(Text("binding {label} failed: {error}", **said), free_remedy,
                   code="bind_failed")
    return entry


def _ranges(ports: Iterable[int]) -> str:
    out: list[str] = []
    ordered = sorted(set(ports))
    start = prev = ordered[0]
    for port in ordered[1:] + [None]:
        if port is not None and port == prev + 1:
            prev = port
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if port is not None:
            start = prev = port
    return ",".join(out)


def _reserve_remedy(reserved: frozenset[int], inside: list[PlannedPort], low: int) -> Text:
    value = _ranges(set(reserved) | {p.port for p in inside})
    return Text.join("\n", [
        f"sysctl -w net.ipv4.ip_local_reserved_ports={value}",
        Text("{snippet}  (an unsafe sysctl: allow it with the kubelet's "
             "--allowed-unsafe-sysctls)",
             snippet=f"Kubernetes: securityContext: {{sysctls: [{{name: "
                     f"net.ipv4.ip_local_reserved_ports, value: \"{value}\"}}]}}"),
        Text("or move the server to ports below {low}", low=low) if low > 1024 else
        Text("or give the range back its default: {command}",
             command="sysctl -w net.ipv4.ip_local_port_range=\"32768 60999\"")])
