"""sgdoctor.split: a one-shot run shared with a forked child reports what one process does,
ends by its deadline, and leaves no child behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import fakesdk
from sgdoctor import split
from sgdoctor.api import CheckSpec, Result

WRAP = ("import sys; sys.argv = ['sgdoctor', *sys.argv[1:]]\nimport os, time\n"
        "import sgdoctor.split as split\n"
        "os.register_at_fork(after_in_child=lambda: os.write(2, f'child {{os.getpid()}}\\n'"
        ".encode()))\n{setup}\nfrom sgdoctor._entry import main\nmain()")
ARGS = ["--format", "json", "--skip", "maca.devices"]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A node with enough work to fork for: a gcc-built SDK (the loader model's checks), a
    record directory."""
    if not fakesdk.have_gcc():
        pytest.skip("gcc is needed to build the MACA SDK's ELF files")
    base = tmp_path_factory.mktemp("node")
    sdk = fakesdk.build_fake_sdk(base / "sdk", many=0)
    (base / "record").mkdir()
    keep = ("PATH", "LANG", "HOSTNAME")
    return {**{k: v for k, v in os.environ.items() if k in keep}, "HOME": str(base),
            "SGDOCTOR_CONFIG": "", "LANG": "C.UTF-8",
            "SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR": str(base / "record"), **sdk.env()}


def _run(env: dict[str, str], setup: str = "", args: list[str] = ARGS,
         timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], float]:
    began = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", WRAP.format(setup=setup), *args],
                          capture_output=True, text=True, env=env, timeout=timeout)
    return proc, time.monotonic() - began


def _children(stderr: str) -> list[int]:
    return [int(pid) for pid in re.findall(r"^child (\d+)$", stderr, re.M)]


def _normal(value: Any) -> Any:
    """The report with what is measured (durations, latencies, free bytes) made equal."""
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if k != "started_at"}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"\d+(?:\.\d+)?", "0", value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return 0
    return value


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_forked_run_reports_what_an_in_process_run_reports(node):
    for _ in range(3):  # a check overrunning its own limit on a loaded machine: once more
        forked, _ = _run(node, args=[*ARGS, "--timeout", "60"])
        single, _ = _run(node, "split.ENABLED = False", [*ARGS, "--timeout", "60"])
        if "did not finish" not in forked.stdout + single.stdout:
            break
    assert _children(forked.stderr), "the full run should have forked"
    assert not _children(single.stderr)
    assert forked.returncode == single.returncode, forked.stderr + single.stderr
    ours, theirs = json.loads(forked.stdout), json.loads(single.stdout)
    assert [c["id"] for c in ours["checks"]] == [c["id"] for c in theirs["checks"]]
    assert _normal(ours) == _normal(theirs)
    assert all(_gone(pid) for pid in _children(forked.stderr))


def test_a_small_run_does_not_fork(node):
    proc, _ = _run(node, args=["--format", "json", "--only", "env.*"])
    assert proc.returncode in (0, 1), proc.stderr
    assert not _children(proc.stderr)


def test_a_run_pinned_to_one_cpu_does_not_fork(node):
    """Under taskset (a container given one CPU) a second process has no core to run on."""
    import shutil

    if shutil.which("taskset") is None:
        pytest.skip("taskset (util-linux) is not installed")
    proc = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", WRAP.format(setup=""),
                           *ARGS], capture_output=True, text=True, env=node, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    assert len(json.loads(proc.stdout)["checks"]) > 50
    assert not _children(proc.stderr)


PINNING = """
def cpus():
    return sorted(os.sched_getaffinity(0))
os.write(2, f"before {cpus()}\\n".encode())
real_split = split.run_split
def run_split(specs, run_share, deadline, here_first=None):
    def share(specs):
        os.write(2, f"share {os.getpid()} {cpus()}\\n".encode())
        return run_share(specs)
    outcomes = real_split(specs, share, deadline, here_first)
    os.write(2, f"after {cpus()}\\n".encode())
    return outcomes
split.run_split = run_split
"""


def test_each_half_keeps_to_a_cpu_of_its_own_and_this_process_gets_its_cpus_back(node):
    """While the halves run each process is on one CPU, not the same one; afterwards this
    process (whose next step may be exec'ing the server) may use every CPU it had."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: the run does not fork")
    proc, _ = _run(node, PINNING)
    assert proc.returncode in (0, 1), proc.stderr
    before = re.search(r"^before (\[.*\])$", proc.stderr, re.M)
    after = re.search(r"^after (\[.*\])$", proc.stderr, re.M)
    shares = dict(re.findall(r"^share (\d+) (\[.*\])$", proc.stderr, re.M))
    assert before and after and before.group(1) == after.group(1), proc.stderr
    assert len(shares) == 2, proc.stderr
    pinned = [json.loads(cpus) for cpus in shares.values()]
    assert all(len(cpus) == 1 for cpus in pinned) and pinned[0] != pinned[1], pinned
    assert all(set(cpus) <= set(json.loads(before.group(1))) for cpus in pinned)


def test_a_child_that_hangs_is_killed_at_the_deadline(node):
    proc, took = _run(node, "split._child = lambda *a: time.sleep(600)",
                      [*ARGS, "--timeout", "1.5"])
    assert took < 1.5 + 0.5, took
    report = json.loads(proc.stdout)
    cut = [c for c in report["checks"]
           if c["summary"] == "did not finish before the run's deadline"]
    assert cut and all(c["status"] == "error" for c in cut)
    # env_values' checks always stay here (split.HERE_ONLY): they ended, the child's did not
    ended = {c["id"] for c in report["checks"]} - {c["id"] for c in cut}
    assert "env.dyn_request_plane" in ended, ended
    assert proc.returncode in (1, 3)
    assert all(_gone(pid) for pid in _children(proc.stderr))


def test_a_child_that_dies_leaves_errors_saying_how(node):
    proc, _ = _run(node, "split._child = lambda *a: os._exit(7)")
    report = json.loads(proc.stdout)
    lost = [c for c in report["checks"] if "ended without its result" in c["summary"]]
    assert lost and all(c["summary"].endswith("(exit 7)") and c["status"] == "error"
                        for c in lost)


def test_sigterm_ends_the_run_and_its_child(node):
    proc = subprocess.Popen([sys.executable, "-c", WRAP.format(
        setup="split._child = lambda *a: time.sleep(600)"), *ARGS, "--timeout", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=node)
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert out == ""
    assert "interrupted by SIGTERM" in err
    pids = _children(err)
    assert pids and all(_gone(pid) for pid in pids)


class _Func:
    def __init__(self, module: str | None) -> None:
        if module is not None:
            self.check_module = module

    def __call__(self, ctx: Any) -> Result:
        return Result.ok("fine")


def _spec(check_id: str, module: str | None, *, depends_on: tuple[str, ...] = (),
          source: str = "built-in") -> CheckSpec:
    return CheckSpec(id=check_id, title=check_id, func=_Func(module), depends_on=depends_on,
                     source=source)


def test_partition_keeps_plugins_consumers_and_dependencies_here():
    specs = [_spec("a.ports", "host_ports"), _spec("a.dups", "libs_duplicates"),
             _spec("a.libs", "maca_libs"), _spec("a.ip", "host_ip"),
             _spec("a.rec", "expert_record"), _spec("a.etcd", "etcd"),
             _spec("a.env", "env_values"),
             _spec("p.one", None, source="dir /x/p.py"),
             _spec("a.shm", "host_shm", depends_on=("p.one",))]
    here, there = split.partition(specs) or ([], [])
    assert there, "enough work to fork for"
    assert [s.id for s in here + there if s.id in {x.id for x in here}] == [s.id for s in here]
    assert {"a.etcd", "a.env", "p.one", "a.shm"} <= {s.id for s in here}
    assert {s.id for s in here}.isdisjoint({s.id for s in there})
    assert len(here) + len(there) == len(specs)
    # the loader model's checks share a process
    sides = [("a.dups" in {s.id for s in side}, "a.libs" in {s.id for s in side})
             for side in (here, there)]
    assert all(a == b for a, b in sides)


def test_partition_leaves_small_runs_alone():
    assert split.partition([_spec("a.sdk", "maca_sdk"), _spec("a.lim", "host_limits")]) is None
    assert split.partition([_spec(f"p.{i}", None, source="entry point x")
                            for i in range(200)]) is None


def test_fork_hooks_forget_the_parents_cleanup(tmp_path: Path):
    code = ("import os, sys\nfrom sgdoctor import cleanup\n"
            "cleanup.at_exit(lambda: print('parent hook'))\npid = os.fork()\n"
            "if pid == 0:\n    cleanup.run_hooks(); os._exit(0)\n"
            "os.waitpid(pid, 0); cleanup.run_hooks()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout == "parent hook\n", proc.stdout + proc.stderr


def test_outcomes_cross_the_pipe_unchanged():
    import marshal

    from sgdoctor.api import Findings, Text
    from sgdoctor.engine import Outcome

    found = Findings()
    found.warn(Text("{name} is odd", name=Text("the {what}", what="thing")), code="odd")
    found.fail("plain words", "do this", code="bad")
    tricky = ("\x00sgdoctor:text", "not a Text")
    results = [found.result("fine", details={"nested": {"t": tricky, "n": [1, 2.5, None, True]}},
                            env=["A"]),
               Result.ok("ok"), Result.skip(Text("skipped {x}", x=3))]
    for result in results:
        outcome = Outcome(_spec("a.b", "host_ports"), result, 1.5, {"reason": "r"}, ("A",))
        row = marshal.loads(marshal.dumps(split._row(outcome)))
        assert row[0] == "plain"
        back, duration, ignored, env = split._unrow(row)
        assert back == result and back.summary_parts == result.summary_parts
        assert back.remedy_parts == result.remedy_parts
        assert (duration, ignored, env) == (1.5, {"reason": "r"}, ("A",))
    odd = Outcome(_spec("a.c", "host_ports"), Result.ok("x", details={"s": {1, 2}}), 0.1)
    row = split._row(odd)
    assert row[0] == "unpicklable" or split._unrow(row)[0] == odd.result
