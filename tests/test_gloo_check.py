"""gloo.interface called directly on this host: any value gives a verdict, never a traceback."""

from __future__ import annotations

import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sgdoctor.checks.gloo import gloo_interface

from sgdoctor.api import Context, Status


def run(env: dict[str, str]):
    return gloo_interface(Context(env, deadline=time.monotonic() + 5))


def test_missing_interface_quotes_gloos_error():
    result = run({"GLOO_SOCKET_IFNAME": "sgdnone0"})
    assert result.status is Status.FAIL
    assert 'aborts with "Unable to find address for: sgdnone0"' in result.summary
    assert result.remedy and "GLOO_SOCKET_IFNAME" in result.remedy
    assert result.details["chosen"] == {"sgdnone0": {"interface": None, "address": None}}


def test_loopback_by_name_on_a_single_node():
    result = run({"GLOO_SOCKET_IFNAME": "lo"})
    assert result.status is Status.WARN, result
    assert result.details["chosen"]["lo"]["address"] == "127.0.0.1"


pieces = st.sampled_from([*"lo0eth,^=* ", "\udcff", "é", "lo", "eth", ","])
values = st.lists(pieces, max_size=8).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gloo=st.none() | values, nccl=st.none() | values, mccl=st.none() | values)
def test_any_value_gives_an_encodable_verdict(gloo, nccl, mccl):
    env = {k: v for k, v in (("GLOO_SOCKET_IFNAME", gloo), ("NCCL_SOCKET_IFNAME", nccl),
                             ("MCCL_SOCKET_IFNAME", mccl)) if v is not None}
    result = run(env)
    assert result.status in (Status.OK, Status.WARN, Status.FAIL)
    assert result.summary
    if result.status is not Status.OK:
        assert result.remedy
    # Everything sgdoctor prints must encode as UTF-8 (env bytes arrive surrogateescape'd).
    json.dumps({"s": result.summary, "r": result.remedy, "d": result.details},
               ensure_ascii=False).encode("utf-8")
