"""`sgdoctor mesh`: the records nodes exchange through etcd, and the fleet verdict.

Everything here is pure: records arrive as bytes from etcd (written by other nodes, so they
are untrusted) and are checked field by field; the verdict is computed from what every node
registered and what every node saw when it dialled the others.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

KEY_ROOT = "/sgdoctor/mesh/"
# A node or group name becomes one etcd key segment and one protocol token.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$")
MAX_RECORD = 256 * 1024


def check_name(value: str, what: str) -> str | None:
    """Why ``value`` cannot name a group or node, or None when it can."""
    if NAME_RE.match(value):
        return None
    return (f"{what} {value.encode('utf-8', 'backslashreplace').decode()!r} must be 1-128 "
            "characters of letters, digits and . _ : @ + - (starting with a letter or digit)")


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
    problem: str | None = None   # why this node has no usable Gloo address

    def to_json(self) -> str:
        return json.dumps({
            "token": self.token, "problem": self.problem, "maca_version": self.maca_version,
            "libraries": dict(self.libraries), "sgdoctor": self.sgdoctor,
            "listeners": [vars(li) for li in self.listeners]}, sort_keys=True)

    def as_details(self) -> dict[str, Any]:
        return {"listeners": [vars(li) for li in self.listeners], "problem": self.problem,
                "maca_version": self.maca_version, "libraries": dict(self.libraries),
                "sgdoctor": self.sgdoctor}


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
    return Member(name, doc["token"][:128], tuple(li for li in parsed if li is not None),
                  _str(doc.get("maca_version"), 128), libs, _str(doc.get("sgdoctor"), 64),
                  _str(doc.get("problem")))


def results_to_json(probes: Mapping[str, Probe]) -> str:
    return json.dumps({name: probe.as_details() for name, probe in probes.items()},
                      sort_keys=True)


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


# ------------------------------------------------------------------------------ verdict

@dataclass
class Verdict:
    fails: list[tuple[str, str]] = field(default_factory=list)   # (summary, remedy)
    warns: list[tuple[str, str]] = field(default_factory=list)
    matrix: dict[str, dict[str, Any]] = field(default_factory=dict)
    pairs: list[dict[str, Any]] = field(default_factory=list)


def _names(items: list[str]) -> str:
    return ", ".join(items) if items else "none"


def _majority(values: Mapping[str, Any], what: str,
              describe: Callable[[Any, Any], str]) -> tuple[str, str] | None:
    """A warning naming the nodes whose ``what`` differs from the majority's.

    ``describe(value, majority_value)`` says what an odd node has."""
    keyed = {name: json.dumps(value, sort_keys=True) for name, value in values.items()}
    counts = Counter(keyed.values())
    if len(counts) < 2:
        return None
    (top, top_n), (_, second_n) = counts.most_common(2)
    if top_n == second_n:
        groups = "; ".join(_names(sorted(n for n, k in keyed.items() if k == key))
                           for key in counts)
        return (f"fleet drift: the nodes disagree on the {what} with no majority ({groups})",
                f"Install the same {what} on every node of the group")
    odd = sorted(name for name, key in keyed.items() if key != top)
    majority = json.loads(top)
    shown = "; ".join(f"{name} has {describe(values[name], majority)}" for name in odd)
    return (f"fleet drift: {shown}, while {top_n} of {len(keyed)} nodes have "
            f"{describe(majority, None)}",
            f"Install the {what} of the majority on {_names(odd)}")


def _version(value: Any, _majority: Any) -> str:
    return f"MACA {value}" if value else "no MACA version"


def _library_set(member: Member) -> dict[str, Any]:
    out = {}
    for name, info in member.libraries.items():
        info = info if isinstance(info, dict) else {}
        path, soname = info.get("path"), info.get("soname")
        shown = f"{path}" if path else "not found"
        if soname and soname != name:
            shown += f" (soname {soname})"
        out[name] = shown
    return out


def _libraries(value: Mapping[str, str], majority: Mapping[str, str] | None) -> str:
    if majority is None:
        return "the majority's set"
    differ = sorted(set(value) | set(majority))
    parts = [f"{lib} → {value.get(lib, 'not listed')} (majority: "
             f"{majority.get(lib, 'not listed')})" for lib in differ
             if value.get(lib) != majority.get(lib)]
    return "MACA libraries " + ", ".join(parts)


def judge(group: str, me: str, expect: int, members: Mapping[str, Member],
          views: Mapping[str, Mapping[str, Probe]], unreadable: Mapping[str, str]) -> Verdict:
    """The fleet verdict as seen from ``me``: ``views[a][b]`` is what a saw dialling b."""
    verdict = Verdict()
    names = sorted(members)
    joined = len(names)
    if joined < expect:
        verdict.fails.append((
            f"only {joined} of {expect} expected nodes joined group {group} "
            f"({expect - joined} missing); joined: {_names(names)}",
            f"Start `sgdoctor mesh --group {group} --expect {expect}` on the missing nodes "
            "(a node that cannot reach etcd cannot join: run `sgdoctor --only etcd.endpoints` "
            "there), or correct --expect"))
    elif joined > expect:
        verdict.warns.append((f"{joined} nodes joined group {group}, more than the {expect} "
                              f"expected: {_names(names)}",
                              "Correct --expect, or give each deployment its own --group"))
    for name, why in sorted(unreadable.items()):
        verdict.warns.append((f"{name}: {why}", f"Delete the foreign key {member_key(group, name)}"
                              " or use another --group"))

    broken: list[str] = []
    remedies: list[str] = []
    for src in names:
        row: dict[str, Any] = {}
        for dst in names:
            if dst == src:
                continue
            probe = views.get(src, {}).get(dst)
            if probe is None:
                row[dst] = None
                continue
            row[dst] = {"rtt_ms": probe.rtt_ms} if probe.ok else {"error": probe.error}
            verdict.pairs.append({"from": src, "to": dst, **probe.as_details()})
            if not probe.ok:
                where = f" ({probe.address})" if probe.address else ""
                broken.append(f"{src} → {dst}{where}: {probe.error}")
                remedies.append(_pair_remedy(members[dst]))
        verdict.matrix[src] = row
    if broken:
        total = joined * (joined - 1)
        verdict.fails.append((f"{len(broken)} of {total} node pairs cannot connect over Gloo: "
                              + "; ".join(broken), " ".join(dict.fromkeys(remedies))))

    silent = [n for n in names if n != me and n not in views]
    if silent and joined > 1:
        verdict.warns.append((f"no results from {_names(silent)} (not published before the "
                              "timeout): only this node's view of their pairs is known",
                              "Look at the report of those nodes, or raise --timeout"))
    if joined > 1:
        for what, values, describe in (
                ("MACA version", {n: members[n].maca_version for n in names}, _version),
                ("MACA library set", {n: _library_set(members[n]) for n in names}, _libraries)):
            drift = _majority(values, what, describe)
            if drift:
                verdict.warns.append(drift)
    return verdict


def _pair_remedy(target: Member) -> str:
    if target.problem:
        return f"{target.name} has no usable Gloo address ({target.problem}): fix it there."
    if any(li.loopback for li in target.listeners):
        return (f"{target.name} registered a loopback address: set GLOO_SOCKET_IFNAME on "
                f"{target.name} to an interface the other nodes can reach (its own report "
                "names it).")
    return ("Check the route and firewall between these nodes on their Gloo interfaces "
            "(`ip route get <address>` on the sender); gloo's connectFullMesh fails the same way.")
