"""The console script's first code: even Ctrl-C while the CLI is still importing ends
as exit 130 with one line, never as a traceback.

Before anything heavy is imported, sys.path loses the entries a hostile PYTHONPATH can
hang on (sgdoctor.syspath), and stdout/stderr escape what their encoding cannot carry (a C
locale, PYTHONIOENCODING=ascii, undecodable bytes from the environment) instead of raising.

A bare ``--version``, and a bare ``--help`` on a terminal of 80 columns or more (or no
terminal), are answered here before typer and the CLI are imported: image builds and probe
scripts run them, and typer alone costs more than Python's own start. So is the default
command given only its own plain options (cli_plain.plain_check_flags): every container start
and monitoring tick runs it.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time

from sgdoctor import clock
from sgdoctor.syspath import prune_sys_path

_BEGAN = time.monotonic()  # before the CLI's imports: a one-shot run's --timeout counts from here


def _escape_unencodable() -> None:
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


def _columns() -> int:
    """The width click formats help for, found as shutil.get_terminal_size finds it."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        stream = sys.__stdout__
        try:
            columns = (os.get_terminal_size(stream.fileno()).columns if stream else 0) or 80
        except (AttributeError, ValueError, OSError):
            columns = 80
    return columns


def _answer(text: str) -> None:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except (OSError, ValueError):
        os._exit(1)
    os._exit(0)


def main() -> None:
    # A one-shot run ends in a fraction of a second; the cyclic collector ran about forty
    # times in one (5 ms of each process) to free a few hundred objects. Off until a path
    # that lives long (typer's commands: serve, mesh, --wait; cli_run under --wait) is taken.
    gc.disable()
    clock.mark(_BEGAN)
    prune_sys_path()
    _escape_unencodable()
    args = sys.argv[1:] if sys.stdout is not None else []  # fd 1 closed: the CLI says so
    if args == ["--version"]:
        from sgdoctor import __version__

        _answer(f"sgdoctor {__version__}\n")
    if args in (["--help"], ["-h"]) and _columns() >= 80:
        from sgdoctor._help import TEXT

        _answer(TEXT)
    try:
        from sgdoctor.cli_plain import plain_check_flags

        flags = plain_check_flags(args, os.environ)
        if flags is not None and sys.stdout is not None:
            from sgdoctor.probe.consumers import prefetch

            prefetch(os.environ, flags.get("python"))  # the report's consumer releases
            from sgdoctor import cli_run

            cli_run.main(args, flags)
        gc.enable()
        from sgdoctor.cli import main as run
    except KeyboardInterrupt:
        from sgdoctor.cleanup import run_hooks

        run_hooks()  # a prefetched consumer lookup, say
        sys.stderr.write("sgdoctor: interrupted\n")
        os._exit(130)
    run()
