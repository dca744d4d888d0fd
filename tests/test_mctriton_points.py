"""Issue 11's mcTriton / MetaX points, which no consumer in CI can run (they need MACA): the
two TRITON_ENABLE_* switches mcTriton never reads say so and name the switch it does read;
their TRITON_DISABLE_* twins are judged by their readers' rules (truthiness, presence)."""

from __future__ import annotations

import time

import pytest
from sgdoctor.checks import env_values

from sgdoctor.api import SPEC_ATTR, Context


def _judge(name: str, value: str):
    func = next(f for f in env_values.CHECKS if getattr(f, SPEC_ATTR).env[0] == name)
    return func(Context({name: value}, deadline=time.monotonic() + 10))


@pytest.mark.parametrize(("name", "reads"), [
    ("TRITON_ENABLE_MACA_COMPILER_INT8_OPT", "TRITON_DISABLE_MACA_COMPILER_INT8_OPT"),
    ("TRITON_ENABLE_ELEMENTWISE_PK_FMA_OPT", "TRITON_DISABLE_ELEMENTWISE_PK_FMA_OPT"),
])
@pytest.mark.parametrize("value", ["1", "0", "true"])
def test_a_switch_mctriton_does_not_read_says_so(name: str, reads: str, value: str) -> None:
    result = _judge(name, value)
    assert result.status.value == "warn", result
    assert "mcTriton does not read this variable" in result.summary, result.summary
    assert reads in f"{result.summary}\n{result.remedy}", result


@pytest.mark.parametrize(("name", "value", "status"), [
    ("TRITON_DISABLE_MACA_COMPILER_INT8_OPT", "0", "warn"),      # '0' is a true string
    ("TRITON_DISABLE_MACA_COMPILER_INT8_OPT", "false", "warn"),
    ("TRITON_DISABLE_MACA_COMPILER_INT8_OPT", "1", "ok"),
    ("TRITON_DISABLE_ELEMENTWISE_PK_FMA_OPT", "0", "warn"),      # set at all: disabled
    ("TRITON_DISABLE_ELEMENTWISE_PK_FMA_OPT", "", "warn"),
    ("TRITON_DISABLE_ELEMENTWISE_PK_FMA_OPT", "1", "ok"),
    ("PYTORCH_ENABLE_PG_HIGH_PRIORITY_STREAM", "0", "warn"),     # presence, like its siblings
])
def test_the_twins_follow_their_readers(name: str, value: str, status: str) -> None:
    result = _judge(name, value)
    assert result.status.value == status, result
    if status == "warn":
        assert result.remedy, result
