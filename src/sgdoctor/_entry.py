"""The console script's first code: even Ctrl-C while the CLI is still importing ends
as exit 130 with one line, never as a traceback."""

from __future__ import annotations

import os
import sys


def main() -> None:
    try:
        from sgdoctor.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("sgdoctor: interrupted\n")
        os._exit(130)
    run()
