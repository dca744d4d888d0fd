"""What the running commands share: their options (declared once), and the glue from
options to plan, plan to runner, report to reporter (from cli_run, which needs no typer).
The work lives below: plan.py (flags over config, selection, settings), runner.py (the run),
report/ (the formats).
"""

from __future__ import annotations

from typing import Annotated

import typer

from sgdoctor.cli_run import (
    emit,
    execute,
    exit_code_for,
    plan_for,
    render_options,
    utf8_stdout,
)
from sgdoctor.plan import RunRequest, build_request, make_plan
from sgdoctor.report import FORMATS
from sgdoctor.stdio import stdout_to_stderr

__all__ = ["RunRequest", "build_request", "make_plan", "plan_for", "execute", "emit",
           "exit_code_for", "render_options", "utf8_stdout", "stdout_to_stderr"]

FormatOpt = Annotated[str | None, typer.Option(
    "--format", "-f",
    metavar="FORMAT",
    help=f"Output format: {'|'.join(FORMATS)} (default table).")]
OutputOpt = Annotated[str | None, typer.Option(
    "--output", "-o",
    metavar="FILE",
    help="Write the report to FILE atomically instead of stdout ('-': stdout).")]
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
HostRootOpt = Annotated[str | None, typer.Option(
    "--host-root",
    metavar="DIR",
    help="The node's / is mounted at DIR (a DaemonSet's /host): host checks read it there.")]
PythonOpt = Annotated[str | None, typer.Option(
    "--python",
    metavar="PATH",
    help="The server's Python: its packages tell which consumer releases will run "
         "(default: exec's COMMAND, else the first python3 on PATH).")]
IntervalOpt = Annotated[str | None, typer.Option(
    "--interval",
    metavar="DURATION",
    help="Pause between retries while waiting (default 2s, ±20% jitter).")]
LangOpt = Annotated[str | None, typer.Option(
    "--lang",
    metavar="en|zh",
    help="Language of the table, Nagios and JUnit text (default: the config's lang, then "
    "the locale); JSON and Prometheus stay English.")]
