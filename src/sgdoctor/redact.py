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
_TOKEN = re.compile(r"[^\s,;'\"(<=]+")
_HOST_PORT = re.compile(r"[A-Za-z0-9.\-\[\]:]{1,255}?:[0-9]{1,5}(?![0-9])")
# Masking also catches a secret cut short by whoever echoed it (a server quoting the first
# 36 characters of a password): any run of at least this many of its leading characters.
PREFIX_LEN = 8
_CONTROL = {i: f"\\x{i:02x}" for i in range(32) if i not in (9, 10)}
_CONTROL[127] = "\\x7f"
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


def _mask_secret(text: str, secret: str) -> str:
    """The whole secret, and any cut-short copy that keeps its first PREFIX_LEN characters."""
    if secret in text:
        text = text.replace(secret, MASK)
    if len(secret) < PREFIX_LEN:
        return text
    head = secret[:PREFIX_LEN]
    out, pos = [], 0
    while (i := text.find(head, pos)) >= 0:
        j = i + PREFIX_LEN
        while j < len(text) and j - i < len(secret) and text[j] == secret[j - i]:
            j += 1
        out.append(text[pos:i] + MASK)
        pos = j
    out.append(text[pos:])
    return "".join(out)


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


def mask_bare_userinfo(text: str) -> str:
    """`user:password@host:port` and `TOKEN@host:port` without a scheme (ETCD_ENDPOINTS and
    NATS_SERVER entries as typed); an e-mail address has no port and is left alone."""

    def mask(match: re.Match[str]) -> str:
        token = match.group(0)
        at = token.rfind("@")
        if at <= 0 or "://" in token or token[:at].endswith(MASK) or \
                not _HOST_PORT.match(token, at + 1):
            return token
        colon = token.find(":", 0, at)
        return f"{token[:colon]}:{MASK}{token[at:]}" if colon >= 0 else f"{MASK}{token[at:]}"

    return _TOKEN.sub(mask, text) if "@" in text else text


def _url_passwords(value: str) -> list[str]:
    """The userinfo secrets inside a variable's value (a password in ETCD_ENDPOINTS)."""
    found = []
    for piece in value.split(","):
        rest = piece.split("://", 1)[-1]
        at = rest.rfind("@")
        if at > 0:
            user, colon, password = rest[:at].partition(":")
            found.append(password if colon else user)
    return found


class Redactor:
    """Masks URL passwords, PEM blocks, and the values of secret-named variables."""

    def __init__(self, env: Mapping[str, str]) -> None:
        values = {v for k, v in env.items() if is_secret_name(k)}
        for value in env.values():
            if "@" in value:
                values.update(_url_passwords(value))
        self.secrets = sorted((v for v in values if len(v) >= MIN_SECRET_LEN),
                              key=len, reverse=True)

    def text(self, value: str) -> str:
        value = _PEM.sub("<PEM redacted>", value)
        value = mask_bare_userinfo(mask_userinfo(value))
        for secret in self.secrets:
            value = _mask_secret(value, secret)
        if len(value) > MAX_TEXT:
            value = f"{value[:MAX_TEXT]}… ({len(value) - MAX_TEXT} more characters)"
        return printable(value).translate(_CONTROL)

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
