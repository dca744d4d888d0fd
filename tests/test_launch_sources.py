"""The mirrored option tables equal what SGLang 0.5.23's and Dynamo 1.6.1's released wheels
define (read with `ast`, never imported), and the launch parser resolves command lines as
argparse does over those real definitions."""

from __future__ import annotations

import pytest

from launch_sources import extract, wheel_dir
from sgdoctor.parse import launch_tables
from sgdoctor.parse.launch import parse_launch

MIRROR = {"sglang": launch_tables.SGLANG_0_5_23,
          "dynamo_frontend": launch_tables.DYNAMO_1_6_1_FRONTEND,
          "dynamo_worker": launch_tables.DYNAMO_1_6_1_WORKER,
          "dynamo_worker_router": launch_tables.DYNAMO_1_6_1_WORKER_ROUTER}


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    return extract(wheel_dir(tmp_path_factory.mktemp("wheels")))


@pytest.mark.parametrize("table", sorted(MIRROR))
def test_mirror_equals_the_released_source(real, table):
    extracted = [tuple(r) for r in real[table]]
    mirrored = [tuple(r) for r in MIRROR[table]]
    missing = [r for r in extracted if r not in mirrored]
    extra = [r for r in mirrored if r not in extracted]
    assert not missing and not extra, (
        f"{table} drifted: regenerate with `python tests/launch_sources.py`\n"
        f"in the release, not mirrored: {missing[:5]}\nmirrored, not in the release: {extra[:5]}")
    assert extracted == mirrored


def test_the_real_definitions_hold_what_the_launch_checks_read(real):
    flags = {f: row for row in real["sglang"] for f in row[0]}
    assert flags["--tp-size"][1:3] == ("tp_size", "store") and "--tensor-parallel-size" in \
        flags["--tp-size"][0]
    assert flags["--dist-init-addr"][1] == "dist_init_addr"
    assert flags["--nccl-init-addr"][1] == "dist_init_addr"
    assert flags["--port"][5] == 30000 and flags["--nnodes"][5] == 1
    assert flags["--enable-dp-attention"][2] == "const"
    assert flags["--config"][2] == "store"
    front = {f: row for row in real["dynamo_frontend"] for f in row[0]}
    assert front["--router-mode"][5] == "round-robin" and front["--router-mode"][6] == \
        "DYN_ROUTER_MODE"
    assert front["--router-kv-events"][2] == "bool_optional"
    router = {f: row for row in real["dynamo_worker_router"] for f in row[0]}
    assert router["--router-mode"][5] is None       # a worker inherits the frontend's mode
    assert "--router-min-initial-workers" not in router   # frontend-only, not a worker's


def _prefixed(real, table, prefix):
    return sorted({f for row in real[table] for f in row[0] if f.startswith(prefix)})


@pytest.mark.parametrize("prefix", ["--tp", "--nn", "--node-r", "--dist-init", "--model-p",
                                    "--po", "--h", "--mo", "--dis", "--enable-d"])
def test_abbreviations_resolve_against_every_real_option(real, prefix):
    """argparse's allow_abbrev: a unique prefix is that option, several make it ambiguous."""
    matches = _prefixed(real, "sglang", prefix) + (["--help"] if "--help".startswith(prefix)
                                                   else [])
    launch = parse_launch(["python3", "-m", "sglang.launch_server", prefix, "7"])
    ambiguous = [p for p in launch.problems if p.startswith("ambiguous option")]
    dests = {row[1] for row in real["sglang"] for f in row[0] if f in matches}
    if len(dests) == 1 and matches != ["--help"]:
        assert not ambiguous, launch.problems
        assert (launch.given & dests) == dests
    else:
        assert ambiguous and f"ambiguous option: {prefix} could match" in ambiguous[0]
        for option in matches:
            assert option in ambiguous[0]


def test_boolean_optional_options_take_their_no_form(real):
    row = next(r for r in real["sglang"] if r[2] == "bool_optional")
    flag, dest = row[0][0], row[1]
    no = "--no-" + flag[2:]
    assert parse_launch(["python", "-m", "sglang.launch_server", flag]).values[dest] is True
    launch = parse_launch(["python", "-m", "sglang.launch_server", flag, no])
    assert launch.values[dest] is False and not launch.problems


def test_nargs_plus_options_take_every_following_value(real):
    row = next(r for r in real["sglang"] if r[3] == "+" and r[2] == "store")
    flag, dest = row[0][0], row[1]
    launch = parse_launch(["python", "-m", "sglang.launch_server", flag, "a", "b",
                           "--tp-size", "2"])
    assert launch.values[dest] == ["a", "b"] and launch.values["tp_size"] == 2
    missing = parse_launch(["python", "-m", "sglang.launch_server", flag])
    assert any("expected at least one argument" in p for p in missing.problems)
