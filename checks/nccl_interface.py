"""nccl.interface: the socket interface NCCL (and MetaX's MCCL) bootstrap over, as they pick it."""

from __future__ import annotations

from sgdoctor.api import Context, Findings, Result, Text, check
from sgdoctor.parse.verdict import shown

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from sgdoctor.probe.interfaces import Interface
    from sgdoctor.probe.netchoice import Network, Peer

NCCL_VARS = ("NCCL_SOCKET_IFNAME", "MCCL_SOCKET_IFNAME")
RESOLVE_TIMEOUT = 2.0


@check("nccl.interface", title="NCCL/MCCL socket interface",
       env=[*NCCL_VARS, "GLOO_SOCKET_IFNAME"], timeout=6.0, tags=("network",), settings={})
def nccl_interface(ctx: Context) -> Result:
    """NCCL_SOCKET_IFNAME and MCCL_SOCKET_IFNAME (MetaX's twin; parsing alike is UNCONFIRMED)
    evaluated with NCCL's own rules (comma-separated name prefixes, a leading '^' excludes,
    '=' asks for exact names, ':port' is ignored, a value of 1 character is ignored), or
    NCCL's default when neither is set (ib* first, else everything but docker* and lo — which
    may be a veth or a bridge). NCCL bootstraps over the FIRST selected interface. An empty
    selection fails ("Bootstrap : no socket interface found"); a down or loopback first pick
    fails when etcd/NATS are on other hosts; a veth, docker or bridge pick while the route to
    etcd/NATS leaves through another interface is a warn (a two-node run hangs after init,
    nccl#913), as is a pick gloo does not use."""
    from sgdoctor.probe.netchoice import KINDS_OF_CONCERN, nccl_choice, probe_network

    net = probe_network(ctx.env, ctx.timeout(RESOLVE_TIMEOUT))
    gloo = net.gloo_interfaces
    routed = net.route_peer
    remote = any(p.remote for p in net.peers)
    set_vars = [v for v in NCCL_VARS if v in ctx.env]
    choices = [nccl_choice(v, ctx.env[v], net.interfaces) for v in set_vars] or \
        [nccl_choice(" and ".join(NCCL_VARS), None, net.interfaces)]
    found = Findings()
    ok: list[Text] = []
    for choice in choices:
        value = shown(choice.raw) if choice.raw is not None else None
        label = (f"{choice.variable}={value!r}" if value is not None else
                 Text("{variable} unset (NCCL's default)", variable=choice.variable) if set_vars
                 else Text("{first} and {second} unset (NCCL's default)", first=NCCL_VARS[0],
                           second=NCCL_VARS[1]))
        if choice.ignored_short:
            found.warn(Text("{label} is 1 character, which NCCL ignores: its default applies",
                            label=label),
                       Text("Set {variable} to a full interface name, or unset it.",
                            variable=choice.variable), code="ignored_short")
        first = choice.first
        fix = _remedy(choice.variable, routed, net)
        if first is None:
            found.fail(Text("{label} selects no interface with an address: NCCL stops at init "
                            '("Bootstrap : no socket interface found")', label=label),
                       fix, code="empty_selection")
            continue
        iface = net.interfaces[first]
        kind = net.kinds.get(first, "other")
        said = {"label": label, "first": first}
        if not iface.up:
            found.fail(Text("{label}: NCCL bootstraps over {first}, which is down ({state})",
                            **said, state=interface_state(iface)),
                       Text("Bring {first} up (`ip link set {first} up`), or choose another "
                            "interface. {fix}", first=first, fix=fix), code="selected_down")
            continue
        if kind == "loopback":
            status = found.fail if remote else found.warn
            status(Text("{label}: NCCL bootstraps over the loopback interface {first}", **said)
                   if remote else
                   Text("{label}: NCCL bootstraps over the loopback interface {first} (fine "
                        "only when every rank runs on this host)", **said),
                   fix, code="loopback")
            continue
        if routed and routed.interface != first:
            via = Text("the {service} server {host} is reached through {interface}",
                       service=routed.service, host=routed.host, interface=routed.interface)
            if kind in KINDS_OF_CONCERN:
                found.warn(Text("{label}: NCCL bootstraps over {first}, a {kind} interface, but "
                                "{via}: peers on other nodes may not reach it", **said,
                                kind=kind, via=via), fix, code="virtual_pick")
            else:
                found.warn(Text("{label}: NCCL bootstraps over {first}, but {via}", **said,
                                via=via), fix, code="route_elsewhere")
        if gloo and first not in gloo and not any(net.interfaces[g].loopback for g in gloo):
            found.warn(Text("{label}: NCCL bootstraps over {first}, but gloo uses {gloo} "
                            "({source}): collectives and gloo's CPU traffic take different "
                            "networks", **said, gloo=", ".join(gloo), source=gloo_source(net)),
                       Text("Make them agree, e.g. {variable}={interface} and "
                            "GLOO_SOCKET_IFNAME={interface}.",
                            variable=choice.variable.split(" ")[0], interface=gloo[0]),
                       code="gloo_mismatch")
        selected = Text("{label} → {first} ({address})", **said, address=iface.gloo_address)
        found.ok(selected, code="selected")
        ok.append(selected)

    details: dict[str, Any] = {
        "selections": {c.variable: {"value": shown(c.raw) if c.raw is not None else None,
                                    "rule": c.rule, "selects": list(c.selected),
                                    "bootstrap": c.first} for c in choices},
        "interfaces": {n: {**i.as_details(), "kind": net.kinds.get(n)}
                       for n, i in net.interfaces.items()},
        "peers": [p.as_details() for p in net.peers],
        "gloo": {"source": net.gloo_source, "interfaces": list(gloo)},
    }
    env = [*set_vars, *(["GLOO_SOCKET_IFNAME"] if "GLOO_SOCKET_IFNAME" in ctx.env else []),
           *net.gloo.env]
    return found.result(Text.join("; ", ok) if ok else Text("NCCL has an interface"),
                        details=details, env=env)


def gloo_source(net: Network) -> str | Text:
    """What chose gloo's interface, for a sentence (host.ip says it too)."""
    return "GLOO_SOCKET_IFNAME" if net.gloo_source == "GLOO_SOCKET_IFNAME" else Text("hostname")


def interface_state(iface: Interface) -> Text:
    """Why an interface is not up, in words (host.ip says it too)."""
    if not iface.admin_up:
        return Text("administratively down")
    if iface.carrier is False:
        return Text("no carrier (operstate {operstate})", operstate=iface.operstate)
    return Text("operstate {operstate}", operstate=iface.operstate)


def _remedy(variable: str, routed: Peer | None, net: Network) -> Text:
    """Name the interface that carries cluster traffic, else the usable candidates."""
    name = variable.split(" ")[0]
    if routed and routed.interface in net.interfaces and \
            not net.interfaces[routed.interface].loopback:
        return Text("Set {name}={interface} (it carries the route to the {service} server "
                    "{host}).", name=name, interface=routed.interface, service=routed.service,
                    host=routed.host)
    usable = [f"{n} ({', '.join(i.addresses)})" for n, i in net.interfaces.items()
              if i.up and i.addresses and not i.loopback]
    if usable:
        return Text("Set {name} to the interface the other nodes reach; candidates: "
                    "{candidates}.", name=name, candidates="; ".join(usable))
    return Text("This host has no interface that is up, has an address and is not loopback.")
