"""Base URLs of the rustup mirrors (RUSTUP_DIST_SERVER, RUSTUP_UPDATE_ROOT).

rustup only uses these when it installs or updates a toolchain, so a bad value never stops
inference: it is a warning, and the URL is validated without being fetched. urllib.parse is
imported when a URL is read: the catalogue imports this module for every run, and a node
without the variables never needs it.
"""

from __future__ import annotations

from sgdoctor.api import Text
from sgdoctor.parse.verdict import Verdict, ok, shown, warn

__all__ = ["parse_base_url", "masked_url"]


def masked_url(text: str) -> str:
    """The URL as it may be printed: a password in the userinfo becomes ``***``."""
    from urllib.parse import urlsplit

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
    from urllib.parse import urlsplit

    remedy = Text("Set a full base URL such as {default}, or unset the variable for that "
                  "default", default=default)
    url = masked_url(text)
    if text != text.strip() or any(ch.isspace() for ch in text):
        return warn(Text("'{url}' contains whitespace: rustup would request a broken URL",
                         url=url), remedy)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        return warn(Text("'{url}' is not a valid URL ({error})", url=url, error=str(exc)), remedy)
    if parts.scheme not in ("http", "https"):
        return warn(Text("'{url}' is not an http(s) URL: rustup cannot download from it",
                         url=url), remedy)
    if not parts.hostname:
        return warn(Text("'{url}' has no host name", url=url), remedy)
    if parts.query or parts.fragment:
        return warn(Text("'{url}' has a query or fragment: rustup appends paths after it and "
                         "gets a broken URL", url=url), remedy)
    where = f"{parts.hostname}{f':{port}' if port else ''}"
    if parts.scheme == "http":
        return warn(Text("rustup downloads from {where} over plain HTTP: anyone on the path can "
                         "alter the toolchain (checksums come from the same server)",
                         where=where), Text("Use an https:// mirror"), url)
    return ok(Text("rustup downloads from {where}", where=where), url)
