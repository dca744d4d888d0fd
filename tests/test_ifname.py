"""GLOO_SOCKET_IFNAME and NCCL_SOCKET_IFNAME parsing, mirrored from PyTorch/gloo and NCCL."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sgdoctor.parse.ifname import nccl_select, parse_gloo, parse_nccl

# (interface, address) in getifaddrs order: all IPv4 first, then IPv6.
HOST = [
    ("lo", "127.0.0.1"), ("eth0", "10.0.0.5"), ("ib0", "10.1.0.5"), ("docker0", "172.17.0.1"),
    ("bond0", "10.2.0.5"), ("bond0.100", "10.3.0.5"),
    ("lo", "::1"), ("eth0", "fe80::1"), ("ens1", "fd00::5"),
]
NO_IB = [pair for pair in HOST if not pair[0].startswith("ib")]


@pytest.mark.parametrize("raw", [None, "", "e", ","])
def test_gloo_ignores_values_of_one_character_or_less(raw):
    spec = parse_gloo(raw)
    assert not spec.used and spec.names == ()
    assert spec.ignored_short == (raw is not None)


def test_gloo_two_bytes_count_even_if_one_character():
    # strlen counts bytes: a single non-ASCII character is long enough.
    assert parse_gloo("é").names == ("é",)


@pytest.mark.parametrize(("raw", "names"), [
    ("bond0", ("bond0",)),
    ("bond0,eth1", ("bond0", "eth1")),
    ("bond0,", ("bond0",)),             # getline: no item after a trailing separator
    (",bond0", ("", "bond0")),          # ...but a leading empty item is kept
    ("bond0,,eth1", ("bond0", "", "eth1")),
    ("bond0, eth1", ("bond0", " eth1")),  # no trimming
    (",,", ("", "")),
])
def test_gloo_split_like_getline(raw, names):
    assert parse_gloo(raw).names == names


def test_gloo_flags_nccl_syntax_and_whitespace():
    entries = parse_gloo("^docker,=eth0,eth*,bond0, eth1").entries
    assert [e.nccl_syntax for e in entries] == ["^", "=", "*", None, None]
    assert [e.whitespace for e in entries] == [False, False, False, False, True]
    assert parse_gloo(",bond0").entries[0].empty and parse_gloo(",bond0").has_empty
    assert not parse_gloo("bond0,").has_empty  # a trailing comma is harmless


@pytest.mark.parametrize(("raw", "selected"), [
    ("eth", ["eth0"]),
    ("bond0", ["bond0", "bond0.100"]),        # prefixes
    ("=bond0", ["bond0"]),                    # exact
    ("^bond,lo,docker", ["eth0", "ib0", "ens1"]),
    ("^=bond0", ["lo", "eth0", "ib0", "docker0", "bond0.100", "ens1"]),
    ("eth0:1234,ib", ["eth0", "ib0"]),        # ':port' is cut off the name
    ("ens", ["ens1"]),                        # IPv6-only interfaces count...
    ("lo", ["lo"]),                           # ...but ::1 never does (lo via 127.0.0.1)
    ("nope", []),
])
def test_nccl_rules(raw, selected):
    assert nccl_select(parse_nccl(raw), HOST) == selected


def test_nccl_ipv6_loopback_never_selected():
    assert nccl_select(parse_nccl("lo"), [("lo", "::1")]) == []


def test_nccl_default_prefers_ib_then_avoids_docker_and_lo():
    unset = parse_nccl(None)
    assert not unset.used
    assert nccl_select(unset, HOST) == ["ib0"]
    assert nccl_select(unset, NO_IB) == ["eth0", "bond0", "bond0.100", "ens1"]
    assert nccl_select(unset, [("lo", "127.0.0.1"), ("docker0", "172.17.0.1")]) == ["docker0"]
    assert nccl_select(unset, [("lo", "127.0.0.1")]) == ["lo"]
    assert nccl_select(parse_nccl("x"), NO_IB) == nccl_select(unset, NO_IB)  # 1 char: ignored


def test_nccl_describe():
    assert parse_nccl("^=eth0,lo").describe() == "excludes exact names eth0, lo"
    assert parse_nccl("eth").describe() == "selects name prefixes eth"
    assert "default" in parse_nccl(None).describe()


env_text = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(
    ["\udcff", "\udc80", "\ud800", ",", "^", "=", ":", "*", " "]), max_size=40)
iface_names = st.text(alphabet="abcdelo0123.^=-", min_size=1, max_size=8)
addresses = st.lists(st.tuples(iface_names, st.sampled_from(
    ["10.0.0.1", "127.0.0.1", "::1", "fe80::1", "fd00::1"])), max_size=12)


@given(env_text)
def test_gloo_never_raises_and_round_trips(raw):
    spec = parse_gloo(raw)
    if spec.used:
        joined = ",".join(spec.names)
        assert joined in (raw, raw[:-1])
        assert all("," not in name for name in spec.names)
    else:
        assert spec.names == ()


@given(env_text, addresses)
def test_nccl_never_raises_and_selects_known_interfaces(raw, pairs):
    spec = parse_nccl(raw)
    spec.describe()
    selected = nccl_select(spec, pairs)
    assert len(selected) == len(set(selected))
    assert set(selected) <= {name for name, address in pairs if address != "::1"}
    if spec.used:
        # Exclusion selects exactly the complement of the same list included.
        flipped = nccl_select(replace(spec, exclude=not spec.exclude), pairs)
        assert not set(selected) & set(flipped)
        assert set(selected) | set(flipped) == {n for n, a in pairs if a != "::1"}
