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

from sgdoctor.api import Findings, Text
from sgdoctor.parse.mesh import CLUSTER_VARIABLES, FULL_ROWS, SUMMARY, Member, Probe, member_key
from sgdoctor.parse.nvshmem import parse_size
from sgdoctor.parse.verdict import human_bytes, shown
from sgdoctor.records import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@dataclass
class MeshVerdict:
    findings: Findings = field(default_factory=Findings)
    matrix: dict[str, dict[str, Any]] = field(default_factory=dict)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    reached: int = 0           # directed pairs that connected (listed or summarised)
    slowest_ms: float | None = None


def _names(items: list[str]) -> str | Text:
    return ", ".join(items) if items else Text("none")


Shown = str | Text


def _drift(values: Mapping[str, Any], what: Text,
           describe: Callable[[Any], Shown]) -> tuple[Text, list[str]] | None:
    """(a sentence naming the nodes whose ``what`` differs from the majority's, those nodes).

    ``describe(value)`` says what a node has; with no majority every group is named."""
    keyed = {name: json.dumps(value, sort_keys=True) for name, value in values.items()}
    counts = Counter(keyed.values())
    if len(counts) < 2:
        return None
    by_key = {key: sorted(n for n, k in keyed.items() if k == key) for key in counts}
    (top, top_n), (_, second_n) = counts.most_common(2)
    if top_n == second_n:
        groups = Text.join("; ", [Text("{nodes}: {value}", nodes=_names(nodes),
                                       value=describe(values[nodes[0]]))
                                  for nodes in by_key.values()])
        return (Text("fleet drift: the nodes disagree on the {what} with no majority ({groups})",
                     what=what, groups=groups), sorted(keyed))
    odd = sorted(name for name, key in keyed.items() if key != top)
    majority = values[by_key[top][0]]
    shown_odd = Text.join("; ", [Text("{name} has {value}", name=name,
                                      value=describe(values[name])) for name in odd])
    return (Text("fleet drift: {odd}, while {count} of {total} nodes have {majority}",
                 odd=shown_odd, count=top_n, total=len(keyed), majority=describe(majority)), odd)


def _version(value: Any) -> Shown:
    return f"MACA {value}" if value else Text("no MACA version")


NOT_FOUND = "not found"   # a library's entry in the compared set (data, shown translated)


def _library_set(member: Member) -> dict[str, Any]:
    out = {}
    for name, info in member.libraries.items():
        info = info if isinstance(info, dict) else {}
        path, soname = info.get("path"), info.get("soname")
        text = f"{path}" if path else NOT_FOUND
        if soname and soname != name:
            text += f" (soname {soname})"
        out[name] = text
    return out


def _library(value: str | None) -> Shown:
    if value is None:
        return Text("not listed")
    if value == NOT_FOUND or value.startswith(NOT_FOUND + " (soname "):
        return Text("not found{rest}", rest=value[len(NOT_FOUND):])
    return value


def _library_drift(values: Mapping[str, Mapping[str, str]]) -> tuple[Text, list[str]] | None:
    keyed = {name: json.dumps(value, sort_keys=True) for name, value in values.items()}
    counts = Counter(keyed.values())
    if len(counts) < 2:
        return None
    (top, top_n), (_, second_n) = counts.most_common(2)
    if top_n == second_n:
        groups = Text.join("; ", [_names(sorted(n for n, k in keyed.items() if k == key))
                                  for key in counts])
        return (Text("fleet drift: the nodes disagree on the MACA library set with no majority "
                     "({groups})", groups=groups), sorted(keyed))
    odd = sorted(name for name, key in keyed.items() if key != top)
    majority = json.loads(top)

    def differs(value: Mapping[str, str]) -> Text:
        parts = [Text("{lib} → {value} (majority: {majority})", lib=lib,
                      value=_library(value.get(lib)), majority=_library(majority.get(lib)))
                 for lib in sorted(set(value) | set(majority))
                 if value.get(lib) != majority.get(lib)]
        return Text("MACA libraries {parts}", parts=Text.join(", ", parts))

    text = Text.join("; ", [Text("{name} has {value}", name=name, value=differs(values[name]))
                            for name in odd])
    return (Text("fleet drift: {odd}, while {count} of {total} nodes have the majority's set",
                 odd=text, count=top_n, total=len(keyed)), odd)


def _ifname(member: Member) -> Shown:
    return (f"GLOO_SOCKET_IFNAME={shown(member.gloo_ifname)}" if member.gloo_ifname is not None
            else Text("{name} unset", name="GLOO_SOCKET_IFNAME"))


def _devices(count: Any) -> Text:
    return Text("{count} gloo device" if count == 1 else "{count} gloo devices", count=count)


def _families(value: Any) -> Text:
    if not value:
        return Text("no Gloo address")
    return Text("{families} Gloo addresses", families=" and ".join(
        {"ipv4": "IPv4", "ipv6": "IPv6"}.get(f, f) for f in value))


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


Remedy = Callable[[list[str]], Text]


def _assignment(variable: str, value: Any) -> Shown:
    """A node's effective value as `NAME=value`; the words of `effective` translated."""
    if value == "unset":
        return Text("{name}=unset", name=variable)
    if value == "unset (1 GiB)":
        return Text("{name}=unset ({size})", name=variable, size="1 GiB")
    if isinstance(value, str) and value.endswith(" (invalid)"):
        return Text("{name}={value} (invalid)", name=variable, value=value[:-len(" (invalid)")])
    return f"{variable}={value}"


def _variable_remedy(variable: str, odd: list[str]) -> Text:
    return Text("Set {name} alike on every node of the deployment ({nodes} differ).",
                name=variable, nodes=_names(odd))


def _drift_findings(members: Mapping[str, Member], found: Findings) -> None:
    names = sorted(members)
    gloo_ready = [n for n in names if members[n].listeners]

    def counts_remedy(odd: list[str]) -> Text:
        shown_odd = Text.join(", ", [Text("{name} has {value}", name=n,
                                          value=_ifname(members[n])) for n in odd])
        return Text("Every rank makes one gloo context per GLOO_SOCKET_IFNAME entry, and init "
                    "hangs until its timeout when the counts differ: list the same number of "
                    "interfaces on every node ({nodes} differ; {odd}).", nodes=_names(odd),
                    odd=shown_odd)

    rules: list[tuple[str, Text, Mapping[str, Any], Callable[[Any], Shown], Remedy]] = [
        ("gloo_family_drift", Text("Gloo address family"),
         {n: members[n].families for n in gloo_ready}, _families,
         lambda odd: Text("gloo requires one address family on every rank and aborts "
                          '("... 10 vs 2"): give every node a Gloo address of the same family '
                          "({nodes} differ).", nodes=_names(odd))),
        ("gloo_device_count_drift", Text("number of gloo devices"),
         {n: members[n].gloo_devices for n in names if members[n].gloo_devices is not None},
         _devices, counts_remedy),
        ("mtu_drift", Text("MTU of the Gloo interfaces"),
         {n: members[n].mtus for n in gloo_ready if members[n].mtus}, _mtus,
         lambda odd: Text("A smaller MTU on one side drops full-sized packets (connections hang "
                          "mid-transfer): set the same MTU on the Gloo interfaces of every node "
                          "({nodes} differ; `ip link set DEV mtu N`).", nodes=_names(odd))),
        ("maca_version_drift", Text("MACA version"),
         {n: members[n].maca_version for n in names}, _version,
         lambda odd: Text("Install the MACA version of the majority on {nodes}",
                          nodes=_names(odd))),
    ]
    for variable in CLUSTER_VARIABLES:
        rules.append(("cluster_variable_drift", Text("{name}", name=variable),
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
        found.warn(summary, Text("Install the MACA library set of the majority on {nodes}",
                                 nodes=_names(odd)), code="maca_libraries_drift")


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
        start = (Text("Start the missing nodes ({missing}) of this launch",
                      missing=_names(missing)) if expected_names else
                 Text("Start `sgdoctor mesh --group {group} --expect {expect}` on the missing "
                      "nodes", group=group, expect=expect))
        fields = {"joined": joined, "expect": expect, "group": group,
                  "count": expect - joined, "names": _names(names), "missing": _names(missing),
                  "start": start}
        found.fail("only {joined} of {expect} expected nodes joined group {group} ({count} "
                   "missing); missing: {missing}; joined: {names}" if missing else
                   "only {joined} of {expect} expected nodes joined group {group} ({count} "
                   "missing); joined: {names}",
                   "{start} (a node that cannot reach etcd cannot join: run `sgdoctor --only "
                   "etcd.endpoints` there), or correct the node count",
                   code="nodes_missing", fields=fields)
    elif joined > expect:
        found.warn("{joined} nodes joined group {group}, more than the {expect} expected: "
                   "{names}", "Correct --expect, or give each deployment its own --group",
                   code="nodes_unexpected", fields={"joined": joined, "group": group,
                                                    "expect": expect, "names": _names(names)})
    for name, why in sorted(unreadable.items()):
        found.warn("{name}: {why}", "Delete the foreign key {key} or use another --group",
                   code="foreign_record",
                   fields={"name": name, "why": why, "key": member_key(group, name)})

    broken: list[str] = []
    remedies: dict[str, Text] = {}
    rtts: list[float] = []
    for src in names:
        row: dict[str, Any] = {}
        view = views.get(src)
        summary = view.get(SUMMARY) if view is not None else None
        if view is None and joined > FULL_ROWS + 1:
            verdict.matrix[src] = {SUMMARY: None}   # no results: a row of N unknowns, as one
            continue
        for dst in names:
            if dst == src:
                continue
            probe = view.get(dst) if view is not None else None
            if probe is None:
                if summary is None:
                    row[dst] = None
                continue   # a summarised view lists its failures only: this one connected
            row[dst] = {"rtt_ms": probe.rtt_ms} if probe.ok else {"error": probe.error}
            verdict.pairs.append({"from": src, "to": dst, **probe.as_details()})
            if probe.ok:
                verdict.reached += 1
                rtts += [probe.rtt_ms] if probe.rtt_ms is not None else []
            else:
                where = f" ({probe.address})" if probe.address else ""
                broken.append(f"{src} → {dst}{where}: {probe.error}")
                remedy = _pair_remedy(members[dst])
                remedies.setdefault(str(remedy), remedy)
        if summary is not None:
            implied = joined - 1 - len(row)
            verdict.reached += implied
            rtts += [summary.rtt_ms] if summary.rtt_ms is not None and implied else []
            row[SUMMARY] = {"reached": implied, "rtt_ms": summary.rtt_ms}
        verdict.matrix[src] = row
    verdict.slowest_ms = max(rtts, default=None)
    if broken:
        total = joined * (joined - 1)
        found.fail(Text("{count} of {total} node pairs cannot connect over Gloo: {pairs}",
                        count=len(broken), total=total, pairs="; ".join(broken)),
                   Text.join(" ", remedies.values()), code="pairs_unreachable")

    silent = [n for n in names if n != me and n not in views]
    if silent and joined > 1:
        found.warn("no results from {nodes} (not published before the timeout): only this "
                   "node's view of their pairs is known",
                   "Look at the report of those nodes, or raise --timeout", code="no_results",
                   fields={"nodes": _names(silent)})
    if joined > 1:
        _drift_findings(members, found)
    return verdict


def _pair_remedy(target: Member) -> Text:
    if target.problem:
        return Text("{name} has no usable Gloo address ({problem}): fix it there.",
                    name=target.name, problem=target.problem)
    if any(li.loopback for li in target.listeners):
        return Text("{name} registered a loopback address: set GLOO_SOCKET_IFNAME on {name} to "
                    "an interface the other nodes can reach (its own report names it).",
                    name=target.name)
    return Text("Check the route and firewall between these nodes on their Gloo interfaces "
                "(`ip route get <address>` on the sender); gloo's connectFullMesh fails the "
                "same way.")
