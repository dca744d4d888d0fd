"""The command line: options in, runner, reporter out. Nothing is probed here."""

from __future__ import annotations

import importlib
import json
import sys
from typing import Annotated, Any

import typer

from sgdoctor import __version__
from sgdoctor.api import Text
from sgdoctor.cli_common import (
    ChecksDirOpt,
    ConfigOpt,
    DeepOpt,
    FailOnOpt,
    FormatOpt,
    HostRootOpt,
    IgnoreOpt,
    IntervalOpt,
    LangOpt,
    NoColorOpt,
    OnlyOpt,
    OutputOpt,
    PythonOpt,
    SkipOpt,
    TimeoutOpt,
    VerboseOpt,
    WaitOpt,
    build_request,
    stdout_to_stderr,
)
from sgdoctor.cli_run import (
    OWN_EXITS,
    finish,
    guard_stdout,
    own_exit,
    run_check,
    say,
    usage_error,
)
from sgdoctor.environ import snapshot
from sgdoctor.errors import ConfigError

# Each module exposes register(app); subcommands live beside their own logic.
COMMAND_MODULES: tuple[str, ...] = ("env", "exec", "serve", "lib", "mesh")

app = typer.Typer(
    name="sgdoctor", add_completion=False, no_args_is_help=False,
    pretty_exceptions_enable=False, rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
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
    lang: LangOpt = None, python: PythonOpt = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Run the checks and print the report (the default command)."""
    if ctx.invoked_subcommand:
        return
    _check(None, format=format, output=output, only=only, skip=skip, ignore=ignore,
           fail_on=fail_on, timeout=timeout, checks_dir=checks_dir, config=config,
           verbose=verbose, no_color=no_color, deep=deep, wait=wait, interval=interval,
           host_root=host_root, lang=lang, python=python)


def _check(command: list[str] | None, **flags: Any) -> None:
    raise typer.Exit(run_check(command, **flags))


def check_launch_command(
    format: FormatOpt = None, output: OutputOpt = None, only: OnlyOpt = None,
    skip: SkipOpt = None, ignore: IgnoreOpt = None, fail_on: FailOnOpt = None,
    timeout: TimeoutOpt = None, checks_dir: ChecksDirOpt = None, config: ConfigOpt = None,
    verbose: VerboseOpt = False, no_color: NoColorOpt = False, deep: DeepOpt = False,
    wait: WaitOpt = None, interval: IntervalOpt = None, host_root: HostRootOpt = None,
    lang: LangOpt = None, python: PythonOpt = None,
    command: Annotated[list[str] | None, typer.Argument(
        help="-- COMMAND [ARGS...]: also check what this launch command implies (it is "
             "not run).")] = None,
) -> None:
    """Run the checks and print the report; `check -- COMMAND…` adds the launch checks."""
    _check(command, format=format, output=output, only=only, skip=skip, ignore=ignore,
           fail_on=fail_on, timeout=timeout, checks_dir=checks_dir, config=config,
           verbose=verbose, no_color=no_color, deep=deep, wait=wait, interval=interval,
           host_root=host_root, lang=lang, python=python)


app.callback(invoke_without_command=True)(check_command)
app.command("check", context_settings={"allow_interspersed_args": False})(check_launch_command)


@app.command("list")
def list_command(
    format: Annotated[str, typer.Option("--format", "-f", help="table|json")] = "table",
    checks_dir: ChecksDirOpt = None, config: ConfigOpt = None, lang: LangOpt = None,
) -> None:
    """Every check sgdoctor knows: id, title, variables read, where it comes from."""
    from sgdoctor.i18n import tr
    from sgdoctor.registry import discover

    env = snapshot()
    req = build_request(env, checks_dir=checks_dir, config=config, lang=lang)
    with stdout_to_stderr():
        specs = discover(req.checks_dirs, import_timeout=req.timeout)
    rows: list[dict[str, Any]] = [
        {"id": s.id, "title": s.title, "env": list(s.env), "source": s.source,
         "timeout": s.timeout, "depends_on": list(s.depends_on), "tags": list(s.tags)}
        for s in specs]
    if format == "json":
        typer.echo(json.dumps({"checks": rows}, indent=2))
        return
    if format != "table":
        raise ConfigError(Text("--format {value}: choose table or json", value=repr(format)))
    width = max([len(r["id"]) for r in rows] + [2])
    for r in rows:
        env_text = ", ".join(r["env"]) or "-"
        source = tr(req.lang, "built-in") if r["source"] == "built-in" else r["source"]
        title = tr(req.lang, r["title"])
        typer.echo(f"{r['id']:<{width}}  {title}  [{env_text}]  ({source})")


@app.command("explain")
def explain_command(
    name: Annotated[str, typer.Argument(help="A check id or an environment variable.")],
    checks_dir: ChecksDirOpt = None, config: ConfigOpt = None,
    lang: LangOpt = None,
) -> None:
    """What a check verifies, why it matters, and how to fix what it finds."""
    from sgdoctor.i18n import tr
    from sgdoctor.registry import discover

    env = snapshot()
    req = build_request(env, checks_dir=checks_dir, config=config, lang=lang)
    lang = req.lang
    specs = discover(req.checks_dirs, import_timeout=req.timeout)
    by_id = {s.id: s for s in specs}
    readers = [s for s in specs if name.upper() in s.env]
    if name in by_id:
        spec = by_id[name]
        typer.echo(f"{spec.id} — {tr(lang, spec.title)}")
        typer.echo(tr(lang, "reads: {variables}   source: {source}",
                      {"variables": ", ".join(spec.env) or tr(lang, "no variables"),
                       "source": tr(lang, "built-in") if spec.source == "built-in"
                       else spec.source}))
        typer.echo("")
        typer.echo(tr(lang, spec.explain) if spec.explain else
                   tr(lang, "(this check has no explanation)"))
        return
    from sgdoctor.parse.catalogue import explain_text, lookup

    entry = lookup(name)
    if entry is not None:
        typer.echo(explain_text(entry, lang, lambda text: tr(lang, text)))
        if readers:
            typer.echo("\n" + tr(lang, "checks reading it: {ids}",
                                  {"ids": ", ".join(s.id for s in readers)}))
        return
    if readers:
        typer.echo(tr(lang, "{name} is read by: {ids}",
                      {"name": name.upper(), "ids": ", ".join(s.id for s in readers)}))
        for spec in readers:
            typer.echo(f"\n{spec.id} — {tr(lang, spec.title)}\n{tr(lang, spec.explain)}")
        return
    raise ConfigError(Text("{name} is neither a check id nor a variable a check reads (see "
                           "`sgdoctor list`)", name=repr(name)))


@app.command("help")
def help_command(
    ctx: typer.Context,
    command: Annotated[str | None, typer.Argument(help="A command (default: sgdoctor's own "
                                                       "help).", show_default=False)] = None,
) -> None:
    """The help of sgdoctor or of one command (the same as --help / -h)."""
    root = ctx.parent
    assert root is not None  # help is always a subcommand
    group: Any = root.command
    if command is None:
        typer.echo(group.get_help(root))
        return
    sub = group.get_command(root, command)
    if sub is None:
        from sgdoctor.settings import did_you_mean

        raise ConfigError(Text("no command {name}{hint} (see `sgdoctor help`)",
                               name=repr(command), hint=did_you_mean(command, group.commands)))
    with type(root)(sub, info_name=command, parent=root) as sub_ctx:
        typer.echo(sub.get_help(sub_ctx))


for _name in COMMAND_MODULES:
    importlib.import_module(f"sgdoctor.cli_{_name}").register(app)


def _option_names(params: Any) -> dict[str, Any]:
    return {name: p for p in params for name in
            [*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ())]}


def hoist_options(group: Any, argv: list[str]) -> list[str]:
    """Options given before a subcommand apply to it: `sgdoctor --format json list` runs as
    `sgdoctor list --format json`. One the subcommand does not take is a usage error that
    says where it belongs, never silently dropped."""
    known = _option_names(group.params)
    moved: list[tuple[str, list[str]]] = []
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] not in ("-", "--"):
        name, eq, _ = argv[i].partition("=")
        param = known.get(name)
        if param is None or name == "--version":
            return argv  # click answers: an unknown option, --help, --version
        takes_value = not (getattr(param, "is_flag", False) or getattr(param, "count", False))
        size = 2 if takes_value and not eq else 1
        moved.append((name, argv[i:i + size]))
        i += size
    if not moved or i >= len(argv) or argv[i] not in group.commands:
        return argv
    sub = argv[i]
    takes = _option_names(group.commands[sub].params)
    for name, _ in moved:
        if name not in takes:
            raise ConfigError(Text("{name} is not an option of `sgdoctor {sub}` (see `sgdoctor "
                                   "{sub} --help`); the check options go after `sgdoctor` or "
                                   "`sgdoctor check`", name=name, sub=sub))
    return [sub, *(token for _, tokens in moved for token in tokens), *argv[i + 1:]]


def _dispatch(argv: list[str] | None) -> int:
    """Run the command; every way out becomes an exit code (errors: one line on stderr)."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        command = typer.main.get_command(app)
        code = command.main(args=hoist_options(command, args), prog_name="sgdoctor",
                            standalone_mode=False)
    except OWN_EXITS as exc:
        return own_exit(exc, args)
    except typer.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        say(args, "sgdoctor: interrupted")
        return 130
    except Exception as exc:
        # Usage errors come from click, or from the copy of click newer typers vendor.
        exit_code = getattr(exc, "exit_code", None)
        format_message = getattr(exc, "format_message", None)
        if callable(format_message) and isinstance(exit_code, int):
            if exit_code != 2:
                say(args, "sgdoctor: error: {message}", {"message": format_message()})
                return exit_code
            return usage_error(format_message(), args)
        if type(exc).__name__ == "Abort":  # click's form of Ctrl-C
            say(args, "sgdoctor: interrupted")
            return 130
        raise
    return code if isinstance(code, int) else 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point. The process ends here and now (cli_run.finish): the exit does
    not wait for threads."""
    guard_stdout()
    from sgdoctor.waiting import raise_on_signals

    # typer turns Ctrl-C into a silent exit 130; as Interrupted it is said (_dispatch), and
    # SIGTERM too ends a run through the cleanup below rather than by the default kill.
    raise_on_signals()
    try:
        code = _dispatch(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finish(code)
