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

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/\s]*):(?P<pw>[^@/\s]+)@")
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


class Redactor:
    """Masks URL passwords, PEM blocks, and the values of secret-named variables."""

    def __init__(self, env: Mapping[str, str]) -> None:
        values = {v for k, v in env.items() if is_secret_name(k) and len(v) >= MIN_SECRET_LEN}
        self.secrets = sorted(values, key=len, reverse=True)

    def text(self, value: str) -> str:
        value = _PEM.sub("<PEM redacted>", value)
        value = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", value)
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, MASK)
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
