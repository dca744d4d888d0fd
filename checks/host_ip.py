"""host.ip: the address SGLang advertises for its cross-node message queue, against gloo's and
NCCL's interface."""

from __future__ import annotations

import ipaddress

from sgdoctor.checks.nccl_interface import gloo_source, interface_state

from sgdoctor.api import Context, Findings, Result, Text, check
from sgdoctor.parse.verdict import shown

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from sgdoctor.probe.netchoice import Network

NCCL_VARS = ("NCCL_SOCKET_IFNAME", "MCCL_SOCKET_IFNAME")
ENV = ("SGLANG_HOST_IP", "HOST_IP", "SGLANG_LOCAL_IP_NIC", "GLOO_SOCKET_IFNAME", *NCCL_VARS)
RESOLVE_TIMEOUT = 2.0
WARN_KINDS = ("wireless", "docker", "bridge")


@check("host.ip", title="IP SGLang advertises", env=ENV, timeout=6.0, tags=("network", "host"),
       settings={})
def host_ip(ctx: Context) -> Result:
    """The IP SGLang 0.5.23 advertises to the other nodes for its cross-node message queue
    (sglang/srt/utils/network.py::get_local_ip_auto, mirrored): SGLANG_HOST_IP, else HOST_IP,
    else the interface SGLANG_LOCAL_IP_NIC names, else the source address of the route to
    8.8.8.8 (no packet is sent), else the hostname's address, else 0.0.0.0. When that address
    is not on the interface gloo and NCCL/MCCL use, or sits on a wireless, docker or bridge
    interface, or is on no interface of this host at all, a two-node run hangs right after
    NCCL init (the other node waits on a queue nobody serves): warn. Loopback or 0.0.0.0
    fails when etcd/NATS are on another host."""
    from sgdoctor.probe.hostip import SGLANG_RELEASE, SOURCE_FUNCTION, advertised_ip
    from sgdoctor.probe.interfaces import address_owner
    from sgdoctor.probe.netchoice import nccl_choice, probe_network

    net = probe_network(ctx.env, ctx.timeout(RESOLVE_TIMEOUT))
    adv = advertised_ip(ctx.env, ctx.timeout(RESOLVE_TIMEOUT))
    gloo = net.gloo_interfaces
    nccl_var = next((v for v in NCCL_VARS if v in ctx.env), None)
    nccl = nccl_choice(nccl_var or "NCCL's default", ctx.env.get(nccl_var or ""),
                       net.interfaces)
    remote = any(p.remote for p in net.peers)
    found = Findings()
    shown_ip = shown(adv.address, 200)
    how = _how(adv.step, adv.found_by)
    literal = _literal(adv.address)
    owner = address_owner(net.interfaces, literal) if literal else None
    target = _target(net, gloo, nccl.first)

    if adv.step == "fallback" or (literal and ipaddress.ip_address(literal).is_unspecified):
        bad = found.fail if remote else found.warn
        said = {"ip": shown_ip, "how": how}
        bad(Text("SGLang would advertise {ip} ({how}): the other nodes cannot connect to it; "
                 "{notes}", **said, notes=Text.join("; ", adv.notes)) if adv.notes else
            Text("SGLang would advertise {ip} ({how}): the other nodes cannot connect to it",
                 **said),
            _remedy(target), code="no_address")
    elif literal is None:
        found.warn(Text("{variable}={value} is not an IP address: SGLang advertises it as "
                        "given, and every other node must resolve it to this host",
                        variable=adv.step, value=repr(shown_ip)),
                   _remedy(target), code="not_an_ip")
    elif owner is None and not ipaddress.ip_address(literal).is_loopback:
        found.warn(Text("SGLang would advertise {ip} ({how}), which no interface of this "
                        "host has: the other nodes would connect elsewhere (HOST_IP is often "
                        "the Kubernetes node address; without hostNetwork the pod has another "
                        "one)", ip=shown_ip, how=how),
                   _remedy(target), code="not_local")
    elif owner is None or net.interfaces[owner].loopback:
        bad = found.fail if remote else found.warn
        bad(Text("SGLang would advertise the loopback address {ip} ({how}): the other nodes "
                 "cannot reach it", ip=shown_ip, how=how) if remote else
            Text("SGLang would advertise the loopback address {ip} ({how}) (fine only when "
                 "every rank runs on this host)", ip=shown_ip, how=how),
            _remedy(target), code="loopback")
    else:
        iface = net.interfaces[owner]
        kind = net.kinds.get(owner, "other")
        said = {"ip": shown_ip, "how": how, "owner": owner}
        if not iface.up:
            found.fail(Text("SGLang would advertise {ip} ({how}) on {owner}, which is down "
                            "({state})", **said, state=interface_state(iface)),
                       _remedy(target), code="interface_down")
        if kind in WARN_KINDS:
            found.warn(Text("SGLang would advertise {ip} ({how}), an address of the {kind} "
                            "interface {owner}: other nodes usually cannot reach it", **said,
                            kind=kind), _remedy(target), code="virtual_address")
        sound_gloo = gloo and not any(net.interfaces[g].loopback for g in gloo)
        if sound_gloo and owner not in gloo:
            found.warn(Text("SGLang would advertise {ip} ({how}) on {owner}, but gloo uses "
                            "{gloo} ({source})", **said, gloo=", ".join(gloo),
                            source=gloo_source(net)), _remedy(target), code="gloo_mismatch")
        if nccl.first and not net.interfaces[nccl.first].loopback and nccl.first != owner:
            found.warn(Text("SGLang would advertise {ip} ({how}) on {owner}, but NCCL "
                            "bootstraps over {nccl} ({variable})", **said, nccl=nccl.first,
                            variable=nccl.variable if nccl_var else Text("NCCL's default")),
                       _remedy(target), code="nccl_mismatch")

    details: dict[str, Any] = {
        "advertised": shown_ip, "source": adv.step, "notes": [str(n) for n in adv.notes],
        "interface": owner, "kind": net.kinds.get(owner) if owner else None,
        "gloo": {"source": net.gloo_source, "interfaces": list(gloo)},
        "nccl": {"variable": nccl.variable, "bootstrap": nccl.first},
        "peers": [p.as_details() for p in net.peers],
        "rule": f"SGLang {SGLANG_RELEASE} {SOURCE_FUNCTION}",
    }
    env = [n for n in ENV if n in ctx.env] + list(net.gloo.env)
    users = [who for who, uses in (("gloo", owner in gloo),
                                   ("NCCL", owner == nccl.first)) if uses]
    said = {"ip": shown_ip, "how": how, "owner": owner}
    if not owner:
        summary = Text("SGLang advertises {ip} ({how})", **said)
    elif len(users) == 2:
        summary = Text("SGLang advertises {ip} ({how}) on {owner}, which gloo and NCCL use",
                       **said)
    elif users:
        summary = Text("SGLang advertises {ip} ({how}) on {owner}, which {user} uses", **said,
                       user=users[0])
    else:
        summary = Text("SGLang advertises {ip} ({how}) on {owner}", **said)
    return found.result(summary, details=details, env=env)


def _literal(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.split("%", 1)[0]))
    except ValueError:
        return None


def _how(step: str, found_by: Text | None) -> Text:
    if step in ("SGLANG_HOST_IP", "HOST_IP"):
        return Text("from {variable}", variable=step)
    if step == "SGLANG_LOCAL_IP_NIC":
        return Text("the address of the interface SGLANG_LOCAL_IP_NIC names")
    if step == "fallback":
        return Text("SGLang's fallback: nothing else gave an address")
    return Text("SGLang's auto-detection: {step}", step=found_by or step)


def _target(net: Network, gloo: tuple[str, ...], nccl_first: str | None) -> tuple[str, str] | None:
    """(interface, address) the advertised IP should be: gloo's, else NCCL's, else the one
    routing to etcd/NATS."""
    routed = net.route_peer
    for name in (*gloo, nccl_first, routed.interface if routed else None):
        iface = net.interfaces.get(name or "")
        if iface and not iface.loopback and iface.up and iface.gloo_address:
            return name or "", iface.gloo_address
    return None


def _remedy(target: tuple[str, str] | None) -> Text:
    if target is None:
        return Text("Set SGLANG_HOST_IP to the address of the interface the other nodes reach "
                    "(the one gloo and NCCL use).")
    name, address = target
    return Text("Set SGLANG_HOST_IP={address} (the address of {name}, which gloo and NCCL "
                "use).", address=address, name=name)
