"""ETCD_ENDPOINTS and NATS_SERVER, read exactly as NVIDIA Dynamo's runtime reads them.

Sources (ai-dynamo/dynamo, lib/runtime/src/transports/):
- etcd.rs ``default_servers()``: ``ETCD_ENDPOINTS.split(',')`` with NO trimming; unset (or not
  valid UTF-8: Rust's ``env::var`` fails and the default applies) → ``http://localhost:2379``.
  Auth: ETCD_AUTH_USERNAME + ETCD_AUTH_PASSWORD, *else* TLS when ETCD_AUTH_CA, _CLIENT_CERT and
  _CLIENT_KEY are all set. etcd-client then builds each endpoint: ``http://`` prefix → plain
  (an error when TLS is configured), ``https://`` → TLS, anything else gets ``https://`` (TLS
  configured) or ``http://`` prepended; the result must parse as an ``http::Uri``. A URI
  without a port is dialled on 80/443, not 2379.
- nats.rs: the WHOLE value must start with ``nats://`` or ``tls://`` ("server must start with
  'nats://' or 'tls://'"; lower case, verified on 1.6.1) and is handed to async-nats as
  ONE address: a comma-separated list fails ("Failed to connect to NATS"). ``nats://`` while
  NATS TLS is configured (NATS_TLS_CA_CERT_PATH or a client certificate set, even empty, or
  NATS_TLS_INSECURE true) is a start-up error; a client certificate needs its key and the
  other way round. Unset → ``nats://localhost:4222``. Port defaults to 4222.
- Dynamo 1.6.1 (verified by running it): DYN_DISCOVERY_BACKEND exactly ``etcd`` (the
  default), ``file``, ``mem`` or ``kubernetes``; anything else, ``''`` and ``ETCD`` included,
  stops start-up ("Unknown key-value store type"). NATS is used when DYN_REQUEST_PLANE is
  ``nats`` (``nats``/``tcp`` case-insensitive, default ``tcp``, anything else "Invalid request
  plane mode"), or DYN_EVENT_PLANE is ``nats`` (exactly ``nats``/``zmq``; empty = unset), or
  no event plane is given and NATS_SERVER is set.

Everything here is pure: no I/O, and no input makes it raise.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from sgdoctor.records import dataclass, field, replace
from sgdoctor.redact import mask_userinfo

ETCD_DEFAULT = "http://localhost:2379"
NATS_DEFAULT = "nats://localhost:4222"
NATS_PREFIX_ERROR = "server must start with 'nats://' or 'tls://'"
NATS_TLS_SCHEME_ERROR = ("NATS TLS is configured (NATS_TLS_CA_CERT_PATH, NATS_TLS_INSECURE, or "
                         "a client certificate) but NATS_SERVER does not use the 'tls://' "
                         "scheme")
DISCOVERY_BACKENDS = ("etcd", "file", "mem", "kubernetes")
TLS_HTTP_ERROR = "TLS options are only supported with HTTPS URLs"

ETCD_TLS_VARS = ("ETCD_AUTH_CA", "ETCD_AUTH_CLIENT_CERT", "ETCD_AUTH_CLIENT_KEY")
ETCD_USER_VARS = ("ETCD_AUTH_USERNAME", "ETCD_AUTH_PASSWORD")
NATS_TLS_VARS = ("NATS_TLS_CA_CERT_PATH", "NATS_TLS_CLIENT_CERT_PATH",
                 "NATS_TLS_CLIENT_KEY_PATH", "NATS_TLS_INSECURE")
DEFAULT_PORTS = {"http": 80, "https": 443, "nats": 4222, "tls": 4222}
TRUE_VALUES = ("1", "true", "on", "yes")

_WHITESPACE_NAMES = {" ": "a space", "\t": "a tab", "\n": "a newline", "\r": "a carriage return"}


@dataclass(frozen=True)
class Endpoint:
    """One server address as the consumer will dial it (or why it cannot)."""

    raw: str                      # the entry exactly as split from the variable
    url: str | None = None        # what the consumer dials (scheme added when missing)
    scheme: str | None = None
    host: str | None = None       # without brackets for IPv6; None when invalid
    port: int | None = None       # effective port, defaults applied; None when invalid
    error: str | None = None      # why the consumer rejects it
    defaulted: bool = False       # the variable was unset: this is the consumer's default
    scheme_added: bool = False    # no scheme in `raw`: the consumer prepended one
    port_defaulted: bool = False  # no port in the URL: DEFAULT_PORTS applies
    has_userinfo: bool = False    # `user:pass@` in the URL (never echoed: see `display`)
    notes: tuple[str, ...] = ()   # non-fatal remarks worth telling the operator

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def display(self) -> str:
        """The entry as safe to print: userinfo replaced by ``***``."""
        return mask_userinfo(self.url or self.raw)


@dataclass(frozen=True)
class Usage:
    """Whether a server is needed by this configuration, and why we think so."""

    used: bool | None  # None: depends on the Dynamo release (say so, do not guess)
    reason: str
    env: tuple[str, ...] = ()
    error: str | None = None  # Dynamo stops at start-up (its message); then used is False


@dataclass(frozen=True)
class EtcdConfig:
    endpoints: list[Endpoint]
    auth: str                     # "password", "tls" or "none" — Dynamo's precedence
    username: str | None = None
    tls: bool = False             # Dynamo configures TLS (all three PEM variables, no password)
    ignored: tuple[str, ...] = ()  # variables set but ignored by Dynamo, with the reason
    env: tuple[str, ...] = ()


@dataclass(frozen=True)
class NatsConfig:
    servers: list[Endpoint]
    error: str | None = None      # a problem with the value as a whole (Dynamo rejects it)
    error_code: str | None = None  # its finding code: invalid_scheme, server_list, tls_scheme…
    auth: str = "user/password (Dynamo's built-in default user:user)"
    auth_vars: tuple[str, ...] = ()
    tls: Mapping[str, str] = field(default_factory=dict)
    env: tuple[str, ...] = ()


def is_valid_unicode(value: str) -> bool:
    """False for values carrying surrogateescape'd bytes (Rust's env::var rejects them)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def rust_var(env: Mapping[str, str], name: str) -> str | None:
    """``std::env::var(name).ok()``: None when unset or not valid UTF-8."""
    value = env.get(name)
    if value is None or not is_valid_unicode(value):
        return None
    return value


def _char_problem(text: str) -> str | None:
    """Whitespace, control or non-ASCII characters, with their 1-based position."""
    for index, char in enumerate(text):
        position = index + 1
        if char in _WHITESPACE_NAMES or char.isspace():
            what = _WHITESPACE_NAMES.get(char, f"whitespace U+{ord(char):04X}")
            where = ("starts with" if index == 0 else
                     "ends with" if index == len(text) - 1 else "contains")
            return (f"{where} {what} (character {position}); entries are not trimmed, "
                    "so this is not a valid URL")
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return f"contains control character U+{ord(char):04X} (character {position})"
        if 0xDC80 <= ord(char) <= 0xDCFF:
            return f"contains a byte that is not valid UTF-8 (character {position})"
        if ord(char) > 0x7E:
            return f"contains non-ASCII character {char!r} (character {position})"
    return None


def _split_authority(rest: str) -> tuple[str, str]:
    end = len(rest)
    for stop in "/?#":
        pos = rest.find(stop)
        if pos >= 0:
            end = min(end, pos)
    return rest[:end], rest[end:]


def _parse_hostport(authority: str, scheme: str) -> tuple[str | None, int | None, bool, str | None]:
    """(host, port, port_defaulted, error) of ``[userinfo@]host[:port]``."""
    hostport = authority.rsplit("@", 1)[-1]
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            return None, None, False, "unterminated IPv6 address (missing ']')"
        host, after = hostport[1:close], hostport[close + 1:]
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return None, None, False, f"[{host}] is not a valid IPv6 address"
        if after and not after.startswith(":"):
            return None, None, False, f"unexpected {after!r} after the IPv6 address"
        port_text = after[1:] if after else None
    else:
        host, sep, port_text = hostport.partition(":")
        if not sep:
            port_text = None
        elif ":" in port_text:
            return None, None, False, (f"{hostport!r} has more than one ':' (an IPv6 address "
                                       "must be written in brackets: [::1]:2379)")
    if not host:
        return None, None, False, "no host name"
    bad = next((c for c in host if not (c.isalnum() or c in "-._~%!$&'()*+;=:")), None)
    if bad is not None:
        return None, None, False, f"host {host!r} contains {bad!r}"
    if port_text is None:
        return host, DEFAULT_PORTS.get(scheme), True, None
    if not port_text:
        return None, None, False, "empty port after ':'"
    if not port_text.isdigit() or not port_text.isascii():
        return None, None, False, f"port {port_text!r} is not a number"
    port = int(port_text)
    if port > 65535:
        return None, None, False, f"port {port} is out of range (1-65535)"
    if port == 0:
        return None, None, False, "port 0 cannot be dialled"
    return host, port, False, None


def _endpoint(raw: str, url: str, scheme: str, *, defaulted: bool = False,
              scheme_added: bool = False, notes: tuple[str, ...] = ()) -> Endpoint:
    authority, _ = _split_authority(url[len(scheme) + 3:])
    host, port, port_defaulted, error = _parse_hostport(authority, scheme)
    if error is None and port_defaulted and scheme in ("http", "https"):
        notes = (*notes, f"no port: the client dials {port} ({scheme}), "
                         "while etcd listens on 2379 by default")
    if error is None and "@" in authority and scheme in ("http", "https"):
        notes = (*notes, "user:password in the URL is not used to log in to etcd: set "
                         "ETCD_AUTH_USERNAME and ETCD_AUTH_PASSWORD")
    return Endpoint(raw=raw, url=url, scheme=scheme, host=host, port=port, error=error,
                    defaulted=defaulted, scheme_added=scheme_added,
                    port_defaulted=port_defaulted, has_userinfo="@" in authority, notes=notes)


def _etcd_entry(raw: str, tls: bool, defaulted: bool) -> Endpoint:
    if raw == "":
        return Endpoint(raw=raw, error="empty entry (two commas in a row, or a leading or "
                                       "trailing comma)")
    problem = _char_problem(raw)
    if problem:
        return Endpoint(raw=raw, error=problem)
    if raw.startswith("http://"):
        entry = _endpoint(raw, raw, "http", defaulted=defaulted)
        if tls and entry.error is None:
            where = (f"ETCD_ENDPOINTS is unset and the default is {raw}" if defaulted
                     else "this entry says http://")
            return replace(entry, error=f"{TLS_HTTP_ERROR} (etcd-client): ETCD_AUTH_CA, "
                                        f"ETCD_AUTH_CLIENT_CERT and ETCD_AUTH_CLIENT_KEY are "
                                        f"set, but {where}")
        return entry
    if raw.startswith("https://"):
        notes = () if tls else ("https without ETCD_AUTH_CA/CLIENT_CERT/CLIENT_KEY: the "
                                "server certificate is checked against the system roots",)
        return _endpoint(raw, raw, "https", defaulted=defaulted, notes=notes)
    scheme = "https" if tls else "http"
    url = f"{scheme}://{raw}"
    if "://" in raw:
        other = raw.split("://", 1)[0]
        return Endpoint(raw=raw, url=url, scheme=scheme,
                        error=f"scheme {other + '://'!r} is not http:// or https:// (schemes "
                              f"are case-sensitive); the client turns it into {url!r}",
                        scheme_added=True)
    return _endpoint(raw, url, scheme, scheme_added=True)


def etcd_config(env: Mapping[str, str]) -> EtcdConfig:
    """ETCD_ENDPOINTS and ETCD_AUTH_* as Dynamo's ``ClientOptions::default()`` reads them."""
    username = rust_var(env, "ETCD_AUTH_USERNAME")
    password = rust_var(env, "ETCD_AUTH_PASSWORD")
    tls_parts = [rust_var(env, name) for name in ETCD_TLS_VARS]
    ignored: list[str] = []
    if username is not None and password is not None:
        auth, tls = "password", False
        if any(part is not None for part in tls_parts):
            ignored.append("ETCD_AUTH_CA/CLIENT_CERT/CLIENT_KEY are ignored: Dynamo uses "
                           "TLS only when no username/password is set")
    elif all(part is not None for part in tls_parts):
        auth, tls = "tls", True
    else:
        auth, tls = "none", False
        if (username is None) != (password is None):
            ignored.append("only one of ETCD_AUTH_USERNAME/ETCD_AUTH_PASSWORD is set: "
                           "Dynamo needs both and connects without authentication")
        set_tls = [n for n, part in zip(ETCD_TLS_VARS, tls_parts, strict=True) if part is not None]
        if set_tls:
            ignored.append(f"{', '.join(set_tls)} set but not all three TLS variables: "
                           "Dynamo connects without TLS")
    for name in (*ETCD_USER_VARS, *ETCD_TLS_VARS):
        if name in env and rust_var(env, name) is None:
            ignored.append(f"{name} is not valid UTF-8: Dynamo treats it as unset")

    value = rust_var(env, "ETCD_ENDPOINTS")
    if value is None:
        note = (("ETCD_ENDPOINTS is not valid UTF-8: Dynamo ignores it and uses the default",)
                if "ETCD_ENDPOINTS" in env else ())
        entry = _etcd_entry(ETCD_DEFAULT, tls, defaulted=True)
        endpoints = [replace(entry, notes=entry.notes + note)]
    else:
        endpoints = [_etcd_entry(part, tls, defaulted=False) for part in value.split(",")]
    used_env = tuple(n for n in ("ETCD_ENDPOINTS", *ETCD_USER_VARS, *ETCD_TLS_VARS) if n in env)
    return EtcdConfig(endpoints=endpoints, auth=auth,
                      username=username if auth == "password" else None, tls=tls,
                      ignored=tuple(ignored), env=used_env)


def etcd_endpoints(env: Mapping[str, str]) -> list[Endpoint]:
    """The etcd endpoints Dynamo would dial, one per ``,``-separated entry."""
    return etcd_config(env).endpoints


def _nats_entry(raw: str, defaulted: bool) -> Endpoint:
    if raw == "":
        return Endpoint(raw=raw, error="empty entry")
    scheme = _nats_scheme(raw)
    if scheme is None:
        found = raw.split("://", 1)[0] + "://" if "://" in raw else None
        hint = f" (found {found!r})" if found else ""
        return Endpoint(raw=raw, error=f"{NATS_PREFIX_ERROR}{hint}")
    raw_url = raw
    # The WHATWG URL parser async-nats uses drops trailing spaces/C0 controls and every
    # tab or newline; a leading one already failed the nats:// test above.
    url = raw_url.rstrip("".join(map(chr, range(0x21)))).translate(
        {9: None, 10: None, 13: None})
    notes = ("trailing whitespace or tabs/newlines are dropped by the URL parser",) \
        if url != raw_url else ()
    problem = _char_problem(url)
    if problem:
        return Endpoint(raw=raw, url=url, scheme=scheme, error=problem)
    return _endpoint(raw, url, scheme, defaulted=defaulted, notes=notes)


def _nats_scheme(raw: str) -> str | None:
    """``nats`` or ``tls`` (lower case only, as Dynamo 1.6.1 checks), else None."""
    if raw.startswith("nats://"):
        return "nats"
    if raw.startswith("tls://"):
        return "tls"
    return None


def nats_tls_configured(env: Mapping[str, str]) -> list[str]:
    """The NATS_TLS_* settings that make Dynamo configure TLS (a path set, even empty, or
    NATS_TLS_INSECURE true): with any of them NATS_SERVER must use tls://."""
    names = [n for n in NATS_TLS_VARS[:3] if rust_var(env, n) is not None]
    if (rust_var(env, "NATS_TLS_INSECURE") or "").strip().lower() in TRUE_VALUES:
        names.append("NATS_TLS_INSECURE")
    return names


def nats_config(env: Mapping[str, str]) -> NatsConfig:
    """NATS_SERVER, NATS_AUTH_* and NATS_TLS_* as Dynamo's nats.rs reads them."""
    value = rust_var(env, "NATS_SERVER")
    error = code = None
    if value is None:
        servers = [_nats_entry(NATS_DEFAULT, defaulted=True)]
        if "NATS_SERVER" in env:
            servers = [replace(servers[0], notes=(
                "NATS_SERVER is not valid UTF-8: Dynamo ignores it and uses the default",))]
    else:
        parts = value.split(",")
        servers = [_nats_entry(part, defaulted=False) for part in parts]
        if _nats_scheme(value) is None:
            error = f"NATS_SERVER: {NATS_PREFIX_ERROR} (Dynamo's validation message)"
            code = "invalid_scheme"
        elif len(parts) > 1:
            error = ("NATS_SERVER holds a comma-separated list, but Dynamo takes ONE address "
                     "and fails at start-up (\"Failed to connect to NATS\")")
            code = "server_list"
    if error is None:
        code, error = _nats_tls_error(env, servers[0])
    auth, auth_vars = _nats_auth(env)
    tls = {name: env[name] for name in NATS_TLS_VARS if rust_var(env, name) is not None}
    used_env = tuple(n for n in ("NATS_SERVER", *auth_vars, *tls) if n in env)
    return NatsConfig(servers=servers, error=error, error_code=code, auth=auth,
                      auth_vars=auth_vars,
                      tls=tls, env=used_env)


def _nats_tls_error(env: Mapping[str, str],
                    server: Endpoint) -> tuple[str | None, str | None]:
    """Dynamo's start-up checks of NATS_TLS_* against the scheme."""
    cert = rust_var(env, "NATS_TLS_CLIENT_CERT_PATH") is not None
    key = rust_var(env, "NATS_TLS_CLIENT_KEY_PATH") is not None
    if cert != key:
        return "client_cert_without_key", (
            "Both NATS_TLS_CLIENT_CERT_PATH and NATS_TLS_CLIENT_KEY_PATH must be set together "
            "to enable NATS mTLS (Dynamo's start-up check)")
    configured = nats_tls_configured(env)
    if configured and server.scheme == "nats":
        where = "NATS_SERVER is unset (default nats://)" if server.defaulted \
            else "NATS_SERVER uses nats://"
        return "tls_scheme", (f"{', '.join(configured)} set, but {where}: Dynamo stops at "
                              f"start-up (\"{NATS_TLS_SCHEME_ERROR}\")")
    return None, None


def _nats_auth(env: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    """Dynamo's NatsAuth::default() precedence: the method's name and the variables it reads."""
    if rust_var(env, "NATS_AUTH_USERNAME") is not None and \
            rust_var(env, "NATS_AUTH_PASSWORD") is not None:
        return "user/password", ("NATS_AUTH_USERNAME", "NATS_AUTH_PASSWORD")
    if rust_var(env, "NATS_AUTH_TOKEN") is not None:
        return "token", ("NATS_AUTH_TOKEN",)
    if rust_var(env, "NATS_AUTH_NKEY") is not None:
        return "nkey", ("NATS_AUTH_NKEY",)
    if rust_var(env, "NATS_AUTH_CREDENTIALS_FILE") is not None:
        return "credentials file", ("NATS_AUTH_CREDENTIALS_FILE",)
    return "user/password (Dynamo's built-in default user:user)", ()


def nats_servers(env: Mapping[str, str]) -> list[Endpoint]:
    """The NATS server entries (split on ``,`` for reporting; see NatsConfig.error)."""
    return nats_config(env).servers


def etcd_usage(env: Mapping[str, str]) -> Usage:
    """etcd is needed only by the ``etcd`` discovery backend (Dynamo's default); a backend
    Dynamo does not know stops it at start-up."""
    names = ("DYN_DISCOVERY_BACKEND",)
    if "DYN_DISCOVERY_BACKEND" not in env:
        return Usage(True, "DYN_DISCOVERY_BACKEND is unset: Dynamo's default backend is etcd",
                     names)
    backend = env["DYN_DISCOVERY_BACKEND"]
    if backend == "etcd":
        return Usage(True, "DYN_DISCOVERY_BACKEND=etcd", names)
    if backend in DISCOVERY_BACKENDS:
        return Usage(False, f"DYN_DISCOVERY_BACKEND={backend}: Dynamo does not use etcd for "
                            "discovery", names)
    shown = backend if is_valid_unicode(backend) else backend.encode(
        "utf-8", "surrogateescape").decode("utf-8", "replace")
    return Usage(False, f"DYN_DISCOVERY_BACKEND={shown!r} is not a backend Dynamo knows",
                 names, error=f"Unknown key-value store type {shown!r} (Dynamo accepts exactly "
                              f"{', '.join(DISCOVERY_BACKENDS)}; case matters)")


def nats_usage(env: Mapping[str, str]) -> Usage:
    """Whether Dynamo 1.6.1 connects to NATS (``DistributedRuntime::new``): the request plane
    is NATS, or the event plane is NATS, or no event plane is given and NATS_SERVER is set."""
    names = ("DYN_REQUEST_PLANE", "DYN_EVENT_PLANE", "NATS_SERVER")
    request = env.get("DYN_REQUEST_PLANE")
    event = env.get("DYN_EVENT_PLANE") or None
    if request is not None and request.lower() not in ("nats", "tcp"):
        return Usage(False, f"DYN_REQUEST_PLANE={request!r} is not nats or tcp", names,
                     error=f"Invalid request plane mode: {request!r}. Valid options are: "
                           "'nats', 'tcp'")
    if event is not None and event not in ("nats", "zmq"):
        return Usage(False, f"DYN_EVENT_PLANE={event!r} is not nats or zmq (case matters)",
                     names, error=f"Invalid event_plane value {event!r}. Valid values: "
                                  "'nats', 'zmq'")
    if request is not None and request.lower() == "nats":
        return Usage(True, f"DYN_REQUEST_PLANE={request}: requests travel over NATS", names)
    if event == "nats":
        return Usage(True, "DYN_EVENT_PLANE=nats: events travel over NATS", names)
    if event == "zmq":
        return Usage(False, "DYN_EVENT_PLANE=zmq and the request plane is tcp: the standard "
                            "workers do not connect to NATS (components started through "
                            "dynamo_worker() pass no event plane and still connect when "
                            "NATS_SERVER is set)", names)
    if "NATS_SERVER" in env:
        return Usage(True, "NATS_SERVER is set and DYN_EVENT_PLANE is not: Dynamo connects "
                           "to NATS (even with the tcp request plane)", names)
    return Usage(False, "DYN_REQUEST_PLANE is tcp (or unset), DYN_EVENT_PLANE and "
                        "NATS_SERVER are unset: Dynamo does not connect to NATS", names)
