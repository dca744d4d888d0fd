"""`sgdoctor mesh`: the records nodes exchange through etcd (the verdict is mesh_verdict).

Everything here is pure: records arrive as bytes from etcd (written by other nodes, so they
are untrusted) and are checked field by field.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from collections.abc import Mapping

from sgdoctor.api import Text
from sgdoctor.records import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

KEY_ROOT = "/sgdoctor/mesh/"
# A node or group name becomes one etcd key segment and one protocol token.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$")
MAX_RECORD = 256 * 1024
# Variables every node of a deployment must set alike (a difference breaks or hangs start-up).
CLUSTER_VARIABLES = ("NVSHMEM_SYMMETRIC_SIZE", "DYN_REQUEST_PLANE", "DYN_EVENT_PLANE",
                     "DYN_RESPONSE_PLANE")


def check_name(value: str, what: str) -> Text | None:
    """Why ``value`` cannot name a group or node, or None when it can."""
    if NAME_RE.match(value):
        return None
    return Text("{what} {value} must be 1-128 characters of letters, digits and . _ : @ + - "
                "(starting with a letter or digit)", what=what,
                value=repr(value.encode("utf-8", "backslashreplace").decode()))


def group_prefix(group: str) -> str:
    return f"{KEY_ROOT}{group}/"


def member_key(group: str, name: str) -> str:
    return f"{group_prefix(group)}{name}"


def results_key(group: str, name: str) -> str:
    return f"{group_prefix(group)}results/{name}"


def done_key(group: str, name: str) -> str:
    return f"{group_prefix(group)}done/{name}"


@dataclass(frozen=True)
class Listener:
    """One Gloo device of a node: where its mesh server listens."""

    interface: str | None
    address: str
    port: int
    mtu: int | None = None

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.address).is_loopback
        except ValueError:
            return False

    def display(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Member:
    """What a node registered under /sgdoctor/mesh/<group>/<name>."""

    name: str
    token: str
    listeners: tuple[Listener, ...] = ()
    maca_version: str | None = None
    libraries: Mapping[str, Any] = field(default_factory=dict)
    sgdoctor: str | None = None
    problem: str | None = None   # why this node's Gloo setup is unusable
    gloo_devices: int | None = None     # gloo devices (contexts) a rank makes here
    gloo_ifname: str | None = None      # GLOO_SOCKET_IFNAME as shown (None: unset)
    cluster: Mapping[str, str | None] = field(default_factory=dict)  # CLUSTER_VARIABLES

    def as_details(self) -> dict[str, Any]:
        return {"listeners": [vars(li) for li in self.listeners], "problem": self.problem,
                "maca_version": self.maca_version, "libraries": dict(self.libraries),
                "sgdoctor": self.sgdoctor, "gloo_devices": self.gloo_devices,
                "gloo_ifname": self.gloo_ifname, "cluster": dict(self.cluster)}

    def to_json(self) -> str:
        return json.dumps({"token": self.token, **self.as_details()}, sort_keys=True)

    @property
    def families(self) -> tuple[str, ...]:
        """The address families of its Gloo addresses ("ipv4", "ipv6"), sorted."""
        return tuple(sorted({f"ipv{ipaddress.ip_address(li.address).version}"
                             for li in self.listeners}))

    @property
    def mtus(self) -> tuple[int, ...]:
        """The distinct known MTUs of its Gloo interfaces, sorted."""
        return tuple(sorted({li.mtu for li in self.listeners if li.mtu is not None}))


@dataclass(frozen=True)
class Probe:
    """One node dialling one peer: the round trip, or why it failed."""

    ok: bool
    rtt_ms: float | None = None
    error: str | None = None
    address: str | None = None

    def as_details(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


def _load(raw: bytes) -> dict[str, Any] | None:
    if len(raw) > MAX_RECORD:
        return None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _str(value: Any, limit: int = 512) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def _is_address(text: str) -> bool:
    """``ipaddress.ip_address`` accepts ``text``; the dotted quads glibc's inet_pton takes
    (four decimal octets, no leading zero: exactly what ipaddress takes) without it, as a
    roster of N members is parsed on each of N nodes."""
    try:
        socket.inet_pton(socket.AF_INET, text)
        return True
    except (OSError, UnicodeError, ValueError):
        pass
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _listeners(value: Any) -> tuple[Listener, ...]:
    parsed = [_listener(item) for item in value] if isinstance(value, list) else []
    return tuple(li for li in parsed if li is not None)


def _listener(item: Any) -> Listener | None:
    if not isinstance(item, dict):
        return None
    address, port, mtu = item.get("address"), item.get("port"), item.get("mtu")
    if not isinstance(address, str) or not _is_address(address):
        return None
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        return None
    return Listener(_str(item.get("interface"), 64), address, port,
                    mtu if isinstance(mtu, int) and not isinstance(mtu, bool) else None)


def parse_member(name: str, raw: bytes) -> Member | str:
    """A registration, or why it is unreadable (a foreign or corrupt value)."""
    return _member(name, _load(raw))


NOT_A_RECORD = "its registration is not an sgdoctor mesh record"


def _member(name: str, doc: dict[str, Any] | None) -> Member | str:
    if doc is None or not isinstance(doc.get("token"), str):
        return NOT_A_RECORD
    libraries = doc.get("libraries")
    libs = {str(k)[:128]: v for k, v in libraries.items()} if isinstance(libraries, dict) else {}
    devices = doc.get("gloo_devices")
    cluster = doc.get("cluster")
    values = {k: _str(v, 256) for k, v in cluster.items()
              if k in CLUSTER_VARIABLES} if isinstance(cluster, dict) else {}
    return Member(name, doc["token"][:128], _listeners(doc.get("listeners")),
                  _str(doc.get("maca_version"), 128), libs, _str(doc.get("sgdoctor"), 64),
                  _str(doc.get("problem")),
                  devices if isinstance(devices, int) and not isinstance(devices, bool)
                  and 0 < devices < 1 << 20 else None,
                  _str(doc.get("gloo_ifname"), 256), values)


# Up to this many peers a node publishes every round trip (the whole matrix is drawn);
# beyond, only its failed dials and one summary entry "*", so the record every peer reads
# stays small and a node's bytes from etcd grow as N, not N².
FULL_ROWS = 64
SUMMARY = "*"       # the summary entry's name (no node name: NAME_RE starts alphanumeric)


def results_to_json(probes: Mapping[str, Probe]) -> str:
    if len(probes) <= FULL_ROWS:
        return json.dumps({name: probe.as_details() for name, probe in probes.items()},
                          sort_keys=True)
    rtts = [p.rtt_ms for p in probes.values() if p.ok and p.rtt_ms is not None]
    doc: dict[str, Any] = {name: probe.as_details() for name, probe in probes.items()
                           if not probe.ok}
    doc[SUMMARY] = {"ok": True, "count": len(probes) - len(doc),
                **({"rtt_ms": max(rtts)} if rtts else {})}
    return json.dumps(doc, sort_keys=True)


def parse_results(raw: bytes) -> dict[str, Probe] | None:
    """What a peer saw dialling the others; None when the record is unreadable."""
    doc = _load(raw)
    if doc is None:
        return None
    probes = {}
    for name, item in doc.items():
        if not isinstance(item, dict) or not isinstance(item.get("ok"), bool):
            continue
        rtt = item.get("rtt_ms")
        probes[name] = Probe(item["ok"], float(rtt) if isinstance(rtt, (int, float)) and
                             not isinstance(rtt, bool) else None,
                             _str(item.get("error")), _str(item.get("address"), 64))
    return probes


# A phase marker's summary (probe.rendezvous): what the node that completed the phase read for
# everyone, so each of N nodes reads one key rather than N. The roster of the members keeps
# what is each node's own (its token, addresses, problem) and names its other facts (MACA,
# libraries, the cluster variables: alike on a healthy fleet) by their index in a table of the
# distinct ones, and the summary is compressed (zlib): about 45 bytes a member, whatever its
# library set, where the record is 500 or more.
SUMMARY_VERSION = 1
MAX_SUMMARY = 16 << 20     # bytes of a summary once decompressed, at most
OWN_FIELDS = ("token", "listeners", "problem")


def roster_summary(records: Mapping[str, bytes]) -> bytes:
    """The members' records (raw, as read from etcd) as one roster (``parse_roster``)."""
    facts: dict[str, int] = {}
    members: dict[str, Any] = {}
    unreadable: dict[str, str] = {}
    for name, raw in records.items():
        doc = _load(raw)
        parsed = _member(name, doc)
        if isinstance(parsed, str):
            unreadable[name] = parsed
            continue
        assert doc is not None   # _member has a Member for a document only
        shared = json.dumps({k: v for k, v in doc.items() if k not in OWN_FIELDS},
                            sort_keys=True)
        own = {k: doc[k] for k in OWN_FIELDS if k in doc}
        members[name] = {**own, "facts": facts.setdefault(shared, len(facts))}
    return _compressed({"v": SUMMARY_VERSION, "facts": [json.loads(f) for f in facts],
                        "members": members, "unreadable": unreadable})


def parse_roster(raw: bytes) -> tuple[dict[str, Member], dict[str, str]] | None:
    """(members, unreadable records) from a roster, each member checked as ``parse_member``
    checks a record; None when it is not a roster of this version (the reader then reads the
    records themselves)."""
    doc = _summary(raw)
    if doc is None:
        return None
    facts, members, unreadable = doc.get("facts"), doc.get("members"), doc.get("unreadable")
    if not (isinstance(facts, list) and isinstance(members, dict)
            and isinstance(unreadable, dict)):
        return None
    found: dict[str, Member] = {}
    bad = {str(name): _str(why) or NOT_A_RECORD for name, why in unreadable.items()}
    shared: dict[int, Member | str] = {}   # each distinct facts' part of a member, parsed once
    for name, own in members.items():
        index = own.get("facts") if isinstance(own, dict) else None
        if not (isinstance(index, int) and not isinstance(index, bool)
                and 0 <= index < len(facts) and isinstance(facts[index], dict)):
            return None
        if index not in shared:
            alone = not any(k in facts[index] for k in OWN_FIELDS)
            shared[index] = _member("", {**facts[index], "token": ""}) if alone else ""
        template = shared[index]
        member: Member | str
        if isinstance(template, Member):
            token = own.get("token")
            member = NOT_A_RECORD if not isinstance(token, str) else Member(
                name, token[:128], _listeners(own.get("listeners")), template.maca_version,
                template.libraries, template.sgdoctor, _str(own.get("problem")),
                template.gloo_devices, template.gloo_ifname, template.cluster)
        else:   # facts that hold a member's own fields (not ours): merged, as a record
            member = _member(name, {**facts[index],
                                    **{k: own[k] for k in OWN_FIELDS if k in own}})
        if isinstance(member, str):
            bad[name] = member
        else:
            found[name] = member
    return found, bad


def results_summary(results: Mapping[str, bytes]) -> bytes:
    """Every node's published results (raw) as one summary (``parse_results_summary``)."""
    return _compressed({"v": SUMMARY_VERSION, "results": {
        name: raw.decode("utf-8", "replace") for name, raw in results.items()}})


def parse_results_summary(raw: bytes) -> dict[str, bytes] | None:
    """Each node's results (raw, for ``parse_results``) from a summary; None when it is not a
    summary of this version."""
    doc = _summary(raw)
    results = doc.get("results") if doc is not None else None
    if not isinstance(results, dict):
        return None
    return {str(name): value.encode("utf-8", "replace") for name, value in results.items()
            if isinstance(value, str)}


def _compressed(doc: Mapping[str, Any]) -> bytes:
    import zlib

    return zlib.compress(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode(), 6)


def _summary(raw: bytes) -> dict[str, Any] | None:
    import zlib

    inflate = zlib.decompressobj()
    try:
        text = inflate.decompress(raw, MAX_SUMMARY)
        if inflate.unconsumed_tail or not inflate.eof:
            return None   # larger than MAX_SUMMARY, or cut short
        doc = json.loads(text.decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) and doc.get("v") == SUMMARY_VERSION else None
