"""`maca.devices`: the MetaX GPUs this process can open, and what `mx-smi -L` says of them."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from sgdoctor.api import Context, Finding, Findings, Result, Status, check
from sgdoctor.parse.maca import (
    DEFAULT_DRIVER_DIR,
    DEFAULT_MACA_DIR,
    SmiGpu,
    SmiListing,
    parse_smi_list,
    parse_visible_devices,
)
from sgdoctor.parse.verdict import PATH_LIMIT, shown

if TYPE_CHECKING:
    from sgdoctor.probe.maca import DeviceNodes, Node, RunResult

ENV = ("MACA_PATH", "MACA_VISIBLE_DEVICES", "PATH")
DOCKER_REMEDY = ("Pass the devices to the container: docker run --device=/dev/mxcd "
                 "--device=/dev/dri --group-add video ...")
MX_SMI_TIMEOUT = 5.0
# glibc's dynamic loader exits 127 when a program's shared libraries cannot be loaded (the
# program is exec'd directly, so no shell's "command not found" 127 can be meant).
LOADER_EXIT = 127
UNCONFIRMED = "(MACA's parsing is UNCONFIRMED; CUDA's rules assumed)"


@check("maca.devices", title="MetaX GPU devices", env=ENV, timeout=8.0, tags=("maca",),
       settings={"root": str, "driver_dir": str, "maca_dir": str, "mx_smi_timeout": float})
def maca_devices(ctx: Context) -> Result:
    """MACA programs open /dev/mxcd and a /dev/dri/renderD* node per GPU, read-write;
    containers get them only with --device=/dev/mxcd --device=/dev/dri --group-add video.
    `mx-smi -L` (PATH or <driver_dir>/bin) then tells whether each GPU is usable, and
    MACA_VISIBLE_DEVICES may only name GPUs that exist.

    Settings: root (default /, where dev/ is looked for), driver_dir (/opt/mxdriver),
    maca_dir (/opt/maca), mx_smi_timeout (5 s, clamped to the check's deadline).
    """
    from sgdoctor.probe.maca import device_nodes, find_mx_smi, path_entry, run_bounded

    root = str(ctx.setting("root", "/"))
    driver_dir = str(ctx.setting("driver_dir", DEFAULT_DRIVER_DIR))
    maca_dir = str(ctx.setting("maca_dir", DEFAULT_MACA_DIR))
    wanted = ctx.setting("mx_smi_timeout", MX_SMI_TIMEOUT)
    if isinstance(wanted, bool) or not isinstance(wanted, (int, float)) or wanted <= 0:
        return Result.error(f'setting mx_smi_timeout={wanted!r} of [checks."maca.devices"] '
                            "must be a positive number of seconds", env=ENV)
    nodes = device_nodes(root)
    details: dict[str, Any] = {"root": _path(root), "mxcd": _node(nodes.mxcd),
                               "render_nodes": [_node(n) for n in nodes.render]}

    smi = find_mx_smi(ctx.env, driver_dir)
    found = Findings()
    if nodes.mxcd.kind == "missing":
        # Render nodes alone prove nothing: any GPU (an iGPU, a BMC's) makes them.
        maca = [what for what, here in (
            ("MACA_PATH is set", ctx.env.get("MACA_PATH") is not None),
            (f"{_path(maca_dir)} exists", path_entry(maca_dir).exists),
            (f"{_path(driver_dir)} exists", path_entry(driver_dir).exists),
            (f"mx-smi is at {_path(smi or '')}", smi is not None)) if here]
        if not maca:
            return Result.skip(f"no MetaX device ({_dev(root, 'mxcd')}) and no MACA software "
                               "on this host", details=details, env=ENV)
        render = (f"{len(nodes.render)} render node(s) present" if nodes.render
                  else f"no {_dev(root, 'dri/renderD*')} either")
        found.fail(f"no MetaX devices: {_dev(root, 'mxcd')} is missing ({render}), yet "
                   f"{', '.join(maca)}", DOCKER_REMEDY + " (on the host itself: check that "
                   "the metax kernel driver is loaded)", code="no_devices")
        return found.result("", details=details, env=ENV)

    found.extend(_node_problems(nodes, root))

    listing: SmiListing | None = None
    if smi is None:
        found.warn(f"mx-smi is not on PATH nor in {_path(driver_dir)}/bin: GPU health not "
                   f"verified", f"Add {_path(driver_dir)}/bin to PATH (or mount the MetaX "
                   "driver tools into the container)", code="mx_smi_not_found")
    else:
        timeout = ctx.timeout(float(wanted))
        run = run_bounded([smi, "-L"], timeout=timeout, env=ctx.env)
        details["mx_smi"] = {"path": _path(smi), "seconds": round(run.seconds, 3)}
        problem = _run_problem(run, _path(smi), timeout, _path(os.path.join(driver_dir, "lib")))
        if problem:
            found.extend([problem])
        else:
            listing = parse_smi_list(run.stdout)
            details["gpus"] = [_gpu(g) for g in listing.gpus]
            found.extend(_listing_problems(listing))
            if listing.unparsed:
                found.warn(f"mx-smi -L printed GPU lines this tool cannot read: "
                           f"{listing.unparsed[0]!r}", "Report the mx-smi version to the "
                           "sgdoctor maintainers", code="mx_smi_unreadable_lines")

    visible = ctx.env.get("MACA_VISIBLE_DEVICES")
    if visible is not None:
        count = len(listing.gpus) if listing and not listing.unparsed else None
        found.extend(_visible_problems(visible, listing, count, len(nodes.render)))

    gpus = len(listing.gpus) if listing else 0      # no finding implies mx-smi answered
    return found.result(f"{_dev(root, 'mxcd')} and {len(nodes.render)} render node(s) are "
                     f"read-write; {gpus} GPU(s) available per mx-smi", details=details,
                        env=ENV)


def _text(text: str) -> str:
    """Tool output fit for a summary: control characters escaped, at most 200 characters."""
    return shown(text, limit=200)


def _path(path: str) -> str:
    return shown(path, PATH_LIMIT)


def _dev(root: str, rel: str) -> str:
    return _path(os.path.join(root, "dev", rel))


def _node(node: Node) -> dict[str, Any]:
    return {"path": _path(node.path), "kind": node.kind,
            "rdev": list(node.rdev) if node.rdev else None, "group": node.group,
            "readwrite": node.readwrite}


def _gpu(gpu: SmiGpu) -> dict[str, Any]:
    return {"index": gpu.index, "model": gpu.model, "bus_id": gpu.bus_id,
            "available": gpu.available, "state": gpu.state, "uuid": gpu.uuid}


def _node_problems(nodes: DeviceNodes, root: str) -> list[Finding]:
    """Each node must be a character device this process may open read-write (mxcd exists)."""
    found = Findings()
    if not nodes.render:
        where = _dev(root, "dri")
        found.fail(f"no render node {where}/renderD*" + ("" if nodes.dri_exists
                   else f" ({where} is missing)"), DOCKER_REMEDY, code="no_render_node")
    for node in (nodes.mxcd, *nodes.render):
        name = _path(node.path)
        which = "mxcd" if node is nodes.mxcd else "render_node"
        if node.kind != "char":
            found.fail(f"{name} is a {node.kind}, not a character device",
                       f"Remove {name} and pass the real device: {DOCKER_REMEDY}",
                       code=f"{which}_not_character_device")
        elif not node.readwrite:
            hint = ("" if node.in_group else
                    f" (it belongs to group {node.group}, which this user is not in)")
            found.fail(f"{name} is not read-write for this user{hint}",
                       f"Add the user to group {node.group} (docker: --group-add "
                       f"{node.group}), or run as a user that may open {name}",
                       code=f"{which}_not_readwrite")
    return list(found)


def _run_problem(run: RunResult, smi: str, timeout: float, driver_lib: str) -> Finding | None:
    if run.error:
        return Finding(Status.FAIL, f"{smi} could not be run: {run.error}",
                       f"Check that {smi} is an executable for this machine",
                       "mx_smi_not_runnable")
    if run.timed_out:
        killed = "killed, but still stuck in the kernel" if run.lingering else "killed"
        return Finding(Status.FAIL, f"{smi} -L did not answer within {timeout:.1f} s "
                       f"({killed}): the driver or a GPU is hung",
                       "Check dmesg for MetaX driver errors; reset or reboot the node",
                       "mx_smi_hung")
    if run.too_large:
        return Finding(Status.FAIL, f"{smi} -L printed more than 1 MiB: not mx-smi output",
                       f"Check what {smi} is", "mx_smi_output_too_large")
    if run.returncode != 0:
        first = (run.stderr.strip() or run.stdout.strip()).splitlines()[:1]
        said = f": {_text(first[0])}" if first else ""
        summary = f"{smi} -L failed (exit {run.returncode}){said}"
        if run.returncode == LOADER_EXIT:
            return Finding(Status.FAIL, summary, "Put the driver's libraries on the loader "
                           f"path, e.g. export LD_LIBRARY_PATH={driver_lib}:$LD_LIBRARY_PATH",
                           "mx_smi_libraries_missing")
        return Finding(Status.FAIL, summary, "Check that the MetaX driver is loaded (lsmod | "
                       "grep metax) and the devices are passed to the container",
                       "mx_smi_failed")
    return None


def _listing_problems(listing: SmiListing) -> list[Finding]:
    if not listing.gpus and not listing.unparsed:
        return [Finding(Status.FAIL, "mx-smi -L lists no GPU", "Check that the MetaX driver "
                        "sees the GPUs (dmesg, lspci | grep -i metax)", "no_gpu_listed")]
    bad = listing.unavailable
    if not bad:
        return []
    named = ", ".join(f"GPU#{g.index} ({_text(g.bus_id or g.model)}): {_text(g.state)}"
                      for g in bad[:8])
    more = f" and {len(bad) - 8} more" if len(bad) > 8 else ""
    return [Finding(Status.FAIL, f"{len(bad)} of {len(listing.gpus)} GPU(s) not available: "
                    f"{named}{more}", "Run `mx-smi --show-unavailable-reason`; check dmesg and "
                    "that /sys is visible to the container; reset the GPU or drain the node",
                    "gpu_unavailable")]


def _visible_problems(value: str, listing: SmiListing | None, count: int | None,
                      render_count: int) -> list[Finding]:
    """MACA_VISIBLE_DEVICES against the GPUs present (by mx-smi, else by render nodes).

    How the MACA runtime parses the variable is UNCONFIRMED: we assume CUDA's rules.
    """
    parsed = parse_visible_devices(value)
    found = Findings()
    if parsed.empty:
        found.warn(f"MACA_VISIBLE_DEVICES is set but empty: probably no GPU is visible "
                   f"{UNCONFIRMED}", "Unset MACA_VISIBLE_DEVICES or list GPU indices, e.g. "
                   "MACA_VISIBLE_DEVICES=0,1", code="visible_devices_empty")
        return list(found)
    total = count if count is not None else render_count
    source = "mx-smi" if count is not None else "render nodes"
    out = [i for i in parsed.indices if i >= total]
    if out:
        named = ", ".join(map(str, out[:8]))
        found.fail(f"MACA_VISIBLE_DEVICES names GPU index {named} but only {total} GPU(s) "
                   f"exist (0..{total - 1}, by {source})" if total else
                   f"MACA_VISIBLE_DEVICES names GPU index {named} but no GPU is present "
                   f"(by {source})", f"Use indices below {total}" if total else DOCKER_REMEDY,
                   code="visible_index_out_of_range")
    if parsed.uuids:
        known = {g.uuid for g in listing.gpus if g.uuid} if listing else set()
        unknown = [u for u in parsed.uuids if u not in known]
        if known and unknown:
            found.fail(f"MACA_VISIBLE_DEVICES names {unknown[0]!r}, which mx-smi does not "
                       "list", "Use the UUIDs `mx-smi -L` prints, or indices",
                       code="visible_uuid_unknown")
        elif unknown:
            found.warn(f"MACA_VISIBLE_DEVICES holds UUID-like entries ({unknown[0]!r}) that "
                       "cannot be verified here; whether MACA accepts UUIDs is UNCONFIRMED",
                       "Prefer GPU indices, e.g. MACA_VISIBLE_DEVICES=0,1",
                       code="visible_uuid_unverified")
    for problem in parsed.problems[:4]:
        found.warn(f"MACA_VISIBLE_DEVICES: {problem} {UNCONFIRMED}", "Write a plain comma "
                   "list of indices, e.g. MACA_VISIBLE_DEVICES=0,1",
                   code="visible_devices_malformed")
    if parsed.duplicates:
        found.warn(f"MACA_VISIBLE_DEVICES lists {parsed.duplicates[0]!r} twice {UNCONFIRMED}",
                   "List each GPU once", code="visible_devices_duplicate")
    return list(found)
