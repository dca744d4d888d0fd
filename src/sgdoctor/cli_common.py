"""What every running command shares: the selection options, config merging, one run.

`check`, `exec` and `serve` all accept these options, declared once here.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from sgdoctor import config as config_mod
from sgdoctor.api import CheckSpec
from sgdoctor.errors import ConfigError
from sgdoctor.report import FORMATS, Report

FormatOpt = Annotated[str | None, typer.Option(
    "--format", "-f",
    metavar="FORMAT",
    help=f"Output format: {'|'.join(FORMATS)} (default table).")]
OutputOpt = Annotated[str | None, typer.Option(
    "--output", "-o",
    metavar="FILE",
    help="Write the report to FILE atomically instead of stdout.")]
OnlyOpt = Annotated[list[str] | None, typer.Option(
    "--only",
    metavar="ID",
    help="Run only these check ids or globs (repeatable, or comma-separated).")]
SkipOpt = Annotated[list[str] | None, typer.Option(
    "--skip",
    metavar="ID",
    help="Do not run these check ids or globs (repeatable, or comma-separated).")]
IgnoreOpt = Annotated[list[str] | None, typer.Option(
    "--ignore",
    metavar="ID=REASON",
    help="ID=REASON: report that check's fail/warn as skip, keeping the reason "
    "(repeatable; ID may be a glob).")]
FailOnOpt = Annotated[str | None, typer.Option(
    "--fail-on",
    metavar="warn|fail",
    help="warn|fail: the lowest status that makes the exit code 1.")]
TimeoutOpt = Annotated[str | None, typer.Option(
    "--timeout",
    metavar="DURATION",
    help="Deadline for the whole run, e.g. 10, 10s, 1500ms (default 10 s).")]
ChecksDirOpt = Annotated[list[str] | None, typer.Option(
    "--checks-dir",
    metavar="DIR",
    help="Extra checks: .py modules and Nagios-protocol executables.")]
ConfigOpt = Annotated[str | None, typer.Option(
    "--config",
    metavar="FILE",
    help="TOML config (default $SGDOCTOR_CONFIG, then /etc/sgdoctor/config.toml).")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v",
    help="Tracebacks of crashed checks.")]
NoColorOpt = Annotated[bool, typer.Option("--no-color",
    help="No colour (NO_COLOR is honoured).")]
DeepOpt = Annotated[bool, typer.Option(
    "--deep",
    help="Slower, deeper probes where a check offers them (e.g. dlopen libraries).")]
WaitOpt = Annotated[str | None, typer.Option(
    "--wait",
    metavar="DURATION",
    help="Retry failed checks until they pass or DURATION runs out (e.g. 120s).")]
IntervalOpt = Annotated[str | None, typer.Option(
    "--interval",
    metavar="DURATION",
    help="Pause between retries while waiting (default 2s, ±20% jitter).")]

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any, option: str) -> float:
    """`10`, `10s`, `1500ms`, `2m` -> seconds; anything else is a usage error."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ConfigError(f"{option} {value!r} is not a duration (e.g. 10, 10s, 500ms, 2m)")
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if seconds <= 0:
        raise ConfigError(f"{option} must be more than zero")
    return seconds


def _split(values: Sequence[str] | None) -> list[str]:
    return [part for v in values or () for part in v.split(",") if part]


@dataclass
class RunRequest:
    """Flags merged over the config file: everything one run needs."""

    format: str = "table"
    output: str | None = None
    only: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    ignore: dict[str, str] = field(default_factory=dict)
    fail_on: str = "fail"
    timeout: float = 10.0
    checks_dirs: list[str] = field(default_factory=list)
    verbose: bool = False
    color: bool = True
    deep: bool = False
    wait: float | None = None
    interval: float = 2.0
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def options(self) -> dict[str, Any]:
        """What checks see as ctx.options."""
        return {"verbose": self.verbose, "deep": self.deep}


def _ignores(items: Sequence[str]) -> dict[str, str]:
    result = {}
    for item in items:
        check_id, sep, reason = item.partition("=")
        if not sep or not check_id or not reason.strip():
            raise ConfigError(f"--ignore {item!r}: expected ID=REASON")
        result[check_id] = reason.strip()
    return result


def build_request(env: Mapping[str, str], *, format: str | None = None,
                  output: str | None = None, only: Sequence[str] | None = None,
                  skip: Sequence[str] | None = None, ignore: Sequence[str] | None = None,
                  fail_on: str | None = None, timeout: str | None = None,
                  checks_dir: Sequence[str] | None = None, config: str | None = None,
                  verbose: bool = False, no_color: bool = False, deep: bool = False,
                  wait: str | None = None, interval: str | None = None) -> RunRequest:
    file = config_mod.load(config, env)
    opts = file.options
    req = RunRequest(settings=file.checks)
    req.format = format or opts.get("format", "table")
    if req.format not in FORMATS:
        raise ConfigError(f"--format {req.format!r}: choose one of {', '.join(FORMATS)}")
    if output == "":
        raise ConfigError("--output needs a file name")
    req.output = output or opts.get("output")
    for option, given in (("--only", only), ("--skip", skip)):
        if given is not None and given and not _split(given):
            raise ConfigError(f"{option} needs at least one check id or glob")
    req.only = _split(only) or _split(opts.get("only"))
    req.skip = _split(skip) or _split(opts.get("skip"))
    req.ignore = {**{str(k): str(v) for k, v in opts.get("ignore", {}).items()},
                  **_ignores(list(ignore or ()))}
    req.fail_on = fail_on or opts.get("fail_on", "fail")
    if req.fail_on not in ("warn", "fail"):
        raise ConfigError(f"--fail-on {req.fail_on!r}: choose warn or fail")
    req.timeout = parse_duration(timeout if timeout is not None else opts.get("timeout", 10),
                                 "--timeout")
    dirs = opts.get("checks_dir", [])
    req.checks_dirs = list(checks_dir or ()) or ([dirs] if isinstance(dirs, str) else list(dirs))
    if not req.checks_dirs and env.get("SGDOCTOR_CHECKS_DIR"):
        req.checks_dirs = [env["SGDOCTOR_CHECKS_DIR"]]
    req.verbose = verbose or bool(opts.get("verbose", False))
    req.color = not (no_color or "NO_COLOR" in env or opts.get("color") is False)
    req.deep = deep or bool(opts.get("deep", False))
    wait = wait if wait is not None else opts.get("wait")
    req.wait = parse_duration(wait, "--wait") if wait is not None else None
    req.interval = parse_duration(interval if interval is not None else
                                  opts.get("interval", 2), "--interval")
    return req


def select(specs: Sequence[CheckSpec], req: RunRequest) -> list[CheckSpec]:
    """Apply --only/--skip; a pattern that matches nothing is a usage error."""
    ids = [s.id for s in specs]
    for option, patterns in (("--only", req.only), ("--skip", req.skip)):
        for pattern in patterns:
            if not fnmatch.filter(ids, pattern):
                raise ConfigError(f"{option} {pattern!r} matches no check "
                                  f"(see `sgdoctor list`)")
    chosen = [s for s in specs
              if (not req.only or any(fnmatch.fnmatchcase(s.id, p) for p in req.only))
              and not any(fnmatch.fnmatchcase(s.id, p) for p in req.skip)]
    for check_id in req.ignore:
        if not fnmatch.filter(ids, check_id):
            raise ConfigError(f"--ignore {check_id!r} matches no check (see `sgdoctor list`)")
    return chosen


def expand_ignores(specs: Sequence[CheckSpec], ignore: Mapping[str, str]) -> dict[str, str]:
    return {s.id: reason for pattern, reason in ignore.items()
            for s in specs if fnmatch.fnmatchcase(s.id, pattern)}


def discover_selected(req: RunRequest) -> list[CheckSpec]:
    from sgdoctor.registry import discover

    # Checks tagged "mesh" need the group's rendezvous: only `sgdoctor mesh` runs them.
    return select([s for s in discover(req.checks_dirs) if "mesh" not in s.tags], req)


def run_once(req: RunRequest, env: Mapping[str, str],
             specs: Sequence[CheckSpec] | None = None) -> Report:
    """Discover (unless given), run and report: one whole pass."""
    from sgdoctor.report import build_report
    from sgdoctor.runner import run_checks

    started_wall, started = time.time(), time.monotonic()
    if specs is None:
        specs = discover_selected(req)
    outcomes = run_checks(specs, env, timeout=req.timeout, settings=req.settings,
                          options=req.options,
                          ignore=expand_ignores(specs, req.ignore))
    return build_report(outcomes, env, started_at=started_wall,
                        duration_ms=(time.monotonic() - started) * 1000)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """While checks run, whatever they print (a plugin's stray print, a library writing to
    fd 1) goes to stderr: stdout carries the report and nothing else."""
    sys.stdout.flush()
    saved_fd, saved_stream = os.dup(1), sys.stdout
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved_fd, 1)
        os.close(saved_fd)
        sys.stdout = saved_stream


def run_gated(req: RunRequest, env: Mapping[str, str]) -> tuple[Report, int | None]:
    """One pass, or with --wait the retry loop; returns the report and a signal, if any."""
    with stdout_to_stderr():
        return _run_gated(req, env)


def _run_gated(req: RunRequest, env: Mapping[str, str]) -> tuple[Report, int | None]:
    specs = discover_selected(req)
    if req.wait is None:
        return run_once(req, env, specs), None
    from sgdoctor import waiting

    progress = waiting.tty_progress if sys.stderr.isatty() else waiting.stderr_progress
    restore = waiting.raise_on_signals()
    try:
        result = waiting.run_with_wait(req, env, specs, wait=req.wait, interval=req.interval,
                                       progress=progress)
    finally:
        restore()
        if progress is waiting.tty_progress:
            sys.stderr.write("\r\x1b[K")
    return result.report, result.signum


def table_width(stream: Any = None) -> int:
    """The terminal's width when writing to one, else $COLUMNS, else 100 (a log line)."""
    stream = stream or sys.stdout
    try:
        if stream.isatty():
            return max(40, os.get_terminal_size(stream.fileno()).columns)
    except (OSError, ValueError):
        pass
    columns = os.environ.get("COLUMNS", "")
    return max(40, int(columns)) if columns.isdigit() else 100


def render(report: Report, fmt: str, *, color: bool = False, fail_on: str = "fail",
           verbose: bool = False, stream: Any = None) -> str:
    if fmt == "table":
        from sgdoctor.report import table

        return table.render(report, color=color, width=table_width(stream),
                            unicode=utf8_stdout(), show_skipped=verbose)
    if fmt == "json":
        from sgdoctor.report import json as json_fmt

        return json_fmt.render(report)
    if fmt == "prometheus":
        from sgdoctor.report import prometheus

        return prometheus.render(report)
    if fmt == "junit":
        from sgdoctor.report import junit

        return junit.render(report)
    from sgdoctor.report import nagios

    return nagios.render(report, fail_on)


def utf8_stdout() -> bool:
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    return encoding == "utf8"


def write_atomic(path: str, text: str) -> None:
    """Temp file in the same directory, fsync, rename: readers never see half a report."""
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".sgdoctor-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None


def emit(report: Report, req: RunRequest, trailer: str = "") -> None:
    """Print (or atomically write) the report, and `trailer` after it (mesh's matrix); only
    the report goes to stdout."""
    color = req.color and req.output is None and sys.stdout.isatty()
    text = render(report, req.format, color=color, fail_on=req.fail_on,
                  verbose=req.verbose) + trailer
    if req.output:
        write_atomic(req.output, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def exit_code_for(report: Report, req: RunRequest, signum: int | None = None) -> int:
    if signum:
        return 128 + signum
    if req.format == "nagios":
        from sgdoctor.report import nagios

        return nagios.NAGIOS_CODES[nagios.state(report, req.fail_on)]
    from sgdoctor.report import exit_code

    return exit_code(report, req.fail_on)
