"""Boolean-ish flags: each reader's own idea of true and false."""

from __future__ import annotations

from functools import partial

import pytest

from sgdoctor.api import Status
from sgdoctor.parse import flags
from sgdoctor.parse.url import masked_url, parse_base_url

presence = partial(flags.presence_flag, what="MMA prefetch disabled")
truthy = partial(flags.python_truthy_flag, what="hoisting enabled")


@pytest.mark.parametrize(("text", "value"), [
    ("1", True), ("y", True), ("YES", True), ("t", True), ("True", True),
    ("0", False), ("n", False), ("No", False), ("f", False), ("FALSE", False),
])
def test_c10d_bool_accepts_its_words(text: str, value: bool) -> None:
    verdict = flags.c10d_bool(text)
    assert verdict.status is Status.OK and verdict.value is value


@pytest.mark.parametrize("text", ["on", "off", "2", "", " 1", "enable", "1 ", "是"])
def test_c10d_bool_garbage_fails(text: str) -> None:
    verdict = flags.c10d_bool(text)
    assert verdict.status is Status.FAIL
    assert "raises" in verdict.meaning and "1 or 0" in (verdict.remedy or "")


@pytest.mark.parametrize(("text", "status", "value"), [
    ("1", Status.OK, True), ("0", Status.OK, False), ("true", Status.WARN, None),
    ("yes", Status.WARN, None), (" 1", Status.WARN, None), ("", Status.WARN, None),
])
def test_c10_check_env_takes_only_0_and_1(text: str, status: Status, value: object) -> None:
    verdict = flags.c10_check_env(text)
    assert verdict.status is status and verdict.value is value


@pytest.mark.parametrize("text", ["0", "false", "no", "off", "", "  ", "False"])
def test_presence_flag_false_looking_values_still_disable(text: str) -> None:
    verdict = presence(text)
    assert verdict.status is Status.WARN
    assert "anyway" in verdict.meaning and verdict.value is True
    assert "Unset" in (verdict.remedy or "")


@pytest.mark.parametrize("text", ["1", "true", "yes"])
def test_presence_flag_true_values_are_fine(text: str) -> None:
    assert presence(text).status is Status.OK


@pytest.mark.parametrize("text", ["0", "false", "False", "no", "off"])
def test_truthiness_flag_zero_enables(text: str) -> None:
    verdict = truthy(text)
    assert verdict.status is Status.WARN
    assert "ENABLES" in verdict.meaning and verdict.value is True


def test_truthiness_flag_empty_is_off_and_one_is_on() -> None:
    assert truthy("").status is Status.OK and truthy("").value is False
    assert truthy("1").status is Status.OK and truthy("1").value is True


@pytest.mark.parametrize(("text", "value"), [("1", True), ("0", False), ("True", True),
                                             ("False", False), ("3", 3), ("-1", -1)])
def test_metax_flag_accepts_seen_shapes(text: str, value: object) -> None:
    verdict = flags.metax_flag(text, what="x")
    assert verdict.status is Status.OK and verdict.value == value
    assert "UNCONFIRMED" in verdict.meaning


@pytest.mark.parametrize("text", ["yes", "on", " 1", "", "1.0", "enable", "9" * 30, "true", "TRUE",
                                  "false"])
def test_metax_flag_warns_on_other_shapes(text: str) -> None:
    verdict = flags.metax_flag(text, what="x")
    assert verdict.status is Status.WARN and verdict.remedy


def test_queue_policy() -> None:
    assert flags.metax_int("3", what="queue policy", seen=(3,)).status is Status.OK
    other = flags.metax_int("5", what="queue policy", seen=(3,))
    assert other.status is Status.OK and "only 3 seen" in other.meaning
    assert flags.metax_int("high", what="queue policy", seen=(3,)).status is Status.WARN


def test_torch_compile_disable_follows_the_installed_release() -> None:
    assert flags.torch_compile_disable("1", release="2.13.0").status is Status.OK
    zero = flags.torch_compile_disable("0", release="2.13.0+cpu")
    assert zero.status is Status.OK and zero.value is False and "2.13.0+cpu" in zero.meaning
    assert flags.torch_compile_disable("true", release="2.13.0").status is Status.WARN
    old = flags.torch_compile_disable("0", release="2.1.2")
    assert old.status is Status.WARN and "may DISABLE" in old.meaning


def test_torch_compile_disable_without_torch_says_what_it_assumed() -> None:
    zero = flags.torch_compile_disable("0")
    assert zero.status is Status.WARN and "assumed PyTorch 2.13" in zero.meaning
    assert "before 2.13" in zero.meaning
    assert "assumed PyTorch 2.13" in flags.torch_compile_disable("1").meaning


@pytest.mark.parametrize("text", ["0", "true", "yes", "TRUE", " 1", "1 ", "2"])
def test_torchdynamo_disable_other_values_have_no_effect(text: str) -> None:
    verdict = flags.torchdynamo_disable(text, torch_compile_disable_value=None)
    assert verdict.status is Status.WARN and "no effect" in verdict.meaning
    assert verdict.value is False


def test_torchdynamo_disable_exactly_one_disables() -> None:
    one = flags.torchdynamo_disable("1", torch_compile_disable_value=None)
    assert one.status is Status.OK and one.value is True
    covered = flags.torchdynamo_disable("0", torch_compile_disable_value="1")
    assert covered.status is Status.OK and "TORCH_COMPILE_DISABLE=1" in covered.meaning


@pytest.mark.parametrize("text", ["1", "0", "True", ""])
def test_a_name_nobody_reads_is_said_so(text: str) -> None:
    verdict = flags.not_read(text, instead="TRITON_DISABLE_X", reader="mcTriton")
    assert verdict.status is Status.WARN and "does not read" in verdict.meaning
    assert "TRITON_DISABLE_X" in (verdict.remedy or "")


@pytest.mark.parametrize("text", ["0", "false", "off", ""])
def test_mcpytorch_presence_suspect_zero_may_enable(text: str) -> None:
    verdict = flags.metax_presence_suspect(text)
    assert verdict.status is Status.WARN
    assert "may ENABLE" in verdict.meaning and "UNCONFIRMED" in verdict.meaning


def test_mcpytorch_presence_suspect_one_is_fine() -> None:
    verdict = flags.metax_presence_suspect("1")
    assert verdict.status is Status.OK and "UNCONFIRMED" in verdict.meaning


@pytest.mark.parametrize("text", ["https://static.rust-lang.org",
                                  "https://mirrors.ustc.edu.cn/rust-static",
                                  "https://mirror.example:8443/rust/"])
def test_rustup_urls_ok(text: str) -> None:
    assert parse_base_url(text, default="https://static.rust-lang.org").status is Status.OK


@pytest.mark.parametrize("text", ["mirrors.ustc.edu.cn/rust-static", "ftp://x/y", "https://",
                                  " https://x", "https://x/a b", "https://x:99999/",
                                  "http://mirror.local/rust", "https://x/?a=1", ""])
def test_rustup_urls_warn(text: str) -> None:
    verdict = parse_base_url(text, default="https://static.rust-lang.org")
    assert verdict.status is Status.WARN and verdict.remedy


def test_url_password_is_masked() -> None:
    verdict = parse_base_url("ftp://bob:s3cret@mirror/x", default="https://a")
    assert "s3cret" not in verdict.meaning
    assert masked_url("https://bob:s3cret@mirror/x") == "https://bob:***@mirror/x"
