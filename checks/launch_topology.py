"""`launch.topology`: --nnodes / --node-rank agree, and this node sees the GPUs its share of
the launch needs."""

from __future__ import annotations

from sgdoctor.api import Context, Findings, ProbeError, Result, Text, check

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ENV = ("MACA_VISIBLE_DEVICES",)
# probe.launch's words for where the GPU count came from, as templates (JSON keeps the words).
GPU_SOURCES = {
    "/dev/dri render nodes beside /dev/mxcd": Text("/dev/dri render nodes beside /dev/mxcd"),
    "/dev/mxcd without render nodes": Text("/dev/mxcd without render nodes"),
    "no /dev/mxcd, no MACA_VISIBLE_DEVICES, no mx-smi":
        Text("no /dev/mxcd, no MACA_VISIBLE_DEVICES, no mx-smi"),
}


@check("launch.topology", title="Launch topology and GPUs", env=ENV, timeout=5.0,
       tags=("launch",), settings={})
def launch_topology(ctx: Context) -> Result:
    """SGLang 0.5.23 (srt/arg_groups/validation_hook.py): `--tp-size × --pp-size` must be
    divisible by `--nnodes`, `--dp-size > 1` is single-node only, `0 <= --node-rank <
    --nnodes`. This node runs `tp × pp / nnodes` GPUs of a multi-node launch, `tp × pp × dp`
    of a single-node one, starting at `--base-gpu-id` every `--gpu-id-step`: the highest
    index it takes must be below the GPUs it sees (MACA_VISIBLE_DEVICES when set, else the
    /dev/dri render nodes beside /dev/mxcd, else `mx-smi -L`)."""
    from sgdoctor.probe.hostroot import HostRoot
    from sgdoctor.probe.launch import visible_gpus

    if ctx.options.get("launch") is None:
        return Result.skip("no launch command given", env=ENV)
    from sgdoctor.parse.launch import from_options

    launch = from_options(ctx.options)
    if launch is None or not launch.parsed:
        return Result.skip("no parsed SGLang launch command", env=ENV)
    if launch.program == "dynamo.frontend":
        return Result.skip("the Dynamo frontend runs no GPU work", env=ENV)
    v = launch.values
    tp, pp, dp = (_int(v, "tp_size", 1), _int(v, "pp_size", 1), _int(v, "dp_size", 1))
    nnodes, rank = _int(v, "nnodes", 1), _int(v, "node_rank", 0)
    base, step = _int(v, "base_gpu_id", 0), _int(v, "gpu_id_step", 1)
    found = Findings()
    details: dict[str, Any] = {"tp_size": tp, "pp_size": pp, "dp_size": dp, "nnodes": nnodes,
                               "node_rank": rank, "base_gpu_id": base, "gpu_id_step": step}
    if nnodes < 1:
        found.fail(Text("--nnodes {nnodes}: a launch needs at least one node", nnodes=nnodes),
                   "set --nnodes to the number of nodes", code="bad_nnodes")
        return found.result("", details=details, env=ENV)
    if not 0 <= rank < nnodes:
        found.fail(Text("--node-rank {rank} is outside 0..{last} for --nnodes {nnodes}",
                        rank=rank, last=nnodes - 1, nnodes=nnodes),
                   Text("give each node a distinct --node-rank from 0 to {last}",
                        last=nnodes - 1),
                   code="node_rank_out_of_range")
    if (tp * pp) % nnodes:
        found.fail(Text("--tp-size {tp} × --pp-size {pp} is not divisible by --nnodes {nnodes} "
                        "(SGLang: \"tp_size must be divisible by number of nodes\")", tp=tp,
                        pp=pp, nnodes=nnodes),
                   "choose a TP × PP size that is a multiple of the node count",
                   code="tp_not_divisible")
    if dp > 1 and nnodes > 1:
        found.fail(Text("--dp-size {dp} across {nnodes} nodes: SGLang 0.5.23 refuses "
                        "multi-node data-parallel replicas", dp=dp, nnodes=nnodes),
                   "use attention DP (--attn-dp-size) across nodes, "
                   "or one launch per node", code="multi_node_dp")
    per_node = max(1, (tp * pp) // nnodes) if nnodes > 1 else tp * pp * dp
    highest = base + (per_node - 1) * step
    details.update(gpus_per_node=per_node, highest_gpu_index=highest)
    try:
        root = HostRoot.from_options(ctx.options)
    except ProbeError as exc:
        return Result.error(Text("--host-root: {error}", error=exc.message), env=ENV)
    gpus = visible_gpus(ctx.env, root.root, mx_smi_timeout=ctx.timeout(3.0))
    details.update(visible_gpus=gpus.count, gpus_from=gpus.source)
    if highest >= gpus.count:
        need = (Text("{count} GPU(s) from index {base} every {step}", count=per_node,
                     base=base, step=step) if (base, step) != (0, 1) else
                Text("{count} GPU(s)", count=per_node))
        found.fail(Text("this node's share of the launch needs {need} (up to index {highest}), "
                        "but it sees {seen} ({source})", need=need, highest=highest,
                        seen=gpus.count, source=GPU_SOURCES.get(gpus.source, gpus.source)),
                   "give the container the GPUs (MACA_VISIBLE_DEVICES, the device plugin's "
                   "resource limit), or lower --tp-size / --dp-size", code="not_enough_gpus")
    fields = {"count": per_node, "tp": tp, "pp": pp, "seen": gpus.count,
              "source": GPU_SOURCES.get(gpus.source, gpus.source)}
    if nnodes == 1 and dp > 1:
        summary = Text("{count} GPU(s) on this node (tp {tp} × pp {pp} × dp {dp}); {seen} "
                       "visible ({source})", dp=dp, **fields)
    elif nnodes > 1:
        summary = Text("{count} GPU(s) on this node (tp {tp} × pp {pp} over {nnodes} nodes); "
                       "{seen} visible ({source})", nnodes=nnodes, **fields)
    else:
        summary = Text("{count} GPU(s) on this node (tp {tp} × pp {pp}); {seen} visible "
                       "({source})", **fields)
    return found.result(summary, details=details, env=ENV)


def _int(values: dict[str, Any], key: str, default: int) -> int:
    value = values.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default
