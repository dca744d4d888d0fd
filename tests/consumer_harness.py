"""Run the real consumers (NVSHMEM 3.8.0, PyTorch 2.13, Dynamo 1.6.1) on values, for the
differential tests. The consumers live in a venv of their own (scripts/bootstrap makes
.venv-consumers; SGDOCTOR_CONSUMER_PYTHON names another interpreter), as on a node, where
the server's environment is not sgdoctor's. Each helper runs the consumer in a subprocess
of that interpreter and returns what the consumer itself did; nothing here knows sgdoctor's
answer.

Without the consumers the tests skip, except in CI (CI=true), where a missing consumer is a
failure: the group must really run there.
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path

import pytest

from sgdoctor.errors import ProbeError
from sgdoctor.probe.consumers import site_dirs

ROOT = Path(__file__).resolve().parent.parent
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
