"""`maca.devices`: the MetaX GPUs this process can open, and what `mx-smi -L` says of them."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from sgdoctor.api import Context, Result, Status, check
from sgdoctor.parse.maca import (
    DEFAULT_DRIVER_DIR,
    DEFAULT_MACA_DIR,
    SmiGpu,
    SmiListing,
    fold_findings,
    parse_smi_list,
    parse_visible_devices,
)

if TYPE_CHECKING:
    from sgdoctor.probe.maca import DeviceNodes, Node, RunResult

ENV = ("MACA_PATH", "MACA_VISIBLE_DEVICES", "PATH")
DOCKER_REMEDY = ("Pass the devices to the container: docker run --device=/dev/mxcd "
                 "--device=/dev/dri --group-add video ...")
MX_SMI_TIMEOUT = 5.0

Finding = tuple[str, str]       # (summary, remedy)


@check("maca.devices", title="MetaX GPU devices", env=ENV, timeout=8.0, tags=("maca",))
def maca_devices(ctx: Context) -> Result:
    """MACA programs open /dev/mxcd and a /dev/dri/renderD* node per GPU, read-write;
    containers get them only with --device=/dev/mxcd --device=/dev/dri --group-add video.
    `mx-smi -L` (PATH or <driver_dir>/bin) then tells whether each GPU is usable, and
    MACA_VISIBLE_DEVICES may only name GPUs that exist.

    Settings: root (default /, where dev/ is looked for), driver_dir (/opt/mxdriver),
    maca_dir (/opt/maca), mx_smi_timeout (5 s, clamped to the check's deadline).
    """
    from sgdoctor.probe.maca import device_nodes, find_mx_smi, path_entry, run_bounded, shown

    root = str(ctx.setting("root", "/"))
    driver_dir = str(ctx.setting("driver_dir", DEFAULT_DRIVER_DIR))
    maca_dir = str(ctx.setting("maca_dir", DEFAULT_MACA_DIR))
    wanted = ctx.setting("mx_smi_timeout", MX_SMI_TIMEOUT)
    if isinstance(wanted, bool) or not isinstance(wanted, (int, float)) or wanted <= 0:
        return Result.error(f'setting mx_smi_timeout={wanted!r} of [checks."maca.devices"] '
                            "must be a positive number of seconds", env=ENV)
    nodes = device_nodes(root)
    details: dict[str, Any] = {"root": shown(root), "mxcd": _node(nodes.mxcd),
                               "render_nodes": [_node(n) for n in nodes.render]}

    smi = find_mx_smi(ctx.env, driver_dir)
    if nodes.mxcd.kind == "missing":
        # Render nodes alone prove nothing: any GPU (an iGPU, a BMC's) makes them.
        maca = [what for what, here in (
            ("MACA_PATH is set", ctx.env.get("MACA_PATH") is not None),
            (f"{shown(maca_dir)} exists", path_entry(maca_dir).exists),
            (f"{shown(driver_dir)} exists", path_entry(driver_dir).exists),
            (f"mx-smi is at {shown(smi or '')}", smi is not None)) if here]
        if not maca:
            return Result.skip(f"no MetaX device ({_dev(root, 'mxcd')}) and no MACA software "
                               "on this host", details=details, env=ENV)
        render = (f"{len(nodes.render)} render node(s) present" if nodes.render
                  else f"no {_dev(root, 'dri/renderD*')} either")
        return Result.fail(f"no MetaX devices: {_dev(root, 'mxcd')} is missing ({render}), "
                           f"yet {', '.join(maca)}", remedy=DOCKER_REMEDY + " (on the host "
                           "itself: check that the metax kernel driver is loaded)",
                           details=details, env=ENV)

    fails: list[Finding] = []
    warns: list[Finding] = []
    fails.extend(_node_problems(nodes, root))

    listing: SmiListing | None = None
    if smi is None:
        warns.append((f"mx-smi is not on PATH nor in {shown(driver_dir)}/bin: GPU health "
                      "not verified", f"Add {shown(driver_dir)}/bin to PATH (or mount the "
                      "MetaX driver tools into the container)"))
    else:
        timeout = ctx.timeout(float(wanted))
        run = run_bounded([smi, "-L"], timeout=timeout, env=ctx.env)
        details["mx_smi"] = {"path": shown(smi), "seconds": round(run.seconds, 3)}
        problem = _run_problem(run, shown(smi), timeout, shown(os.path.join(driver_dir, "lib")))
        if problem:
            fails.append(problem)
        else:
            listing = parse_smi_list(run.stdout)
            details["gpus"] = [_gpu(g) for g in listing.gpus]
            fails.extend(_listing_problems(listing))
            if listing.unparsed:
                warns.append((f"mx-smi -L printed GPU lines this tool cannot read: "
                              f"{listing.unparsed[0]!r}", "Report the mx-smi version to the "
                              "sgdoctor maintainers"))

    visible = ctx.env.get("MACA_VISIBLE_DEVICES")
    if visible is not None:
        count = len(listing.gpus) if listing and not listing.unparsed else None
        found_fails, found_warns = _visible_problems(visible, listing, count, len(nodes.render))
        fails.extend(found_fails)
        warns.extend(found_warns)

    verdict = fold_findings(fails, warns)
    if verdict:
        status, summary, remedy = verdict
        return Result(Status(status), summary, remedy, details, ENV)
    gpus = len(listing.gpus) if listing else 0      # no finding implies mx-smi answered
    return Result.ok(f"{_dev(root, 'mxcd')} and {len(nodes.render)} render node(s) are "
                     f"read-write; {gpus} GPU(s) available per mx-smi", details=details,
                     env=ENV)


def _text(text: str) -> str:
    """Tool output fit for a summary: control characters escaped, at most 200 characters."""
    from sgdoctor.parse.verdict import shown

    return shown(text, limit=200)


def _dev(root: str, rel: str) -> str:
    from sgdoctor.probe.maca import shown

    return shown(os.path.join(root, "dev", rel))


def _node(node: Node) -> dict[str, Any]:
    from sgdoctor.probe.maca import shown

    return {"path": shown(node.path), "kind": node.kind,
            "rdev": list(node.rdev) if node.rdev else None, "group": node.group,
            "readwrite": node.readwrite}


def _gpu(gpu: SmiGpu) -> dict[str, Any]:
    return {"index": gpu.index, "model": gpu.model, "bus_id": gpu.bus_id,
            "available": gpu.available, "state": gpu.state, "uuid": gpu.uuid}


def _node_problems(nodes: DeviceNodes, root: str) -> list[Finding]:
    """Each node must be a character device this process may open read-write (mxcd exists)."""
    from sgdoctor.probe.maca import shown

    found: list[Finding] = []
    if not nodes.render:
        where = _dev(root, "dri")
        found.append((f"no render node {where}/renderD*" + ("" if nodes.dri_exists
                      else f" ({where} is missing)"), DOCKER_REMEDY))
    for node in (nodes.mxcd, *nodes.render):
        name = shown(node.path)
        if node.kind != "char":
            found.append((f"{name} is a {node.kind}, not a character device",
                          f"Remove {name} and pass the real device: {DOCKER_REMEDY}"))
        elif not node.readwrite:
            hint = ("" if node.in_group else
                    f" (it belongs to group {node.group}, which this user is not in)")
            found.append((f"{name} is not read-write for this user{hint}",
                          f"Add the user to group {node.group} (docker: --group-add "
                          f"{node.group}), or run as a user that may open {name}"))
    return found


def _run_problem(run: RunResult, smi: str, timeout: float, driver_lib: str) -> Finding | None:
    if run.error:
        return (f"{smi} could not be run: {run.error}",
                f"Check that {smi} is an executable for this machine")
    if run.timed_out:
        killed = "killed, but still stuck in the kernel" if run.lingering else "killed"
        return (f"{smi} -L did not answer within {timeout:.1f} s ({killed}): the driver or a "
                "GPU is hung", "Check dmesg for MetaX driver errors; reset or reboot the node")
    if run.too_large:
        return (f"{smi} -L printed more than 1 MiB: not mx-smi output",
                f"Check what {smi} is")
    if run.returncode != 0:
        first = (run.stderr.strip() or run.stdout.strip()).splitlines()[:1]
        said = f": {_text(first[0])}" if first else ""
        if "error while loading shared libraries" in run.stderr:
            remedy = (f"Put the driver's libraries on the loader path, e.g. export "
                      f"LD_LIBRARY_PATH={driver_lib}:$LD_LIBRARY_PATH")
        else:
            remedy = ("Check that the MetaX driver is loaded (lsmod | grep metax) and the "
                      "devices are passed to the container")
        return (f"{smi} -L failed (exit {run.returncode}){said}", remedy)
    return None


def _listing_problems(listing: SmiListing) -> list[Finding]:
    if not listing.gpus and not listing.unparsed:
        return [("mx-smi -L lists no GPU", "Check that the MetaX driver sees the GPUs "
                 "(dmesg, lspci | grep -i metax)")]
    bad = listing.unavailable
    if not bad:
        return []
    named = ", ".join(f"GPU#{g.index} ({_text(g.bus_id or g.model)}): {_text(g.state)}"
                      for g in bad[:8])
    more = f" and {len(bad) - 8} more" if len(bad) > 8 else ""
    return [(f"{len(bad)} of {len(listing.gpus)} GPU(s) not available: {named}{more}",
             "Run `mx-smi --show-unavailable-reason`; check dmesg and that /sys is visible to "
             "the container; reset the GPU or drain the node")]


def _visible_problems(value: str, listing: SmiListing | None, count: int | None,
                      render_count: int) -> tuple[list[Finding], list[Finding]]:
    """MACA_VISIBLE_DEVICES against the GPUs present (by mx-smi, else by render nodes).

    How the MACA runtime parses the variable is UNCONFIRMED: we assume CUDA's rules.
    """
    parsed = parse_visible_devices(value)
    fails: list[Finding] = []
    warns: list[Finding] = []
    unconfirmed = "(MACA's parsing is UNCONFIRMED; CUDA's rules assumed)"
    if parsed.empty:
        warns.append((f"MACA_VISIBLE_DEVICES is set but empty: probably no GPU is visible "
                      f"{unconfirmed}", "Unset MACA_VISIBLE_DEVICES or list GPU indices, "
                      "e.g. MACA_VISIBLE_DEVICES=0,1"))
        return fails, warns
    total = count if count is not None else render_count
    source = "mx-smi" if count is not None else "render nodes"
    out = [i for i in parsed.indices if i >= total]
    if out:
        fails.append((f"MACA_VISIBLE_DEVICES names GPU index {', '.join(map(str, out[:8]))} "
                      f"but only {total} GPU(s) exist (0..{total - 1}, by {source})"
                      if total else f"MACA_VISIBLE_DEVICES names GPU index "
                      f"{', '.join(map(str, out[:8]))} but no GPU is present (by {source})",
                      f"Use indices below {total}" if total else DOCKER_REMEDY))
    if parsed.uuids:
        known = {g.uuid for g in listing.gpus if g.uuid} if listing else set()
        unknown = [u for u in parsed.uuids if u not in known]
        if known and unknown:
            fails.append((f"MACA_VISIBLE_DEVICES names {unknown[0]!r}, which mx-smi does not "
                          "list", "Use the UUIDs `mx-smi -L` prints, or indices"))
        elif unknown:
            warns.append((f"MACA_VISIBLE_DEVICES holds UUID-like entries ({unknown[0]!r}) that "
                          f"cannot be verified here; whether MACA accepts UUIDs is UNCONFIRMED",
                          "Prefer GPU indices, e.g. MACA_VISIBLE_DEVICES=0,1"))
    for problem in parsed.problems[:4]:
        warns.append((f"MACA_VISIBLE_DEVICES: {problem} {unconfirmed}",
                      "Write a plain comma list of indices, e.g. MACA_VISIBLE_DEVICES=0,1"))
    if parsed.duplicates:
        warns.append((f"MACA_VISIBLE_DEVICES lists {parsed.duplicates[0]!r} twice "
                      f"{unconfirmed}", "List each GPU once"))
    return fails, warns
