"""Base URLs of the rustup mirrors (RUSTUP_DIST_SERVER, RUSTUP_UPDATE_ROOT).

rustup only uses these when it installs or updates a toolchain, so a bad value never stops
inference: it is a warning, and the URL is validated without being fetched.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sgdoctor.parse.verdict import Verdict, ok, shown, warn

__all__ = ["parse_base_url", "masked_url"]


def masked_url(text: str) -> str:
    """The URL as it may be printed: a password in the userinfo becomes ``***``."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return shown(text)
    if parts.password is None:
        return shown(text)
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return shown(parts._replace(netloc=f"{user}:***@{host}").geturl())


def parse_base_url(text: str, *, default: str) -> Verdict:
    """An http(s) base URL that rustup appends its paths to."""
    remedy = f"Set a full base URL such as {default}, or unset the variable for that default"
    if text != text.strip() or any(ch.isspace() for ch in text):
        return warn(f"'{masked_url(text)}' contains whitespace: rustup would request a broken "
                    "URL", remedy)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        return warn(f"'{masked_url(text)}' is not a valid URL ({exc})", remedy)
    if parts.scheme not in ("http", "https"):
        return warn(f"'{masked_url(text)}' is not an http(s) URL: rustup cannot download from it",
                    remedy)
    if not parts.hostname:
        return warn(f"'{masked_url(text)}' has no host name", remedy)
    if parts.query or parts.fragment:
        return warn(f"'{masked_url(text)}' has a query or fragment: rustup appends paths after "
                    "it and gets a broken URL", remedy)
    where = f"{parts.hostname}{f':{port}' if port else ''}"
    if parts.scheme == "http":
        return warn(f"rustup downloads from {where} over plain HTTP: anyone on the path can "
                    "alter the toolchain (checksums come from the same server)",
                    "Use an https:// mirror", masked_url(text))
    return ok(f"rustup downloads from {where}", masked_url(text))
