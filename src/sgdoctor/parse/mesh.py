"""`sgdoctor mesh`: the records nodes exchange through etcd (the verdict is mesh_verdict).

Everything here is pure: records arrive as bytes from etcd (written by other nodes, so they
are untrusted) and are checked field by field.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any

from sgdoctor.api import Text
from sgdoctor.records import dataclass, field

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


def _listener(item: Any) -> Listener | None:
    if not isinstance(item, dict):
        return None
    address, port, mtu = item.get("address"), item.get("port"), item.get("mtu")
    if not isinstance(address, str):
        return None
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return None
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        return None
    return Listener(_str(item.get("interface"), 64), address, port,
                    mtu if isinstance(mtu, int) and not isinstance(mtu, bool) else None)


def parse_member(name: str, raw: bytes) -> Member | str:
    """A registration, or why it is unreadable (a foreign or corrupt value)."""
    doc = _load(raw)
    if doc is None or not isinstance(doc.get("token"), str):
        return "its registration is not an sgdoctor mesh record"
    listeners = doc.get("listeners")
    parsed = [_listener(item) for item in listeners] if isinstance(listeners, list) else []
    libraries = doc.get("libraries")
    libs = {str(k)[:128]: v for k, v in libraries.items()} if isinstance(libraries, dict) else {}
    devices = doc.get("gloo_devices")
    cluster = doc.get("cluster")
    values = {k: _str(v, 256) for k, v in cluster.items()
              if k in CLUSTER_VARIABLES} if isinstance(cluster, dict) else {}
    return Member(name, doc["token"][:128], tuple(li for li in parsed if li is not None),
                  _str(doc.get("maca_version"), 128), libs, _str(doc.get("sgdoctor"), 64),
                  _str(doc.get("problem")),
                  devices if isinstance(devices, int) and not isinstance(devices, bool)
                  and 0 < devices < 1 << 20 else None,
                  _str(doc.get("gloo_ifname"), 256), values)


# Up to this many peers a node publishes every round trip (the whole matrix is drawn);
# beyond, only its failed dials and one summary entry "*", so the record every peer reads
# stays small and a node's bytes from etcd grow as N, not N².
FULL_ROWS = 64


def results_to_json(probes: Mapping[str, Probe]) -> str:
    if len(probes) <= FULL_ROWS:
        return json.dumps({name: probe.as_details() for name, probe in probes.items()},
                          sort_keys=True)
    rtts = [p.rtt_ms for p in probes.values() if p.ok and p.rtt_ms is not None]
    doc: dict[str, Any] = {name: probe.as_details() for name, probe in probes.items()
                           if not probe.ok}
    doc["*"] = {"ok": True, "count": len(probes) - len(doc),
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
