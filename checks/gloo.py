"""gloo.interface: will PyTorch's gloo bind to an address that the other ranks can reach?

The facts come from sgdoctor.probe.gloo (devices, the hostname path, routes to the peers);
this module only judges them. Rules verified against PyTorch 2.13 (facts.md).
"""

from __future__ import annotations

from collections.abc import Mapping

from sgdoctor.api import Context, Findings, Result, Status, Text, check
from sgdoctor.parse.ifname import (
    GLOO_EMPTY_ERROR,
    GLOO_ERROR,
    GLOO_NO_INTERFACE_ERROR,
    NCCL_SYNTAX,
    nccl_select,
    parse_nccl,
)
from sgdoctor.parse.verdict import shown
from sgdoctor.probe.gloo import MAX_ENTRIES, Device, GlooFacts, HostnamePath, probe_gloo
from sgdoctor.probe.interfaces import getifaddrs_order, is_link_local, is_loopback

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NCCL_VARS = ("NCCL_SOCKET_IFNAME", "MCCL_SOCKET_IFNAME")
RESOLVE_TIMEOUT = 2.0
AF_NUMBER = {"ipv4": 2, "ipv6": 10}   # gloo quotes ss_family numbers: "... 10 vs 2"
FAMILY_NAME = {"ipv4": "IPv4", "ipv6": "IPv6"}


def _show(text: str) -> str:
    return shown(text, 200)


@check("gloo.interface", title="Gloo network interface", env=["GLOO_SOCKET_IFNAME", *NCCL_VARS],
       timeout=5.0, tags=("network",), settings={})
def gloo_interface(ctx: Context) -> Result:
    """GLOO_SOCKET_IFNAME names the interfaces PyTorch's gloo backend binds to, exactly as gloo
    reads it (verified against PyTorch 2.13): a value of 1 character or less is ignored (the
    hostname decides), entries are split on ',' and matched exactly (no NCCL '^', '=' or
    prefixes), an empty entry (',bond0', 'a,,b') aborts at once, and gloo takes each
    interface's first IPv4 address, else its first IPv6 one. A missing interface, or one
    without an address, aborts the server with "Unable to find address for: <name>"; an
    address of another family than the other ranks' aborts too ("... 10 vs 2"); a down
    interface or loopback leaves the other ranks unable to connect. Unset, gloo binds the
    hostname's first bindable address: the check names the hostname and the /etc/hosts line
    that gave it, and fails when no interface owns that address or the hostname is a number.
    It also compares the interface with the route to the etcd/NATS servers this node uses,
    and with NCCL_SOCKET_IFNAME / MCCL_SOCKET_IFNAME when set."""
    facts = probe_gloo(ctx.env, ctx.timeout(RESOLVE_TIMEOUT))
    found = Findings()
    _entries(facts, found)
    for device in facts.devices:
        if device.entry is None:
            _hostname_device(facts, device, found)
        elif device.entry != "":
            _named_device(facts, device, found)
    _check_routes(facts, found)
    nccl = _compare_nccl(ctx.env, facts, found)

    details: dict[str, Any] = {
        "requested": [_show(n) for n in facts.spec.names],
        "devices": facts.spec.device_count,
        "interfaces": {name: i.as_details() for name, i in facts.interfaces.items()},
        "chosen": {_device_key(d): {"interface": d.interface, "address": d.address}
                   for d in facts.devices if d.entry != ""},
        "peers": [p.as_details() for p in facts.peers],
    }
    if facts.hostname is not None:
        details["hostname"] = facts.hostname.as_details()
    if nccl:
        details["nccl"] = nccl
    return found.result(_ok_summary(facts), details=details, env=facts.env)


def _device_key(device: Device) -> str:
    return "(hostname)" if device.entry is None else _show(device.entry)


def _ok_summary(facts: GlooFacts) -> Text:
    used = ", ".join(f"{d.interface} ({d.address})" for d in facts.devices if d.entry != "")
    if facts.spec.used:
        return Text("GLOO_SOCKET_IFNAME={value}: gloo uses {used}",
                    value=_show(facts.spec.raw or ""), used=used)
    assert facts.hostname is not None
    return Text("{lead} {hostname} → {used}", lead=_hostname_lead(facts),
                hostname=_named(facts.hostname), used=used)


def _hostname_lead(facts: GlooFacts) -> Text:
    """Why gloo looks at the hostname at all, for the start of a sentence."""
    raw = facts.spec.raw
    if raw is None:
        return Text("GLOO_SOCKET_IFNAME is unset, so gloo uses the hostname")
    if raw == "":
        return Text("GLOO_SOCKET_IFNAME is empty, so gloo uses the hostname")
    return Text("GLOO_SOCKET_IFNAME={value} is 1 character or less, which PyTorch ignores, "
                "so gloo uses the hostname", value=repr(_show(raw)))


def _source(path: HostnamePath) -> Text:
    """Where the hostname's address came from: the /etc/hosts line, or not /etc/hosts."""
    line = path.hosts_line
    if line is not None:
        return Text("{path} line {number}: {text}", path=path.hosts_path, number=line.number,
                    text=repr(_show(line.text)))
    if path.hosts_error:
        return Text("not from {path} ({error})", path=path.hosts_path, error=path.hosts_error)
    return Text("not from {path}: DNS or another NSS source", path=path.hosts_path)


def _named(path: HostnamePath) -> Text:
    return Text("{name} ({source})", name=repr(_show(path.name)), source=_source(path))


def _candidates(facts: GlooFacts) -> list[str]:
    """Interfaces peers could use (up, an address, not loopback); route-carrying ones first."""
    routed = {p.interface for p in facts.remote_peers if p.interface}
    usable = [i for i in facts.interfaces.values() if i.up and i.addresses and not i.loopback]
    usable.sort(key=lambda i: i.name not in routed)
    return [f"{i.name} ({', '.join(i.addresses)})" for i in usable]


def _pick_remedy(facts: GlooFacts, prefix: Text | None) -> Text:
    """`prefix` (what to fix), then which interface to choose."""
    routed = facts.route_peer
    if routed is not None:
        rest = Text("Set GLOO_SOCKET_IFNAME={interface} (it carries the route to the "
                    "{service} server {host}).", interface=routed.interface,
                    service=routed.service, host=routed.host)
    elif candidates := _candidates(facts):
        rest = Text("Candidates (up, with an address, not loopback): {candidates}.",
                    candidates="; ".join(candidates))
    else:
        rest = Text("This host has no interface that is up, has an address and is not "
                    "loopback: configure the network first.")
    return rest if prefix is None else Text("{prefix} {rest}", prefix=prefix, rest=rest)


def _entries(facts: GlooFacts, found: Findings) -> None:
    spec = facts.spec
    raw = _show(spec.raw or "")
    if facts.distinct_entries > MAX_ENTRIES:
        found.fail(Text("GLOO_SOCKET_IFNAME lists {count} entries ({distinct} distinct); gloo "
                        "opens one device per entry, and no host has that many interfaces: "
                        "only the first {max} are examined", count=len(spec.entries),
                        distinct=facts.distinct_entries, max=MAX_ENTRIES),
                   "Set GLOO_SOCKET_IFNAME to the one or few interfaces the ranks use.",
                   code="too_many_entries")
    if spec.has_empty:
        found.fail(Text('GLOO_SOCKET_IFNAME={value} has an empty entry (a leading or doubled '
                        'comma): PyTorch aborts at once with "{error}"', value=repr(raw),
                        error=GLOO_EMPTY_ERROR),
                   "Remove the stray comma (a trailing comma is harmless).",
                   code="empty_entry")


def _family_mismatch(facts: GlooFacts, device: Device, what: Text, found: Findings) -> bool:
    """gloo aborts when two ranks' addresses differ in family (device.cc ss_family check)."""
    mine, cluster = device.family, facts.cluster_family
    if mine is None or cluster is None or mine == cluster:
        return False
    peer = next(p for p in facts.remote_peers if p.family == cluster)
    address = (Text("the {family} address {address} only", family=FAMILY_NAME[mine],
                    address=device.address) if mine == "ipv6" else
               Text("the {family} address {address}", family=FAMILY_NAME[mine],
                    address=device.address))
    found.fail(Text('{what} gives gloo {address}, but the {service} server {host} is '
                    '{family} ({peer_address}): gloo requires one address family on every '
                    'rank and aborts ("... {mine} vs {theirs}")', what=what, address=address,
                    service=peer.service, host=peer.host, family=FAMILY_NAME[cluster],
                    peer_address=peer.address, mine=AF_NUMBER[mine], theirs=AF_NUMBER[cluster]),
               _pick_remedy(facts, Text("Give gloo an {family} address.",
                                        family=FAMILY_NAME[cluster])),
               code="family_mismatch")
    return True


def _named_device(facts: GlooFacts, device: Device, found: Findings) -> None:
    name = device.entry or ""
    shown_name = _show(name)
    raw = _show(facts.spec.raw or "")
    entry = next(e for e in facts.spec.entries if e.name == name)
    abort = Text('aborts with "{error}"', error=GLOO_ERROR.format(shown_name))
    iface = facts.interfaces.get(name)
    if iface is None:
        if entry.nccl_syntax:
            found.fail(Text("GLOO_SOCKET_IFNAME entry {name} uses NCCL syntax {syntax}, which "
                            "gloo does not understand: it looks for an interface literally "
                            "named {name} and {abort}", name=repr(shown_name),
                            syntax=NCCL_SYNTAX[entry.nccl_syntax], abort=abort),
                       _pick_remedy(facts, Text("List exact interface names separated by "
                                                "commas (gloo has no prefixes, wildcards or "
                                                "exclusions).")),
                       code="nccl_syntax")
            return
        missing = (Text("this host has no interface {name} (gloo does not trim spaces); gloo "
                        "{abort}", name=repr(shown_name), abort=abort) if entry.whitespace else
                   Text("this host has no interface {name}; gloo {abort}",
                        name=repr(shown_name), abort=abort))
        found.fail(missing, _pick_remedy(facts, Text("Fix GLOO_SOCKET_IFNAME={value}.",
                                                     value=raw)),
                   code="missing_interface")
        return
    if device.address is None:
        found.fail(Text("interface {name} has no IPv4 or IPv6 address; gloo {abort}",
                        name=name, abort=abort),
                   _pick_remedy(facts, Text("Give {name} an address, or choose another "
                                            "interface.", name=name)),
                   code="no_address")
        return
    if not iface.up:
        found.fail(Text("interface {name} is down ({state}): gloo would listen on {address}, "
                        "which no peer can reach", name=name, state=iface.state(),
                        address=device.address),
                   _pick_remedy(facts, Text("Bring {name} up (`ip link set {name} up`; check "
                                            "cable/peer), or choose another interface.",
                                            name=name)),
                   code="interface_down")
        return
    if _family_mismatch(facts, device, Text("interface {name}", name=name), found):
        return
    if is_link_local(device.address) and ":" in device.address:
        found.warn(Text("interface {name} has only the IPv6 link-local address {address}: "
                        "that works only when every rank uses a link-local address on an "
                        "interface with the same index", name=name, address=device.address),
                   _pick_remedy(facts, Text("Give {name} a global address, or choose another "
                                            "interface.", name=name)),
                   code="link_local_only")
        return
    if iface.loopback or is_loopback(device.address):
        _loopback_finding(facts, Text("GLOO_SOCKET_IFNAME names the loopback interface {name}",
                                      name=name), device.address, found)


def _loopback_finding(facts: GlooFacts, what: Text, address: str, found: Findings) -> None:
    remote = facts.remote_peers
    if remote:
        far = remote[0]
        found.fail(Text("{what}: gloo listens on {address}, but the {service} server {host} "
                        "is on another host, so ranks there cannot reach this one", what=what,
                        address=address, service=far.service, host=far.host),
                   _pick_remedy(facts, None), code="loopback")
    else:
        found.warn(Text("{what}: gloo listens on {address}, which works only when every rank "
                        "runs on this host", what=what, address=address),
                   _pick_remedy(facts, Text("For multi-node runs, set GLOO_SOCKET_IFNAME to an "
                                            "interface the other nodes can reach.")),
                   code="loopback")


def _hostname_device(facts: GlooFacts, device: Device, found: Findings) -> None:
    """PyTorch's createDefaultDevice: the hostname's first bindable address, else 127.0.0.1."""
    path = facts.hostname
    assert path is not None
    lead = Text("{lead} {hostname}", lead=_hostname_lead(facts), hostname=_named(path))
    name = repr(_show(path.name))
    if path.numeric is not None and (path.fallback or device.interface is None):
        found.fail(Text("{lead} {name}, which is a number: getaddrinfo reads it as the IPv4 "
                        "address {address}, which this host does not have",
                        lead=_hostname_lead(facts), name=name, address=path.numeric),
                   _pick_remedy(facts, Text("Give this host a name that is not a number "
                                            "(`hostnamectl set-hostname …`), or set "
                                            "GLOO_SOCKET_IFNAME.")),
                   code="numeric_hostname")
        return
    address = path.address
    if path.fallback:
        why: str | Text = path.error or Text("none of its addresses can be bound")
        stale = path.hosts_line
        if stale is not None and path.addresses:
            why = Text("{path} line {number} maps it to {address}, which no interface of this "
                       "host has", path=path.hosts_path, number=stale.number,
                       address=stale.address)
        _loopback_finding(facts, Text("{lead}, which gives no usable address ({why}), so "
                                      "PyTorch falls back to loopback", lead=lead, why=why),
                          address, found)
        return
    if device.interface is None:
        line = path.hosts_line
        fix = (Text("Correct {path} line {number} so {name} maps to this node's address",
                    path=path.hosts_path, number=line.number, name=name) if line is not None
               else Text("Make {name} resolve to this node's address", name=name))
        found.fail(Text('{lead} resolves to {address}, which this host can bind but no '
                        'interface has: gloo aborts with "{error}"', lead=lead,
                        address=address, error=GLOO_NO_INTERFACE_ERROR.format(address)),
                   _pick_remedy(facts, Text("{fix}, or set GLOO_SOCKET_IFNAME.", fix=fix)),
                   code="hostname_no_interface")
        return
    if _family_mismatch(facts, device, Text("the hostname {name}", name=name), found):
        return
    if is_loopback(address):
        only = all(is_loopback(a) for a in path.addresses)
        how = (Text("resolves only to loopback") if only else
               Text("resolves first to {address}", address=address))
        _loopback_finding(facts, Text("{lead}, which {how}", lead=lead, how=how), address,
                          found)
    elif facts.spec.ignored_short and facts.spec.raw:
        found.warn(Text("{lead} → {interface} ({address})", lead=lead,
                        interface=device.interface, address=address),
                   _pick_remedy(facts, Text("Set GLOO_SOCKET_IFNAME to a full interface name "
                                            "(gloo ignores values of 1 character), or unset "
                                            "it.")),
                   code="short_value_ignored")


def _check_routes(facts: GlooFacts, found: Findings) -> None:
    used = {d.interface for d in facts.devices if d.interface}
    if not used or any(facts.interfaces[n].loopback for n in used if n in facts.interfaces):
        return  # nothing bound, or loopback already reported
    for peer in facts.remote_peers:
        if peer.interface and peer.interface not in used:
            fields = {"service": peer.service, "host": peer.host, "interface": peer.interface}
            found.warn("the {service} server {host} is reached through {interface}, but gloo "
                       "uses {used}",
                       "Set GLOO_SOCKET_IFNAME={interface} (it carries the route to the "
                       "{service} server {host}), or check the routing table if gloo's "
                       "network is meant to differ.",
                       code="route_mismatch", fields={**fields, "used": ", ".join(sorted(used))})


def _compare_nccl(env: Mapping[str, str], facts: GlooFacts, found: Findings) -> dict[str, Any]:
    gloo = {d.interface for d in facts.devices if d.interface}
    # Advising "match gloo" only makes sense once gloo's own choice is sound.
    sound = found.worst is not Status.FAIL and \
        not any(facts.interfaces[n].loopback for n in gloo if n in facts.interfaces)
    order = getifaddrs_order(facts.interfaces)
    report: dict[str, Any] = {}
    for var in NCCL_VARS:
        if var not in env:
            continue
        spec = parse_nccl(env[var])
        selected = nccl_select(spec, order)
        value = _show(env[var])
        report[var] = {"value": value, "rule": _show(spec.describe()), "selects": selected}
        if sound and gloo and not gloo & set(selected):
            what = ", ".join(selected) if selected else Text("no interface with an address")
            found.warn("{var}={value} selects {what}, but gloo uses {gloo}: collectives and "
                       "gloo's CPU traffic would take different networks",
                       "Make them agree, e.g. {var}={agree}.", code="nccl_disagrees",
                       fields={"var": var, "value": repr(value), "what": what,
                               "gloo": ", ".join(sorted(gloo)), "agree": ",".join(sorted(gloo))})
    return report
