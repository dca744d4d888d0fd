"""The env.* check functions called directly, with environments exec() could not carry."""

from __future__ import annotations

import os
import time

import pytest
from sgdoctor.checks import env_names, env_paths, env_values

from sgdoctor.api import SPEC_ATTR, Context, Result, Status

ALL = [*env_values.CHECKS, *env_paths.CHECKS, env_names.names]
MEGABYTE = 1_000_000


def ctx(env: dict[str, str]) -> Context:
    return Context(env, deadline=time.monotonic() + 60)


@pytest.mark.parametrize("func", ALL, ids=lambda f: getattr(f, SPEC_ATTR).id)
@pytest.mark.parametrize("value", ["x" * MEGABYTE, "\udcff" * MEGABYTE, ":" * MEGABYTE])
def test_megabyte_values_give_a_short_result(func, value: str) -> None:
    spec = getattr(func, SPEC_ATTR)
    env = dict.fromkeys(spec.env, value)
    started = time.monotonic()
    result = func(ctx(env))
    assert result.status in (Status.OK, Status.WARN, Status.FAIL, Status.SKIP)
    assert len(result.summary) < 5000 and len(result.remedy or "") < 5000
    # A bound against quadratic blow-ups (minutes), generous for a loaded machine.
    assert time.monotonic() - started < 30


def test_env_names_with_a_megabyte_name_and_many_variables() -> None:
    env = {"GLOO_SOCKET_IFNAME" + "S" * MEGABYTE: "x", "NATS_SERVERS": "x"}
    env.update({f"UNRELATED_VARIABLE_{i}": "x" for i in range(2000)})
    started = time.monotonic()
    result = env_names.names(ctx(env))
    assert time.monotonic() - started < 30
    assert result.status is Status.WARN
    assert "NATS_SERVERS: did you mean NATS_SERVER?" in result.summary
    assert len(result.summary) < 5000


def test_secret_values_are_not_put_into_results() -> None:
    # No catalogue variable with an env.* check is secret today; guard the rule anyway.
    for func in env_values.CHECKS:
        spec = getattr(func, SPEC_ATTR)
        result = func(ctx(dict.fromkeys(spec.env, "s3cr3t-value")))
        if any(m in spec.env[0] for m in ("PASSWORD", "TOKEN", "KEY", "SECRET", "CREDENTIAL")):
            assert "s3cr3t-value" not in result.summary


def test_every_generated_check_lists_the_variables_it_read() -> None:
    for func in env_values.CHECKS:
        spec = getattr(func, SPEC_ATTR)
        result = func(ctx({}))
        assert result.status is Status.SKIP
        assert list(result.env) == list(spec.env)
        assert "not set; default:" in result.summary


def test_thirty_thousand_missing_path_entries_stay_fast() -> None:
    value = ":".join(f"/nonexistent-sgdoctor/{i}" for i in range(30_000))
    started = time.monotonic()
    result = env_paths.CHECKS[0](ctx({"PATH": value}))
    assert time.monotonic() - started < 5
    assert result.status is Status.WARN and "and 29994 more" in result.summary
    assert len(result.details["entries"]) == 100


@pytest.mark.parametrize("ignore", ["NATS_SERVERS", ["NATS_SERVERS"]])
def test_env_names_ignore_setting_accepts_a_name_or_a_list(ignore) -> None:
    context = Context({"NATS_SERVERS": "x"}, deadline=time.monotonic() + 5,
                      settings={"ignore": ignore})
    assert env_names.names(context).status is Status.OK


def _nvshmem_size(env: dict[str, str]) -> Result:
    func = next(f for f in env_values.CHECKS
                if getattr(f, SPEC_ATTR).id == "env.nvshmem_symmetric_size")
    return func(ctx(env))


def test_nvshmem_conf_file_overriding_the_environment_warns_naming_both(tmp_path) -> None:
    conf = tmp_path / "nvshmem.conf"
    conf.write_text("NVSHMEM_SYMMETRIC_SIZE = 5g\n")
    result = _nvshmem_size({"NVSHMEM_SYMMETRIC_SIZE": "3g", "NVSHMEM_CONF_FILE": str(conf),
                            "HOME": str(tmp_path)})
    assert result.status is Status.WARN
    assert str(conf) in result.summary and "3g" in result.summary and "5 GiB" in result.summary
    assert [f["code"] for f in result.details["findings"]] == ["conf_overrides_env"]
    assert result.details["source"] == str(conf) and result.details["effective"] == 5 << 30


def test_nvshmem_home_conf_alone_is_judged(tmp_path) -> None:
    (tmp_path / ".nvshmem.conf").write_text("NVSHMEM_SYMMETRIC_SIZE=3 g\n")
    result = _nvshmem_size({"HOME": str(tmp_path)})
    assert result.status is Status.FAIL
    assert "from " + str(tmp_path / ".nvshmem.conf") in result.summary
    assert "Invalid size" in result.summary


def test_nvshmem_unset_everywhere_is_skipped(tmp_path) -> None:
    result = _nvshmem_size({"HOME": str(tmp_path)})
    assert result.status is Status.SKIP and "no NVSHMEM configuration file" in result.summary


def test_nvshmem_conf_that_is_a_fifo_is_not_read(tmp_path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = _nvshmem_size({"NVSHMEM_CONF_FILE": str(fifo), "HOME": str(tmp_path),
                            "NVSHMEM_SYMMETRIC_SIZE": "2g"})
    assert result.status is Status.WARN
    assert "not a regular file" in result.summary
    assert "conf_unreadable" in [f["code"] for f in result.details["findings"]]
