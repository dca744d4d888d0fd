"""gloo.interface: will PyTorch's gloo bind to an address that the other ranks can reach?

The facts come from sgdoctor.probe.gloo (devices, the hostname path, routes to the peers);
this module only judges them. Rules verified against PyTorch 2.13 (facts.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sgdoctor.api import Context, Findings, Result, Status, check
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


def _ok_summary(facts: GlooFacts) -> str:
    used = ", ".join(f"{d.interface} ({d.address})" for d in facts.devices if d.entry != "")
    if facts.spec.used:
        return f"GLOO_SOCKET_IFNAME={_show(facts.spec.raw or '')}: gloo uses {used}"
    assert facts.hostname is not None
    return f"{_hostname_lead(facts)} {_named(facts.hostname)} → {used}"


def _hostname_lead(facts: GlooFacts) -> str:
    """Why gloo looks at the hostname at all, for the start of a sentence."""
    raw = facts.spec.raw
    if raw is None:
        return "GLOO_SOCKET_IFNAME is unset, so gloo uses the hostname"
    if raw == "":
        return "GLOO_SOCKET_IFNAME is empty, so gloo uses the hostname"
    return (f"GLOO_SOCKET_IFNAME={_show(raw)!r} is 1 character or less, which PyTorch "
            "ignores, so gloo uses the hostname")


def _source(path: HostnamePath) -> str:
    """Where the hostname's address came from: the /etc/hosts line, or not /etc/hosts."""
    line = path.hosts_line
    if line is not None:
        return f"{path.hosts_path} line {line.number}: {_show(line.text)!r}"
    if path.hosts_error:
        return f"not from {path.hosts_path} ({path.hosts_error})"
    return f"not from {path.hosts_path}: DNS or another NSS source"


def _named(path: HostnamePath) -> str:
    return f"{_show(path.name)!r} ({_source(path)})"


def _candidates(facts: GlooFacts) -> list[str]:
    """Interfaces peers could use (up, an address, not loopback); route-carrying ones first."""
    routed = {p.interface for p in facts.remote_peers if p.interface}
    usable = [i for i in facts.interfaces.values() if i.up and i.addresses and not i.loopback]
    usable.sort(key=lambda i: i.name not in routed)
    return [f"{i.name} ({', '.join(i.addresses)})" for i in usable]


def _pick_remedy(facts: GlooFacts, prefix: str) -> str:
    routed = facts.route_peer
    if routed is not None:
        return (f"{prefix} Set GLOO_SOCKET_IFNAME={routed.interface} (it carries the route to "
                f"the {routed.service} server {routed.host}).").strip()
    candidates = _candidates(facts)
    if candidates:
        return (f"{prefix} Candidates (up, with an address, not loopback): "
                f"{'; '.join(candidates)}.").strip()
    return (f"{prefix} This host has no interface that is up, has an address and is not "
            "loopback: configure the network first.").strip()


def _entries(facts: GlooFacts, found: Findings) -> None:
    spec = facts.spec
    raw = _show(spec.raw or "")
    if facts.distinct_entries > MAX_ENTRIES:
        found.fail(f"GLOO_SOCKET_IFNAME lists {len(spec.entries)} entries "
                   f"({facts.distinct_entries} distinct); gloo opens one device per entry, "
                   f"and no host has that many interfaces: only the first {MAX_ENTRIES} are "
                   "examined",
                   "Set GLOO_SOCKET_IFNAME to the one or few interfaces the ranks use.",
                   code="too_many_entries")
    if spec.has_empty:
        found.fail(f"GLOO_SOCKET_IFNAME={raw!r} has an empty entry (a leading or doubled "
                   f'comma): PyTorch aborts at once with "{GLOO_EMPTY_ERROR}"',
                   "Remove the stray comma (a trailing comma is harmless).",
                   code="empty_entry")


def _family_mismatch(facts: GlooFacts, device: Device, what: str, found: Findings) -> bool:
    """gloo aborts when two ranks' addresses differ in family (device.cc ss_family check)."""
    mine, cluster = device.family, facts.cluster_family
    if mine is None or cluster is None or mine == cluster:
        return False
    peer = next(p for p in facts.remote_peers if p.family == cluster)
    only = " only" if mine == "ipv6" else ""
    found.fail(f"{what} gives gloo the {FAMILY_NAME[mine]} address {device.address}{only}, "
               f"but the {peer.service} server {peer.host} is {FAMILY_NAME[cluster]} "
               f"({peer.address}): gloo requires one address family on every rank and aborts "
               f'("... {AF_NUMBER[mine]} vs {AF_NUMBER[cluster]}")',
               _pick_remedy(facts, f"Give gloo an {FAMILY_NAME[cluster]} address."),
               code="family_mismatch")
    return True


def _named_device(facts: GlooFacts, device: Device, found: Findings) -> None:
    name = device.entry or ""
    shown_name = _show(name)
    raw = _show(facts.spec.raw or "")
    entry = next(e for e in facts.spec.entries if e.name == name)
    abort = f'aborts with "{GLOO_ERROR.format(shown_name)}"'
    iface = facts.interfaces.get(name)
    if iface is None:
        if entry.nccl_syntax:
            found.fail(f"GLOO_SOCKET_IFNAME entry {shown_name!r} uses NCCL syntax "
                       f"{NCCL_SYNTAX[entry.nccl_syntax]}, which gloo does not understand: it "
                       f"looks for an interface literally named {shown_name!r} and {abort}",
                       _pick_remedy(facts, "List exact interface names separated by commas "
                                           "(gloo has no prefixes, wildcards or exclusions)."),
                       code="nccl_syntax")
            return
        spaces = " (gloo does not trim spaces)" if entry.whitespace else ""
        found.fail(f"this host has no interface {shown_name!r}{spaces}; gloo {abort}",
                   _pick_remedy(facts, f"Fix GLOO_SOCKET_IFNAME={raw}."),
                   code="missing_interface")
        return
    if device.address is None:
        found.fail(f"interface {name} has no IPv4 or IPv6 address; gloo {abort}",
                   _pick_remedy(facts, f"Give {name} an address, or choose another interface."),
                   code="no_address")
        return
    if not iface.up:
        found.fail(f"interface {name} is down ({iface.state()}): gloo would listen on "
                   f"{device.address}, which no peer can reach",
                   _pick_remedy(facts, f"Bring {name} up (`ip link set {name} up`; check "
                                       "cable/peer), or choose another interface."),
                   code="interface_down")
        return
    if _family_mismatch(facts, device, f"interface {name}", found):
        return
    if is_link_local(device.address) and ":" in device.address:
        found.warn(f"interface {name} has only the IPv6 link-local address {device.address}: "
                   "that works only when every rank uses a link-local address on an interface "
                   "with the same index",
                   _pick_remedy(facts, f"Give {name} a global address, or choose another "
                                       "interface."),
                   code="link_local_only")
        return
    if iface.loopback or is_loopback(device.address):
        _loopback_finding(facts, f"GLOO_SOCKET_IFNAME names the loopback interface {name}",
                          device.address, found)


def _loopback_finding(facts: GlooFacts, what: str, address: str, found: Findings) -> None:
    remote = facts.remote_peers
    if remote:
        far = remote[0]
        found.fail(f"{what}: gloo listens on {address}, but the {far.service} server "
                   f"{far.host} is on another host, so ranks there cannot reach this one",
                   _pick_remedy(facts, ""), code="loopback")
    else:
        found.warn(f"{what}: gloo listens on {address}, which works only when every rank "
                   "runs on this host",
                   _pick_remedy(facts, "For multi-node runs, set GLOO_SOCKET_IFNAME to an "
                                       "interface the other nodes can reach."),
                   code="loopback")


def _hostname_device(facts: GlooFacts, device: Device, found: Findings) -> None:
    """PyTorch's createDefaultDevice: the hostname's first bindable address, else 127.0.0.1."""
    path = facts.hostname
    assert path is not None
    lead = f"{_hostname_lead(facts)} {_named(path)}"
    if path.numeric is not None and (path.fallback or device.interface is None):
        found.fail(f"{_hostname_lead(facts)} {_show(path.name)!r}, which is a number: "
                   f"getaddrinfo reads it as the IPv4 address {path.numeric}, which this host "
                   "does not have",
                   _pick_remedy(facts, "Give this host a name that is not a number "
                                       "(`hostnamectl set-hostname …`), or set "
                                       "GLOO_SOCKET_IFNAME."),
                   code="numeric_hostname")
        return
    address = path.address
    if path.fallback:
        why = path.error or "none of its addresses can be bound"
        stale = path.hosts_line
        if stale is not None and path.addresses:
            why = (f"{path.hosts_path} line {stale.number} maps it to {stale.address}, which "
                   "no interface of this host has")
        _loopback_finding(facts, f"{lead}, which gives no usable address ({why}), so PyTorch "
                                 "falls back to loopback", address, found)
        return
    if device.interface is None:
        line = path.hosts_line
        fix = (f"Correct {path.hosts_path} line {line.number} so {_show(path.name)!r} maps to "
               "this node's address" if line is not None else
               f"Make {_show(path.name)!r} resolve to this node's address")
        found.fail(f"{lead} resolves to {address}, which this host can bind but no "
                   f"interface has: gloo aborts with "
                   f'"{GLOO_NO_INTERFACE_ERROR.format(address)}"',
                   _pick_remedy(facts, f"{fix}, or set GLOO_SOCKET_IFNAME."),
                   code="hostname_no_interface")
        return
    if _family_mismatch(facts, device, f"the hostname {_show(path.name)!r}", found):
        return
    if is_loopback(address):
        only = all(is_loopback(a) for a in path.addresses)
        how = "resolves only to loopback" if only else f"resolves first to {address}"
        _loopback_finding(facts, f"{lead}, which {how}", address, found)
    elif facts.spec.ignored_short and facts.spec.raw:
        found.warn(f"{lead} → {device.interface} ({address})",
                   _pick_remedy(facts, "Set GLOO_SOCKET_IFNAME to a full interface name "
                                       "(gloo ignores values of 1 character), or unset it."),
                   code="short_value_ignored")


def _check_routes(facts: GlooFacts, found: Findings) -> None:
    used = {d.interface for d in facts.devices if d.interface}
    if not used or any(facts.interfaces[n].loopback for n in used if n in facts.interfaces):
        return  # nothing bound, or loopback already reported
    for peer in facts.remote_peers:
        if peer.interface and peer.interface not in used:
            found.warn(f"the {peer.service} server {peer.host} is reached through "
                       f"{peer.interface}, but gloo uses {', '.join(sorted(used))}",
                       f"Set GLOO_SOCKET_IFNAME={peer.interface} (it carries the route to the "
                       f"{peer.service} server {peer.host}), or check the routing table if "
                       "gloo's network is meant to differ.",
                       code="route_mismatch")


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
            what = ", ".join(selected) if selected else "no interface with an address"
            found.warn(f"{var}={value!r} selects {what}, but gloo uses {', '.join(sorted(gloo))}: "
                       "collectives and gloo's CPU traffic would take different networks",
                       f"Make them agree, e.g. {var}={','.join(sorted(gloo))}.",
                       code="nccl_disagrees")
    return report
