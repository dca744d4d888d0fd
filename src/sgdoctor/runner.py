"""The runner: one RunPlan in, one Report out, for every command that runs checks.

`check`, `exec`, `--wait`, `serve`, `env` and `mesh` build a RunPlan (what to run, the
deadline, settings, options, ignores, the gate) and hand it to :func:`run`; the engine
below runs the checks, the report above folds the outcomes. Settings are validated once,
when the plan is made.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from sgdoctor.api import CheckSpec, Text
from sgdoctor.engine import Outcome, call_check, check_timeout, run_checks
from sgdoctor.errors import ConfigError, Interrupted
from sgdoctor.records import dataclass, field
from sgdoctor.report import Report, build_report
from sgdoctor.settings import validate
from sgdoctor.waiting import Progress, retry_set

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["RunPlan", "RunResult", "run", "run_plan", "Outcome", "call_check",
           "check_timeout", "run_checks"]

FAIL_ON = ("warn", "fail")


@dataclass(frozen=True)
class RunPlan:
    """Everything one run needs, decided before anything runs.

    `specs` are the selected checks, in report order; `timeout` is the whole run's deadline
    (per attempt under `wait`); `settings` the config sections by check id; `ignore` exact
    ids → reason (their fail/warn is reported as skip); `fail_on` the lowest status that
    makes exit code 1; `wait`/`interval` retry failed checks until they pass or time is up.
    `extra_options` reach the checks as ctx.options beside verbose, deep and host_root.
    `lang` is the language reporters render the human formats in (checks never see it).
    `started` (time.monotonic()) is when a one-shot run's `timeout` began counting — the
    process's start, for a command the user waits on as a whole; None: when the run begins.
    """

    specs: tuple[CheckSpec, ...]
    timeout: float = 10.0
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    verbose: bool = False
    deep: bool = False
    host_root: str | None = None
    extra_options: Mapping[str, Any] = field(default_factory=dict)
    ignore: Mapping[str, str] = field(default_factory=dict)
    fail_on: str = "fail"
    wait: float | None = None
    interval: float = 2.0
    lang: str = "en"
    started: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "specs", tuple(self.specs))
        object.__setattr__(self, "settings", MappingProxyType(
            {k: MappingProxyType(dict(v)) for k, v in self.settings.items()}))
        object.__setattr__(self, "ignore", MappingProxyType(dict(self.ignore)))
        object.__setattr__(self, "extra_options", MappingProxyType(dict(self.extra_options)))
        if self.fail_on not in FAIL_ON:
            raise ConfigError(Text("--fail-on {value}: choose warn or fail",
                                   value=repr(self.fail_on)))
        for name, value in (("--timeout", self.timeout), ("--interval", self.interval),
                            ("--wait", self.wait)):
            if value is not None and not value > 0:
                raise ConfigError(Text("{option} must be more than zero", option=name))
        validate(self.settings, self.specs)

    @property
    def options(self) -> dict[str, Any]:
        """What checks see as ctx.options."""
        options: dict[str, Any] = {"verbose": self.verbose, "deep": self.deep}
        if self.host_root is not None:
            options["host_root"] = self.host_root
        return {**options, **self.extra_options}


@dataclass(frozen=True)
class RunResult:
    """The final report; `signum` when a signal ended a --wait early (exit 128 + signum)."""

    report: Report
    attempts: int = 1
    signum: int | None = None


def run_plan(plan: RunPlan, env: Mapping[str, str],
             specs: Sequence[CheckSpec] | None = None,
             timeout: float | None = None, started: float | None = None) -> list[Outcome]:
    """One pass of the engine over the plan's specs (or a subset of them)."""
    return run_checks(plan.specs if specs is None else specs, env,
                      timeout=plan.timeout if timeout is None else timeout,
                      settings=plan.settings, options=plan.options, ignore=plan.ignore,
                      started=started)


def run(plan: RunPlan, env: Mapping[str, str], *, progress: Progress | None = None,
        stop: threading.Event | None = None, split: bool = False) -> RunResult:
    """Run the plan once, or under `plan.wait` re-run what failed every `interval` (±20 %)
    until it passes or the wait runs out; one report either way, never one per attempt.
    `split`: a one-shot run may share its checks with a forked child (sgdoctor.split), for
    a command that runs once and exits.

    An Interrupted signal during a wait ends it with the last complete report."""
    started_wall, started = time.time(), time.monotonic()
    from sgdoctor.probe.consumers import for_options

    def read_consumers() -> None:
        # the server's consumer releases (for the report) are read while the checks run
        threading.Thread(target=for_options, args=(plan.options, env), daemon=True).start()

    def report(outcomes: Mapping[str, Outcome]) -> Report:
        ordered = [outcomes[s.id] for s in plan.specs if s.id in outcomes]
        return build_report(ordered, env, started_at=started_wall,
                            duration_ms=(time.monotonic() - started) * 1000,
                            consumers=for_options(plan.options, env))

    if plan.wait is None and split:
        from sgdoctor.split import run_split

        began = plan.started if plan.started is not None else started
        outcomes_once = run_split(plan.specs, lambda specs: run_plan(plan, env, specs,
                                                                     started=began),
                                  began + plan.timeout, here_first=read_consumers)
        return RunResult(report({o.spec.id: o for o in outcomes_once}))
    read_consumers()
    if plan.wait is None:
        outcomes_once = run_plan(plan, env, started=plan.started)
        return RunResult(report({o.spec.id: o for o in outcomes_once}))
    deadline = started + plan.wait
    outcomes: dict[str, Outcome] = {}
    attempts = 0
    todo = list(plan.specs)
    try:
        while todo:
            budget = min(plan.timeout, max(0.05, deadline - time.monotonic()))
            for outcome in run_plan(plan, env, todo, budget):
                outcomes[outcome.spec.id] = outcome
            attempts += 1
            todo = retry_set(plan.specs, outcomes)
            left = deadline - time.monotonic()
            if not todo or left <= 0.05:
                break
            if progress:
                progress([s.id for s in todo], time.monotonic() - started, plan.wait)
            import random  # only --wait's retries need it: not on every start

            pause = min(left, plan.interval * random.uniform(0.8, 1.2))
            if stop is not None:
                if stop.wait(pause):
                    break
            else:
                time.sleep(pause)
    except Interrupted as exc:
        if not outcomes:
            raise
        return RunResult(report(outcomes), attempts, exc.signum)
    return RunResult(report(outcomes), attempts)
