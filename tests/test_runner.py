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
