"""The engine: runs checks under per-check and whole-run deadlines.

Below the runner (which takes a plan) and the report (which reads Outcomes). Checks run on
daemon worker threads: a hung probe cannot be killed, but it can be abandoned, and the run
still ends on time with a verdict for every check.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence

from sgdoctor.api import CheckSpec, Context, Result, Status, Text
from sgdoctor.errors import ConfigError
from sgdoctor.records import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

BLOCKING = (Status.FAIL, Status.ERROR, Status.SKIP)

# A check abandoned at its deadline keeps its worker until its probe returns. Long-lived
# processes (serve, --wait) run checks again and again: a check still running from an
# earlier run is not started twice, so stuck threads stay bounded by the number of checks.
_LIVE: set[str] = set()
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


class _Worker:
    """One thread that runs the run's checks one after another."""

    def __init__(self) -> None:
        self.check: str | None = None   # the check it runs now
        self.since = 0.0                # when the monitor last sampled it (wall)
        self.cpu = 0.0                  # its thread's CPU time then
        self.clock: int | None = None   # its thread's CPU clock, where the OS has one

    def sample(self) -> tuple[float, float]:
        """(wall, thread CPU); a thread whose clock cannot be read shows no progress."""
        now = time.monotonic()
        if self.clock is None:
            return now, now
        try:
            return now, time.clock_gettime(self.clock)
        except OSError:
            return now, self.cpu


def _cpu_clock() -> int | None:
    """This thread's CPU clock (Linux and most Unixes), for the monitor to read."""
    try:
        return time.pthread_getcpuclockid(threading.get_ident())
    except (AttributeError, OSError):
        return None


class _Run:
    """A run's checks on as few threads as keep it moving.

    With a thread for each of a node's 60-odd checks, every syscall a check made handed the
    GIL to another runnable check: a healthy run spent a third of its CPU switching between
    them (2,300 context switches, against 70 with the checks run one after another). So one
    worker runs the checks in order, and the monitor (the caller's thread) adds a worker
    whenever every worker is stuck waiting (on the network, a slow disk, a hung probe) while
    checks are ready: a thread's CPU clock tells waiting from working. A hung check is still
    abandoned at its deadline; its worker leaves when the probe returns."""

    POLL = 0.006        # how often the monitor looks at busy workers while checks are ready
                        # (each look takes the GIL from the worker: at 3 ms a healthy run
                        # took 1.4-5.8 ms longer in two sets of interleaved runs)
    WAITING = 0.3       # a worker whose CPU advanced less than this share of the wall waits

    def __init__(self, specs: Sequence[CheckSpec], env: Mapping[str, str], timeout: float,
                 settings: Mapping[str, Mapping[str, Any]], options: Mapping[str, Any],
                 started: float | None = None) -> None:
        self.specs = {s.id: s for s in specs}
        began = time.monotonic() if started is None else started
        self.base = Context(env, deadline=began + timeout, options=options)
        self.settings = settings
        self.verbose = bool(options.get("verbose"))
        # The monitor waits on `lock`, workers waiting for a dependency on `freed`: waking
        # the monitor at every claim and finish cost a few context switches each.
        mutex = threading.Lock()
        self.lock = threading.Condition(mutex)
        self.freed = threading.Condition(mutex)
        self.waiters = 0
        self.wake_at = float("inf")  # when the monitor means to look next
        self.done: dict[str, Outcome] = {}
        self.started: dict[str, tuple[float, float]] = {}
        self.todo: list[CheckSpec] = []
        self.workers: list[_Worker] = []
        self.over = False

    def finish(self, spec: CheckSpec, result: Result, started: float) -> None:
        with self.lock:
            self._finish(spec, result, started)

    def _finish(self, spec: CheckSpec, result: Result, started: float) -> None:
        if spec.id not in self.done:
            elapsed = (time.monotonic() - started) * 1000
            self.done[spec.id] = Outcome(spec, result, elapsed)
        if self.waiters:
            self.freed.notify_all()
        if len(self.done) == len(self.specs):
            self.lock.notify()
        elif self.todo and self.wake_at > time.monotonic() + self.POLL:
            self.lock.notify()  # it may have dependents ready for a worker of their own

    def _ready(self) -> tuple[int, Result | None] | None:
        """The first check to do whose dependencies are done (with the skip it gets when one
        of them ended badly), or None when every one left waits on a dependency."""
        for index, spec in enumerate(self.todo):
            deps = [(dep, self.done.get(dep)) for dep in spec.depends_on if dep in self.specs]
            if any(outcome is None for _, outcome in deps):
                continue
            for dep, outcome in deps:
                if outcome is not None and outcome.result.status in BLOCKING:
                    return index, Result.skip(Text(
                        "skipped: it depends on {dep}, which ended in {status}", dep=dep,
                        status=Text(outcome.result.status.value)))
            return index, None
        return None

    def _claim(self, worker: _Worker) -> CheckSpec | None:
        """The next check for ``worker`` to run, marked started; None: it may leave."""
        while not self.over and self.todo:
            ready = self._ready()
            if ready is None:
                left = self.base.deadline - time.monotonic()
                if left <= 0:
                    return None
                self.waiters += 1
                try:
                    self.freed.wait(left)
                finally:
                    self.waiters -= 1
                continue
            now = time.monotonic()
            if now >= self.base.deadline:
                return None
            index, skip = ready
            spec = self.todo.pop(index)
            if skip is not None:
                self._finish(spec, skip, now)
                continue
            deadline = min(self.base.deadline, now + check_timeout(spec, self.settings))
            self.started[spec.id] = (now, deadline)
            worker.check, worker.since = spec.id, now
            _, worker.cpu = worker.sample()
            with _LIVE_LOCK:
                _LIVE.add(spec.id)
            if deadline < self.wake_at:
                self.lock.notify()
            return spec
        return None

    def work(self, worker: _Worker) -> None:
        worker.clock = _cpu_clock()
        try:
            while True:
                with self.lock:
                    worker.check = None
                    spec = self._claim(worker)
                    if spec is None:
                        return
                    deadline = self.started[spec.id][1]
                ctx = self.base.derive(deadline=deadline,
                                       settings=self.settings.get(spec.id, {}))
                try:
                    result = call_check(spec, ctx, self.verbose)
                except BaseException as exc:  # CancelledError, say: not the worker's end
                    result = Result.error(Text("check raised {type}: {error}",
                                               type=type(exc).__name__, error=str(exc)))
                finally:
                    with _LIVE_LOCK:
                        _LIVE.discard(spec.id)
                self.finish(spec, result, self.started[spec.id][0])
        finally:
            with self.lock:
                self.workers.remove(worker)

    def spawn(self) -> None:
        worker = _Worker()
        self.workers.append(worker)
        threading.Thread(target=self.work, args=(worker,), name="sgdoctor check worker",
                         daemon=True).start()

    def _all_waiting(self) -> bool:
        """Every worker is in a check and none has done much in it since the last look."""
        if not self.workers:
            return True
        waiting = True
        for worker in self.workers:
            if worker.check is None:
                return False
            if worker.check in self.done:  # given up on (overdue): it holds a worker, no more
                continue
            wall, cpu = worker.sample()
            if wall - worker.since < self.POLL:
                waiting = False
                continue
            busy = cpu - worker.cpu >= self.WAITING * (wall - worker.since)
            if worker.clock is not None and busy:
                waiting = False
            worker.since, worker.cpu = wall, cpu
        return waiting

    def overdue(self, now: float) -> None:
        """Give up on checks past their deadline; wake whoever depends on them."""
        for check_id, (started, deadline) in self.started.items():
            if check_id not in self.done and now >= deadline:
                limit = deadline - started
                self.done[check_id] = Outcome(
                    self.specs[check_id],
                    Result.error(Text("did not finish in {seconds} s", seconds=f"{limit:.1f}")),
                    limit * 1000)
                self.freed.notify_all()

    def wait(self) -> None:
        with self.lock:
            while True:
                now = time.monotonic()
                self.overdue(now)
                if len(self.done) == len(self.specs) or now >= self.base.deadline:
                    break
                ready = bool(self.todo) and self._ready() is not None
                if ready and self._all_waiting():
                    self.spawn()
                pending = [d for cid, (_, d) in self.started.items() if cid not in self.done]
                wake = min([self.base.deadline, *pending])
                if ready:
                    wake = min(wake, now + self.POLL)
                self.wake_at = wake
                self.lock.wait(max(0.0, wake - now))
                self.wake_at = float("inf")
            self.over = True
            self.freed.notify_all()
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
    with _LIVE_LOCK:
        stuck = _LIVE.intersection(run.specs)
    now = time.monotonic()
    for spec in specs:
        if spec.id in stuck:
            run.finish(spec, Result.error(Text("still stuck in an earlier run (not started "
                                               "again until that one returns)")), now)
        else:
            run.todo.append(spec)
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
