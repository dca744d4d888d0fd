"""The environment snapshot: taken once per command, so every check (and the report's
redaction) sees the same values, whatever a library does to os.environ meanwhile."""

from __future__ import annotations

import os


def snapshot() -> dict[str, str]:
    return dict(os.environ)
