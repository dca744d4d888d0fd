"""README's promises that can drift: the test command CI runs, and lint cleanliness."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"^TEST_COMMAND='(.+)'$", ci, re.M)
    assert command, ".ci/run names its test command"
    assert f"```sh\n{command.group(1)}\n```" in readme


def test_ruff_is_clean():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "src", "checks", "tests",
                           "bench"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
