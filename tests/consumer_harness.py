"""Run the real consumers (NVSHMEM 3.8.0, PyTorch 2.13, Dynamo 1.6.1) on values, for the
differential tests. The consumers live in a venv of their own (scripts/bootstrap makes
.venv-consumers; SGDOCTOR_CONSUMER_PYTHON names another interpreter), as on a node, where
the server's environment is not sgdoctor's. Each helper runs the consumer in a subprocess
of that interpreter and returns what the consumer itself did; nothing here knows sgdoctor's
answer.

Without the consumers the tests skip, except in CI (CI=true), where a missing consumer is a
failure: the group must really run there.

Dynamo runs inside a private network namespace, against real etcd and nats-server
(``dynamo_in_netns``: one namespace and one batch per corpus, tests/dynamo_network_cases.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from sgdoctor.errors import ProbeError
from sgdoctor.probe.consumers import site_dirs

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
DYNAMO_CORE = "dynamo/_core.abi3.so"
REQUIRED = os.environ.get("CI") == "true"


def _missing(message: str) -> None:
    if REQUIRED:
        pytest.fail(message)
    pytest.skip(message)


@cache
def consumer_python() -> Path:
    return Path(os.environ.get("SGDOCTOR_CONSUMER_PYTHON")
                or ROOT / ".venv-consumers" / "bin" / "python")


@cache
def site_packages() -> Path:
    """The consumer venv's site-packages, found the way sgdoctor finds a server's."""
    python = consumer_python()
    try:
        dirs = site_dirs(str(python), {"PATH": os.defpath}, timeout=30)
    except ProbeError:
        return ROOT / ".venv-consumers" / "missing"
    return Path(next((d for d in dirs if d.endswith("site-packages")), dirs[-1]))


def require(path: Path, what: str) -> Path:
    if not consumer_python().exists():
        _missing(f"no consumer venv at {consumer_python()}; scripts/bootstrap makes it")
    if not path.exists():
        _missing(f"{what} is not installed ({path}); scripts/bootstrap installs it")
    return path


def run_json(code: str, payload: object, *, env: dict[str, str] | None = None,
             prefix: list[str] | None = None, timeout: float = 120) -> object:
    """Run ``code`` in the consumer interpreter with ``payload`` on stdin; it prints JSON."""
    proc = subprocess.run([*(prefix or []), str(consumer_python()), "-c", code],
                          input=json.dumps(payload).encode(), capture_output=True,
                          env=env if env is not None else dict(os.environ), timeout=timeout)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


def dynamo_in_netns(cases: list[dict], *, jobs: int = 3, timeout: float = 30,
                    label: str = "dynamo") -> list[dict]:
    """Each case run by Dynamo 1.6.1 (and judged by sgdoctor) in a fresh private network
    namespace holding the real etcd and nats-servers the cases name; see
    tests/dynamo_network_cases.py for the case format and the results."""
    from conftest import have_netns, unavailable
    from netns import Namespaces

    require(site_packages() / DYNAMO_CORE, "ai-dynamo-runtime==1.6.1")
    if not have_netns():
        unavailable("the Dynamo differential needs root and `ip netns`")
    with Namespaces() as nets:
        ns = nets.new(label)
        proc = subprocess.run([*ns.prefix, sys.executable, str(HERE / "dynamo_network_cases.py")],
                              input=json.dumps({"cases": cases, "jobs": jobs, "timeout": timeout,
                                                "python": str(consumer_python())}),
                              capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [r["name"] for r in results] == [c["name"] for c in cases]
    return results
