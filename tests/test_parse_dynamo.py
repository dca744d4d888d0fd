"""Dynamo 1.6.1's own settings: planes, discovery backend, booleans, seconds."""

from __future__ import annotations

import pytest

from sgdoctor.api import Status
from sgdoctor.parse import dynamo


@pytest.mark.parametrize(("text", "value"), [("nats", "nats"), ("NATS", "nats"),
                                             ("Tcp", "tcp"), ("tcp", "tcp")])
def test_request_plane_is_case_insensitive(text: str, value: str) -> None:
    verdict = dynamo.request_plane(text)
    assert verdict.status is Status.OK and verdict.value == value


@pytest.mark.parametrize("text", ["http", "garbage", "", " tcp", "tcp ", "zmq", "quic"])
def test_request_plane_anything_else_stops_start_up(text: str) -> None:
    verdict = dynamo.request_plane(text)
    assert verdict.status is Status.FAIL and "Invalid request plane mode" in verdict.meaning


@pytest.mark.parametrize(("text", "value"), [("nats", "nats"), ("zmq", "zmq"), ("", "zmq")])
def test_event_plane_valid(text: str, value: str) -> None:
    verdict = dynamo.event_plane(text)
    assert verdict.status is Status.OK and verdict.value == value


@pytest.mark.parametrize("text", ["NATS", "Zmq", "tcp", " zmq", "kafka"])
def test_event_plane_is_case_sensitive(text: str) -> None:
    verdict = dynamo.event_plane(text)
    assert verdict.status is Status.FAIL and "Invalid event_plane value" in verdict.meaning
    if text.strip().lower() in ("nats", "zmq") and text == text.strip():
        assert "case-sensitive" in verdict.meaning


@pytest.mark.parametrize(("text", "ok"), [("tcp", True), ("quic", True), ("udp", False),
                                          ("nats", False), ("", False)])
def test_response_plane(text: str, ok: bool) -> None:
    assert (dynamo.response_plane(text).status is Status.OK) is ok


@pytest.mark.parametrize("text", ["etcd", "file", "mem", "kubernetes"])
def test_discovery_backends(text: str) -> None:
    assert dynamo.discovery_backend(text).status is Status.OK


@pytest.mark.parametrize("text", ["", "ETCD", "Etcd", "k8s", "etcd ", "nats"])
def test_other_discovery_backends_stop_start_up(text: str) -> None:
    verdict = dynamo.discovery_backend(text)
    assert verdict.status is Status.FAIL
    assert "Unknown key-value store type" in verdict.meaning


@pytest.mark.parametrize(("text", "status", "value"), [
    ("1", Status.OK, True), ("TRUE", Status.OK, True), ("on", Status.OK, True),
    ("Yes", Status.OK, True), (" true ", Status.OK, True), ("1\n", Status.OK, True),
    ("0", Status.OK, False), ("off", Status.OK, False), ("", Status.OK, False),
    ("y", Status.WARN, False), ("t", Status.WARN, False), ("enabled", Status.WARN, False),
])
def test_dynamo_bool_is_trimmed(text: str, status: Status, value: bool) -> None:
    verdict = dynamo.dynamo_bool(text)
    assert verdict.status is status and verdict.value is value


@pytest.mark.parametrize(("text", "status", "value"), [
    ("5", Status.OK, 5), ("+7", Status.OK, 7), ("120", Status.OK, 120),
    ("0", Status.WARN, 120), ("-1", Status.WARN, 120), ("5s", Status.WARN, 120),
    (" 5", Status.WARN, 120), ("", Status.WARN, 120), ("1.5", Status.WARN, 120),
    (str(1 << 64), Status.WARN, 120),
])
def test_seconds_fall_back_to_the_default(text: str, status: Status, value: int) -> None:
    verdict = dynamo.seconds(text, name="ETCD_STARTUP_CONNECT_TIMEOUT_SECONDS", default=120)
    assert verdict.status is status and verdict.value == value


def test_keepalive_below_etcds_minimum_warns() -> None:
    assert dynamo.keepalive_interval("4", name="X").status is Status.WARN
    assert dynamo.keepalive_interval("5", name="X").status is Status.OK
    assert dynamo.keepalive_interval("x", name="X").status is Status.WARN
