"""Running the checks for a command, without typer: the glue from request to plan, plan to
runner, report to reporter, and the default command's whole path for the plain argv that
container starts and monitoring ticks give (read by cli_plain.plain_check_flags).

typer and click cost more than Python's own start. :func:`main` does what typer and
``cli.main`` do around the default command: the same exit codes, the same one-line errors.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
from collections.abc import Mapping, Sequence

from sgdoctor.api import Text
from sgdoctor.environ import snapshot
from sgdoctor.errors import Interrupted, SgdoctorError
from sgdoctor.plan import RunRequest, build_request, make_plan
from sgdoctor.report import RenderOptions, Report, reporter
from sgdoctor.report.output import terminal_width, utf8_stream, write_text
from sgdoctor.runner import RunPlan, RunResult
from sgdoctor.stdio import stdout_to_stderr

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["plan_for", "execute", "emit", "exit_code_for", "render_options", "utf8_stdout",
           "run_check", "guard_stdout", "usage_error", "say", "StdoutClosed",
           "main"]

def plan_for(req: RunRequest, **kwargs: Any) -> RunPlan:
    """make_plan, with whatever plugins print while they load sent to stderr."""
    with stdout_to_stderr():
        return make_plan(req, **kwargs)


def execute(plan: RunPlan, env: Mapping[str, str]) -> RunResult:
    """Run a plan for a command: checks' stray output to stderr; under --wait, progress on
    stderr, and SIGINT/SIGTERM end the wait with the last complete report."""
    from sgdoctor import runner, waiting

    with stdout_to_stderr():
        if plan.wait is None:
            return runner.run(plan, env, split=True)  # once, then this process ends
        import gc

        gc.enable()  # a wait lives for minutes: the collector the entry point turned off
        tty = sys.stderr.isatty()
        restore = waiting.raise_on_signals()
        try:
            result = runner.run(plan, env, progress=waiting.progress(plan.lang, tty))
        finally:
            restore()
            if tty:
                sys.stderr.write("\r\x1b[K")
    if result.signum:
        sys.stderr.write(waiting.interrupted_line(plan.lang, result.signum, result.attempts))
    return result


def utf8_stdout() -> bool:
    return utf8_stream(sys.stdout)


def render_options(req: RunRequest, stream: Any = None, *, color: bool | None = None
                   ) -> RenderOptions:
    """How `req` wants a report shown on `stream` (stdout by default)."""
    stream = stream or sys.stdout
    if color is None:
        color = req.color and req.output in (None, "-") and stream.isatty()
    return RenderOptions(fail_on=req.fail_on, color=color, verbose=req.verbose,
                         width=terminal_width(stream), unicode=utf8_stream(stream),
                         lang=req.lang)


def emit(report: Report, req: RunRequest, trailer: str = "") -> None:
    """Print (or atomically write) the report, and `trailer` after it (mesh's matrix); only
    the report goes to stdout."""
    text = reporter(req.format).render(report, render_options(req)) + trailer
    write_text(text, req.output)


def exit_code_for(report: Report, req: RunRequest, signum: int | None = None) -> int:
    """128 + the signal that ended a wait; else what the report means in its format."""
    if signum:
        return 128 + signum
    return reporter(req.format).exit_code(report, RenderOptions(fail_on=req.fail_on))


def run_check(command: list[str] | None, **flags: Any) -> int:
    """The check command (and the default one): run, print the report, return the exit
    code. A one-shot run counts its --timeout from the process's start."""
    from sgdoctor import clock
    from sgdoctor.cli_launch import launch_options

    env = snapshot()
    req = build_request(env, **flags)
    result = execute(plan_for(req, extra_options=launch_options(command, env),
                              started=clock.began()), env)
    emit(result.report, req)
    return exit_code_for(result.report, req, result.signum)


class StdoutClosed(OSError):
    pass


class ClosedStdout:
    """sys.stdout when fd 1 was closed at start: writing the report there is a usage error
    (give --output FILE), never a traceback."""

    encoding = "utf-8"

    def write(self, text: str) -> int:
        raise StdoutClosed(errno.EBADF, "stdout is closed")

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return 1


def guard_stdout() -> None:
    """With fd 1 closed, fd 1 becomes /dev/null (so fd plumbing works) and sys.stdout a
    ClosedStdout (so writing the report is a one-line error)."""
    try:
        os.fstat(1)
        return
    except OSError:
        pass
    fd = os.open(os.devnull, os.O_WRONLY)
    if fd != 1:
        os.dup2(fd, 1)
        os.close(fd)
    sys.stdout = ClosedStdout()  # type: ignore[assignment]


def _asked_for_nagios(argv: Sequence[str]) -> bool:
    pairs = zip(argv, argv[1:], strict=False)
    return "--format=nagios" in argv or any(
        a in ("--format", "-f") and b == "nagios" for a, b in pairs)


def usage_error(error: str | Text, argv: Sequence[str]) -> int:
    """Exit 2 with one line; a Nagios caller gets UNKNOWN (3) and a status line instead.

    In the language --lang names, else the locale's (a usage error may come before --lang
    or the config is understood). The message may quote a value (a checks directory, a
    config path, an option) that holds a secret: it is redacted like a report."""
    from sgdoctor.i18n import lang_of_argv, localized, tr
    from sgdoctor.redact import Redactor

    env = snapshot()
    lang = lang_of_argv(list(argv), env)
    if isinstance(error, str):  # click's own words
        from sgdoctor.usage_text import click_text

        error = click_text(error, lang)
    message = Redactor(env).text(localized(lang, error))
    sys.stderr.write(tr(lang, "sgdoctor: error: {message}", {"message": message}) + "\n")
    if _asked_for_nagios(argv):
        with contextlib.suppress(OSError):
            sys.stdout.write(tr(lang, "SGDOCTOR UNKNOWN - usage error: {message}",
                                {"message": message.splitlines()[0]}) + "\n")
        return 3
    return 2


def say(argv: Sequence[str], msgid: str, fields: dict[str, Any] | None = None) -> None:
    """One line on stderr in the run's language (--lang, else the locale)."""
    from sgdoctor.i18n import lang_of_argv, tr

    sys.stderr.write(tr(lang_of_argv(list(argv), snapshot()), msgid, fields) + "\n")


# sgdoctor's own ways out of a command, which both dispatchers turn into exit codes alike.
OWN_EXITS = (StdoutClosed, Interrupted, SgdoctorError)


def own_exit(exc: BaseException, argv: Sequence[str]) -> int:
    """The exit code of one of OWN_EXITS, its line said on stderr."""
    if isinstance(exc, StdoutClosed):
        return usage_error(Text("stdout is closed: nowhere to write the report (give "
                                "--output FILE)"), argv)
    if isinstance(exc, Interrupted):
        say(argv, "sgdoctor: interrupted by {signal} before the first run finished",
            {"signal": signal.Signals(exc.signum).name})
        return 128 + exc.signum
    return usage_error(exc.args[0] if exc.args and isinstance(exc.args[0], Text)
                       else str(exc), argv)


def _dispatch(args: Sequence[str], flags: Mapping[str, Any]) -> int:
    """cli._dispatch for the default command, with typer's own handling around it
    (Ctrl-C: 130; EOF on stdin: a blank line, then interrupted; EPIPE: 1)."""
    try:
        try:
            return run_check(None, **flags)
        except KeyboardInterrupt:
            return 130
        except EOFError:
            sys.stderr.write("\n")
            say(args, "sgdoctor: interrupted")
            return 130
        except StdoutClosed:
            raise
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                return 1
            raise
    except OWN_EXITS as exc:
        return own_exit(exc, args)


def finish(code: int) -> None:
    """End the process now: a probe thread that is still stuck (a resolver no timeout
    reaches, a library's own executor) must not keep a finished run alive."""
    from sgdoctor.cleanup import run_hooks

    run_hooks()  # os._exit skips atexit: what probes still have on disk goes now
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def main(args: Sequence[str], flags: Mapping[str, Any]) -> None:
    """The console entry for a plain default command (``flags`` from plain_check_flags)."""
    guard_stdout()
    from sgdoctor.waiting import raise_on_signals

    raise_on_signals()  # Ctrl-C and SIGTERM end the run as Interrupted, said (as cli.main)
    try:
        code = _dispatch(args, flags)
    except KeyboardInterrupt:
        say(args, "sgdoctor: interrupted")
        code = 130
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finish(code)
