"""host.disk against real filesystems of chosen sizes: tmpfs mounts in a private mount
namespace (unshare -m), with the real CLI (or, for the launch options the CLI cannot pass
yet, the check called inside the same namespace)."""

from __future__ import annotations

import os

import pytest

from host_helpers import (
    cli_result,
    codes,
    config_args,
    need_unshare,
    run_check,
    run_check_in,
    tree,
)
from sgdoctor.api import Status
from sgdoctor.parse.hfcache import hf_home, hf_hub_cache, is_hub_id


@pytest.fixture
def mnt(tmp_path):
    """Where each test mounts its tmpfs (in its private namespace: nothing is left behind)."""
    need_unshare()
    (tmp_path / "mnt").mkdir()
    return str(tmp_path / "mnt")


def tmpfs(mnt: str, size: str, options: str = "") -> str:
    return f"mount -t tmpfs -o size={size}{',' + options if options else ''} tmpfs {mnt}"


def test_small_cache_filesystem_warns(mnt):
    code, item = cli_result("host.disk", env={"HF_HOME": f"{mnt}/hf"}, setup=tmpfs(mnt, "64m"))
    assert code == 0 and item["status"] == "warn", item
    assert codes(item) == {"low_space"}
    assert f"HF_HUB_CACHE {mnt}/hf/hub has only 64.0 MiB free" in item["summary"]
    place = item["details"]["places"]["HF_HUB_CACHE"]
    assert place["measured"] == mnt and place["exists"] is False
    assert place["total_bytes"] == 64 << 20


def test_enough_room_is_ok(mnt, tmp_path):
    args = config_args(tmp_path, "host.disk", 'min_free_bytes = "32MiB"')
    code, item = cli_result("host.disk", args, {"HF_HOME": f"{mnt}/hf"}, setup=tmpfs(mnt, "64m"))
    assert code == 0 and item["status"] == "ok", item
    assert item["summary"] == "HF_HUB_CACHE: 64.0 MiB free"


def test_hub_cache_on_its_own_filesystem_is_judged_apart(mnt, tmp_path):
    args = config_args(tmp_path, "host.disk", 'min_free_bytes = "32MiB"')
    env = {"HF_HOME": f"{mnt}/a", "HF_HUB_CACHE": f"{mnt}/b/hub"}
    setup = (tmpfs(mnt, "64m") + f"\nmkdir {mnt}/a {mnt}/b\n"
             f"mount -t tmpfs -o size=16m tmpfs {mnt}/b")
    code, item = cli_result("host.disk", args, env, setup=setup)
    assert item["status"] == "warn" and codes(item) == {"low_space"}, item
    assert item["summary"].startswith(f"HF_HUB_CACHE {mnt}/b/hub has only 16.0 MiB free")


def test_hub_model_into_a_read_only_cache_fails(mnt):
    result = run_check_in(tmpfs(mnt, "64m", "ro"), "host.disk", env={"HF_HUB_CACHE": f"{mnt}/hub"},
                          settings={"min_free_bytes": 0},
                          options={"model_path": "Qwen/Qwen2.5-7B-Instruct"})
    assert result["status"] == "fail" and codes(result) == {"read_only"}, result
    assert "Qwen/Qwen2.5-7B-Instruct" in result["summary"]
    assert result["details"]["hub_model"] == "Qwen/Qwen2.5-7B-Instruct"


def test_download_dir_takes_the_download(mnt):
    result = run_check_in(tmpfs(mnt, "64m"), "host.disk", env={"HOME": "/root"},
                          options={"model_path": "org/model", "download_dir": f"{mnt}/dl"})
    assert codes(result) == {"low_space"}, result
    assert "--download-dir" in result["summary"]
    assert "the model org/model will be downloaded there" in result["summary"]


def test_local_model_path_is_measured(mnt):
    result = run_check_in(tmpfs(mnt, "64m") + f"\nmkdir {mnt}/model", "host.disk",
                          env={"HOME": "/root"}, options={"model_path": f"{mnt}/model"})
    assert result["details"]["hub_model"] is None
    assert result["details"]["places"]["--model-path"]["total_bytes"] == 64 << 20


def test_no_home_and_no_hf_variables_is_a_skip():
    result = run_check("host.disk", env={})
    assert result.status is Status.SKIP, result


def test_cache_path_that_is_a_file_or_fifo(tmp_path):
    root = tree(tmp_path, {"data/hf": "a file where a directory belongs"})
    os.mkfifo(root / "data" / "hub")
    result = run_check("host.disk", env={"HF_HOME": "/data/hf", "HF_HUB_CACHE": "/data/hub"},
                       settings={"min_free_bytes": 0}, options={"host_root": str(root)})
    assert result.status is Status.WARN and codes(result) == {"unmeasurable"}, result
    assert len(result.details["findings"]) == 2


def test_host_root_maps_the_cache_paths(tmp_path):
    root = tree(tmp_path, {"home/op/": ""})
    result = run_check("host.disk", env={"HOME": "/home/op"}, settings={"min_free_bytes": 0},
                       options={"host_root": str(root)})
    assert result.status is Status.OK, result
    place = result.details["places"]["HF_HUB_CACHE"]
    assert place["path"] == f"{root}/home/op/.cache/huggingface/hub"
    assert place["measured"] == f"{root}/home/op"


def test_bad_setting_is_an_error():
    result = run_check("host.disk", env={"HOME": "/root"}, settings={"min_free_bytes": -1})
    assert result.status is Status.ERROR and "min_free_bytes" in result.summary


# --- huggingface_hub's own resolution -----------------------------------------------------

def test_hf_paths_resolve_as_huggingface_hub_does():
    assert hf_home({"HOME": "/root"}) == "/root/.cache/huggingface"
    assert hf_hub_cache({"HOME": "/root"}) == "/root/.cache/huggingface/hub"
    assert hf_home({"HOME": "/h", "XDG_CACHE_HOME": "/xdg"}) == "/xdg/huggingface"
    assert hf_hub_cache({"HF_HOME": "~/hf", "HOME": "/h"}) == "/h/hf/hub"
    assert hf_hub_cache({"HUGGINGFACE_HUB_CACHE": "/legacy", "HF_HOME": "/x"}) == "/legacy"
    assert hf_hub_cache({"HF_HUB_CACHE": "$DATA/hub", "DATA": "/d",
                         "HUGGINGFACE_HUB_CACHE": "/legacy"}) == "/d/hub"
    assert hf_home({}) is None


@pytest.mark.parametrize("model,hub", [("Qwen/Qwen2.5-7B", True), ("/models/qwen", False),
                                       ("./qwen/x", False), ("~/m/x", False), ("qwen", False)])
def test_hub_ids(model, hub):
    assert is_hub_id(model) is hub
