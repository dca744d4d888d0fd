"""Run the real consumers (NVSHMEM 3.8.0, PyTorch 2.13, Dynamo 1.6.1) on values, for the
differential tests. Each helper runs the consumer in a subprocess of the test interpreter
and returns what the consumer itself did; nothing here knows sgdoctor's answer.

The consumers are installed by scripts/bootstrap into .venv. Without them the tests skip,
except in CI (CI=true), where a missing consumer is a failure: the group must really run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REQUIRED = os.environ.get("CI") == "true"


def site_packages() -> Path:
    import sysconfig

    return Path(sysconfig.get_paths()["purelib"])


def require(path: Path, what: str) -> Path:
    if not path.exists():
        message = f"{what} is not installed ({path}); scripts/bootstrap installs it"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_json(code: str, payload: object, *, env: dict[str, str] | None = None,
             prefix: list[str] | None = None, timeout: float = 120) -> object:
    """Run ``code`` in a fresh interpreter with ``payload`` on stdin; it prints JSON."""
    proc = subprocess.run([*(prefix or []), sys.executable, "-c", code],
                          input=json.dumps(payload).encode(), capture_output=True,
                          env=env if env is not None else dict(os.environ), timeout=timeout)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])
