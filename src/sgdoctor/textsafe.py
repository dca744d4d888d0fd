"""Paths in messages: any output (a C locale, a Nagios status line) can carry them."""

from __future__ import annotations

from pathlib import PurePath


def shown(path: str | PurePath) -> str:
    """`path` with undecodable bytes (kept as surrogates) written as \\xNN."""
    text = str(path)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that did not come from a byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
