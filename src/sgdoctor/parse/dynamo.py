"""Dynamo's own settings (1.6.1, ``lib/runtime``): planes, discovery backend, booleans, seconds.

Each function mirrors one reader of the Rust runtime and says what it does with the value:
an invalid plane or backend is a start-up error there, so it is a fail here; the second
counts fall back to their default with a warning in Dynamo's log, so they are a warn.
``value`` of the verdict is what Dynamo will use.
"""

from __future__ import annotations

import re

from sgdoctor.api import Text
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
        return ok(Text("request plane {plane} (NATS is used)" if low == "nats"
                       else "request plane {plane}", plane=low), low)
    return fail(Text("'{value}' is not a request plane: Dynamo stops at start-up with "
                     "\"Invalid request plane mode\"", value=shown(text)),
                Text("Set DYN_REQUEST_PLANE to tcp (the default) or nats, or unset it"))


def event_plane(text: str) -> Verdict:
    """``DYN_EVENT_PLANE``: exactly nats or zmq (case-sensitive); empty means the default zmq."""
    if not text:
        return ok(Text("empty: the default event plane zmq"), value="zmq")
    if text in _EVENT_PLANES:
        return ok(Text("event plane {plane} (NATS is used)" if text == "nats"
                       else "event plane {plane}", plane=text), text)
    return fail(Text("'{value}' is not an event plane (write {plane}: the name is "
                     "case-sensitive): Dynamo stops at start-up with \"Invalid event_plane "
                     "value\"" if text.lower() in _EVENT_PLANES else
                     "'{value}' is not an event plane: Dynamo stops at start-up with \"Invalid "
                     "event_plane value\"", value=shown(text), plane=text.lower()),
                Text("Set DYN_EVENT_PLANE to zmq or nats (lower case), or unset it"))


def response_plane(text: str) -> Verdict:
    """``DYN_RESPONSE_PLANE``: tcp or quic; anything else stops start-up."""
    if text in _RESPONSE_PLANES:
        return ok(Text("response plane {plane}", plane=text), text)
    return fail(Text("'{value}' is not a response plane: Dynamo stops at start-up with "
                     "\"invalid response plane ... expected 'tcp' or 'quic'\"",
                     value=shown(text)),
                Text("Set DYN_RESPONSE_PLANE to tcp (the default) or quic, or unset it"))


def discovery_backend(text: str) -> Verdict:
    """``DYN_DISCOVERY_BACKEND``: exactly etcd, file, mem or kubernetes; '' and ETCD fail."""
    if text in _BACKENDS:
        return ok(Text("discovery through {backend}", backend=text), text)
    return fail(Text("'{value}' is not a discovery backend (the name is case-sensitive): "
                     "Dynamo stops at start-up with \"Unknown key-value store type\""
                     if text.lower() in _BACKENDS else
                     "'{value}' is not a discovery backend: Dynamo stops at start-up with "
                     "\"Unknown key-value store type\"", value=shown(text)),
                Text("Set DYN_DISCOVERY_BACKEND to etcd (the default), file, mem or kubernetes, "
                     "or unset it"))


_TRUE = frozenset({"1", "true", "on", "yes"})
_FALSE_LOOKING = frozenset({"0", "false", "off", "no", "n", "f", ""})


def dynamo_bool(text: str) -> Verdict:
    """Dynamo's booleans: trimmed, then true only for 1|true|on|yes (case-insensitive)."""
    low = text.strip().lower()
    if low in _TRUE:
        return ok(Text("enabled (Dynamo reads this as true)"), True)
    if low in _FALSE_LOOKING:
        return ok(Text("disabled (Dynamo reads this as false)"), False)
    return warn(Text("Dynamo reads '{value}' as FALSE: only 1, true, on and yes are true",
                     value=shown(text)), Text("Use 1 (true) or 0 (false)"), False)


_U64 = re.compile(r"\+?[0-9]{1,20}\Z")  # u64::MAX has 20 digits
U64_MAX = (1 << 64) - 1


def seconds(text: str, *, default: int, name: str) -> Verdict:
    """A whole number of seconds read with Rust's ``u64::parse``: no sign but '+', no
    spaces, no unit; 0 and anything invalid fall back to the default with a log warning."""
    if not _U64.match(text) or int(text) > U64_MAX:
        return warn(Text("'{value}' is not a whole number of seconds: Dynamo logs \"Invalid "
                         "{name}\" and uses {default} s", value=shown(text), name=name,
                         default=default),
                    Text("Write whole seconds without a unit, e.g. {name}={default}", name=name,
                         default=default), default)
    number = int(text)
    if number == 0:
        return warn(Text("0 is refused: Dynamo logs \"must be >= 1\" and uses {default} s",
                         default=default),
                    Text("Use at least 1 (or unset {name} for {default} s)", name=name,
                         default=default), default)
    return ok(Text("{number} s", number=number), number)


ETCD_GRPC_KEEPALIVE_MIN_TIME = 5  # etcd's default --grpc-keepalive-min-time, seconds


def keepalive_interval(text: str, *, name: str) -> Verdict:
    """``ETCD_KEEPALIVE_INTERVAL_SECONDS``: below etcd's 5 s minimum the server may close the
    connection (GOAWAY too_many_pings), which Dynamo warns about."""
    if not _U64.match(text) or int(text) > U64_MAX:
        return warn(Text("'{value}' is not a whole number of seconds; Dynamo falls back to its "
                         "default", value=shown(text)),
                    Text("Write whole seconds, e.g. {name}=30", name=name), None)
    number = int(text)
    if number < ETCD_GRPC_KEEPALIVE_MIN_TIME:
        return warn(Text("{number} s is below etcd's default --grpc-keepalive-min-time "
                         "({minimum} s): etcd may close the connection with GOAWAY "
                         "too_many_pings", number=number, minimum=ETCD_GRPC_KEEPALIVE_MIN_TIME),
                    Text("Use {minimum} or more, or lower etcd's --grpc-keepalive-min-time",
                         minimum=ETCD_GRPC_KEEPALIVE_MIN_TIME), number)
    return ok(Text("{number} s", number=number), number)

