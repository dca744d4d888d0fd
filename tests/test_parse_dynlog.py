"""DYN_LOG as tracing-subscriber 0.3.23's EnvFilter reads it inside Dynamo 1.6.1 (the same
rules are checked against the real runtime in tests/test_differential_dynamo.py)."""

from __future__ import annotations

import pytest

from sgdoctor.api import Status
from sgdoctor.parse.dynlog import effective_levels, parse_directives, parse_dyn_log


@pytest.mark.parametrize(("text", "meaning"), [
    ("info", "Dynamo logs info and above"), ("DEBUG", "Dynamo logs debug and above"),
    ("error", "logs error and above"), ("3", "logs info and above"), ("off", "logs nothing"),
    ("info,dynamo_runtime=debug", "everything else: info and above; target 'dynamo_runtime': "
                                  "debug and above"),
    ("warn,a::b=trace", "target 'a::b': trace and above"),
    ("=debug", "logs debug and above"), ("=", "logs error and above"),
])
def test_valid_filters(text: str, meaning: str) -> None:
    verdict = parse_dyn_log(text)
    assert verdict.status is Status.OK, verdict
    assert meaning in verdict.meaning


@pytest.mark.parametrize(("text", "default", "targets"), [
    ("info", "info", {}), ("", "info", {}), ("foo=bar", "info", {}), (" info", "off",
                                                                      {" info": "trace"}),
    ("warning", "off", {"warning": "trace"}), ("mymod=", "off", {"mymod": "error"}),
    ("error,mymod=debug", "error", {"mymod": "debug"}), ("info=debug", "off", {"info": "debug"}),
    ("mymod=debug=info", "info", {}), ("6", "off", {"6": "trace"}),
    ("mymod=off,info", "info", {"mymod": "off"}), ("info,warn", "warn", {}),
])
def test_effective_levels(text: str, default: str, targets: dict[str, str]) -> None:
    assert effective_levels(text) == (default, targets)


def test_warning_is_a_target_not_a_level() -> None:
    verdict = parse_dyn_log("warning")
    assert verdict.status is Status.WARN
    assert "'warning' is not a level here" in verdict.meaning
    assert "logs nothing" in verdict.meaning
    assert verdict.remedy and "DYN_LOG=warn" in verdict.remedy


def test_target_only_filter_silences_the_rest() -> None:
    verdict = parse_dyn_log("dynamo_runtime=debug")
    assert verdict.status is Status.WARN
    assert "logs NOTHING" in verdict.meaning
    assert "DYN_LOG=info,dynamo_runtime=debug" in (verdict.remedy or "")


@pytest.mark.parametrize("text", [" info", "info ", "info, dynamo_runtime=debug"])
def test_whitespace_makes_a_target_that_matches_nothing(text: str) -> None:
    verdict = parse_dyn_log(text)
    assert verdict.status is Status.WARN
    assert "has whitespace" in verdict.meaning
    if text.startswith("info,"):
        assert "position 6" in verdict.meaning
        assert "DYN_LOG=info,dynamo_runtime=debug" in (verdict.remedy or "")
    else:
        assert "logs nothing" in verdict.meaning.split(";")[0]


def test_level_misspelling_after_equals_is_dropped() -> None:
    verdict = parse_dyn_log("foo=warning")
    assert verdict.status is Status.WARN
    assert "logs info and above" in verdict.meaning and "foo=warn" in (verdict.remedy or "")


def test_span_selector_leaves_the_fast_filter() -> None:
    verdict = parse_dyn_log("info,mymod[req]=debug")
    assert verdict.status is Status.WARN and "fast log filter" in verdict.meaning


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
    assert pieces[1].target == "a" and pieces[1].span == "span" and pieces[1].level == "debug"
