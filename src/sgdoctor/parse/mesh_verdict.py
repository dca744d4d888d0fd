"""The fleet verdict of `sgdoctor mesh`, from what every node registered and saw.

Pure: ``judge`` takes the members' records and each node's view of its peers and returns
Findings (with stable codes), the reachability matrix and every dialled pair. Drift in what
must agree across a deployment is a fail naming the nodes: the gloo address family (gloo
aborts "... 10 vs 2"), the number of gloo devices (a different count hangs init), the MTU of
the Gloo interfaces, the cluster-wide variables and the MACA version.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sgdoctor.api import Findings
from sgdoctor.parse.mesh import CLUSTER_VARIABLES, Member, Probe, member_key
from sgdoctor.parse.nvshmem import parse_size
from sgdoctor.parse.verdict import human_bytes, shown


@dataclass
class MeshVerdict:
    findings: Findings = field(default_factory=Findings)
    matrix: dict[str, dict[str, Any]] = field(default_factory=dict)
    pairs: list[dict[str, Any]] = field(default_factory=list)


def _names(items: list[str]) -> str:
    return ", ".join(items) if items else "none"


def _drift(values: Mapping[str, Any], what: str,
           describe: Callable[[Any], str]) -> tuple[str, list[str]] | None:
    """(a sentence naming the nodes whose ``what`` differs from the majority's, those nodes).

    ``describe(value)`` says what a node has; with no majority every group is named."""
    keyed = {name: json.dumps(value, sort_keys=True) for name, value in values.items()}
    counts = Counter(keyed.values())
    if len(counts) < 2:
        return None
    by_key = {key: sorted(n for n, k in keyed.items() if k == key) for key in counts}
    (top, top_n), (_, second_n) = counts.most_common(2)
    if top_n == second_n:
        groups = "; ".join(f"{_names(nodes)}: {describe(values[nodes[0]])}"
                           for nodes in by_key.values())
        return (f"fleet drift: the nodes disagree on the {what} with no majority ({groups})",
                sorted(keyed))
    odd = sorted(name for name, key in keyed.items() if key != top)
    majority = values[by_key[top][0]]
    shown_odd = "; ".join(f"{name} has {describe(values[name])}" for name in odd)
    return (f"fleet drift: {shown_odd}, while {top_n} of {len(keyed)} nodes have "
            f"{describe(majority)}", odd)


def _version(value: Any) -> str:
    return f"MACA {value}" if value else "no MACA version"


def _library_set(member: Member) -> dict[str, Any]:
    out = {}
    for name, info in member.libraries.items():
        info = info if isinstance(info, dict) else {}
        path, soname = info.get("path"), info.get("soname")
        text = f"{path}" if path else "not found"
        if soname and soname != name:
            text += f" (soname {soname})"
        out[name] = text
    return out


def _library_drift(values: Mapping[str, Mapping[str, str]]) -> tuple[str, list[str]] | None:
    keyed = {name: json.dumps(value, sort_keys=True) for name, value in values.items()}
    counts = Counter(keyed.values())
    if len(counts) < 2:
        return None
    (top, top_n), (_, second_n) = counts.most_common(2)
    if top_n == second_n:
        groups = "; ".join(_names(sorted(n for n, k in keyed.items() if k == key))
                           for key in counts)
        return (f"fleet drift: the nodes disagree on the MACA library set with no majority "
                f"({groups})", sorted(keyed))
    odd = sorted(name for name, key in keyed.items() if key != top)
    majority = json.loads(top)

    def differs(value: Mapping[str, str]) -> str:
        parts = [f"{lib} → {value.get(lib, 'not listed')} (majority: "
                 f"{majority.get(lib, 'not listed')})"
                 for lib in sorted(set(value) | set(majority))
                 if value.get(lib) != majority.get(lib)]
        return "MACA libraries " + ", ".join(parts)

    text = "; ".join(f"{name} has {differs(values[name])}" for name in odd)
    return (f"fleet drift: {text}, while {top_n} of {len(keyed)} nodes have the majority's "
            "set", odd)


def _ifname(member: Member) -> str:
    return (f"GLOO_SOCKET_IFNAME={shown(member.gloo_ifname)}" if member.gloo_ifname is not None
            else "GLOO_SOCKET_IFNAME unset")


def _devices(count: Any) -> str:
    return f"{count} gloo device{'s' if count != 1 else ''}"


def _families(value: Any) -> str:
    return " and ".join({"ipv4": "IPv4", "ipv6": "IPv6"}.get(f, f) for f in value) + \
        " Gloo addresses" if value else "no Gloo address"


def _mtus(value: Any) -> str:
    return "MTU " + ", ".join(str(m) for m in value)


def effective(variable: str, raw: str | None) -> str:
    """What a cluster variable means to its consumer (the comparison key, and how a node's
    value is shown): Dynamo 1.6.1's and NVSHMEM 3.8.0's defaults and case rules."""
    if variable == "NVSHMEM_SYMMETRIC_SIZE":
        if raw is None:
            return "unset (1 GiB)"
        size = parse_size(raw)
        return (f"{human_bytes(size.value)}" if size.ok and isinstance(size.value, int)
                else f"{shown(raw)!r} (invalid)")
    if variable == "DYN_REQUEST_PLANE":
        return "tcp" if raw is None else shown(raw.lower())   # case-insensitive, default tcp
    if variable == "DYN_EVENT_PLANE":
        return "zmq" if not raw else shown(raw)               # case-sensitive, default zmq
    return "unset" if raw is None else shown(raw)


Remedy = Callable[[list[str]], str]


def _assignment(variable: str, value: Any) -> str:
    return f"{variable}={value}"


def _variable_remedy(variable: str, odd: list[str]) -> str:
    return f"Set {variable} alike on every node of the deployment ({_names(odd)} differ)."


def _drift_findings(members: Mapping[str, Member], found: Findings) -> None:
    names = sorted(members)
    gloo_ready = [n for n in names if members[n].listeners]

    def counts_remedy(odd: list[str]) -> str:
        shown_odd = ", ".join(f"{n} has {_ifname(members[n])}" for n in odd)
        return ("Every rank makes one gloo context per GLOO_SOCKET_IFNAME entry, and init hangs "
                "until its timeout when the counts differ: list the same number of interfaces "
                f"on every node ({_names(odd)} differ; {shown_odd}).")

    rules: list[tuple[str, str, Mapping[str, Any], Callable[[Any], str], Remedy]] = [
        ("gloo_family_drift", "Gloo address family",
         {n: members[n].families for n in gloo_ready}, _families,
         lambda odd: ("gloo requires one address family on every rank and aborts "
                      '("... 10 vs 2"): give every node a Gloo address of the same family '
                      f"({_names(odd)} differ).")),
        ("gloo_device_count_drift", "number of gloo devices",
         {n: members[n].gloo_devices for n in names if members[n].gloo_devices is not None},
         _devices, counts_remedy),
        ("mtu_drift", "MTU of the Gloo interfaces",
         {n: members[n].mtus for n in gloo_ready if members[n].mtus}, _mtus,
         lambda odd: ("A smaller MTU on one side drops full-sized packets (connections hang "
                      "mid-transfer): set the same MTU on the Gloo interfaces of every node "
                      f"({_names(odd)} differ; `ip link set DEV mtu N`).")),
        ("maca_version_drift", "MACA version",
         {n: members[n].maca_version for n in names}, _version,
         lambda odd: f"Install the MACA version of the majority on {_names(odd)}"),
    ]
    for variable in CLUSTER_VARIABLES:
        rules.append(("cluster_variable_drift", variable,
                      {n: effective(variable, members[n].cluster.get(variable))
                       for n in names if variable in members[n].cluster},
                      functools.partial(_assignment, variable),
                      functools.partial(_variable_remedy, variable)))
    for code, what, values, describe, remedy in rules:
        drift = _drift(values, what, describe)
        if drift is not None:
            summary, odd = drift
            found.fail(summary, remedy(odd), code=code)
    libraries = _library_drift({n: _library_set(members[n]) for n in names})
    if libraries is not None:
        summary, odd = libraries
        found.warn(summary, f"Install the MACA library set of the majority on {_names(odd)}",
                   code="maca_libraries_drift")


def judge(group: str, me: str, expect: int, members: Mapping[str, Member],
          views: Mapping[str, Mapping[str, Probe]],
          unreadable: Mapping[str, str], *,
          expected_names: Sequence[str] = ()) -> MeshVerdict:
    """The fleet verdict as seen from ``me``: ``views[a][b]`` is what a saw dialling b.
    ``expected_names`` (the mesh at launch: rank0 … rankN-1) lets the missing be named."""
    verdict = MeshVerdict()
    found = verdict.findings
    names = sorted(members)
    joined = len(names)
    missing = [n for n in expected_names if n not in members]
    if joined < expect:
        which = f"missing: {_names(missing)}; " if missing else ""
        start = (f"Start the missing nodes ({_names(missing)}) of this launch"
                 if expected_names else
                 f"Start `sgdoctor mesh --group {group} --expect {expect}` on the missing "
                 "nodes")
        found.fail(f"only {joined} of {expect} expected nodes joined group {group} "
                   f"({expect - joined} missing); {which}joined: {_names(names)}",
                   f"{start} (a node that cannot reach etcd cannot join: run `sgdoctor --only "
                   "etcd.endpoints` there), or correct the node count",
                   code="nodes_missing")
    elif joined > expect:
        found.warn(f"{joined} nodes joined group {group}, more than the {expect} expected: "
                   f"{_names(names)}",
                   "Correct --expect, or give each deployment its own --group",
                   code="nodes_unexpected")
    for name, why in sorted(unreadable.items()):
        found.warn(f"{name}: {why}", f"Delete the foreign key {member_key(group, name)} or use "
                   "another --group", code="foreign_record")

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
        found.fail(f"{len(broken)} of {total} node pairs cannot connect over Gloo: "
                   + "; ".join(broken), " ".join(dict.fromkeys(remedies)),
                   code="pairs_unreachable")

    silent = [n for n in names if n != me and n not in views]
    if silent and joined > 1:
        found.warn(f"no results from {_names(silent)} (not published before the timeout): "
                   "only this node's view of their pairs is known",
                   "Look at the report of those nodes, or raise --timeout", code="no_results")
    if joined > 1:
        _drift_findings(members, found)
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
