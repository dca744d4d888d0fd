"""nccl.interface: the socket interface NCCL (and MetaX's MCCL) bootstrap over, as they pick it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sgdoctor.api import Context, Findings, Result, check
from sgdoctor.parse.verdict import shown

if TYPE_CHECKING:
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
    for choice in choices:
        value = shown(choice.raw) if choice.raw is not None else None
        label = f"{choice.variable}={value!r}" if value is not None else \
            f"{choice.variable} unset (NCCL's default)"
        if choice.ignored_short:
            found.warn(f"{label} is 1 character, which NCCL ignores: its default applies",
                       f"Set {choice.variable} to a full interface name, or unset it.",
                       code="ignored_short")
        first = choice.first
        if first is None:
            found.fail(f"{label} selects no interface with an address: NCCL stops at init "
                       '("Bootstrap : no socket interface found")',
                       _remedy(choice.variable, routed, net), code="empty_selection")
            continue
        iface = net.interfaces[first]
        kind = net.kinds.get(first, "other")
        if not iface.up:
            found.fail(f"{label}: NCCL bootstraps over {first}, which is down ({iface.state()})",
                       f"Bring {first} up (`ip link set {first} up`), or choose another "
                       "interface. " + _remedy(choice.variable, routed, net),
                       code="selected_down")
            continue
        if kind == "loopback":
            status = found.fail if remote else found.warn
            status(f"{label}: NCCL bootstraps over the loopback interface {first}"
                   + ("" if remote else " (fine only when every rank runs on this host)"),
                   _remedy(choice.variable, routed, net), code="loopback")
            continue
        if routed and routed.interface != first:
            via = (f"the {routed.service} server {routed.host} is reached through "
                   f"{routed.interface}")
            if kind in KINDS_OF_CONCERN:
                found.warn(f"{label}: NCCL bootstraps over {first}, a {kind} interface, but "
                           f"{via}: peers on other nodes may not reach it",
                           _remedy(choice.variable, routed, net), code="virtual_pick")
            else:
                found.warn(f"{label}: NCCL bootstraps over {first}, but {via}",
                           _remedy(choice.variable, routed, net), code="route_elsewhere")
        if gloo and first not in gloo and not any(net.interfaces[g].loopback for g in gloo):
            found.warn(f"{label}: NCCL bootstraps over {first}, but gloo uses "
                       f"{', '.join(gloo)} ({net.gloo_source}): collectives and gloo's "
                       "CPU traffic take different networks",
                       f"Make them agree, e.g. {choice.variable.split(' ')[0]}="
                       f"{gloo[0]} and GLOO_SOCKET_IFNAME={gloo[0]}.",
                       code="gloo_mismatch")
        found.ok(f"{label} → {first} ({iface.gloo_address})", code="selected")

    details: dict[str, Any] = {
        "selections": {c.variable: {"value": shown(c.raw) if c.raw is not None else None,
                                    "rule": c.rule, "selects": list(c.selected),
                                    "bootstrap": c.first} for c in choices},
        "interfaces": {n: {**i.as_details(), "kind": net.kinds.get(n)}
                       for n, i in net.interfaces.items()},
        "peers": [p.as_details() for p in net.peers],
        "gloo": {"source": net.gloo_source, "interfaces": list(gloo)},
    }
    ok = "; ".join(f.summary for f in found if f.code == "selected")
    env = [*set_vars, *(["GLOO_SOCKET_IFNAME"] if "GLOO_SOCKET_IFNAME" in ctx.env else []),
           *net.gloo.env]
    return found.result(ok or "NCCL has an interface", details=details, env=env)


def _remedy(variable: str, routed: Peer | None, net: Network) -> str:
    """Name the interface that carries cluster traffic, else the usable candidates."""
    name = variable.split(" ")[0]
    if routed and routed.interface in net.interfaces and \
            not net.interfaces[routed.interface].loopback:
        return (f"Set {name}={routed.interface} (it carries the route to the "
                f"{routed.service} server {routed.host}).")
    usable = [f"{n} ({', '.join(i.addresses)})" for n, i in net.interfaces.items()
              if i.up and i.addresses and not i.loopback]
    if usable:
        return f"Set {name} to the interface the other nodes reach; candidates: " + \
            "; ".join(usable) + "."
    return "This host has no interface that is up, has an address and is not loopback."
