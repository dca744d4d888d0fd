"""A one-shot run split between this process and one forked child, to use a second core.

A healthy run is CPU-bound under the GIL: its checks parse /proc, ELF files and the ld.so
cache, so running them in threads takes as long as running them in a row. Forking before any
check module is imported (the plan comes from sgdoctor.manifest) lets a child import and run
about half of the work on another core; it sends its outcomes back over a pipe (marshal,
pickle for what marshal cannot carry),
and the report is built here from both halves, in the plan's order, exactly as from one.

What stays as it was:
- deadlines: both halves run under the same absolute deadline (CLOCK_MONOTONIC is shared
  across fork); the child's half is awaited until that deadline (plus GRACE, the time its
  engine needs to hand over what it cut at the deadline), then the child is killed and its
  unfinished checks end as the engine ends them: "did not finish before the run's deadline";
- signals: the child takes SIGINT and SIGTERM's default action; this process handles them
  as before, and kills the child on its way out (cleanup hook);
- dependencies: checks linked by depends_on run in one process; plugins (entry points, a
  checks directory, Nagios executables) run here, and so do the checks that ask
  probe.consumers (env.*, etcd, nats: this process reads the consumers for the report);
- a check whose result neither marshal nor pickle can carry is run again here.
Fork is skipped (one process, as before) where os.fork is missing, when other threads run
(a fork would copy their locks), on a single CPU, and when the selected checks are too few
to pay for it.

While the halves run, each process keeps to a CPU of its own (this one the CPU it was on,
the child another), and this process gets its CPU set back once the child's half is in:
left free, the scheduler ran a process's worker threads on both CPUs, and a healthy run
took about 4 ms longer (61 interleaved runs: 103.0 against 99.1 ms, as fast as running the
checks with no worker thread at all): most likely the cost of waking threads and flushing
TLBs across CPUs while the fork's copy-on-write faults come in.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import MappingProxyType

from sgdoctor.api import CheckSpec, Result, Status, Text
from sgdoctor.engine import Outcome

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ENABLED", "partition", "run_split"]

ENABLED = True  # tests switch it off to compare a forked run with an in-process one

# Thread CPU (ms) of each built-in check module's checks in a full healthy run, its own
# imports included, as bench/bench_costs.py printed it (bench_run.py's world, python 3.11,
# median of 9 runs); a module not listed counts DEFAULT_COST a check. These are weights for
# balancing two processes, kept while they balance best: a table measured again after the
# loader model got cheaper split worse (101 interleaved runs: 86.5-92.8 ms against 81.3).
COSTS: dict[str, float] = {
    "libs_duplicates": 12.5, "maca_libs": 7.5, "expert_record": 6.5, "env_names": 5.5,
    "etcd": 5.0, "gloo": 4.5, "host_ports": 4.5, "host_shm": 4.0, "host_ip": 3.5,
    "host_rdma": 3.5, "host_disk": 2.0, "env_values": 2.0, "host_limits": 2.0,
    "nccl_interface": 1.5, "env_paths": 1.5, "nats": 1.5, "host_ptrace": 1.0, "maca_sdk": 1.0,
    "launch_model": 1.0,
}
DEFAULT_COST = 0.2
# Modules whose checks share probes (the loader model; the interface facts): one process.
TOGETHER = (("maca_libs", "libs_duplicates", "maca_sdk"), ("gloo", "nccl_interface", "host_ip"))
# Modules whose checks read probe.consumers, which this process reads for the report anyway.
HERE_ONLY = frozenset({"env_values", "etcd", "nats"})
HERE_BIAS = 15.0      # what this process does besides checks (consumers, report, merge),
                      # less the child's own: 57 against 40 ms CPU with 36 and 35 ms of COSTS
MIN_COST = 20.0       # below this a fork costs about what it saves
GRACE = 0.05          # seconds past the deadline to receive what the child's engine cut


def _module(spec: CheckSpec) -> str | None:
    """The built-in check module the spec's function comes from, unimported (registry's
    deferred function), else None."""
    module = getattr(spec.func, "check_module", None)
    return module if spec.source == "built-in" and isinstance(module, str) else None


def _cost(specs: Sequence[CheckSpec]) -> float:
    """COSTS of the modules the specs come from (a module's figure covers all its checks),
    DEFAULT_COST for each spec of a module not listed."""
    modules = {_module(s) for s in specs}
    return (sum(COSTS[m] for m in modules if m in COSTS)
            + DEFAULT_COST * sum(1 for s in specs if _module(s) not in COSTS))


def partition(specs: Sequence[CheckSpec]) -> tuple[list[CheckSpec], list[CheckSpec]] | None:
    """(this process's checks, the child's), each in the given order; None: one process."""
    groups: dict[str, list[CheckSpec]] = {}
    key_of: dict[str, str] = {}
    together = {m: g[0] for g in TOGETHER for m in g}
    for spec in specs:
        module = _module(spec)
        key = "" if module is None or module in HERE_ONLY else together.get(module, module)
        key_of[spec.id] = key
        groups.setdefault(key, []).append(spec)
    # depends_on: a check and what it depends on share a process (here, if either is here)
    changed = True
    while changed:
        changed = False
        for spec in specs:
            for dep in spec.depends_on:
                if dep in key_of and key_of[dep] != key_of[spec.id]:
                    a, b = sorted((key_of[dep], key_of[spec.id]))  # "" (here) sorts first
                    for moved in groups.pop(b):
                        key_of[moved.id] = a
                        groups[a].append(moved)
                    changed = True
    cost = {key: _cost(members) for key, members in groups.items()}
    if sum(cost.values()) < MIN_COST:
        return None
    here = cost.get("", 0.0) + HERE_BIAS
    there = 0.0
    theirs: set[str] = set()
    for key in sorted((k for k in groups if k), key=lambda k: (-cost[k], k)):
        if there + cost[key] <= here:
            there += cost[key]
            theirs.add(key)
        else:
            here += cost[key]
    if not theirs:
        return None
    return ([s for s in specs if key_of[s.id] not in theirs],
            [s for s in specs if key_of[s.id] in theirs])


_TAG = "\x00sgdoctor:"  # first item of a tuple standing for what marshal cannot carry


class _Unplain(Exception):
    pass


def _plain(value: Any) -> Any:
    """``value`` as marshal carries it (results hold Text, Status and read-only views);
    _Unplain for anything else."""
    kind = type(value)
    if kind in (str, int, float, bool, bytes) or value is None:
        return value
    if kind is tuple:
        items = tuple(_plain(v) for v in value)
        if items and type(items[0]) is str and items[0].startswith(_TAG):
            return (_TAG + "tuple", items)
        return items
    if kind is list:
        return [_plain(v) for v in value]
    if kind is dict:
        return {_plain(k): _plain(v) for k, v in value.items()}
    if kind is MappingProxyType:
        return (_TAG + "proxy", {_plain(k): _plain(v) for k, v in value.items()})
    if kind is Text:
        return (_TAG + "text", value.msgid, {k: _plain(v) for k, v in value.fields.items()})
    if kind is Status:
        return (_TAG + "status", value.value)
    raise _Unplain(kind.__name__)


def _rich(value: Any) -> Any:
    """What _plain made, made again."""
    kind = type(value)
    if kind is tuple:
        if value and type(value[0]) is str and value[0].startswith(_TAG):
            tag = value[0][len(_TAG):]
            if tag == "tuple":
                return tuple(_rich(v) for v in value[1])
            if tag == "proxy":
                return MappingProxyType({_rich(k): _rich(v) for k, v in value[1].items()})
            if tag == "text":
                return Text(value[1], **{k: _rich(v) for k, v in value[2].items()})
            if tag == "status":
                return Status(value[1])
        return tuple(_rich(v) for v in value)
    if kind is list:
        return [_rich(v) for v in value]
    if kind is dict:
        return {_rich(k): _rich(v) for k, v in value.items()}
    return value


_RESULT_FIELDS = ("status", "summary", "remedy", "details", "env", "summary_parts",
                  "remedy_parts")


def _row(outcome: Outcome) -> tuple[Any, ...]:
    """One outcome for the pipe: marshal's types, else pickled, else "unpicklable"."""
    check_id, result = outcome.spec.id, outcome.result
    try:
        if type(result) is not Result:
            raise _Unplain(type(result).__name__)
        fields = tuple(_plain(getattr(result, name)) for name in _RESULT_FIELDS)
        return ("plain", check_id, fields, outcome.duration_ms, _plain(outcome.ignored),
                _plain(outcome.env))
    except _Unplain:
        pass
    try:
        import pickle

        return ("pickle", check_id, pickle.dumps(
            (result, outcome.duration_ms, outcome.ignored, outcome.env),
            pickle.HIGHEST_PROTOCOL))
    except Exception:
        return ("unpicklable", check_id)


def _unrow(row: tuple[Any, ...]) -> Any:
    """(result, duration_ms, ignored, env), or "unpicklable"."""
    if row[0] == "plain":
        _, _, fields, duration_ms, ignored, env = row
        return Result(*(_rich(v) for v in fields)), duration_ms, _rich(ignored), _rich(env)
    if row[0] == "pickle":
        import pickle

        return tuple(pickle.loads(row[2]))
    return "unpicklable"


def _forkable(allowed: list[int]) -> bool:
    return (ENABLED and hasattr(os, "fork") and threading.active_count() == 1
            and len(allowed) > 1)


def _allowed_cpus() -> list[int]:
    """The CPUs this process may run on, in order (all of them where the OS will not say)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def _cpu_now(allowed: list[int]) -> int:
    """The allowed CPU this thread last ran on (the processor field of its /proc stat),
    else the first allowed one."""
    try:
        with open("/proc/thread-self/stat", "rb") as fh:
            cpu = int(fh.read().rpartition(b")")[2].split()[36])
    except (OSError, ValueError, IndexError):
        return allowed[0]
    return cpu if cpu in allowed else allowed[0]


def _cpu_apart(allowed: list[int], here: int) -> int:
    """For the child: the CPU it is on, unless that is ``here`` (this process's)."""
    there = _cpu_now(allowed)
    return there if there != here else next(c for c in allowed if c != here)


def _keep_to(cpus: set[int]) -> None:
    """This thread, and the threads it starts, on ``cpus`` (where the OS lets it)."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        os.sched_setaffinity(0, cpus)


RunShare = Callable[[Sequence[CheckSpec]], list[Outcome]]


def run_split(specs: Sequence[CheckSpec], run_share: RunShare, deadline: float,
              here_first: Callable[[], None] | None = None) -> list[Outcome]:
    """Outcomes of ``specs`` in their order: ``run_share`` (the engine over some specs, all
    under ``deadline``) run here and, for about half of them, in a forked child.
    ``here_first`` runs in this process once the child is forked (or at once)."""
    allowed = _allowed_cpus()
    parts = partition(specs) if _forkable(allowed) else None
    if parts is None:
        if here_first is not None:
            here_first()
        return run_share(specs)
    mine, theirs = parts

    here = _cpu_now(allowed)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        _child(write_fd, theirs, run_share, lambda: _cpu_apart(allowed, here))
    os.close(write_fd)
    _keep_to({here})
    child = _Child(pid, read_fd)
    from sgdoctor.cleanup import at_exit

    at_exit(child.kill)  # however this process leaves (a signal, an error), the child goes
    try:
        if here_first is not None:
            here_first()
        outcomes = {o.spec.id: o for o in run_share(mine)}
        received = child.collect(deadline + GRACE)
    finally:
        _keep_to(set(allowed))  # what this process runs next (a server under exec) is free
        if not child.ended:  # past the deadline, or this process is on its way out
            child.kill()
    if all(spec.id in received for spec in theirs):
        child.close()  # reaped by the exit hook: its exit overlaps the report being made
    else:
        child.kill()  # how it ended says why results are missing
    redo = []
    for spec in theirs:
        got = received.get(spec.id)
        if got is None:
            outcomes[spec.id] = Outcome(spec, child.missing(), 0.0)
        elif got == "unpicklable":
            redo.append(spec)
        else:
            result, duration_ms, ignored, env = got
            outcomes[spec.id] = Outcome(spec, result, duration_ms, ignored, env)
    if redo:
        outcomes.update((o.spec.id, o) for o in run_share(redo))
    return [outcomes[s.id] for s in specs]


def _child(write_fd: int, specs: Sequence[CheckSpec], run_share: RunShare,
           cpu: Callable[[], int]) -> None:
    """Run the child's share (on the CPU ``cpu`` names), send the outcomes, leave (running
    this process's own cleanup hooks, never the parent's: cleanup forgets those at fork)."""
    code = 0
    try:
        _keep_to({cpu()})
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        outcomes = run_share(specs)
        from sgdoctor.cleanup import run_hooks

        run_hooks()  # the probes' leftovers (the record-dir probe file) go before the answer
        data = marshal.dumps([_row(o) for o in outcomes])
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view):]
        os.close(write_fd)  # the end of the answer now, not once exit has freed this memory
    except BaseException:
        code = 1
    finally:
        os._exit(code)


class _Child:
    def __init__(self, pid: int, read_fd: int) -> None:
        self.pid, self.fd = pid, read_fd
        self.status: int | None = None
        self.how: str | None = None
        self.ended = False  # its end of the pipe closed: it is leaving

    def collect(self, until: float) -> dict[str, Any]:
        """What the child sent by ``until``: id → (result, duration, ignored, env) or
        "unpicklable"; {} when it sent nothing whole."""
        import select

        chunks: list[bytes] = []
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        complete = False
        while True:
            left = until - time.monotonic()
            if left <= 0 or not poller.poll(max(1, int(left * 1000) + 1)):
                if time.monotonic() >= until:
                    self.how = "deadline"
                    break
                continue
            data = os.read(self.fd, 1 << 20)
            if not data:
                complete = self.ended = True
                break
            chunks.append(data)
        if not complete:
            return {}
        try:
            return {row[1]: _unrow(row) for row in marshal.loads(b"".join(chunks))}
        except Exception:
            self.how = "garbled"
            return {}

    def missing(self) -> Result:
        """The result of a check the child did not report."""
        if self.how == "deadline":
            return Result.error(Text("did not finish before the run's deadline"))
        return Result.error(Text("the process that ran this check ended without its result "
                                 "({how})", how=self._ending()))

    def _ending(self) -> str:
        status = self.status
        if status is None:
            return "unknown"
        if os.WIFSIGNALED(status):
            return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
        return f"exit {os.waitstatus_to_exitcode(status)}"

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def kill(self) -> None:
        """The child reaped (killed first if it still runs); the pipe closed. Idempotent."""
        self.close()
        if self.status is not None:
            return
        try:
            # a child that closed the pipe is in os._exit: give it a moment to be reaped
            patience = time.monotonic() + (GRACE if self.ended else 0.0)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            while pid == 0 and time.monotonic() < patience:
                time.sleep(0.0005)
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == 0:
                os.kill(self.pid, signal.SIGKILL)
                pid, status = os.waitpid(self.pid, 0)
            self.status = status
        except ChildProcessError:
            self.status = 0
