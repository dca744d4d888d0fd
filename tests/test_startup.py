"""The answers _entry gives before typer is imported are typer's own, byte for byte."""

from __future__ import annotations

import os
import subprocess
import sys

from sgdoctor import __version__
from sgdoctor._help import TEXT

ARGV = "import sys; sys.argv = ['sgdoctor', *sys.argv[1:]]\n"
TYPER = ARGV + "from sgdoctor.cli import main\nmain()"
ENTRY = ARGV + "from sgdoctor._entry import main\nmain()"


def _run(code: str, args: list[str], columns: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = columns
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_stored_help_is_typers_help_at_80_columns_and_wider():
    for columns in ("80", "200", None):
        typer = _run(TYPER, ["--help"], columns)
        assert typer.returncode == 0
        assert typer.stdout == TEXT, "regenerate: python -m sgdoctor._help"
        for flag in ("--help", "-h"):
            fast = _run(ENTRY, [flag], columns)
            assert (fast.returncode, fast.stdout) == (0, TEXT)


def test_narrow_terminals_and_other_arguments_go_through_typer():
    narrow = _run(ENTRY, ["--help"], "60")
    assert narrow.returncode == 0 and narrow.stdout == _run(TYPER, ["--help"], "60").stdout
    assert narrow.stdout != TEXT
    sub = _run(ENTRY, ["list", "--help"], "100")
    assert sub.returncode == 0 and "Every check sgdoctor knows" in sub.stdout


def test_fast_answers_import_neither_typer_nor_a_check():
    probe = ("import sys; sys.argv = ['sgdoctor', sys.argv[1]]\nimport atexit, os\n"
             "real = os._exit\n"
             "def leave(code):\n"
             "    bad = [m for m in sys.modules if m.startswith(('typer', 'click',"
             " 'sgdoctor.checks', 'sgdoctor.cli'))]\n"
             "    sys.stdout.write(repr(bad)); sys.stdout.flush(); real(code)\n"
             "os._exit = leave\nfrom sgdoctor._entry import main\nmain()")
    for flag, text in (("--version", f"sgdoctor {__version__}\n"), ("--help", TEXT)):
        proc = _run(probe, [flag], "80")
        assert proc.returncode == 0 and proc.stdout == text + "[]", proc.stdout[-300:]
