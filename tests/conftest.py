"""Shared test plumbing: the real CLI in a subprocess, schema validation, root gating."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REQUIRE_ROOT = os.environ.get("SGDOCTOR_REQUIRE_ROOT_TESTS") == "1"

# A minimal, predictable environment for the CLI under test: nothing of the
# developer's shell leaks in unless a test passes it explicitly.
BASE_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": os.environ.get("HOME", "/root"),
    "LANG": "C.UTF-8",
    "NO_COLOR": "1",
    "SGDOCTOR_CONFIG": "",
}


def unavailable(reason: str) -> None:
    """Skip a test that needs something this machine lacks; under CI that is a failure."""
    if REQUIRE_ROOT:
        pytest.fail(f"SGDOCTOR_REQUIRE_ROOT_TESTS=1 but {reason}")
    pytest.skip(reason)


def have_netns() -> bool:
    if os.geteuid() != 0 or not shutil.which("ip"):
        return False
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, timeout=10)
    return probe.returncode == 0


@pytest.fixture
def needs_root() -> None:
    if os.geteuid() != 0:
        unavailable("this test needs root")


@pytest.fixture
def needs_netns() -> None:
    if not have_netns():
        unavailable("this test needs root and `ip netns`")


def run_cli(args: list[str], env: dict[str, str] | None = None, *, timeout: float = 60,
            prefix: list[str] | None = None, **kwargs) -> subprocess.CompletedProcess[str]:
    """Run the real `sgdoctor` CLI (python -m sgdoctor) with a controlled environment."""
    full_env = dict(BASE_ENV)
    full_env.update(env or {})
    cmd = [*(prefix or []), sys.executable, "-m", "sgdoctor", *args]
    return subprocess.run(cmd, env=full_env, capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def schema() -> dict:
    from importlib.resources import files

    return json.loads(files("sgdoctor.report").joinpath("schema.json").read_text())


def validate_report(doc: dict) -> dict:
    """Every JSON report a test sees must satisfy the schema that ships in the package."""
    import jsonschema

    jsonschema.validate(doc, schema())
    return doc


def json_report(proc: subprocess.CompletedProcess[str]) -> dict:
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"stdout is not JSON ({exc}):\n{proc.stdout}\n{proc.stderr}") from exc
    return validate_report(doc)


def result_of(doc: dict, check_id: str) -> dict:
    for item in doc["checks"]:
        if item["id"] == check_id:
            return item
    raise AssertionError(f"no check {check_id} in report: {[c['id'] for c in doc['checks']]}")


@pytest.fixture(scope="session")
def tests_dir() -> Path:
    return Path(__file__).parent


@pytest.fixture(scope="module")
def etcd():
    """A real etcd (Debian etcd-server) on loopback, shared by a test module."""
    from servers import EtcdServer, etcd_binary

    if etcd_binary() is None:
        unavailable("etcd is not installed (Debian package etcd-server)")
    with EtcdServer() as server:
        yield server
