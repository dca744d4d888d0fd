"""probe.process.run_bounded with real programs: it starts them as Popen(start_new_session,
close_fds) did, and bounds them."""

from __future__ import annotations

import os
import sys
import time

from sgdoctor.probe.process import run_bounded


def test_a_bare_name_is_looked_up_on_the_path_of_the_environment_given(tmp_path):
    tool = tmp_path / "sgd-hello"
    tool.write_text("#!/bin/sh\necho hello from $0\n")
    tool.chmod(0o755)
    run = run_bounded(["sgd-hello"], timeout=30, env={"PATH": f"/nonexistent:{tmp_path}"})
    assert (run.returncode, run.stdout) == (0, f"hello from {tool}\n"), run
    missing = run_bounded(["sgd-hello"], timeout=30, env={"PATH": "/nonexistent"})
    assert missing.returncode is None and missing.error == "No such file or directory"


def test_it_leads_a_session_reads_dev_null_and_inherits_no_descriptor_but_the_three():
    read_fd, write_fd = os.pipe()
    held = os.dup2(read_fd, 200)  # as a supervisor may hand one down: inheritable
    os.set_inheritable(held, True)
    try:
        run = run_bounded([sys.executable, "-c", "import os, sys; print(os.getsid(0) == "
                           "os.getpid(), repr(sys.stdin.read()), os.path.exists("
                           "'/proc/self/fd/200'))"], timeout=30)
    finally:
        for fd in (read_fd, write_fd, held):
            os.close(fd)
    assert (run.returncode, run.stdout) == (0, "True '' False\n"), run


def test_exit_codes_signals_and_stderr_come_back():
    run = run_bounded(["/bin/sh", "-c", "echo oops >&2; exit 3"], timeout=30)
    assert (run.returncode, run.stderr, run.timed_out) == (3, "oops\n", False)
    killed = run_bounded(["/bin/sh", "-c", "kill -9 $$"], timeout=30)
    assert killed.returncode == -9


def test_past_its_deadline_the_whole_group_is_killed(tmp_path):
    marker = tmp_path / "pid"
    began = time.monotonic()
    run = run_bounded(["/bin/sh", "-c", f"sleep 60 & echo $! > {marker}; wait"], timeout=0.5)
    assert run.timed_out and run.returncode is None and not run.lingering
    assert time.monotonic() - began < 10
    left = int(marker.read_text())
    deadline = time.monotonic() + 10
    while _running(left) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _running(left), "the group's background sleep outlived the kill"


def _running(pid: int) -> bool:
    """Alive and not a zombie (a killed orphan waits for init to reap it)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rpartition(b")")[2].split()[0] != b"Z"
    except FileNotFoundError:
        return False
