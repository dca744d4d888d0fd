"""The runner directly: deadlines, dependencies, and bounded threads across runs."""

from __future__ import annotations

import threading
import time

from sgdoctor.api import Result, Status, check
from sgdoctor.registry import specs_in
from sgdoctor.runner import run_checks

RELEASE = threading.Event()


@check("t.stuck", title="stuck until released", timeout=0.2)
def stuck(ctx):
    RELEASE.wait(30)
    return Result.ok("released")


@check("t.quick", title="quick")
def quick(ctx):
    return Result.ok("quick")


@check("t.after", title="after stuck", depends_on=["t.stuck"])
def after(ctx):
    return Result.ok("ran")


SPECS = [next(specs_in(f)) for f in (stuck, quick, after)]


def test_overrun_is_an_error_and_dependents_are_skipped():
    began = time.monotonic()
    outcomes = {o.spec.id: o for o in run_checks(SPECS, {}, timeout=5)}
    assert time.monotonic() - began < 1.0
    assert outcomes["t.stuck"].result.status is Status.ERROR
    assert "did not finish in 0.2 s" in outcomes["t.stuck"].result.summary
    assert outcomes["t.quick"].result.status is Status.OK
    assert outcomes["t.after"].result.status is Status.SKIP


def test_a_stuck_check_is_not_started_again_until_it_returns():
    run_checks(SPECS, {}, timeout=5)
    threads = threading.active_count()
    for _ in range(5):
        outcomes = {o.spec.id: o for o in run_checks(SPECS, {}, timeout=5)}
        assert "still stuck in an earlier run" in outcomes["t.stuck"].result.summary
        assert outcomes["t.quick"].result.status is Status.OK
    assert threading.active_count() <= threads
    RELEASE.set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        outcome = run_checks(SPECS[:1], {}, timeout=5)[0]
        if "still stuck" not in outcome.result.summary:
            break
        time.sleep(0.05)
    assert outcome.result.status is Status.OK and outcome.result.summary == "released"


SEEN: dict[str, float] = {}


@check("t.deadline", title="records its deadline", timeout=30)
def records_deadline(ctx):
    SEEN["deadline"] = ctx.deadline
    return Result.ok("seen")


def test_a_run_counts_its_timeout_from_the_start_it_is_given():
    """One-shot commands pass the process's start: imports and discovery use up the same
    --timeout the user waits on, so the checks get what is left of it, not all of it."""
    from sgdoctor.runner import RunPlan, run

    spec = next(specs_in(records_deadline))
    began = time.monotonic() - 3.0
    run_checks([spec], {}, timeout=5, started=began)
    assert SEEN["deadline"] == began + 5
    run(RunPlan(specs=(spec,), timeout=7, started=began), {})
    assert SEEN["deadline"] == began + 7
    now = time.monotonic()
    run(RunPlan(specs=(spec,), timeout=7), {})
    assert SEEN["deadline"] >= now + 7


def test_the_console_entry_marks_the_process_start_once():
    import subprocess
    import sys

    code = ("import time, sys; sys.argv = ['sgdoctor', '--version']\n"
            "from sgdoctor import _entry, clock\n"
            "assert clock.began() is None\n"
            "import os; real = os._exit\n"
            "def leave(code):\n"
            "    print(clock.began() == _entry._BEGAN <= time.monotonic()); real(0)\n"
            "os._exit = leave\n"
            "_entry.main()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.endswith("True\n"), proc.stdout + proc.stderr


GATE = threading.Barrier(3, timeout=20)
RAN_ON: dict[str, int] = {}


def _gated(name: str):
    @check(f"t.gate_{name}", title="waits until all three gated checks run", timeout=30)
    def gated(ctx):
        GATE.wait()
        return Result.ok("all three started")
    return next(specs_in(gated))


def _instant(index: int):
    @check(f"t.instant_{index}", title="returns at once")
    def instant(ctx):
        RAN_ON[f"t.instant_{index}"] = threading.get_native_id()
        return Result.ok("done")
    return next(specs_in(instant))


def test_checks_that_wait_get_workers_of_their_own():
    """Three checks that can only finish together: one worker alone would run the first
    until its timeout; the monitor sees it wait and starts the others beside it."""
    outcomes = run_checks([_gated(n) for n in "abc"], {}, timeout=60)
    assert [o.result.status for o in outcomes] == [Status.OK] * 3, outcomes


def test_quick_checks_share_a_worker():
    """Fifty checks that return at once do not get a thread each (a thread for every check
    made every syscall a GIL hand-over)."""
    outcomes = run_checks([_instant(i) for i in range(50)], {}, timeout=30)
    assert all(o.result.status is Status.OK for o in outcomes)
    assert len(set(RAN_ON.values())) < 25, len(set(RAN_ON.values()))


def test_a_dependency_outside_the_run_does_not_hold_a_check():
    outcome = run_checks(SPECS[2:], {}, timeout=5)[0]
    assert outcome.result.status is Status.OK and outcome.result.summary == "ran"


RELEASE_B = threading.Event()


@check("t.first", title="takes a moment", timeout=30)
def first(ctx):
    time.sleep(0.2)
    return Result.ok("first")


@check("t.slow_after", title="waits for t.quick_after", depends_on=["t.first"], timeout=30)
def slow_after(ctx):
    return Result.ok("released") if RELEASE_B.wait(30) else Result.fail("never released")


@check("t.quick_after", title="releases t.slow_after", depends_on=["t.first"])
def quick_after(ctx):
    RELEASE_B.set()
    return Result.ok("quick")


def test_dependents_made_ready_together_do_not_wait_for_each_other():
    """One finish readies two dependents while the monitor sleeps (nothing was ready when
    it last looked): the first to be claimed blocks until the second runs, so the second
    must get a worker of its own long before the run's deadline."""
    specs = [next(specs_in(f)) for f in (first, slow_after, quick_after)]
    try:
        outcomes = {o.spec.id: o for o in run_checks(specs, {}, timeout=8)}
        assert [outcomes[i].result.status for i in ("t.slow_after", "t.quick_after")] \
            == [Status.OK, Status.OK], outcomes
    finally:
        RELEASE_B.set()


@check("t.spins", title="computes past its limit", timeout=0.3)
def spins(ctx):
    until = time.monotonic() + 3
    while time.monotonic() < until:
        pass
    return Result.ok("done at last")


@check("t.cancelled", title="raises a BaseException that is not an Exception")
def cancelled(ctx):
    import asyncio

    raise asyncio.CancelledError("stopped")


def test_a_check_computing_past_its_deadline_does_not_hold_the_others():
    """It is given up on at 0.3 s and keeps its worker (threads cannot be stopped); the
    quick check gets another one, well within the run's 2 s."""
    outcomes = {o.spec.id: o for o in run_checks([next(specs_in(spins)), SPECS[1]], {},
                                                 timeout=2)}
    assert "did not finish in 0.3 s" in outcomes["t.spins"].result.summary
    assert outcomes["t.quick"].result.status is Status.OK


def test_a_base_exception_is_the_check_s_error_and_the_run_goes_on():
    began = time.monotonic()
    outcomes = run_checks([next(specs_in(cancelled)), SPECS[1]], {}, timeout=10)
    assert outcomes[0].result.status is Status.ERROR
    assert "CancelledError" in outcomes[0].result.summary
    assert outcomes[1].result.status is Status.OK
    assert time.monotonic() - began < 5
