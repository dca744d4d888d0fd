"""Secrets never leave sgdoctor: applied once, centrally, before any reporter runs."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

SECRET_MARKERS = ("PASSWORD", "TOKEN", "SECRET", "KEY", "NKEY", "CREDENTIAL")
MASK = "***"
# Shorter values are not credentials and masking them would garble unrelated text.
MIN_SECRET_LEN = 3
# A report quotes values; it does not carry a 100 KB variable around whole.
MAX_TEXT = 8192

_WHITESPACE = re.compile(r"\s")
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(-----END [A-Z0-9 ]+-----|\Z)", re.S)


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def printable(text: str) -> str:
    """Environment bytes that are not UTF-8 come in as surrogates; show them as \\xNN."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def mask_userinfo(text: str) -> str:
    """`scheme://user:password@host` -> `scheme://user:***@host`, in linear time.

    Everything between the first `:` and the last `@` of the token after `://` is masked, so
    a password holding `/` or `@` is masked whole; masking a little too much is harmless.
    Userinfo without a colon is masked whole: NATS takes `nats://TOKEN@host`.
    """
    out, pos = [], 0
    while (mark := text.find("://", pos)) >= 0:
        start = mark + 3
        stop = _WHITESPACE.search(text, start)
        end = stop.start() if stop else len(text)
        token = text[start:end]
        at = token.rfind("@")
        if at > 0:
            colon = token.find(":", 0, at)
            # No colon: the userinfo may be a bare token (nats://TOKEN@host): mask it whole.
            token = (f"{token[:colon]}:{MASK}{token[at:]}" if colon >= 0
                     else f"{MASK}{token[at:]}")
        out.append(text[pos:start] + token)
        pos = end
    out.append(text[pos:])
    return "".join(out)


class Redactor:
    """Masks URL passwords, PEM blocks, and the values of secret-named variables."""

    def __init__(self, env: Mapping[str, str]) -> None:
        values = {v for k, v in env.items() if is_secret_name(k) and len(v) >= MIN_SECRET_LEN}
        self.secrets = sorted(values, key=len, reverse=True)

    def text(self, value: str) -> str:
        value = _PEM.sub("<PEM redacted>", value)
        value = mask_userinfo(value)
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        if len(value) > MAX_TEXT:
            value = f"{value[:MAX_TEXT]}… ({len(value) - MAX_TEXT} more characters)"
        return printable(value)

    def any(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.any(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self.any(v) for v in value]
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self.text(str(value))
