"""The console script's first code: even Ctrl-C while the CLI is still importing ends
as exit 130 with one line, never as a traceback.

Before anything heavy is imported, sys.path loses the entries a hostile PYTHONPATH can
hang on (sgdoctor.syspath), and stdout/stderr escape what their encoding cannot carry (a C
locale, PYTHONIOENCODING=ascii, undecodable bytes from the environment) instead of raising.
"""

from __future__ import annotations

import contextlib
import os
import sys

from sgdoctor.syspath import prune_sys_path


def _escape_unencodable() -> None:
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


def main() -> None:
    prune_sys_path()
    _escape_unencodable()
    try:
        from sgdoctor.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("sgdoctor: interrupted\n")
        os._exit(130)
    run()
