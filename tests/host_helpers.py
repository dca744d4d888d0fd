"""Plumbing for the host-resource tests: the real CLI inside a private mount namespace, and
one check called in-process against a prepared --host-root tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conftest import json_report, result_of, run_cli, unavailable
from sgdoctor.api import Context, Result
from sgdoctor.registry import builtin_specs


def need_unshare() -> None:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        unavailable("this test needs root and unshare(1)")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        unavailable(f"unshare -m does not work here: {probe.stderr.decode(errors='replace')}")


def config_args(tmp_path: Path, check_id: str, body: str) -> list[str]:
    path = tmp_path / "sgdoctor.toml"
    path.write_text(f'[checks."{check_id}"]\n{body}\n')
    return ["--config", str(path)]


def cli_result(check_id: str, args: list[str] = (), env: dict[str, str] | None = None, *,
               setup: str | None = None, prefix: list[str] | None = None) -> tuple[int, dict]:
    """Run `sgdoctor --format json --only ID` (after ``setup`` shell lines run in a private
    mount namespace, when given) and return the exit code and the check's result."""
    before = list(prefix or [])
    if setup is not None:
        before = ["unshare", "-m", "--propagation", "private", "--", "sh", "-ec",
                  setup + '\nexec "$@"', "sh", *before]
    proc = run_cli(["--format", "json", "--only", check_id, *args], env, prefix=before)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, result_of(json_report(proc), check_id)


def run_check(check_id: str, *, env: Mapping[str, str] | None = None,
              settings: Mapping[str, Any] | None = None,
              options: Mapping[str, Any] | None = None) -> Result:
    """One built-in check called as the runner calls it (for options the CLI cannot pass)."""
    spec = next(s for s in builtin_specs() if s.id == check_id)
    ctx = Context(dict(env or {}), deadline=time.monotonic() + 30, settings=settings,
                  options=options)
    return spec.run(ctx)


def codes(result: Result | dict) -> set[str]:
    details = result.details if isinstance(result, Result) else result["details"]
    return {f["code"] for f in details["findings"] if f["status"] != "ok"}


def tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """A --host-root tree: ``{"proc/1/limits": "...", "dev/shm/": ""}`` (a trailing / is a
    directory)."""
    for rel, content in files.items():
        path = root / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def mountinfo_line(mount_point: str, fstype: str = "tmpfs", options: str = "rw", *,
                   device: str = "0:99") -> str:
    return (f"30 1 {device} / {mount_point} {options},nosuid,nodev shared:1 - {fstype} "
            f"{fstype} rw\n")


def device_of(path: Path) -> str:
    """``major:minor`` of the filesystem holding ``path``, as mountinfo writes it."""
    st = os.stat(path)
    return f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"


_IN_NAMESPACE = """
import json, sys, time
from sgdoctor.api import Context
from sgdoctor.registry import builtin_specs
check_id, env, settings, options = json.loads(sys.argv[1])
spec = next(s for s in builtin_specs() if s.id == check_id)
result = spec.run(Context(env, deadline=time.monotonic() + 30, settings=settings,
                          options=options))
print(json.dumps({"status": result.status.value, "summary": result.summary,
                  "remedy": result.remedy, "details": result.details}, default=str))
"""


def run_check_in(setup: str, check_id: str, *, env: Mapping[str, str] | None = None,
                 settings: Mapping[str, Any] | None = None,
                 options: Mapping[str, Any] | None = None) -> dict:
    """run_check in a private mount namespace after ``setup`` (real mounts, and options the
    CLI cannot pass yet); the result as the JSON report would show it."""
    import json
    import sys

    argv = json.dumps([check_id, dict(env or {}), dict(settings or {}), dict(options or {})])
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "--", "sh", "-ec",
                           setup + '\nexec "$@"', "sh", sys.executable, "-c", _IN_NAMESPACE,
                           argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)
