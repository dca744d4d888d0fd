"""`launch.model`: --model-path is a readable model directory, or a hub id that can be
downloaded into a writable cache (host.disk judges its free space)."""

from __future__ import annotations

import os

from sgdoctor.api import Context, Findings, Result, Text, check
from sgdoctor.parse.verdict import shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ENV = ("HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE")
# What a config.json that is there but unusable is (probe.launch's words, in templates).
CONFIG_STATES = {"unreadable": Text("unreadable"), "not_a_file": Text("not a file")}


@check("launch.model", title="Launch model path", env=ENV, timeout=3.0,
       tags=("launch",), settings={})
def launch_model(ctx: Context) -> Result:
    """A local --model-path must be a directory this user can list, with a readable
    config.json (SGLang reads it first), or a .gguf file. A path that does not exist and looks
    like a hub id (`org/name`) is downloaded at start-up: the hub cache (--download-dir, else
    HF_HUB_CACHE / HF_HOME) must be writable, and HF_HUB_OFFLINE=1 forbids the download.
    host.disk is handed the model path and judges the free space."""
    from sgdoctor.parse.hfcache import hf_hub_cache, is_hub_id
    from sgdoctor.probe.launch import model_facts, writable_at

    if ctx.options.get("launch") is None:
        return Result.skip("no launch command given", env=ENV)
    from sgdoctor.parse.launch import from_options

    launch = from_options(ctx.options)
    if launch is None or not launch.parsed:
        return Result.skip("no parsed SGLang launch command", env=ENV)
    model = launch.get("model_path")
    if launch.program == "dynamo.frontend":
        return Result.skip("the Dynamo frontend loads no weights", env=ENV)
    found = Findings()
    if not isinstance(model, str) or not model:
        found.warn("the launch names no --model-path: SGLang stops at start-up",
                   "add --model-path DIR (or a hub id)", code="no_model_path")
        return found.result("", env=ENV)
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = "/"
    local = os.path.normpath(os.path.join(cwd, model))
    facts = model_facts(local)
    details: dict[str, Any] = {"model_path": shown(model, 200)}
    shown_path = shown(model, 120)
    if facts.exists:
        details.update(local=True, directory=facts.is_dir, config_json=facts.config)
        if not facts.is_dir:
            if model.endswith(".gguf") and facts.readable:
                return found.result(Text("{path} is a GGUF file", path=shown_path),
                                    details=details, env=ENV)
            found.fail(Text("--model-path {path} is not a directory", path=shown_path),
                       "point --model-path at the model's directory (config.json, weights)",
                       code="not_a_directory")
        elif not facts.readable:
            found.fail(Text("--model-path {path} cannot be listed by this user",
                            path=shown_path),
                       Text("chmod -R a+rX {path}, or run as its owner", path=shown_path),
                       code="unreadable")
        elif facts.config == "missing":
            found.fail(Text("--model-path {path} has no config.json: not a model directory "
                            "(a parent or a half-copied download?)", path=shown_path),
                       "point --model-path at the directory that holds config.json",
                       code="no_config_json")
        elif facts.config != "ok":
            found.fail(Text("{path}/config.json is {state}", path=shown_path,
                            state=CONFIG_STATES.get(facts.config,
                                                    facts.config.replace("_", " "))),
                       "make config.json a readable file", code="config_json_unreadable")
        return found.result(Text("{path}: a model directory with config.json",
                                 path=shown_path), details=details, env=ENV)
    if not is_hub_id(model):
        found.fail(Text("--model-path {path} does not exist (and is not a hub id org/name)",
                        path=shown_path),
                   "fix the path, or mount the model volume", code="model_missing")
        return found.result("", details=details, env=ENV)
    download = launch.get("download_dir")
    cache = download if isinstance(download, str) and download else hf_hub_cache(ctx.env)
    details.update(local=False, hub_id=True, cache=shown(cache or "", 200))
    if ctx.env.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "on", "yes", "true"):
        found.warn(Text("{path} is a hub id and HF_HUB_OFFLINE is set: only an already "
                        "cached copy can load", path=shown_path),
                   "download the model beforehand, or unset HF_HUB_OFFLINE",
                   code="offline_hub_id")
    if cache:
        where, writable = writable_at(os.path.join(cwd, os.path.expanduser(cache)))
        details["cache_writable"] = writable
        if not writable:
            found.fail(Text("{path} is a hub id to download, but {where} (for {cache}) is not "
                            "writable by this user", path=shown_path, where=shown(where, 120),
                            cache=shown(cache, 120)),
                       "point HF_HOME (or --download-dir) at a writable volume, or download "
                       "the model beforehand and pass its directory", code="cache_not_writable")
    return found.result(Text("{path} is a hub id: downloaded into {cache} at start-up "
                             "(host.disk judges the free space)", path=shown_path,
                             cache=shown(cache or "?", 120)), details=details, env=ENV)
