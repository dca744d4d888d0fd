"""The engine: runs checks in parallel under per-check and whole-run deadlines.

Below the runner (which takes a plan) and the report (which reads Outcomes). Each check
gets its own daemon thread: a hung probe cannot be killed, but it can be abandoned, and
the run still ends on time with a verdict for every check.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sgdoctor.api import CheckSpec, Context, Result, Status, Text
from sgdoctor.errors import ConfigError
from sgdoctor.records import dataclass, field

BLOCKING = (Status.FAIL, Status.ERROR, Status.SKIP)

# A check abandoned at its deadline keeps its thread until its probe returns. Long-lived
# processes (serve, --wait) run checks again and again: a check whose earlier thread is
# still stuck is not started twice, so stuck threads stay bounded by the number of checks.
_LIVE: dict[str, threading.Thread] = {}
_LIVE_LOCK = threading.Lock()


@dataclass
class Outcome:
    """A finished check: its spec, its result, and how it got there."""

    spec: CheckSpec
    result: Result
    duration_ms: float
    ignored: dict[str, str] | None = None
    env: tuple[str, ...] = field(default=())


def _check_cycles(specs: Sequence[CheckSpec]) -> None:
    graph = {s.id: [d for d in s.depends_on] for s in specs}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2 or node not in graph:
            return
        if state.get(node) == 1:
            raise ConfigError("dependency cycle between checks: " + " -> ".join(path + [node]))
        state[node] = 1
        for dep in graph[node]:
            visit(dep, path + [node])
        state[node] = 2

    for node in graph:
        visit(node, [])


def check_timeout(spec: CheckSpec, settings: Mapping[str, Mapping[str, Any]]) -> float:
    """The check's own limit, or its config section's `timeout`, which must be seconds > 0."""
    value = settings.get(spec.id, {}).get("timeout", spec.timeout)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f'[checks."{spec.id}"] timeout = {value!r}: expected a number of '
                          "seconds above zero")
    return float(value)


def call_check(spec: CheckSpec, ctx: Context, verbose: bool = False) -> Result:
    """Run one check; whatever it does wrong becomes an `error` Result, never an exception."""
    try:
        result = spec.run(ctx)
    except SystemExit as exc:
        return Result.error(Text("check called sys.exit({code}); a check returns a Result",
                                 code=repr(exc.code)))
    except Exception as exc:
        details = {}
        if verbose:
            import traceback

            details["traceback"] = traceback.format_exc()
        return Result.error(Text("check raised {type}: {error}", type=type(exc).__name__,
                                 error=str(exc)), details=details)
    if not isinstance(result, Result):
        return Result.error(Text("check returned {type}, not a Result",
                                 type=type(result).__name__))
    return result


class _Run:
    def __init__(self, specs: Sequence[CheckSpec], env: Mapping[str, str], timeout: float,
                 settings: Mapping[str, Mapping[str, Any]], options: Mapping[str, Any],
                 started: float | None = None) -> None:
        self.specs = {s.id: s for s in specs}
        began = time.monotonic() if started is None else started
        self.base = Context(env, deadline=began + timeout, options=options)
        self.settings = settings
        self.verbose = bool(options.get("verbose"))
        self.lock = threading.Condition()
        self.done: dict[str, Outcome] = {}
        self.started: dict[str, tuple[float, float]] = {}

    def finish(self, spec: CheckSpec, result: Result, started: float) -> None:
        with self.lock:
            if spec.id not in self.done:
                elapsed = (time.monotonic() - started) * 1000
                self.done[spec.id] = Outcome(spec, result, elapsed)
            self.lock.notify_all()

    def worker(self, spec: CheckSpec) -> None:
        waited_from = time.monotonic()
        for dep in spec.depends_on:
            if dep not in self.specs:
                continue
            with self.lock:
                while dep not in self.done and time.monotonic() < self.base.deadline:
                    self.lock.wait(self.base.deadline - time.monotonic())
                outcome = self.done.get(dep)
            if outcome is None:
                return
            if outcome.result.status in BLOCKING:
                reason = Text("skipped: it depends on {dep}, which ended in {status}", dep=dep,
                              status=Text(outcome.result.status.value))
                self.finish(spec, Result.skip(reason), waited_from)
                return
        started = time.monotonic()
        deadline = min(self.base.deadline, started + check_timeout(spec, self.settings))
        with self.lock:
            self.started[spec.id] = (started, deadline)
            self.lock.notify_all()
        ctx = self.base.derive(deadline=deadline, settings=self.settings.get(spec.id, {}))
        self.finish(spec, call_check(spec, ctx, self.verbose), started)

    def overdue(self, now: float) -> None:
        """Give up on checks past their deadline; wake whoever depends on them."""
        for check_id, (started, deadline) in self.started.items():
            if check_id not in self.done and now >= deadline:
                limit = deadline - started
                self.done[check_id] = Outcome(
                    self.specs[check_id],
                    Result.error(Text("did not finish in {seconds} s", seconds=f"{limit:.1f}")),
                    limit * 1000)
                self.lock.notify_all()

    def wait(self) -> None:
        with self.lock:
            while True:
                now = time.monotonic()
                self.overdue(now)
                if len(self.done) == len(self.specs) or now >= self.base.deadline:
                    break
                pending = [d for cid, (_, d) in self.started.items() if cid not in self.done]
                wake = min([self.base.deadline, *pending])
                self.lock.wait(max(0.0, wake - now))
            for check_id, spec in self.specs.items():
                if check_id not in self.done:
                    self.done[check_id] = Outcome(spec, Result.error(
                        Text("did not finish before the run's deadline")), 0.0)


def run_checks(specs: Sequence[CheckSpec], env: Mapping[str, str], *, timeout: float = 10.0,
               settings: Mapping[str, Mapping[str, Any]] | None = None,
               options: Mapping[str, Any] | None = None,
               ignore: Mapping[str, str] | None = None,
               started: float | None = None) -> list[Outcome]:
    """Run every spec; one Outcome each, in the order given, never later than `timeout`
    after `started` (time.monotonic(); default: now)."""
    _check_cycles(specs)
    for spec in specs:
        check_timeout(spec, settings or {})
    run = _Run(specs, env, timeout, settings or {}, options or {}, started)
    for spec in specs:
        with _LIVE_LOCK:
            stuck = _LIVE.get(spec.id)
            if stuck is not None and stuck.is_alive():
                run.finish(spec, Result.error(Text("still stuck in an earlier run (not started "
                                                   "again until that one returns)")),
                           time.monotonic())
                continue
            thread = threading.Thread(target=run.worker, args=(spec,), name=f"check {spec.id}",
                                      daemon=True)
            _LIVE[spec.id] = thread
        thread.start()
    run.wait()
    outcomes = [run.done[s.id] for s in specs]
    for outcome in outcomes:
        outcome.env = tuple(dict.fromkeys([*outcome.spec.env, *outcome.result.env]))
        reason = (ignore or {}).get(outcome.spec.id)
        if reason is not None and outcome.result.status in (Status.FAIL, Status.WARN):
            outcome.ignored = {"reason": reason, "status": outcome.result.status.value}
            outcome.result = _ignored(outcome.result, reason)
    return outcomes


def _ignored(result: Result, reason: str) -> Result:
    """A fail/warn the config ignores: a skip that still says what was found, and why not."""
    found = (Text.join("; ", (Text(msgid, **fields) for msgid, fields in result.summary_parts))
             if result.summary_parts else Text(result.summary))
    summary = Text("{summary} (ignored: {reason})", summary=found, reason=reason)
    return Result(Status.SKIP, str(summary), result.remedy, result.details, result.env,
                  (summary.message,), result.remedy_parts)
