"""DYN_LOG as tracing's EnvFilter reads it inside Dynamo."""

from __future__ import annotations

import pytest

from sgdoctor.api import Status
from sgdoctor.parse.dynlog import parse_directives, parse_dyn_log


@pytest.mark.parametrize(("text", "meaning"), [
    ("info", "all targets at info"), ("DEBUG", "all targets at debug"),
    ("error", "all targets at error"), ("3", "all targets at info"), ("off", "all targets at off"),
    ("info,dynamo_runtime=debug", "all targets at info; target dynamo_runtime at debug"),
    ("warn,a::b=trace", "target a::b at trace"),
])
def test_valid_filters(text: str, meaning: str) -> None:
    verdict = parse_dyn_log(text)
    assert verdict.status is Status.OK, verdict
    assert meaning in verdict.meaning


def test_warning_is_a_target_not_a_level() -> None:
    verdict = parse_dyn_log("warning")
    assert verdict.status is Status.WARN
    assert "'warning' is not a level" in verdict.meaning
    assert verdict.remedy and "DYN_LOG=warn" in verdict.remedy


def test_target_only_filter_silences_the_rest() -> None:
    verdict = parse_dyn_log("dynamo_runtime=debug")
    assert verdict.status is Status.WARN
    assert "every other target" in verdict.meaning
    assert "DYN_LOG=info,dynamo_runtime=debug" in (verdict.remedy or "")


def test_whitespace_is_not_trimmed_and_position_is_shown() -> None:
    verdict = parse_dyn_log("info, dynamo_runtime=debug")
    assert verdict.status is Status.WARN
    assert "whitespace at position 6" in verdict.meaning
    assert "DYN_LOG=info,dynamo_runtime=debug" in (verdict.remedy or "")


def test_level_misspelling_after_equals_is_dropped() -> None:
    verdict = parse_dyn_log("foo=warning")
    assert verdict.status is Status.WARN
    assert "logs at info" in verdict.meaning and "foo=warn" in (verdict.remedy or "")


def test_empty_and_unset_like_values() -> None:
    assert parse_dyn_log("").status is Status.OK
    assert parse_dyn_log(",,").value == "info"


def test_non_utf8_value_is_ignored_by_dynamo() -> None:
    verdict = parse_dyn_log("debug\udcff")
    assert verdict.status is Status.WARN and "ignores DYN_LOG entirely" in verdict.meaning


def test_directive_positions_and_span_syntax() -> None:
    pieces = parse_directives("info,,a[span]=debug,=x")
    assert [(p.text, p.position, p.valid) for p in pieces] == [
        ("info", 1, True), ("a[span]=debug", 7, True), ("=x", 21, False)]
    assert pieces[1].target == "a" and pieces[1].level == "debug"
