"""`launch.command`: what sgdoctor understood of the launch command it guards, and what of it
the server will refuse (never a fail: the server is the judge of its own command line)."""

from __future__ import annotations

from sgdoctor.api import Context, Findings, Result, Text, check
from sgdoctor.parse.verdict import shown

NO_COMMAND = Text("no launch command given (`sgdoctor check -- COMMAND…` or "
                  "`sgdoctor exec -- COMMAND…` reads it)")


@check("launch.command", title="Launch command", timeout=2.0,
       tags=("launch",), settings={})
def launch_command(ctx: Context) -> Result:
    """Parses `python -m sglang.launch_server …`, `sglang serve …`, `python -m dynamo.sglang …`
    and `python -m dynamo.frontend …` as their own argparse does (abbreviations, `--x=v`,
    repeats, booleans, nargs, SGLang's `--config` YAML), with the option tables mirrored
    from the release found in the server's environment (the newest mirrored when none is
    found: said so). Commands behind torchrun or a shell are not parsed: skipped, saying so.
    An argument the server will refuse is a warning; the other launch.* checks and the
    host checks use what was understood."""
    if ctx.options.get("launch") is None:
        return Result.skip(NO_COMMAND)
    from sgdoctor.parse.launch import from_options

    launch = from_options(ctx.options)
    if launch is None:
        return Result.skip(NO_COMMAND)
    details = launch.as_json()
    if launch.out_of_scope:
        return Result.skip(Text("not parsed: {why}", why=launch.out_of_scope), details=details)
    found = Findings()
    for problem in launch.problems:
        said = problem if isinstance(problem, Text) else shown(problem, 300)
        found.warn(Text("the server will refuse this: {problem}", problem=said),
                   "fix the launch command (run it with --help to see its options)",
                   code="refused_argument")
    for note in launch.notes:
        found.ok(note, code="note")
    parts = _said(launch)
    releases = ", ".join(f"{k} {v}" for k, v in launch.release.items())
    summary = Text("{program}: {said} ({releases} options)", program=launch.program,
                   said=Text.join(", ", parts) if parts else Text("defaults only"),
                   releases=releases)
    if launch.notes:
        summary = Text("{summary}; {notes}", summary=summary, notes=Text.join("; ", launch.notes))
    return found.result(summary, details=details)


def _said(launch) -> list[str | Text]:  # type: ignore[no-untyped-def]
    v = launch.values
    parts: list[str | Text] = []
    if v.get("model_path"):
        parts.append(Text("model {path}", path=shown(str(v["model_path"]), 80)))
    for key, label in (("tp_size", "tp"), ("pp_size", "pp"), ("dp_size", "dp"),
                       ("attn_dp_size", "attn-dp")):
        if isinstance(v.get(key), int) and (v[key] != 1 or key == "tp_size"):
            parts.append(f"{label} {v[key]}")
    if isinstance(v.get("nnodes"), int) and v["nnodes"] != 1:
        parts.append(Text("{count} nodes (this is rank {rank})", count=v["nnodes"],
                          rank=v.get("node_rank")))
    if v.get("dist_init_addr"):
        parts.append(f"dist-init {shown(str(v['dist_init_addr']), 80)}")
    if launch.program == "dynamo.frontend":
        parts.append(Text("router {mode}", mode=v.get("router_mode")))
        if v.get("http_port") is not None:
            parts.append(Text("http port {port}", port=v.get("http_port")))
    elif isinstance(v.get("port"), int):
        parts.append(Text("port {port}", port=v["port"]))
    return parts
