"""The command line: options in, runner, reporter out. Nothing is probed here."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
from typing import Annotated

import typer

from sgdoctor import __version__
from sgdoctor.cli_common import (
    ChecksDirOpt,
    ConfigOpt,
    DeepOpt,
    FailOnOpt,
    FormatOpt,
    HostRootOpt,
    IgnoreOpt,
    IntervalOpt,
    NoColorOpt,
    OnlyOpt,
    OutputOpt,
    SkipOpt,
    TimeoutOpt,
    VerboseOpt,
    WaitOpt,
    build_request,
    emit,
    execute,
    exit_code_for,
    plan_for,
    stdout_to_stderr,
)
from sgdoctor.environ import snapshot
from sgdoctor.errors import ConfigError, Interrupted, SgdoctorError

# Each module exposes register(app); subcommands live beside their own logic.
COMMAND_MODULES: tuple[str, ...] = ("env", "exec", "serve", "lib", "mesh")

app = typer.Typer(
    name="sgdoctor", add_completion=False, no_args_is_help=False,
    pretty_exceptions_enable=False, rich_markup_mode=None,
    help="Preflight doctor for SGLang on MetaX (MACA) nodes: probes the live host and says "
         "what is wrong and how to fix it.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sgdoctor {__version__}")
        raise typer.Exit(0)


def check_command(
    ctx: typer.Context,
    format: FormatOpt = None, output: OutputOpt = None, only: OnlyOpt = None,
    skip: SkipOpt = None, ignore: IgnoreOpt = None, fail_on: FailOnOpt = None,
    timeout: TimeoutOpt = None, checks_dir: ChecksDirOpt = None, config: ConfigOpt = None,
    verbose: VerboseOpt = False, no_color: NoColorOpt = False, deep: DeepOpt = False,
    wait: WaitOpt = None, interval: IntervalOpt = None, host_root: HostRootOpt = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Run the checks and print the report (the default command)."""
    if ctx.invoked_subcommand:
        return
    env = snapshot()
    req = build_request(env, format=format, output=output, only=only, skip=skip,
                        ignore=ignore, fail_on=fail_on, timeout=timeout, checks_dir=checks_dir,
                        config=config, verbose=verbose, no_color=no_color, deep=deep,
                        wait=wait, interval=interval, host_root=host_root)
    result = execute(plan_for(req), env)
    emit(result.report, req)
    raise typer.Exit(exit_code_for(result.report, req, result.signum))


app.callback(invoke_without_command=True)(check_command)
app.command("check")(check_command)


@app.command("list")
def list_command(
    format: Annotated[str, typer.Option("--format", "-f", help="table|json")] = "table",
    checks_dir: ChecksDirOpt = None, config: ConfigOpt = None,
) -> None:
    """Every check sgdoctor knows: id, title, variables read, where it comes from."""
    from sgdoctor.registry import discover

    env = snapshot()
    req = build_request(env, checks_dir=checks_dir, config=config)
    with stdout_to_stderr():
        specs = discover(req.checks_dirs)
    rows = [{"id": s.id, "title": s.title, "env": list(s.env), "source": s.source,
             "timeout": s.timeout, "depends_on": list(s.depends_on), "tags": list(s.tags)}
            for s in specs]
    if format == "json":
        typer.echo(json.dumps({"checks": rows}, indent=2))
        return
    if format != "table":
        raise ConfigError(f"--format {format!r}: choose table or json")
    width = max([len(r["id"]) for r in rows] + [2])
    for r in rows:
        env_text = ", ".join(r["env"]) or "-"
        typer.echo(f"{r['id']:<{width}}  {r['title']}  [{env_text}]  ({r['source']})")


@app.command("explain")
def explain_command(
    name: Annotated[str, typer.Argument(help="A check id or an environment variable.")],
    checks_dir: ChecksDirOpt = None, config: ConfigOpt = None,
    lang: Annotated[str, typer.Option("--lang", help="en|zh, for variables")] = "en",
) -> None:
    """What a check verifies, why it matters, and how to fix what it finds."""
    from sgdoctor.registry import discover

    env = snapshot()
    req = build_request(env, checks_dir=checks_dir, config=config)
    specs = discover(req.checks_dirs)
    by_id = {s.id: s for s in specs}
    readers = [s for s in specs if name.upper() in s.env]
    if name in by_id:
        spec = by_id[name]
        typer.echo(f"{spec.id} — {spec.title}")
        typer.echo(f"reads: {', '.join(spec.env) or 'no variables'}   source: {spec.source}")
        typer.echo("")
        typer.echo(spec.explain or "(this check has no explanation)")
        return
    from sgdoctor.parse.catalogue import explain_text, lookup

    entry = lookup(name)
    if entry is not None:
        typer.echo(explain_text(entry, lang))
        if readers:
            typer.echo("\nchecks reading it: " + ", ".join(s.id for s in readers))
        return
    if readers:
        typer.echo(f"{name.upper()} is read by: " + ", ".join(s.id for s in readers))
        for spec in readers:
            typer.echo(f"\n{spec.id} — {spec.title}\n{spec.explain}")
        return
    raise ConfigError(f"{name!r} is neither a check id nor a variable a check reads "
                              f"(see `sgdoctor list`)")


for _name in COMMAND_MODULES:
    importlib.import_module(f"sgdoctor.cli_{_name}").register(app)


def _asked_for_nagios(argv: list[str]) -> bool:
    pairs = zip(argv, argv[1:], strict=False)
    return "--format=nagios" in argv or any(
        a in ("--format", "-f") and b == "nagios" for a, b in pairs)


def _usage_error(message: str, argv: list[str] | None) -> int:
    """Exit 2 with one line; a Nagios caller gets UNKNOWN (3) and a status line instead."""
    sys.stderr.write(f"sgdoctor: error: {message}\n")
    if _asked_for_nagios(sys.argv[1:] if argv is None else argv):
        sys.stdout.write(f"SGDOCTOR UNKNOWN - usage error: {message.splitlines()[0]}\n")
        return 3
    return 2


def _dispatch(argv: list[str] | None) -> int:
    """Run the command; every way out becomes an exit code (errors: one line on stderr)."""
    try:
        code = app(args=argv, standalone_mode=False)
    except Interrupted as exc:
        sys.stderr.write(f"sgdoctor: {exc} before the first run finished\n")
        return 128 + exc.signum
    except SgdoctorError as exc:
        return _usage_error(str(exc), argv)
    except typer.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("sgdoctor: interrupted\n")
        return 130
    except Exception as exc:
        # Usage errors come from click, or from the copy of click newer typers vendor.
        if hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int):
            if exc.exit_code != 2:
                sys.stderr.write(f"sgdoctor: error: {exc.format_message()}\n")
                return exc.exit_code
            return _usage_error(exc.format_message(), argv)
        if type(exc).__name__ == "Abort":  # click's form of Ctrl-C
            sys.stderr.write("sgdoctor: interrupted\n")
            return 130
        raise
    return code if isinstance(code, int) else 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point. The process ends here and now: a probe thread that is still
    stuck (a resolver no timeout reaches, a library's own executor) must not keep a
    finished run alive, so the exit does not wait for threads."""
    try:
        code = _dispatch(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
