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


def _codes(*files: str) -> set[str]:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    text = "".join((root / f).read_text() for f in files)
    # Keyword codes, and the fleet verdict's drift rules (a table of (code, ...) tuples).
    return set(re.findall(r'code="([a-z_]+)"', text)) | set(re.findall(r'\("([a-z_]+_drift)"',
                                                                        text))


def _readme_section(heading: str) -> str:
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start = text.index(heading)
    return text[start:text.index("\n## ", start + len(heading))]


def test_readme_names_every_finding_code():
    """Monitoring keys on check id + code: README's gloo.interface and mesh sections list them."""
    gloo = _codes("checks/gloo.py")
    assert {"empty_entry", "family_mismatch", "numeric_hostname"} <= gloo
    section = _readme_section("## `gloo.interface`")
    assert not {c for c in gloo if f"`{c}`" not in section}
    mesh = _codes("checks/mesh.py", "src/sgdoctor/parse/mesh_verdict.py")
    assert {"mtu_drift", "gloo_device_count_drift", "cluster_variable_drift"} <= mesh
    section = _readme_section("## Across the fleet: `sgdoctor mesh`")
    assert not {c for c in mesh if f"`{c}`" not in section}
