"""`sgdoctor exec -- COMMAND`: the container entrypoint.

When no check fails, sgdoctor replaces itself with COMMAND (same PID, so the runtime's
signals reach the server directly; environment unchanged). Otherwise COMMAND never starts.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Annotated

import typer

from sgdoctor.cli_common import (
    ChecksDirOpt,
    ConfigOpt,
    DeepOpt,
    FailOnOpt,
    HostRootOpt,
    IgnoreOpt,
    IntervalOpt,
    LangOpt,
    NoColorOpt,
    OnlyOpt,
    PythonOpt,
    RunRequest,
    SkipOpt,
    TimeoutOpt,
    VerboseOpt,
    WaitOpt,
    build_request,
    execute,
    exit_code_for,
    plan_for,
    render_options,
)
from sgdoctor.cli_launch import launch_options
from sgdoctor.environ import snapshot
from sgdoctor.i18n import tr
from sgdoctor.report import Report, reporter
from sgdoctor.report.output import write_atomic

ReportOpt = Annotated[str | None, typer.Option(
    "--report", help="Also write the JSON report to FILE (atomically).")]
MeshOpt = Annotated[bool | None, typer.Option(
    "--mesh/--no-mesh", help="Prove the Gloo full mesh with the launch's other nodes (through "
                             "etcd) before COMMAND starts; default: on for --nnodes N > 1 "
                             "with an etcd configured.")]
MeshGroupOpt = Annotated[str | None, typer.Option(
    "--mesh-group", metavar="NAME", help="The mesh group (default: the --dist-init-addr).")]
MeshTimeoutOpt = Annotated[str | None, typer.Option(
    "--mesh-timeout", metavar="DURATION",
    help="How long the mesh may take, all nodes joining included (default 120s).")]


def _die(code: int, message: str) -> typer.Exit:
    sys.stderr.write(f"sgdoctor: {message}\n")
    return typer.Exit(code)


def resolve_command(command: str, search_path: str | None, lang: str = "en") -> str:
    """Find COMMAND as a shell would: 127 when it is missing, 126 when not executable."""
    if "/" in command:
        candidates = [command]
    else:
        found = shutil.which(command, path=search_path)
        if found:
            return found
        candidates = [os.path.join(d or ".", command) for d in (search_path or "").split(":")]
    existing = [c for c in candidates if os.path.exists(c)]
    if not existing:
        raise _die(127, tr(lang, "{command}: command not found", {"command": command}))
    path = existing[0]
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        raise _die(126, tr(lang, "{path}: permission denied (not an executable file)",
                           {"path": path}))
    return path


def startup_environment() -> dict[bytes, bytes] | None:
    """The environment exactly as this process received it.

    Python may add variables while starting (LC_CTYPE=C.UTF-8 under a C locale, PEP 538);
    the kernel's copy of the original block in /proc is what COMMAND must inherit.
    """
    try:
        with open("/proc/self/environ", "rb") as fh:
            block = fh.read()
    except OSError:
        return None
    pairs = (item.partition(b"=") for item in block.split(b"\0") if item)
    return {key: value for key, sep, value in pairs if sep and key}


def report_to_stderr(report: Report, req: RunRequest) -> None:
    """The table on a terminal; log lines (one per problem) anywhere else."""
    tty = sys.stderr.isatty()
    options = render_options(req, sys.stderr, color=req.color and tty)
    sys.stderr.write(reporter("table" if tty else "lines").render(report, options))
    sys.stderr.flush()


def register(app: typer.Typer) -> None:
    @app.command("exec", context_settings={"allow_interspersed_args": False})
    def exec_command(
        command: Annotated[list[str], typer.Argument(help="COMMAND [ARGS...] after `--`.")],
        only: OnlyOpt = None, skip: SkipOpt = None, ignore: IgnoreOpt = None,
        fail_on: FailOnOpt = None, timeout: TimeoutOpt = None, checks_dir: ChecksDirOpt = None,
        config: ConfigOpt = None, wait: WaitOpt = None, interval: IntervalOpt = None,
        report: ReportOpt = None, verbose: VerboseOpt = False, no_color: NoColorOpt = False,
        deep: DeepOpt = False, host_root: HostRootOpt = None, mesh: MeshOpt = None,
        mesh_group: MeshGroupOpt = None, mesh_timeout: MeshTimeoutOpt = None,
        python: PythonOpt = None, lang: LangOpt = None,
    ) -> None:
        """Run the checks; unless one fails, replace sgdoctor with COMMAND (same PID)."""
        env = snapshot()
        req = build_request(env, only=only, skip=skip, ignore=ignore, fail_on=fail_on,
                            timeout=timeout, checks_dir=checks_dir, config=config,
                            verbose=verbose, no_color=no_color, deep=deep, wait=wait,
                            interval=interval, host_root=host_root, python=python, lang=lang)
        from sgdoctor.cli_mesh import launch_mesh, with_mesh

        options = launch_options(command, env)
        decided = launch_mesh(options, env, req, mesh=mesh, group=mesh_group,
                              timeout=mesh_timeout)
        plan = with_mesh(plan_for(req, extra_options=options), decided)
        program = resolve_command(command[0], env.get("PATH"), req.lang)
        if decided.note:
            note = tr(req.lang, decided.note.msgid, decided.note.fields)
            sys.stderr.write(f"sgdoctor: {note}\n")
        run = execute(plan, env)
        if report:
            write_atomic(report, reporter("json").render(run.report, render_options(req)))
        report_to_stderr(run.report, req)
        code = exit_code_for(run.report, req, run.signum)
        if code not in (0, 3):
            raise typer.Exit(code)
        sys.stdout.flush()
        from sgdoctor.cleanup import run_hooks

        run_hooks()  # exec skips atexit: what probes still have on disk goes now
        environment = startup_environment()
        try:
            if environment is None:
                os.execv(program, command)
            os.execve(program, command, environment)
        except OSError as exc:
            raise _die(126, tr(req.lang, "{command}: cannot execute: {error}",
                               {"command": command[0], "error": exc.strerror})) from None
