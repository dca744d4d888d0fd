"""sgdoctor's PyTorch rules against PyTorch 2.13.0 itself (the CPU build).

torch.compile is called with a counting backend under each TORCHDYNAMO_DISABLE and
TORCH_COMPILE_DISABLE value: the backend runs only when compilation really happens, so
"disabled" is what PyTorch did, not what its source says. TORCH_COMPILE_DISABLE is read once
at import, so each of its values gets a fresh interpreter; TORCHDYNAMO_DISABLE is read at
every torch.compile() call, so its values share one.

PyTorch's two boolean rules (sgdoctor.parse.flags): c10d's ``getCvarBool`` through
TORCH_GLOO_LAZY_INIT, read whenever a gloo process group is made (a value it does not take
raises), and c10's ``check_env`` through TORCH_SHOW_CPP_STACKTRACES, read at import (only
``1`` adds the C++ stack to an error; any value but 0 and 1 is a warning).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from consumer_harness import require, run_json, site_packages
from sgdoctor.parse import flags

TORCH = site_packages() / "torch" / "_dynamo" / "eval_frame.py"

HARNESS = r"""
import json, os, sys
import torch
values = json.load(sys.stdin)
out = []
for value in values:
    if value is None:
        os.environ.pop("TORCHDYNAMO_DISABLE", None)
    else:
        os.environ["TORCHDYNAMO_DISABLE"] = value
    calls = []
    def backend(gm, example_inputs):
        calls.append(1)
        return gm.forward
    def f(x):
        return x * 2 + 1
    torch._dynamo.reset()
    compiled = torch.compile(f, backend=backend)
    compiled(torch.ones(3))
    out.append(not calls)
print(json.dumps(out))
"""

DYNAMO_VALUES = [None, "1", "0", "", "true", "True", "yes", "on", " 1", "1 ", "2", "01",
                 "disable"]
COMPILE_VALUES = [None, "1", "0", "true", " 1"]


def dynamo_values(compile_value: str | None) -> list[str | None]:
    """TORCHDYNAMO_DISABLE's corpus under one TORCH_COMPILE_DISABLE value (all of it when
    TORCH_COMPILE_DISABLE is unset, the three that matter otherwise)."""
    return DYNAMO_VALUES if compile_value is None else [None, "1", "0"]


COMPILE_CASES = sum(len(dynamo_values(value)) for value in COMPILE_VALUES)


@pytest.fixture(scope="module")
def torch_installed():
    return require(TORCH, "torch==2.13.0")


@pytest.mark.parametrize("compile_value", COMPILE_VALUES)
def test_torch_compile_switches_agree_with_pytorch(torch_installed, compile_value) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TORCHDYNAMO_DISABLE", "TORCH_COMPILE_DISABLE")}
    if compile_value is not None:
        env["TORCH_COMPILE_DISABLE"] = compile_value
    values = dynamo_values(compile_value)
    got = run_json(HARNESS, values, env=env, timeout=300)
    assert isinstance(got, list)
    disagreements = []
    for value, disabled in zip(values, got, strict=True):
        by_compile = (compile_value is not None and flags.torch_compile_disable(
            compile_value, release="2.13.0").value is True)
        by_dynamo = (value is not None and flags.torchdynamo_disable(
            value, torch_compile_disable_value=compile_value).value is True)
        said = by_compile or by_dynamo
        if said is not disabled:
            disagreements.append(f"TORCH_COMPILE_DISABLE={compile_value!r} "
                                 f"TORCHDYNAMO_DISABLE={value!r}: PyTorch disabled={disabled}, "
                                 f"sgdoctor disabled={said}")
    print(f"PyTorch TORCH_COMPILE_DISABLE={compile_value!r}: {len(values)} tried, "
          f"{len(values) - len(disagreements)} agreed")
    assert not disagreements, "\n".join(disagreements)


CVAR = r"""
import json, os, sys, tempfile
import torch, torch.distributed as dist
dist.init_process_group("gloo", init_method="file://" + tempfile.mktemp(), rank=0,
                        world_size=1)
out = []
for value in json.load(sys.stdin):
    if value is None:
        os.environ.pop("TORCH_GLOO_LAZY_INIT", None)
    else:
        os.environ["TORCH_GLOO_LAZY_INIT"] = value
    try:
        group = dist.new_group([0], backend="gloo")
        dist.all_reduce(torch.ones(1), group=group)
        out.append([True, ""])
    except Exception as exc:
        out.append([False, str(exc).splitlines()[0][:300]])
print(json.dumps(out))
"""

CVAR_VALUES = [None, "1", "0", "y", "Y", "yes", "YES", "t", "true", "True", "n", "N", "no",
               "f", "false", "FALSE", "", " 1", "1 ", "on", "off", "2", "tru", "enable"]


def test_c10d_booleans_agree_with_pytorch(torch_installed) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TORCH_GLOO_LAZY_INIT"}
    env["GLOO_SOCKET_IFNAME"] = "lo"   # a process group of one, on this host
    got = run_json(CVAR, CVAR_VALUES, env=env, timeout=300)
    assert isinstance(got, list)
    disagreements = []
    for value, (accepted, error) in zip(CVAR_VALUES, got, strict=True):
        said = value is None or flags.c10d_bool(value).status.value != "fail"
        if said is not accepted:
            disagreements.append(f"TORCH_GLOO_LAZY_INIT={value!r}: PyTorch accepted={accepted} "
                                 f"{error!r}; sgdoctor accepted={said}")
    assert any(not accepted for accepted, _ in got)   # the corpus reaches PyTorch's raise
    print(f"PyTorch getCvarBool: {len(CVAR_VALUES)} tried, "
          f"{len(CVAR_VALUES) - len(disagreements)} agreed")
    assert not disagreements, "\n".join(disagreements)


CHECK_ENV = r"""
import json, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import torch
warned = any("Ignoring invalid value for boolean flag TORCH_SHOW_CPP_STACKTRACES"
             in str(w.message) for w in caught)
try:
    torch.ones(2) @ torch.ones(3)
except RuntimeError as exc:
    print(json.dumps({"stack": "Exception raised from" in str(exc), "warned": warned}))
"""

CHECK_ENV_VALUES = [None, "0", "1", "true", "", " 1", "2", "yes"]


def _check_env_run(value: str | None) -> object:
    env = {k: v for k, v in os.environ.items() if k != "TORCH_SHOW_CPP_STACKTRACES"}
    if value is not None:
        env["TORCH_SHOW_CPP_STACKTRACES"] = value
    return run_json(CHECK_ENV, None, env=env, timeout=300)


def test_c10_check_env_agrees_with_pytorch(torch_installed) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:   # one interpreter per value
        got = list(pool.map(_check_env_run, CHECK_ENV_VALUES))
    disagreements = []
    for value, run in zip(CHECK_ENV_VALUES, got, strict=True):
        assert isinstance(run, dict)
        verdict = None if value is None else flags.c10_check_env(value)
        stack = verdict is not None and verdict.value is True
        warned = verdict is not None and verdict.status.value == "warn"
        if (run["stack"], run["warned"]) != (stack, warned):
            disagreements.append(f"TORCH_SHOW_CPP_STACKTRACES={value!r}: PyTorch {run}; "
                                 f"sgdoctor stack={stack} warned={warned}")
    print(f"PyTorch check_env: {len(CHECK_ENV_VALUES)} tried, "
          f"{len(CHECK_ENV_VALUES) - len(disagreements)} agreed")
    assert not disagreements, "\n".join(disagreements)
