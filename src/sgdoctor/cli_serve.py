"""`sgdoctor serve --listen HOST:PORT`: a small HTTP endpoint over periodic runs."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Annotated

import typer

from sgdoctor.cli_common import (
    ChecksDirOpt,
    ConfigOpt,
    DeepOpt,
    FailOnOpt,
    HostRootOpt,
    IgnoreOpt,
    OnlyOpt,
    PythonOpt,
    SkipOpt,
    TimeoutOpt,
    VerboseOpt,
    build_request,
    plan_for,
)
from sgdoctor.durations import parse_duration
from sgdoctor.environ import snapshot
from sgdoctor.errors import ConfigError
from sgdoctor.report import RenderOptions, exit_code

DEFAULT_LISTEN = "127.0.0.1:9796"


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_command(
        listen: Annotated[str, typer.Option(
            "--listen", help=f"HOST:PORT to listen on (default {DEFAULT_LISTEN}).")
        ] = DEFAULT_LISTEN,
        interval: Annotated[str, typer.Option(
            "--interval", help="Run the checks this often (default 30s).")] = "30s",
        only: OnlyOpt = None, skip: SkipOpt = None, ignore: IgnoreOpt = None,
        fail_on: FailOnOpt = None, timeout: TimeoutOpt = None, checks_dir: ChecksDirOpt = None,
        config: ConfigOpt = None, verbose: VerboseOpt = False, deep: DeepOpt = False,
        host_root: HostRootOpt = None, python: PythonOpt = None,
    ) -> None:
        """Serve /healthz, /metrics and /report from checks run every interval."""
        from sgdoctor import runner
        from sgdoctor.serve import Checker, Latest, Server, make_handler, parse_listen

        env = snapshot()
        req = build_request(env, only=only, skip=skip, ignore=ignore, fail_on=fail_on,
                            timeout=timeout, checks_dir=checks_dir, config=config,
                            verbose=verbose, no_color=True, deep=deep, host_root=host_root,
                            python=python)
        every = parse_duration(interval, "--interval")
        try:
            address = parse_listen(listen)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        # serve re-runs every interval: its own loop, not --wait's.
        plan = plan_for(req, wait=False)
        latest = Latest()
        handler = make_handler(
            latest, RenderOptions(fail_on=req.fail_on, verbose=req.verbose),
            lambda report: exit_code(report, req.fail_on) != 1, first_wait=req.timeout + 1.0)
        try:
            server = Server(address, handler)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {listen}: {exc.strerror}") from None
        checker = Checker(lambda: runner.run(plan, env).report, every, latest)

        def stop(signum: int, frame: object) -> None:
            checker.stopped.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        host, port = server.socket.getsockname()[:2]
        sys.stderr.write(f"sgdoctor serve: listening on {host}:{port}, "
                         f"running {len(plan.specs)} checks every {every:g} s\n")
        sys.stderr.flush()
        checker.start()
        server.serve_forever(poll_interval=0.2)
        server.server_close()
        sys.stderr.write("sgdoctor serve: stopped\n")
