"""The guarded launch command as run options: parsed once per run, below the CLI commands
(`check -- COMMAND`, `exec -- COMMAND`), and handed to the checks through the run plan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def launch_options(command: Sequence[str] | None, env: Mapping[str, str],
                   pins: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``command`` (for probe.consumers), ``launch`` (the parsed Launch, for launch.*) and
    what the host checks read: tp_size, nnodes, node_rank, dist_init_addr, port, nccl_port,
    enable_dp_attention, ib_device, model_path, download_dir (and expert_recorder_mode for
    expert_record.dir). Nothing for a command that is not an SGLang or Dynamo launch."""
    if not command:
        return {}
    from sgdoctor.parse.launch import parse_launch
    from sgdoctor.probe.consumers import for_options

    options: dict[str, Any] = {"command": tuple(command)}
    if pins:
        options["consumers"] = dict(pins)
    consumers = for_options(options, env)
    launch = parse_launch(command, env, releases={
        "sglang": consumers.version("sglang"), "dynamo": consumers.version("dynamo")})
    options["launch"] = launch
    options.update(launch.options())
    mode = launch.values.get("expert_distribution_recorder_mode")
    if launch.parsed and isinstance(mode, str) and mode:
        options["expert_recorder_mode"] = mode
    return options
