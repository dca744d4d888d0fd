"""Secrets never leave sgdoctor: applied once, centrally, before any reporter runs."""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Mapping

TYPE_CHECKING = False
if TYPE_CHECKING:
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
# Any label, any case, cut short or whole: an error message may quote the first line only.
_PEM = re.compile(r"-----BEGIN[^\n]*?(?:-----|\Z).*?(?:-----END[^\n]*?-----|\Z)", re.S | re.I)
_PLAIN_RUN = re.compile(r"[!-~]{8,}")
_PEM_BODY = re.compile(r"[A-Za-z0-9+/=]{16,}")


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def printable(text: str) -> str:
    """Environment bytes that are not UTF-8 come in as surrogates; show them as \\xNN."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that did not come from a byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def shown_path(path: str | os.PathLike[str]) -> str:
    """A path in a message any output can carry (a C locale, a Nagios status line)."""
    return printable(os.fspath(path))


def _escaped_forms(secret: str) -> set[str]:
    """The secret as whoever echoed it may have escaped it before it reached a report: a
    probe's repr or unicode_escape, JSON's \\u00e9, '.' for unprintables, UTF-8 read as
    Latin-1, our own \\xNN form, and its long plain runs. Masking looks for each of them,
    not only for the raw text."""
    import json  # not before a report: a run without secrets in its env never needs it

    forms = {secret}
    with contextlib.suppress(UnicodeError):
        forms.add(secret.encode("unicode_escape").decode("ascii"))
        forms.add(secret.encode("utf-8", "surrogateescape").decode("latin-1"))
    forms.add(repr(secret)[1:-1])
    forms.add(json.dumps(secret)[1:-1])
    forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    forms.add("".join(c if c.isprintable() else "." for c in secret))
    forms.add("".join(c if c.isprintable() or c == " " else
                      c.encode("unicode_escape", "backslashreplace").decode("ascii")
                      for c in secret))
    forms.add(printable(secret).translate(_CONTROL))
    # However a peer escaped or replaced its odd characters, long plain runs stay verbatim.
    forms.update(_PLAIN_RUN.findall(secret))
    return {f for f in forms if len(f) >= MIN_SECRET_LEN}


def _mask_prefixes(text: str, secret: str) -> str:
    """Any cut-short copy of the secret that keeps its first PREFIX_LEN characters."""
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
    """The userinfo secrets inside a variable's value (a password in ETCD_ENDPOINTS).

    After a scheme the userinfo runs to an '@' (a password may hold ',', '/' or '@': every
    '@' gives a candidate); entries without a scheme are split on ','."""
    found = []
    for at in (i for i, ch in enumerate(value) if ch == "@"):
        scheme = value.rfind("://", 0, at)
        start = scheme + 3 if scheme >= 0 else value.rfind(",", 0, at) + 1
        user, colon, password = value[start:at].partition(":")
        found.append(password if colon else user)
    return found


def _pem_secrets(value: str) -> list[str]:
    """PEM text anywhere in the environment is never echoed, not even a line of it."""
    return _PEM_BODY.findall(value) if "-----BEGIN" in value.upper() else []


class Redactor:
    """Masks URL passwords, PEM blocks, and the values of secret-named variables."""

    def __init__(self, env: Mapping[str, str]) -> None:
        values = {v for k, v in env.items() if is_secret_name(k)}
        for value in env.values():
            if "@" in value:
                values.update(_url_passwords(value))
            values.update(_pem_secrets(value))
        raw = [v for v in values if len(v) >= MIN_SECRET_LEN]
        self.secrets = sorted(raw, key=len, reverse=True)
        # Every whole form first, longest first, then cut-short copies: two secrets that share
        # a prefix must not leave the tail of the longer one behind.
        self._whole = sorted({f for v in raw for f in _escaped_forms(v)}, key=len, reverse=True)
        self._heads = sorted({f for f in self._whole if len(f) >= PREFIX_LEN},
                             key=len, reverse=True)
        self._done: dict[str, str] = {}  # a report repeats its keys and words: each once

    def text(self, value: str) -> str:
        done = self._done.get(value)
        if done is None:
            done = self._done[value] = self._text(value)
        return done

    def _text(self, value: str) -> str:
        # A report holds hundreds of short plain strings: each step is skipped where its
        # mark (a PEM dash run, a scheme, an odd character) is absent, with the same result.
        if "-----" in value:
            value = _PEM.sub("<PEM redacted>", value)
        if "://" in value:
            value = mask_userinfo(value)
        value = mask_bare_userinfo(value)
        for secret in self._whole:
            if secret in value:
                value = value.replace(secret, MASK)
        for secret in self._heads:
            value = _mask_prefixes(value, secret)
        if len(value) > MAX_TEXT:
            value = f"{value[:MAX_TEXT]}… ({len(value) - MAX_TEXT} more characters)"
        if value.isascii() and value.isprintable():
            return value
        return printable(value).translate(_CONTROL)

    def any(self, value: Any) -> Any:
        kind = type(value)   # the exact built-in types first: an ABC check costs more
        if kind is str:
            return self.text(value)
        if kind is dict:
            return {self.text(str(k)): self.any(v) for k, v in value.items()}
        if kind is list or kind is tuple:
            return [self.any(v) for v in value]
        if value is None or kind is bool or kind is int:
            return value
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
