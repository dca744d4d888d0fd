"""gloo.interface: will PyTorch's gloo bind to an address that the other ranks can reach?"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sgdoctor.api import Context, Result, Status, check
from sgdoctor.parse.endpoints import etcd_endpoints, etcd_usage, nats_servers, nats_usage
from sgdoctor.parse.ifname import (
    GLOO_ERROR,
    NCCL_SYNTAX,
    GlooSpec,
    nccl_select,
    parse_gloo,
    parse_nccl,
)
from sgdoctor.parse.verdict import shown

NCCL_VARS = ("NCCL_SOCKET_IFNAME", "MCCL_SOCKET_IFNAME")
RESOLVE_TIMEOUT = 2.0
# Distinct entries examined one by one; a longer list is a finding of its own.
MAX_ENTRIES = 32
SEVERITY = {Status.OK: 0, Status.WARN: 1, Status.FAIL: 2}


def _show(text: str) -> str:
    return shown(text, 200)


@dataclass
class Peer:
    """An etcd or NATS server this node uses, and how the kernel reaches it."""

    service: str
    host: str
    address: str | None = None
    remote: bool = False
    interface: str | None = None
    source: str | None = None
    error: str | None = None


@dataclass
class Device:
    """One gloo device: the GLOO_SOCKET_IFNAME entry, the interface and the address it gets."""

    entry: str
    interface: str | None = None
    address: str | None = None


@dataclass
class Findings:
    items: list[tuple[Status, str, str | None]] = field(default_factory=list)

    def add(self, status: Status, summary: str, remedy: str | None = None) -> None:
        self.items.append((status, summary, remedy))

    def result(self, ok_summary: str, details: Mapping[str, Any], env: list[str]) -> Result:
        worst = max((s for s, _, _ in self.items), key=SEVERITY.__getitem__, default=Status.OK)
        if worst is Status.OK:
            return Result.ok(ok_summary, details=details, env=env)
        summary = "; ".join(s for status, s, _ in self.items if status is worst)
        remedy = " ".join(dict.fromkeys(r for status, _, r in self.items
                                        if r and status is not Status.OK)) or None
        return Result(worst, summary, remedy, dict(details), tuple(env))


@check("gloo.interface", title="Gloo network interface", env=["GLOO_SOCKET_IFNAME", *NCCL_VARS],
       timeout=5.0, tags=("network",))
def gloo_interface(ctx: Context) -> Result:
    """GLOO_SOCKET_IFNAME names the interfaces PyTorch's gloo backend binds to, exactly as gloo
    reads it: a value of 1 character or less is ignored (the hostname decides), entries are
    split on ',' and matched exactly (no NCCL '^', '=' or prefixes), and gloo takes each
    interface's first IPv4 address, else its first IPv6 one. A missing interface, or one without
    an address, aborts the server with "Unable to find address for: <name>"; a down interface,
    loopback or an IPv6 link-local address leaves the other ranks unable to connect. The check
    also compares the interface with the one the kernel routes through to reach the etcd/NATS
    servers this node uses, and with NCCL_SOCKET_IFNAME / MCCL_SOCKET_IFNAME when set."""
    from sgdoctor.probe.interfaces import list_interfaces

    spec = parse_gloo(ctx.env.get("GLOO_SOCKET_IFNAME"))
    ifaces = list_interfaces()
    peers, peer_env = _peers(ctx, ifaces)
    found = Findings()
    hostname: dict[str, Any] = {}
    devices = _named_devices(spec, ifaces, peers, found)
    if not spec.used or any(d.entry == "" for d in devices):
        hostname = _hostname_device(ctx, spec, ifaces, peers, found, devices)
    _check_routes(devices, peers, ifaces, found)
    nccl = _compare_nccl(ctx.env, ifaces, devices, found)

    details: dict[str, Any] = {
        "requested": [_show(n) for n in spec.names],
        "interfaces": {name: i.as_details() for name, i in ifaces.items()},
        "chosen": {_show(d.entry) or "(hostname)": {"interface": d.interface,
                                                    "address": d.address} for d in devices},
        "peers": [vars(p) for p in peers],
    }
    if hostname:
        details["hostname"] = hostname
    if nccl:
        details["nccl"] = nccl
    return found.result(_ok_summary(spec, devices, hostname), details, peer_env)


def _ok_summary(spec: GlooSpec, devices: list[Device], hostname: Mapping[str, Any]) -> str:
    used = ", ".join(f"{d.interface} ({d.address})" for d in devices)
    if spec.used:
        return f"GLOO_SOCKET_IFNAME={_show(spec.raw or '')}: gloo uses {used}"
    return f"{_hostname_lead(spec)} {hostname.get('name')!r} → {used}"


def _hostname_lead(spec: GlooSpec) -> str:
    """Why gloo looks at the hostname at all, for the start of a sentence."""
    if spec.raw is None:
        return "GLOO_SOCKET_IFNAME is unset, so gloo uses the hostname"
    if spec.raw == "":
        return "GLOO_SOCKET_IFNAME is empty, so gloo uses the hostname"
    if not spec.used:
        return (f"GLOO_SOCKET_IFNAME={_show(spec.raw)!r} is 1 character or less, which PyTorch "
                "ignores, so gloo uses the hostname")
    return "for the empty entry of GLOO_SOCKET_IFNAME gloo uses the hostname"


def _candidates(ifaces: Mapping, peers: list[Peer]) -> list[str]:
    """Interfaces peers could use (up, an address, not loopback); route-carrying ones first."""
    routed = {p.interface for p in peers if p.remote and p.interface}
    usable = [i for i in ifaces.values() if i.up and i.addresses and not i.loopback]
    usable.sort(key=lambda i: i.name not in routed)
    return [f"{i.name} ({', '.join(i.addresses)})" for i in usable]


def _pick_remedy(ifaces: Mapping, peers: list[Peer], prefix: str) -> str:
    routed = next((p for p in peers if p.remote and p.interface), None)
    if routed and routed.interface in ifaces and not ifaces[routed.interface].loopback:
        return (f"{prefix} Set GLOO_SOCKET_IFNAME={routed.interface} (it carries the route to "
                f"the {routed.service} server {routed.host}).")
    candidates = _candidates(ifaces, peers)
    if candidates:
        return f"{prefix} Candidates (up, with an address, not loopback): {'; '.join(candidates)}."
    return (f"{prefix} This host has no interface that is up, has an address and is not "
            "loopback: configure the network first.")


def _named_devices(spec: GlooSpec, ifaces: Mapping, peers: list[Peer],
                   found: Findings) -> list[Device]:
    from sgdoctor.probe.interfaces import is_link_local, is_loopback

    remote = [p for p in peers if p.remote]
    devices = []
    distinct = list({entry.name: entry for entry in spec.entries}.values())
    if len(distinct) > MAX_ENTRIES:
        found.add(Status.FAIL, f"GLOO_SOCKET_IFNAME lists {len(spec.entries)} entries "
                               f"({len(distinct)} distinct); gloo opens one device per entry, "
                               f"and no host has that many interfaces: only the first "
                               f"{MAX_ENTRIES} are examined",
                  "Set GLOO_SOCKET_IFNAME to the one or few interfaces the ranks use.")
    for entry in distinct[:MAX_ENTRIES]:
        name = entry.name
        shown = _show(name)
        device = Device(name)
        devices.append(device)
        abort = f'aborts with "{GLOO_ERROR.format(shown)}"'
        if entry.hostname_fallback:
            found.add(Status.WARN, f"GLOO_SOCKET_IFNAME={_show(spec.raw or '')!r} has an empty "
                                   "entry: gloo resolves the hostname for that device",
                      "Remove the stray comma.")
            continue
        iface = ifaces.get(name)
        if entry.nccl_syntax and iface is None:
            found.add(Status.FAIL,
                      f"GLOO_SOCKET_IFNAME entry {shown!r} uses NCCL syntax "
                      f"{NCCL_SYNTAX[entry.nccl_syntax]}, which gloo does not understand: it "
                      f"looks for an interface literally named {shown!r} and {abort}",
                      _pick_remedy(ifaces, peers, "List exact interface names separated by "
                                   "commas (gloo has no prefixes, wildcards or exclusions)."))
            continue
        if iface is None:
            spaces = " (gloo does not trim spaces)" if entry.whitespace else ""
            found.add(Status.FAIL, f"this host has no interface {shown!r}{spaces}; gloo {abort}",
                      _pick_remedy(ifaces, peers, f"Fix GLOO_SOCKET_IFNAME="
                                   f"{_show(spec.raw or '')}."))
            continue
        device.interface = name
        device.address = iface.gloo_address
        if device.address is None:
            found.add(Status.FAIL, f"interface {name} has no IPv4 or IPv6 address; gloo {abort}",
                      _pick_remedy(ifaces, peers, f"Give {name} an address, or choose another "
                                   "interface."))
            continue
        if not iface.up:
            found.add(Status.FAIL, f"interface {name} is down ({iface.state()}): gloo would "
                                   f"listen on {device.address}, which no peer can reach",
                      _pick_remedy(ifaces, peers, f"Bring {name} up (`ip link set {name} up`; "
                                   "check cable/peer), or choose another interface."))
            continue
        if is_link_local(device.address) and ":" in device.address:
            status = Status.FAIL if remote else Status.WARN
            found.add(status,
                      f"interface {name} has only the IPv6 link-local address "
                      f"{device.address}: gloo advertises it without a scope id that means "
                      "anything on other hosts, so ranks elsewhere cannot connect"
                      + ("" if remote else " (fine only if every rank is on this host)"),
                      _pick_remedy(ifaces, peers, f"Give {name} an IPv4 or global IPv6 "
                                   "address, or choose another interface."))
            continue
        if iface.loopback or is_loopback(device.address):
            _loopback_finding(f"GLOO_SOCKET_IFNAME names the loopback interface {name}",
                              device.address, ifaces, peers, found)
    return devices


def _loopback_finding(what: str, address: str, ifaces: Mapping, peers: list[Peer],
                      found: Findings) -> None:
    remote = [p for p in peers if p.remote]
    if remote:
        far = remote[0]
        found.add(Status.FAIL, f"{what}: gloo listens on {address}, but the {far.service} "
                               f"server {far.host} is on another host, so ranks there cannot "
                               "reach this one", _pick_remedy(ifaces, peers, "").strip())
    else:
        found.add(Status.WARN, f"{what}: gloo listens on {address}, which works only when "
                               "every rank runs on this host",
                  _pick_remedy(ifaces, peers, "For multi-node runs, set GLOO_SOCKET_IFNAME to "
                               "an interface the other nodes can reach."))


def _hostname_device(ctx: Context, spec: GlooSpec, ifaces: Mapping, peers: list[Peer],
                     found: Findings, devices: list[Device]) -> dict[str, Any]:
    """PyTorch's createDefaultDevice: the hostname's first bindable address, else 127.0.0.1."""
    import socket

    from sgdoctor.probe.interfaces import address_owner, is_loopback
    from sgdoctor.probe.routes import first_bindable, resolve_many

    name = socket.gethostname()
    resolution = resolve_many([name], ctx.timeout(RESOLVE_TIMEOUT))[name]
    address, bind_errors = first_bindable(resolution.addresses)
    info: dict[str, Any] = {"name": name, "addresses": list(resolution.addresses),
                            "error": resolution.error, "bind_errors": bind_errors}
    fallback = address is None
    if fallback:
        address = "127.0.0.1"
    info["gloo_address"] = address
    owner = address_owner(ifaces, address)
    if spec.used:
        for device in devices:
            if device.entry == "":
                device.interface, device.address = owner, address
    else:
        devices.append(Device("", owner, address))
    lead = f"{_hostname_lead(spec)} {name!r}"
    if fallback:
        why = resolution.error or "none of its addresses can be bound"
        _loopback_finding(f"{lead}, which gives no usable address ({why}), so PyTorch falls "
                          "back to loopback", address, ifaces, peers, found)
    elif is_loopback(address):
        only = all(is_loopback(a) for a in resolution.addresses)
        how = "resolves only to loopback" if only else f"resolves first to {address}"
        _loopback_finding(f"{lead}, which {how}", address, ifaces, peers, found)
    elif spec.ignored_short and spec.raw:
        found.add(Status.WARN, f"{lead} → {owner} ({address})",
                  _pick_remedy(ifaces, peers, "Set GLOO_SOCKET_IFNAME to a full interface "
                               "name (gloo ignores values of 1 character), or unset it."))
    return info


def _peers(ctx: Context, ifaces: Mapping) -> tuple[list[Peer], list[str]]:
    """The etcd/NATS servers this configuration uses, resolved and routed."""
    from sgdoctor.probe.interfaces import address_owner, is_loopback
    from sgdoctor.probe.routes import resolve_many, source_address

    env = ctx.env
    wanted: list[tuple[str, str]] = []
    read: list[str] = []
    etcd = etcd_usage(env)
    read += etcd.env
    if etcd.used:
        read.append("ETCD_ENDPOINTS")
        wanted += [("etcd", e.host) for e in etcd_endpoints(env) if e.host]
    nats = nats_usage(env)
    read += nats.env
    if nats.used or (nats.used is None and "NATS_SERVER" in env):
        read.append("NATS_SERVER")
        wanted += [("NATS", e.host) for e in nats_servers(env) if e.host]
    resolved = resolve_many([h for _, h in wanted], ctx.timeout(RESOLVE_TIMEOUT))
    peers = []
    for service, host in wanted:
        res = resolved[host]
        peer = Peer(service, host, error=res.error)
        if res.addresses:
            peer.address = res.addresses[0]
            peer.remote = not is_loopback(peer.address) and \
                address_owner(ifaces, peer.address) is None
            peer.source, peer.error = source_address(peer.address)
            if peer.source:
                peer.interface = address_owner(ifaces, peer.source)
        peers.append(peer)
    return peers, [n for n in dict.fromkeys(read) if n in env]


def _check_routes(devices: list[Device], peers: list[Peer], ifaces: Mapping,
                  found: Findings) -> None:
    used = {d.interface for d in devices if d.interface}
    if not used or any(ifaces[n].loopback for n in used if n in ifaces):
        return  # nothing bound, or loopback already reported
    for peer in peers:
        if peer.remote and peer.interface and peer.interface not in used:
            found.add(Status.WARN,
                      f"the {peer.service} server {peer.host} is reached through "
                      f"{peer.interface}, but gloo uses {', '.join(sorted(used))}",
                      f"Set GLOO_SOCKET_IFNAME={peer.interface} (it carries the route to the "
                      f"{peer.service} server {peer.host}), or check the routing table if "
                      "gloo's network is meant to differ.")


def _compare_nccl(env: Mapping[str, str], ifaces: Mapping, devices: list[Device],
                  found: Findings) -> dict[str, Any]:
    from sgdoctor.probe.interfaces import getifaddrs_order

    gloo = {d.interface for d in devices if d.interface}
    # Advising "match gloo" only makes sense once gloo's own choice is sound.
    sound = not any(status is Status.FAIL for status, _, _ in found.items) and \
        not any(ifaces[n].loopback for n in gloo if n in ifaces)
    order = getifaddrs_order(ifaces)
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
            found.add(Status.WARN,
                      f"{var}={value!r} selects {what}, but gloo uses {', '.join(sorted(gloo))}: "
                      "collectives and gloo's CPU traffic would take different networks",
                      f"Make them agree, e.g. {var}={','.join(sorted(gloo))}.")
    return report
