"""`maca.devices`: the MetaX GPUs this process can open, and what `mx-smi -L` says of them."""

from __future__ import annotations

import os

from sgdoctor.api import Context, Finding, Findings, Result, Status, Text, check
from sgdoctor.parse.maca import (
    DEFAULT_DRIVER_DIR,
    DEFAULT_MACA_DIR,
    SmiGpu,
    SmiListing,
    parse_smi_list,
    parse_visible_devices,
)
from sgdoctor.parse.verdict import PATH_LIMIT, shown

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from sgdoctor.probe.maca import DeviceNodes, Node, RunResult

ENV = ("MACA_PATH", "MACA_VISIBLE_DEVICES", "PATH")
DOCKER_RUN = "docker run --device=/dev/mxcd --device=/dev/dri --group-add video ..."
DOCKER_REMEDY = Text("Pass the devices to the container: {command}", command=DOCKER_RUN)
MX_SMI_TIMEOUT = 5.0
# glibc's dynamic loader exits 127 when a program's shared libraries cannot be loaded (the
# program is exec'd directly, so no shell's "command not found" 127 can be meant).
LOADER_EXIT = 127
# probe.maca's node kinds as words of the summary (the JSON keeps the kind itself).
NODE_KINDS = {"block": Text("block device"), "file": Text("regular file"),
              "dir": Text("directory"), "other": Text("special file")}
UNCONFIRMED = Text("(MACA's parsing is UNCONFIRMED; CUDA's rules assumed)")


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
        return Result.error(Text('setting mx_smi_timeout={value} of [checks."maca.devices"] '
                                 "must be a positive number of seconds", value=repr(wanted)),
                            env=ENV)
    nodes = device_nodes(root)
    details: dict[str, Any] = {"root": _path(root), "mxcd": _node(nodes.mxcd),
                               "render_nodes": [_node(n) for n in nodes.render]}

    smi = find_mx_smi(ctx.env, driver_dir)
    found = Findings()
    if nodes.mxcd.kind == "missing":
        # Render nodes alone prove nothing: any GPU (an iGPU, a BMC's) makes them.
        maca = [what for what, here in (
            (Text("MACA_PATH is set"), ctx.env.get("MACA_PATH") is not None),
            (Text("{path} exists", path=_path(maca_dir)), path_entry(maca_dir).exists),
            (Text("{path} exists", path=_path(driver_dir)), path_entry(driver_dir).exists),
            (Text("mx-smi is at {path}", path=_path(smi or "")), smi is not None)) if here]
        if not maca:
            return Result.skip(Text("no MetaX device ({device}) and no MACA software on this "
                                    "host", device=_dev(root, "mxcd")), details=details,
                               env=ENV)
        render = (Text("{count} render node(s) present", count=len(nodes.render))
                  if nodes.render else
                  Text("no {path} either", path=_dev(root, "dri/renderD*")))
        found.fail(Text("no MetaX devices: {device} is missing ({render}), yet {evidence}",
                        device=_dev(root, "mxcd"), render=render,
                        evidence=Text.join(", ", maca)),
                   Text("Pass the devices to the container: {command} (on the host itself: "
                        "check that the metax kernel driver is loaded)", command=DOCKER_RUN),
                   code="no_devices")
        return found.result("", details=details, env=ENV)

    found.extend(_node_problems(nodes, root))

    listing: SmiListing | None = None
    if smi is None:
        found.warn(Text("mx-smi is not on PATH nor in {path}/bin: GPU health not verified",
                        path=_path(driver_dir)),
                   Text("Add {path}/bin to PATH (or mount the MetaX driver tools into the "
                        "container)", path=_path(driver_dir)), code="mx_smi_not_found")
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
                found.warn(Text("mx-smi -L printed GPU lines this tool cannot read: {line}",
                                line=repr(listing.unparsed[0])),
                           "Report the mx-smi version to the sgdoctor maintainers",
                           code="mx_smi_unreadable_lines")

    visible = ctx.env.get("MACA_VISIBLE_DEVICES")
    if visible is not None:
        count = len(listing.gpus) if listing and not listing.unparsed else None
        found.extend(_visible_problems(visible, listing, count, len(nodes.render)))

    gpus = len(listing.gpus) if listing else 0      # no finding implies mx-smi answered
    return found.result(Text("{device} and {render} render node(s) are read-write; {gpus} "
                             "GPU(s) available per mx-smi", device=_dev(root, "mxcd"),
                             render=len(nodes.render), gpus=gpus), details=details, env=ENV)


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
        found.fail(Text("no render node {path}/renderD*", path=where) if nodes.dri_exists else
                   Text("no render node {path}/renderD* ({path} is missing)", path=where),
                   DOCKER_REMEDY, code="no_render_node")
    for node in (nodes.mxcd, *nodes.render):
        name = _path(node.path)
        which = "mxcd" if node is nodes.mxcd else "render_node"
        if node.kind != "char":
            found.fail(Text("{path} is a {kind}, not a character device", path=name,
                            kind=NODE_KINDS.get(node.kind, node.kind)),
                       Text("Remove {path} and pass the real device: {remedy}", path=name,
                            remedy=DOCKER_REMEDY),
                       code=f"{which}_not_character_device")
        elif not node.readwrite:
            found.fail(Text("{path} is not read-write for this user", path=name) if node.in_group
                       else Text("{path} is not read-write for this user (it belongs to group "
                                 "{group}, which this user is not in)", path=name,
                                 group=node.group),
                       Text("Add the user to group {group} (docker: --group-add {group}), or "
                            "run as a user that may open {path}", group=node.group, path=name),
                       code=f"{which}_not_readwrite")
    return list(found)


def _run_problem(run: RunResult, smi: str, timeout: float, driver_lib: str) -> Finding | None:
    if run.error:
        return _finding(Status.FAIL, Text("{smi} could not be run: {error}", smi=smi,
                                         error=run.error),
                       Text("Check that {smi} is an executable for this machine", smi=smi),
                       "mx_smi_not_runnable")
    if run.timed_out:
        seconds = f"{timeout:.1f}"
        return _finding(Status.FAIL, Text("{smi} -L did not answer within {seconds} s (killed, "
                                         "but still stuck in the kernel): the driver or a GPU "
                                         "is hung", smi=smi, seconds=seconds) if run.lingering
                       else Text("{smi} -L did not answer within {seconds} s (killed): the "
                                 "driver or a GPU is hung", smi=smi, seconds=seconds),
                       Text("Check dmesg for MetaX driver errors; reset or reboot the node"),
                       "mx_smi_hung")
    if run.too_large:
        return _finding(Status.FAIL, Text("{smi} -L printed more than 1 MiB: not mx-smi output",
                                         smi=smi),
                       Text("Check what {smi} is", smi=smi), "mx_smi_output_too_large")
    if run.returncode != 0:
        first = (run.stderr.strip() or run.stdout.strip()).splitlines()[:1]
        summary = (Text("{smi} -L failed (exit {code}): {said}", smi=smi, code=run.returncode,
                        said=_text(first[0])) if first else
                   Text("{smi} -L failed (exit {code})", smi=smi, code=run.returncode))
        if run.returncode == LOADER_EXIT:
            return _finding(Status.FAIL, summary,
                           Text("Put the driver's libraries on the loader path, e.g. "
                                "export LD_LIBRARY_PATH={path}:$LD_LIBRARY_PATH",
                                path=driver_lib), "mx_smi_libraries_missing")
        return _finding(Status.FAIL, summary,
                       Text("Check that the MetaX driver is loaded (lsmod | grep metax) and the "
                            "devices are passed to the container"), "mx_smi_failed")
    return None


def _listing_problems(listing: SmiListing) -> list[Finding]:
    if not listing.gpus and not listing.unparsed:
        return [_finding(Status.FAIL, Text("mx-smi -L lists no GPU"),
                        Text("Check that the MetaX driver sees the GPUs (dmesg, lspci | grep -i "
                             "metax)"), "no_gpu_listed")]
    bad = listing.unavailable
    if not bad:
        return []
    named = ", ".join(f"GPU#{g.index} ({_text(g.bus_id or g.model)}): {_text(g.state)}"
                      for g in bad[:8])
    counts = {"count": len(bad), "total": len(listing.gpus), "named": named}
    summary = (Text("{count} of {total} GPU(s) not available: {named} and {more} more",
                    more=len(bad) - 8, **counts) if len(bad) > 8 else
               Text("{count} of {total} GPU(s) not available: {named}", **counts))
    return [_finding(Status.FAIL, summary,
                    Text("Run `mx-smi --show-unavailable-reason`; check dmesg and that /sys is "
                         "visible to the container; reset the GPU or drain the node"),
                    "gpu_unavailable")]


def _visible_problems(value: str, listing: SmiListing | None, count: int | None,
                      render_count: int) -> list[Finding]:
    """MACA_VISIBLE_DEVICES against the GPUs present (by mx-smi, else by render nodes).

    How the MACA runtime parses the variable is UNCONFIRMED: we assume CUDA's rules.
    """
    parsed = parse_visible_devices(value)
    found = Findings()
    if parsed.empty:
        found.warn(Text("MACA_VISIBLE_DEVICES is set but empty: probably no GPU is visible "
                        "{unconfirmed}", unconfirmed=UNCONFIRMED),
                   "Unset MACA_VISIBLE_DEVICES or list GPU indices, e.g. "
                   "MACA_VISIBLE_DEVICES=0,1", code="visible_devices_empty")
        return list(found)
    total = count if count is not None else render_count
    source: str | Text = "mx-smi" if count is not None else Text("render nodes")
    out = [i for i in parsed.indices if i >= total]
    if out:
        named = ", ".join(map(str, out[:8]))
        found.fail(Text("MACA_VISIBLE_DEVICES names GPU index {named} but only {total} GPU(s) "
                        "exist (0..{last}, by {source})", named=named, total=total,
                        last=total - 1, source=source) if total else
                   Text("MACA_VISIBLE_DEVICES names GPU index {named} but no GPU is present "
                        "(by {source})", named=named, source=source),
                   Text("Use indices below {total}", total=total) if total else DOCKER_REMEDY,
                   code="visible_index_out_of_range")
    if parsed.uuids:
        known = {g.uuid for g in listing.gpus if g.uuid} if listing else set()
        unknown = [u for u in parsed.uuids if u not in known]
        if known and unknown:
            found.fail(Text("MACA_VISIBLE_DEVICES names {uuid}, which mx-smi does not list",
                            uuid=repr(unknown[0])),
                       "Use the UUIDs `mx-smi -L` prints, or indices",
                       code="visible_uuid_unknown")
        elif unknown:
            found.warn(Text("MACA_VISIBLE_DEVICES holds UUID-like entries ({uuid}) that "
                            "cannot be verified here; whether MACA accepts UUIDs is "
                            "UNCONFIRMED", uuid=repr(unknown[0])),
                       "Prefer GPU indices, e.g. MACA_VISIBLE_DEVICES=0,1",
                       code="visible_uuid_unverified")
    for problem in parsed.problems[:4]:
        found.warn(Text("MACA_VISIBLE_DEVICES: {problem} {unconfirmed}", problem=problem,
                        unconfirmed=UNCONFIRMED), "Write a plain comma "
                   "list of indices, e.g. MACA_VISIBLE_DEVICES=0,1",
                   code="visible_devices_malformed")
    if parsed.duplicates:
        found.warn(Text("MACA_VISIBLE_DEVICES lists {entry} twice {unconfirmed}",
                        entry=repr(parsed.duplicates[0]), unconfirmed=UNCONFIRMED),
                   "List each GPU once", code="visible_devices_duplicate")
    return list(found)


def _finding(status: Status, summary: Text, remedy: Text, code: str) -> Finding:
    """A Finding from templates (Findings.add turns Text into text and message)."""
    return Findings().add(status, summary, remedy, code=code)
