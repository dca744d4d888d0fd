"""`host.disk`: room where model downloads and caches land."""

from __future__ import annotations

import os

from sgdoctor.api import Context, Findings, ProbeError, Result, Text, check
from sgdoctor.parse.verdict import shown

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from sgdoctor.probe.hostdisk import SpaceFacts
    from sgdoctor.probe.hostroot import HostRoot

ENV = ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME", "HOME")
GIB = 1 << 30
MIN_FREE_BYTES = 50 * GIB     # a 32B model in bf16 is ~65 GB, a 7-8B one ~16 GB


@check("host.disk", title="Disk space for models and caches", env=ENV, timeout=3.0,
       tags=("host",), settings={"min_free_bytes": (int, str)})
def host_disk(ctx: Context) -> Result:
    """A model given as a hub id is downloaded into huggingface_hub's cache (HF_HUB_CACHE,
    else $HF_HOME/hub, else ~/.cache/huggingface/hub); a full disk there stops the server
    mid-download, often after many minutes. The check measures the filesystems of HF_HOME,
    HF_HUB_CACHE, the launch command's --download-dir and the model path when sgdoctor knows
    them (a path yet to be created: its nearest existing parent), each filesystem once.
    Less free than min_free_bytes is a warning; a read-only filesystem where a hub model must
    be downloaded is a fail.

    Settings: min_free_bytes (50 GiB; sizes take units, "200GiB").
    """
    from sgdoctor.parse.settings import setting_error, size_setting
    from sgdoctor.probe.hostroot import HostRoot

    try:
        minimum = size_setting(ctx, "min_free_bytes", MIN_FREE_BYTES)
        root = HostRoot.from_options(ctx.options)
    except ValueError as exc:
        return Result.error(setting_error("host.disk", exc), env=ENV)
    except ProbeError as exc:
        return Result.error(Text("--host-root: {error}", error=exc.message), env=ENV)
    places, hub_model = _places(ctx, root)
    if not places:
        return Result.skip(Text("no place for models or caches is known (HOME, HF_HOME and "
                                "HF_HUB_CACHE are unset)"), env=ENV)
    return _judge(places, hub_model, minimum, root)


def _places(ctx: Context, root: HostRoot) -> tuple[dict[str, str], str | None]:
    """label → absolute node path; and the hub id of the model when it will be downloaded."""
    from sgdoctor.parse.hfcache import hf_home, hf_hub_cache, is_hub_id

    places: dict[str, str] = {}
    try:
        cwd = os.getcwd()
    except OSError:            # the working directory was removed under us
        cwd = "/"
    for label, value in (("HF_HUB_CACHE", hf_hub_cache(ctx.env)), ("HF_HOME", hf_home(ctx.env))):
        if value:
            places[label] = os.path.normpath(os.path.join(cwd, value))
    download = ctx.options.get("download_dir")
    if isinstance(download, str) and download:
        places["--download-dir"] = os.path.normpath(os.path.join(cwd, download))
    model = ctx.options.get("model_path")
    hub_model = None
    if isinstance(model, str) and model:
        local = os.path.normpath(os.path.join(cwd, model))
        if not root.exists(local) and is_hub_id(model):
            hub_model = model
        else:
            places["--model-path"] = local
    return places, hub_model


def _judge(places: dict[str, str], hub_model: str | None, minimum: int,
           root: HostRoot) -> Result:
    from sgdoctor.parse.verdict import approx_bytes
    from sgdoctor.probe.hostdisk import space_at

    found = Findings()
    seen: dict[int, str] = {}
    details: dict[str, Any] = {"min_free_bytes": minimum, "hub_model": hub_model, "places": {}}
    downloads_to = "--download-dir" if "--download-dir" in places else "HF_HUB_CACHE"
    parts: list[Text] = []
    for label, path in places.items():
        facts = space_at(root, path)
        details["places"][label] = _facts_json(facts)
        where = f"{label} {shown(facts.path)}"
        if facts.error is not None:
            found.warn(Text("cannot measure {where}: {error}", where=where,
                            error=shown(facts.error.message)), code="unmeasurable")
            continue
        if facts.device is None or facts.free_bytes is None:
            continue
        # Under --host-root the node's / is usually mounted read-only into the monitor.
        if hub_model and label == downloads_to and facts.read_only and root.on_host:
            found.fail(Text("{where} is on a read-only filesystem, but the model {model} "
                            "must be downloaded there", where=where, model=shown(hub_model)),
                       Text("point {label} at a writable directory, or download the model "
                            "beforehand and pass its path", label=label), code="read_only")
        if facts.device in seen:
            continue            # the same filesystem is judged once
        seen[facts.device] = label
        free = approx_bytes(facts.free_bytes)
        parts.append(Text("{label}: {free} free", label=label, free=free))
        if facts.free_bytes < minimum:
            low = {"where": where, "free": free, "minimum": approx_bytes(minimum)}
            found.warn(Text("{where} has only {free} free (below {minimum}); the model {model} "
                            "will be downloaded there", **low, model=shown(hub_model))
                       if hub_model and label == downloads_to else
                       Text("{where} has only {free} free (below {minimum})", **low),
                       Text("free space on {path}, or point {label} at a larger filesystem",
                            path=shown(facts.measured or facts.path), label=label),
                       code="low_space")
    return found.result(Text.join("; ", parts) if parts else Text("nothing measured"),
                        details=details, env=ENV)


def _facts_json(facts: SpaceFacts) -> dict[str, Any]:
    return {"path": shown(facts.path), "measured": shown(facts.measured or ""),
            "exists": facts.exists, "free_bytes": facts.free_bytes,
            "total_bytes": facts.total_bytes, "read_only": facts.read_only,
            "error": None if facts.error is None else facts.error.kind.value}
