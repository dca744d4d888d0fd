"""Dynamo's own settings (1.6.1, ``lib/runtime``): planes, discovery backend, booleans, seconds.

Each function mirrors one reader of the Rust runtime and says what it does with the value:
an invalid plane or backend is a start-up error there, so it is a fail here; the second
counts fall back to their default with a warning in Dynamo's log, so they are a warn.
``value`` of the verdict is what Dynamo will use.
"""

from __future__ import annotations

import re

from sgdoctor.parse.verdict import Verdict, fail, ok, shown, warn

__all__ = ["RELEASE", "request_plane", "event_plane", "response_plane", "discovery_backend",
           "dynamo_bool", "seconds", "keepalive_interval"]

RELEASE = "1.6.1"  # the release these rules were verified against

_REQUEST_PLANES = ("nats", "tcp")
_EVENT_PLANES = ("nats", "zmq")
_RESPONSE_PLANES = ("tcp", "quic")
_BACKENDS = ("etcd", "file", "mem", "kubernetes")


def request_plane(text: str) -> Verdict:
    """``DYN_REQUEST_PLANE``: nats or tcp, case-insensitive; anything else stops start-up."""
    low = text.lower()
    if low in _REQUEST_PLANES:
        return ok(f"request plane {low}" + (" (NATS is used)" if low == "nats" else ""), low)
    return fail(f"'{shown(text)}' is not a request plane: Dynamo stops at start-up with "
                "\"Invalid request plane mode\"",
                "Set DYN_REQUEST_PLANE to tcp (the default) or nats, or unset it")


def event_plane(text: str) -> Verdict:
    """``DYN_EVENT_PLANE``: exactly nats or zmq (case-sensitive); empty means the default zmq."""
    if not text:
        return ok("empty: the default event plane zmq", "zmq")
    if text in _EVENT_PLANES:
        return ok(f"event plane {text}" + (" (NATS is used)" if text == "nats" else ""), text)
    hint = f" (write {text.lower()}: the name is case-sensitive)" \
        if text.lower() in _EVENT_PLANES else ""
    return fail(f"'{shown(text)}' is not an event plane{hint}: Dynamo stops at start-up with "
                "\"Invalid event_plane value\"",
                "Set DYN_EVENT_PLANE to zmq or nats (lower case), or unset it")


def response_plane(text: str) -> Verdict:
    """``DYN_RESPONSE_PLANE``: tcp or quic; anything else stops start-up."""
    if text in _RESPONSE_PLANES:
        return ok(f"response plane {text}", text)
    return fail(f"'{shown(text)}' is not a response plane: Dynamo stops at start-up with "
                "\"invalid response plane ... expected 'tcp' or 'quic'\"",
                "Set DYN_RESPONSE_PLANE to tcp (the default) or quic, or unset it")


def discovery_backend(text: str) -> Verdict:
    """``DYN_DISCOVERY_BACKEND``: exactly etcd, file, mem or kubernetes; '' and ETCD fail."""
    if text in _BACKENDS:
        return ok(f"discovery through {text}", text)
    hint = " (the name is case-sensitive)" if text.lower() in _BACKENDS else ""
    return fail(f"'{shown(text)}' is not a discovery backend{hint}: Dynamo stops at start-up "
                "with \"Unknown key-value store type\"",
                "Set DYN_DISCOVERY_BACKEND to etcd (the default), file, mem or kubernetes, "
                "or unset it")


_TRUE = frozenset({"1", "true", "on", "yes"})
_FALSE_LOOKING = frozenset({"0", "false", "off", "no", "n", "f", ""})


def dynamo_bool(text: str) -> Verdict:
    """Dynamo's booleans: trimmed, then true only for 1|true|on|yes (case-insensitive)."""
    low = text.strip().lower()
    if low in _TRUE:
        return ok("enabled (Dynamo reads this as true)", True)
    if low in _FALSE_LOOKING:
        return ok("disabled (Dynamo reads this as false)", False)
    return warn(f"Dynamo reads '{shown(text)}' as FALSE: only 1, true, on and yes are true",
                "Use 1 (true) or 0 (false)", False)


_U64 = re.compile(r"\+?[0-9]{1,20}\Z")  # u64::MAX has 20 digits
U64_MAX = (1 << 64) - 1


def seconds(text: str, *, default: int, name: str) -> Verdict:
    """A whole number of seconds read with Rust's ``u64::parse``: no sign but '+', no
    spaces, no unit; 0 and anything invalid fall back to the default with a log warning."""
    if not _U64.match(text) or int(text) > U64_MAX:
        return warn(f"'{shown(text)}' is not a whole number of seconds: Dynamo logs \"Invalid "
                    f"{name}\" and uses {default} s", f"Write whole seconds without a unit, "
                    f"e.g. {name}={default}", default)
    number = int(text)
    if number == 0:
        return warn(f"0 is refused: Dynamo logs \"must be >= 1\" and uses {default} s",
                    f"Use at least 1 (or unset {name} for {default} s)", default)
    return ok(f"{number} s", number)


ETCD_GRPC_KEEPALIVE_MIN_TIME = 5  # etcd's default --grpc-keepalive-min-time, seconds


def keepalive_interval(text: str, *, name: str) -> Verdict:
    """``ETCD_KEEPALIVE_INTERVAL_SECONDS``: below etcd's 5 s minimum the server may close the
    connection (GOAWAY too_many_pings), which Dynamo warns about."""
    if not _U64.match(text) or int(text) > U64_MAX:
        return warn(f"'{shown(text)}' is not a whole number of seconds; Dynamo falls back to "
                    "its default", f"Write whole seconds, e.g. {name}=30", None)
    number = int(text)
    if number < ETCD_GRPC_KEEPALIVE_MIN_TIME:
        return warn(f"{number} s is below etcd's default --grpc-keepalive-min-time "
                    f"({ETCD_GRPC_KEEPALIVE_MIN_TIME} s): etcd may close the connection with "
                    "GOAWAY too_many_pings", f"Use {ETCD_GRPC_KEEPALIVE_MIN_TIME} or more, or "
                    "lower etcd's --grpc-keepalive-min-time", number)
    return ok(f"{number} s", number)

