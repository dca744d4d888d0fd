"""sgdoctor's PyTorch rules against PyTorch 2.13.0 itself (the CPU build).

torch.compile is called with a counting backend under each TORCHDYNAMO_DISABLE and
TORCH_COMPILE_DISABLE value: the backend runs only when compilation really happens, so
"disabled" is what PyTorch did, not what its source says. TORCH_COMPILE_DISABLE is read once
at import, so each of its values gets a fresh interpreter; TORCHDYNAMO_DISABLE is read at
every torch.compile() call, so its values share one.
"""

from __future__ import annotations

import os

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


@pytest.fixture(scope="module")
def torch_installed():
    return require(TORCH, "torch==2.13.0")


@pytest.mark.parametrize("compile_value", COMPILE_VALUES)
def test_torch_compile_switches_agree_with_pytorch(torch_installed, compile_value) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TORCHDYNAMO_DISABLE", "TORCH_COMPILE_DISABLE")}
    if compile_value is not None:
        env["TORCH_COMPILE_DISABLE"] = compile_value
    dynamo_values = DYNAMO_VALUES if compile_value is None else [None, "1", "0"]
    got = run_json(HARNESS, dynamo_values, env=env, timeout=300)
    assert isinstance(got, list)
    disagreements = []
    for value, disabled in zip(dynamo_values, got, strict=True):
        by_compile = (compile_value is not None and flags.torch_compile_disable(
            compile_value, release="2.13.0").value is True)
        by_dynamo = (value is not None and flags.torchdynamo_disable(
            value, torch_compile_disable_value=compile_value).value is True)
        said = by_compile or by_dynamo
        if said is not disabled:
            disagreements.append(f"TORCH_COMPILE_DISABLE={compile_value!r} "
                                 f"TORCHDYNAMO_DISABLE={value!r}: PyTorch disabled={disabled}, "
                                 f"sgdoctor disabled={said}")
    print(f"PyTorch TORCH_COMPILE_DISABLE={compile_value!r}: {len(dynamo_values)} tried, "
          f"{len(dynamo_values) - len(disagreements)} agreed")
    assert not disagreements, "\n".join(disagreements)
