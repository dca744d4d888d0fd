"""The table on a real terminal (a pty from Python's pty module): it honours the terminal's
width and COLUMNS, and never splits a check id or a command in a remedy."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest

from conftest import BASE_ENV

LONG_ID = "site.a_rather_long_check_identifier_x"
COMMAND = "export LD_LIBRARY_PATH=/opt/mxdriver/lib:/opt/maca/lib"
BACKTICKED = "`ip link set eth1 up`"
PLUGIN = f'''
from sgdoctor.api import Result, check

@check({LONG_ID!r}, title="long id")
def long_id(ctx):
    return Result.fail("the interface eth1 is down and nothing else carries the route to "
                       "the etcd endpoints of this deployment",
                       remedy="Put the driver's libraries on the loader path, e.g. "
                              "{COMMAND}\\n"
                              "Bring eth1 up ({BACKTICKED}) and check its cable, its "
                              "switch port and its VLAN\\n"
                              "Or set GLOO_SOCKET_IFNAME to an interface that is up")

@check("site.short", title="short")
def short(ctx):
    return Result.warn("a warning", remedy="do one thing\\ndo another thing")
'''


@pytest.fixture(scope="module")
def plugins(tmp_path_factory) -> str:
    directory = tmp_path_factory.mktemp("checks")
    (directory / "long.py").write_text(PLUGIN)
    return str(directory)


def on_pty(args: list[str], *, cols: int, rows: int = 50,
           env: dict[str, str] | None = None, colour: bool = False) -> list[str]:
    """Run the CLI with stdout and stderr on a fresh pty of the given size; its lines."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    full_env = {**BASE_ENV, **(env or {})}
    if colour:
        del full_env["NO_COLOR"]
    proc = subprocess.Popen([sys.executable, "-m", "sgdoctor", *args], stdin=slave,
                            stdout=slave, stderr=slave, env=full_env, start_new_session=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) in (0, 1), b"".join(chunks)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r", "")
    assert "Traceback" not in text, text
    return text.splitlines()


def check_layout(lines: list[str], width: int) -> None:
    assert lines and max(len(line) for line in lines) <= width, "\n".join(lines)
    text = "\n".join(lines)
    assert any(LONG_ID in line for line in lines), text       # grep finds the whole id
    assert any(COMMAND in line for line in lines), text       # the command is whole
    assert any(BACKTICKED in line for line in lines), text
    arrows = [line.strip() for line in lines if line.lstrip().startswith("→ ")]
    assert len(arrows) == 5, text                             # one arrow line per remedy
    assert arrows[3:] == ["→ do one thing", "→ do another thing"]


def test_80_columns(plugins):
    lines = on_pty(["--checks-dir", plugins, "--only", "site.*", "--no-color"], cols=80)
    check_layout(lines, 80)
    assert lines[0].split() == ["status", "check", "finding"]


def test_colour_on_a_terminal_does_not_change_the_layout(plugins):
    args = ["--checks-dir", plugins, "--only", "site.*"]
    coloured = on_pty(args, cols=80, colour=True)
    assert any("\x1b[" in line for line in coloured)
    stripped = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in coloured]
    plain = on_pty([*args, "--no-color"], cols=80)
    assert stripped[:-1] == plain[:-1]   # the last line says how long the run took


@pytest.mark.parametrize(("cols", "columns", "width"), [
    (0, "80", 80),     # a 0x0 pty (some CI runners): COLUMNS is what there is
    (0, None, 80),     # ... and without COLUMNS, a terminal's classic 80
    (120, "64", 64),   # COLUMNS wins over the terminal, as shutil has it
])
def test_zero_sized_pty_and_columns(plugins, cols, columns, width):
    env = {"COLUMNS": columns} if columns else {}
    lines = on_pty(["--checks-dir", plugins, "--only", "site.*", "--no-color"], cols=cols,
                   env=env)
    check_layout(lines, width)


# One piece wrap never splits: a command, a backtick span, a word.
WHOLE = re.compile(r"(→ )?(export \S+|\S*`[^`]*`\S*|\S+)")


def test_env_fits_80_columns_and_keeps_names_whole():
    env = {"NVSHMEM_SYMMETRIC_SIZE": "3 g", "PATH": BASE_ENV["PATH"] + ":" + "/x" * 60,
           "TRITON_ENABLE_MACA_OPT_MOVE_DOT_OPERANDS_OUT_LOOP": "1"}
    lines = on_pty(["env", "--set"], cols=80, env=env)
    # Only a command wider than the terminal (PATH's cleaned-up value) may overrun, whole.
    over = [line for line in lines if len(line) > 80]
    assert all(WHOLE.fullmatch(line.strip()) for line in over), "\n".join(lines)
    assert any(line.strip().startswith("export PATH=/") for line in over)
    assert any("TRITON_ENABLE_MACA_OPT_MOVE_DOT_OPERANDS_OUT_LOOP" in line for line in lines)
    assert any(line.lstrip().startswith("→ Write a number") for line in lines)


def test_pipe_default_is_100_columns(plugins):
    proc = subprocess.run([sys.executable, "-m", "sgdoctor", "--checks-dir", plugins,
                           "--only", "site.*"], env=BASE_ENV, capture_output=True,
                          text=True, timeout=60)
    assert 80 < max(len(line) for line in proc.stdout.splitlines()) <= 100
