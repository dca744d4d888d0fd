"""The phase markers' summaries (parse.mesh): what the node completing a phase writes for all
the others, so each reads one key instead of N. A summary must give every reader exactly what
reading the records or results themselves gives (they are untrusted: written by other
nodes), stay small for a large healthy fleet, and never raise on a hostile value."""

from __future__ import annotations

import json
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sgdoctor.parse.mesh import (
    MAX_SUMMARY,
    Listener,
    Member,
    Probe,
    _is_address,
    parse_member,
    parse_results,
    parse_results_summary,
    parse_roster,
    results_summary,
    results_to_json,
    roster_summary,
)


def record(name: str, index: int, version: str = "3.7.1.5", libs: int = 12) -> Member:
    libraries = {f"libmc{i}.so": {"soname": f"libmc{i}.so.1",
                                  "path": f"/opt/maca/lib/libmc{i}.so.1"} for i in range(libs)}
    return Member(name, f"{index:032x}", (Listener("eth1", f"10.0.{index >> 8}.{index & 255}",
                                                   40000, 1500),),
                  version, libraries, "0.2.0", None, 1, "eth1",
                  {"NVSHMEM_SYMMETRIC_SIZE": "1G", "DYN_REQUEST_PLANE": None,
                   "DYN_EVENT_PLANE": None, "DYN_RESPONSE_PLANE": None})


def test_a_roster_gives_each_member_as_its_record_does():
    raw = {f"n{i}": record(f"n{i}", i, version="3.7.1.5" if i % 5 else "3.6.0").to_json()
           .encode() for i in range(40)}
    raw["foreign"] = b"not json"
    raw["no-token"] = b'{"listeners": []}'
    members, unreadable = parse_roster(roster_summary(raw))
    assert members == {n: parse_member(n, v) for n, v in raw.items()
                       if isinstance(parse_member(n, v), Member)}
    assert unreadable == {n: parse_member(n, raw[n]) for n in ("foreign", "no-token")}


def test_a_roster_of_1024_alike_nodes_is_small():
    """The facts alike on a fleet are stored once: a few dozen bytes a member, where each
    record holds a library set of twelve and is about 1.5 KiB."""
    raw = {f"n{i:04d}": record(f"n{i:04d}", i).to_json().encode() for i in range(1024)}
    summary = roster_summary(raw)
    assert len(summary) < 64 * 1024 < sum(map(len, raw.values())) // 16
    assert len(parse_roster(summary)[0]) == 1024


def test_a_results_summary_gives_each_nodes_results():
    results = {"a": results_to_json({"b": Probe(True, 0.2, address="x:1")}).encode(),
               "b": results_to_json({"a": Probe(False, error="refused")}).encode(),
               "c": b"\xff not json"}
    parsed = parse_results_summary(results_summary(results))
    assert {n: parse_results(v) for n, v in parsed.items()} == {
        "a": {"b": Probe(True, 0.2, address="x:1")}, "b": {"a": Probe(False, error="refused")},
        "c": None}


def _z(doc: object) -> bytes:
    return zlib.compress(json.dumps(doc).encode())


@pytest.mark.parametrize("raw", [
    b"", b"1", b"\x78\x9c garbage", zlib.compress(b"\xff\xfe"), zlib.compress(b"[]"),
    _z({"v": 2, "facts": [], "members": {}, "unreadable": {}}),
    _z({"v": 1, "facts": {}, "members": {}, "unreadable": {}}),
    _z({"v": 1, "facts": [{}], "members": {"a": {"facts": 1, "token": "t"}}, "unreadable": {}}),
    _z({"v": 1, "facts": [{}], "members": {"a": {"facts": True, "token": "t"}},
        "unreadable": {}}),
    _z({"v": 1, "facts": [7], "members": {"a": {"facts": 0, "token": "t"}}, "unreadable": {}}),
    _z({"v": 1, "facts": [], "members": {"a": 5}, "unreadable": {}}),
    zlib.compress(b" " * (MAX_SUMMARY + 1)),          # a bomb: 16 MiB of spaces in 16 KiB
    zlib.compress(json.dumps({"v": 1}).encode())[:-3],  # cut short
])
def test_a_hostile_summary_is_none_and_the_reader_reads_the_section(raw):
    assert parse_roster(raw) is None
    assert parse_results_summary(raw) is None


def test_a_hostile_member_in_a_roster_is_unreadable_not_an_error():
    summary = _z({"v": 1, "facts": [{"listeners": "x"}], "unreadable": {"z": 5},
                  "members": {"a": {"facts": 0}, "b": {"facts": 0, "token": "t",
                                                       "listeners": [{"address": "nope"}]}}})
    members, unreadable = parse_roster(summary)
    assert list(members) == ["b"] and members["b"].listeners == ()
    assert set(unreadable) == {"a", "z"} and all(isinstance(w, str) for w in unreadable.values())


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=30))
def test_any_json_never_raises(doc):
    raw = _z({"v": 1, "facts": doc, "members": doc, "unreadable": doc, "results": doc})
    parse_roster(raw)
    parse_results_summary(raw)


def test_summarised_views_keep_the_verdict_linear():
    """Above FULL_ROWS peers a node publishes its failures and a summary entry: the verdict
    counts the pairs the summaries imply, and its matrix holds a row's failures and summary,
    not N cells a row (a 1024-node report would hold a million)."""
    from sgdoctor.parse.mesh_verdict import judge
    from sgdoctor.report.matrix import matrix_text

    names = [f"n{i:03d}" for i in range(100)]
    members = {n: record(n, i) for i, n in enumerate(names)}

    def view(src: str) -> dict[str, Probe]:
        probes = {dst: Probe(dst != "n007" or src != "n001", 0.3, None if dst != "n007"
                             or src != "n001" else "refused") for dst in names if dst != src}
        return parse_results(results_to_json(probes).encode())

    views = {n: view(n) for n in names if n != "n050"}
    verdict = judge("g", "n000", 100, members, views, {})
    codes = {f.code for f in verdict.findings.problems()}
    assert codes == {"pairs_unreachable", "no_results"}
    assert verdict.reached == 99 * 99 - 1 and verdict.slowest_ms == 0.3
    assert verdict.matrix["n001"] == {"n007": {"error": "refused"},
                                      "*": {"reached": 98, "rtt_ms": 0.3}}
    assert verdict.matrix["n050"] == {"*": None}
    assert sum(len(row) for row in verdict.matrix.values()) == 100 + 1
    assert "not drawn" in matrix_text(verdict.matrix)
    healthy = judge("g", "n000", 100, members, {n: view(n) for n in names if n != "n001"}
                    | {"n001": parse_results(results_to_json(
                        {d: Probe(True, 0.2) for d in names if d != "n001"}).encode())}, {})
    assert healthy.findings.problems() == [] and healthy.reached == 100 * 99


@given(st.one_of(
    st.builds(".".join, st.lists(st.one_of(st.integers(0, 300).map(str),
                                           st.text("0123456789", max_size=4)),
                                 min_size=1, max_size=5)),
    st.text("0123456789abcdef.:%x ", max_size=24), st.text(max_size=12)))
def test_the_address_fast_path_accepts_exactly_what_ipaddress_accepts(text):
    """Listeners are validated N times on each of N nodes: glibc's inet_pton takes the
    dotted quads first, and ipaddress must agree on every string, leading zeros included."""
    import ipaddress

    try:
        ipaddress.ip_address(text)
        expected = True
    except ValueError:
        expected = False
    assert _is_address(text) is expected
