"""Every known variable set to something hostile: the run still ends on time, in verdicts.

A 100 KB value once made redaction quadratic (the run overran its deadline by minutes) and
a 40,000-entry GLOO_SOCKET_IFNAME made gloo.interface overrun; these keep it that way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import validate_report
from sgdoctor.parse.catalogue import entries
from sgdoctor.redact import MAX_TEXT

NAMES = [e.name for e in entries()]
# Linux caps the whole environment (ARG_MAX), so the variables go in three groups.
GROUPS = [NAMES[i::3] for i in range(3)]
VALUES = {
    "long": b"y" * 100_000,
    "latin1": b"\xe9" * 30_000,
    "list": b"a," * 40_000,
    "schemes": b"://" * 30_000,
    "userinfo": b"http://u:" + b"p" * 60_000 + b"@h",
}


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


BUDGET = 30


@pytest.mark.parametrize("kind", sorted(VALUES))
@pytest.mark.parametrize("group", range(len(GROUPS)))
def test_hostile_values_end_in_verdicts_on_time(kind, group):
    env = {k.encode(): v.encode() for k, v in os.environ.items()}
    env.update({b"SGDOCTOR_CONFIG": b"", b"NO_COLOR": b"1"})
    for name in GROUPS[group]:
        env[name.encode()] = VALUES[kind]
    # A generous budget for a loaded 2-core machine: what this guards against (a parser or
    # redaction going quadratic on 80 KB values) takes minutes, not seconds.
    began = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "sgdoctor", "--format", "json", "--timeout",
                           str(BUDGET)], env=env, capture_output=True, timeout=120)
    elapsed = time.monotonic() - began
    assert b"Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert elapsed < BUDGET + 10, elapsed
    doc = validate_report(json.loads(proc.stdout))
    errors = [(c["id"], c["summary"][:200]) for c in doc["checks"] if c["status"] == "error"]
    assert not errors
    longest = max(len(s) for s in _strings(doc))
    assert longest <= MAX_TEXT + 64
