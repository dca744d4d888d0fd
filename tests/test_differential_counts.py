"""The differential tests' own claims: every rule the catalogue says was verified against a
consumer release is in that consumer's differential corpus, the release is the one the
consumer venv pins (requirements-consumers.txt), and README's agreement counts are the sizes
of the corpora (each differential test fails on any disagreement, so tried = agreed)."""

from __future__ import annotations

import re
from pathlib import Path

import test_differential_dynamo as dyn
import test_differential_nvshmem as nvs
import test_differential_torch as tor
import test_dynamo_network_differential as net
import test_gloo_torch as gloo
from sgdoctor.parse import catalogue

ROOT = Path(__file__).resolve().parent.parent
README = " ".join((ROOT / "README.md").read_text().split())
PINS = dict(line.split("==") for line in (ROOT / "requirements-consumers.txt").read_text()
            .splitlines() if "==" in line and not line.startswith("#"))
# probe.consumers name -> the distribution the consumer venv pins
DISTRIBUTIONS = {"dynamo": "ai-dynamo-runtime", "torch": "torch", "nvshmem": "nvidia-nvshmem-cu12"}


def _dynamo_variables() -> set[str]:
    names = {name for case in dyn.PLANE_CASES for name in case}
    names |= {name for case in net.CASES for name in case["env"]}
    return names | {"DYN_LOG", "DYN_LOGGING_JSONL", "ETCD_ENDPOINTS"}


# consumer -> the variables its differential tests set (their readers run on them)
CORPUS_VARIABLES = {
    "dynamo": _dynamo_variables(),
    "torch": {"TORCHDYNAMO_DISABLE", "TORCH_COMPILE_DISABLE", "GLOO_SOCKET_IFNAME"},
    "nvshmem": {"NVSHMEM_SYMMETRIC_SIZE", "NVSHMEM_DISABLE_CUDA_VMM"},
}


def test_every_verified_rule_is_in_its_consumers_corpus_at_the_pinned_release() -> None:
    # the variables the torch and NVSHMEM harnesses set, as their code spells them
    assert all(f'"{name}"' in Path(tor.__file__).read_text()
               for name in ("TORCHDYNAMO_DISABLE", "TORCH_COMPILE_DISABLE"))
    assert {"SYMMETRIC_SIZE", "DISABLE_CUDA_VMM"} <= set(
        re.findall(r'"(\w+)", v\]', Path(nvs.__file__).read_text()))
    verified = [e for e in catalogue.entries() if e.verified]
    assert {e.package for e in verified} == set(CORPUS_VARIABLES)
    for entry in verified:
        assert entry.package is not None
        assert entry.name in CORPUS_VARIABLES[entry.package], (
            f"{entry.name} claims {entry.package} {entry.verified}, but no differential test "
            "runs it")
        pinned = PINS[DISTRIBUTIONS[entry.package]]
        assert pinned == entry.verified or pinned.startswith(entry.verified + "."), (
            entry.name, entry.verified, pinned)


def _counts() -> dict[str, list[tuple[int, str]]]:
    return {
        "NVSHMEM 3.8.0": [(len(nvs.SIZES), "sizes"), (len(nvs.BOOLS), "booleans"),
                          (len(nvs.CONF_CASES), "configuration-file cases"),
                          (len(nvs.ETC_CASES), "`/etc/nvshmem.conf` precedence cases")],
        "Dynamo 1.6.1": [(len(dyn.PLANE_CASES), "plane, backend and timeout cases"),
                         (len(dyn.DYN_LOGS), "`DYN_LOG` values and"),
                         (1, "that is not UTF-8"),
                         (len(dyn.JSONL_VALUES), "`DYN_LOGGING_JSONL` values"),
                         (len(net.CASES), "etcd/NATS configurations")],
        "PyTorch 2.13.0": [(tor.COMPILE_CASES, "`TORCHDYNAMO_DISABLE` × `TORCH_COMPILE_DISABLE`"),
                           (len(tor.CVAR_VALUES), "values of c10d's `getCvarBool`"),
                           (len(tor.CHECK_ENV_VALUES), "values of c10's `check_env`"),
                           (len(gloo.CASES), "`GLOO_SOCKET_IFNAME` configurations")],
    }


def test_readme_gives_the_agreement_counts_of_the_corpora() -> None:
    for consumer, parts in _counts().items():
        total = sum(n for n, _ in parts)
        assert f"**{consumer}: {total}/{total}**" in README, (consumer, total)
        for n, what in parts:
            assert f"{n}/{n} {what}" in README, (consumer, n, what)
    assert dyn.NON_UTF8 not in dyn.DYN_LOGS      # the one value counted on its own


def test_readme_sizes_of_the_etcd_nats_and_gloo_corpora() -> None:
    assert f"for each of {len(net.CASES)} configurations" in README
    assert f"Every run: {len(net.CASES)} tried, {len(net.CASES)} agreed" in README
    assert f"for {len(gloo.CASES)} configurations of this table" in README


def test_the_variables_issue_11_added_are_in_the_catalogue() -> None:
    for name in ("DYN_RESPONSE_PLANE", "ETCD_STARTUP_CONNECT_TIMEOUT_SECONDS",
                 "NATS_STARTUP_CONNECT_TIMEOUT_SECONDS", "ETCD_LEASE_TTL",
                 "ETCD_KEEPALIVE_INTERVAL_SECONDS", "ETCD_KEEPALIVE_TIMEOUT_SECONDS"):
        entry = catalogue.lookup(name)
        assert entry is not None and (entry.package, entry.verified) == ("dynamo", "1.6.1"), name
        assert entry.parse is not None, name             # an env.* check judges it
    for name in ("TRITON_DISABLE_MACA_COMPILER_INT8_OPT", "TRITON_DISABLE_ELEMENTWISE_PK_FMA_OPT"):
        entry = catalogue.lookup(name)
        assert entry is not None and entry.parse is not None, name
