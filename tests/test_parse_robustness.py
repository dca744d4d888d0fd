"""Every parser, on any input: never an exception, always a verdict (ok, warn or fail)."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgdoctor.api import Status
from sgdoctor.parse import dynamo, dynlog, flags, nvshmem
from sgdoctor.parse.catalogue import entries
from sgdoctor.parse.names import suggest
from sgdoctor.parse.pathlist import DirFacts, assess_path_list, split_path_list
from sgdoctor.parse.url import parse_base_url
from sgdoctor.parse.verdict import Verdict

PARSERS: dict[str, Callable[[str], Verdict]] = {
    "nvshmem.size": nvshmem.parse_size,
    "nvshmem.bool": nvshmem.parse_bool,
    "c10d_bool": flags.c10d_bool,
    "c10_check_env": flags.c10_check_env,
    "presence": partial(flags.presence_flag, what="x disabled"),
    "truthy": partial(flags.python_truthy_flag, what="x enabled"),
    "dynamo_bool": dynamo.dynamo_bool,
    "request_plane": dynamo.request_plane,
    "event_plane": dynamo.event_plane,
    "response_plane": dynamo.response_plane,
    "discovery_backend": dynamo.discovery_backend,
    "seconds": partial(dynamo.seconds, name="X", default=10),
    "keepalive": partial(dynamo.keepalive_interval, name="X"),
    "not_read": partial(flags.not_read, instead="Y", reader="Z"),
    "presence_suspect": flags.metax_presence_suspect,
    "metax_flag": partial(flags.metax_flag, what="x"),
    "metax_int": partial(flags.metax_int, what="x", seen=(3,)),
    "torch_compile_disable": flags.torch_compile_disable,
    "torchdynamo_disable": partial(flags.torchdynamo_disable, torch_compile_disable_value=None),
    "dyn_log": dynlog.parse_dyn_log,
    "url": partial(parse_base_url, default="https://static.rust-lang.org"),
    "path": lambda t: assess_path_list("PATH", t, {}),
    "pythonpath": lambda t: assess_path_list("PYTHONPATH", t, {}),
    "ld_library_path": lambda t: assess_path_list(
        "LD_LIBRARY_PATH", t, {e.raw: DirFacts(exists=False) for e in split_path_list(t, ":;")
                               if e.kind == "absolute"}),
}
# The catalogue's own parsers, as the env.* checks call them.
PARSERS.update({f"catalogue:{e.name}": partial(e.parse, env={}) for e in entries() if e.parse})

SURROGATE_TEXT = st.binary(max_size=200).map(lambda b: os.fsdecode(b))
ANY_TEXT = st.one_of(st.text(max_size=200), SURROGATE_TEXT)


def _is_verdict(verdict: object) -> None:
    assert isinstance(verdict, Verdict)
    assert verdict.status in (Status.OK, Status.WARN, Status.FAIL)
    assert isinstance(verdict.meaning, str) and verdict.meaning
    if verdict.status is not Status.OK:
        assert verdict.remedy, "a warn or fail always says what to do"
    # whatever is printed must be encodable: raw bytes are escaped, never passed through
    verdict.meaning.encode("utf-8")
    (verdict.remedy or "").encode("utf-8")


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=ANY_TEXT)
def test_any_text_gives_a_verdict(name: str, text: str) -> None:
    _is_verdict(PARSERS[name](text))


@pytest.mark.parametrize("name", sorted(PARSERS))
@pytest.mark.parametrize("huge", ["9" * 1_000_000, "a," * 500_000, "/x:" * 333_333,
                                  "\udcff" * 1_000_000, "3g" + " " * 1_000_000])
def test_one_megabyte_values(name: str, huge: str) -> None:
    verdict = PARSERS[name](huge)
    _is_verdict(verdict)
    assert len(verdict.meaning) < 5_000, "a huge value is never echoed whole"


@settings(max_examples=200, deadline=None)
@given(name=st.one_of(st.text(max_size=80), SURROGATE_TEXT))
def test_name_suggestions_never_raise(name: str) -> None:
    known = [e.name for e in entries()]
    found = suggest(name, known, ("NATS_AUTH_",))
    assert found is None or found[1] in known


@settings(max_examples=300, deadline=None)
@given(n=st.integers(min_value=1, max_value=10**6), suffix=st.sampled_from("kKmMgGtT"),
       tail=st.text(max_size=5))
def test_nvshmem_size_scales_by_its_suffix_and_ignores_the_tail(n: int, suffix: str,
                                                                 tail: str) -> None:
    verdict = nvshmem.parse_size(f"{n}{suffix}{tail}")
    shift = {"k": 10, "m": 20, "g": 30, "t": 40}[suffix.lower()]
    assert verdict.value == n << shift
    assert verdict.status is (Status.OK if n << shift >= 1 << 20 else Status.WARN)


@settings(max_examples=300, deadline=None)
@given(text=ANY_TEXT)
def test_path_lists_split_losslessly(text: str) -> None:
    assert ":".join(e.raw for e in split_path_list(text, ":")) == text
    entries = split_path_list(text, ":;")
    assert len(entries) == text.count(":") + text.count(";") + 1
