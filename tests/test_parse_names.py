"""Did-you-mean for variable names, against the real catalogue."""

from __future__ import annotations

import pytest

from sgdoctor.parse.catalogue import CATALOGUE, FAMILIES
from sgdoctor.parse.names import edit_distance, find_misspellings, suggest

CANONICAL = {e.name: e.canonical for e in CATALOGUE.values() if e.canonical}


def _suggest(name: str):
    return suggest(name, CATALOGUE, FAMILIES, CANONICAL)


@pytest.mark.parametrize(("name", "meant"), [
    ("GLOO_SOCKET_IFNAMES", "GLOO_SOCKET_IFNAME"),
    ("NATS_SERVERS", "NATS_SERVER"),
    ("NATS_SERVER_URL", "NATS_SERVER"),
    ("ETCD_ENDPOINT", "ETCD_ENDPOINTS"),
    ("NVSHMEM_SYMETRIC_SIZE", "NVSHMEM_SYMMETRIC_SIZE"),
    ("DYN_LGO", "DYN_LOG"),
    ("nvshmem_symmetric_size", "NVSHMEM_SYMMETRIC_SIZE"),
    ("NATS_AUTH_PASS", "NATS_AUTH_PASSWORD"),
    ("ETCD_AUTH_USER", "ETCD_AUTH_USERNAME"),
    # a family member that contains the words beats a spelling neighbour with the opposite
    # meaning (NATS_TLS_CA must never be pointed at NATS_TLS_INSECURE)
    ("NATS_TLS_CA", "NATS_TLS_CA_CERT_PATH"),
    ("NATS_TLS_KEY", "NATS_TLS_CLIENT_KEY_PATH"),
    ("ETCD_AUTH_KEY", "ETCD_AUTH_CLIENT_KEY"),
    ("ETCD_AUTH_CERT", "ETCD_AUTH_CLIENT_CERT"),
    # a typo of the seed's spelling points to the name SGLang really reads
    ("SGLANG_EXPERT_DISTRIBUTION_RECORDS_DIR", "SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR"),
    ("SGLANG_EXPERT_DISTRIBUTION_DIR", "SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR"),
])
def test_misspellings_found(name: str, meant: str) -> None:
    found = _suggest(name)
    assert found is not None and found[1] == meant, found


@pytest.mark.parametrize("name", [
    # known names, including the seed's own (deprecated) spelling: expert_record.dir owns it
    "SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR", "SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR", "PATH",
    # other vendors' twins and ordinary variables are not typos
    "MUSA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "HCCL_SOCKET_IFNAME", "CUDA_PATH", "HOME",
    "PATHS", "PWD", "LANG", "RUST_LOG", "NVSHMEM_BOOTSTRAP", "TORCH_COMPILE_DEBUG",
])
def test_no_noise(name: str) -> None:
    assert _suggest(name) is None


def test_edit_distance() -> None:
    assert edit_distance("ABCD", "ABDC", 2) == 1  # transposition
    assert edit_distance("ABC", "ABCDEF", 2) == 3  # gives up past the limit
    assert edit_distance("", "", 1) == 0


def test_find_misspellings_sorted() -> None:
    found = find_misspellings(["NATS_SERVERS", "GLOO_SOCKET_IFNAMES", "HOME"], CATALOGUE)
    assert [f[0] for f in found] == ["GLOO_SOCKET_IFNAMES", "NATS_SERVERS"]
