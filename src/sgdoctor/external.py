"""Executables that speak the Nagios plugin protocol, run as checks.

Exit 0/1/2/3 means ok/warn/fail/error; the first stdout line is the summary and
perfdata after `|` becomes details, so Debian's monitoring-plugins work unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path

from sgdoctor.api import CheckSpec, Context, Result, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAGIOS_STATUS = {0: Status.OK, 1: Status.WARN, 2: Status.FAIL, 3: Status.ERROR}
OUTPUT_CAP = 64 * 1024
_PERF_ITEM = re.compile(r"""('[^']+'|[^\s=]+)=(\S+)""")
_PERF_VALUE = re.compile(r"^(-?[0-9.]+)([a-zA-Z%]*)$")


def parse_perfdata(text: str) -> dict[str, Any]:
    """`label=value[UOM];warn;crit;min;max` items, as the plugin guidelines define them."""
    perf: dict[str, Any] = {}
    for label, raw in _PERF_ITEM.findall(text):
        fields = raw.split(";")
        entry: dict[str, Any] = {"raw": raw}
        match = _PERF_VALUE.match(fields[0])
        if match:
            entry["value"] = float(match.group(1))
            if match.group(2):
                entry["uom"] = match.group(2)
        for key, value in zip(("warn", "crit", "min", "max"), fields[1:], strict=False):
            if value:
                entry[key] = value
        perf[label.strip("'")] = entry
    return perf


def run_plugin(path: Path, args: list[str], ctx: Context, timeout: float) -> Result:
    from sgdoctor.probe.process import run_bounded

    limit = ctx.timeout(timeout)
    run = run_bounded([str(path), *args], timeout=limit, env=ctx.env, max_bytes=OUTPUT_CAP,
                      contain=True)
    if run.error:
        return Result.error(f"cannot run plugin {path}: {run.error}")
    if run.timed_out:
        return Result.error(f"plugin {path.name} did not finish in {limit:.1f} s (killed)")
    if run.too_large:
        return Result.error(f"plugin {path.name} printed more than {OUTPUT_CAP >> 10} KiB "
                            "(killed); a Nagios plugin prints one status line")
    first = run.stdout.splitlines()[0] if run.stdout.strip() else ""
    summary, _, perf = first.partition("|")
    status = NAGIOS_STATUS.get(run.returncode) if run.returncode is not None else None
    details: dict[str, Any] = {"exit_code": run.returncode}
    if perf.strip():
        details["perfdata"] = parse_perfdata(perf)
    if status is None:
        summary = f"plugin {path.name} exited {run.returncode}, outside the Nagios range 0-3"
        status = Status.ERROR
    if not summary.strip():
        stderr_lines = run.stderr.strip().splitlines()
        summary = stderr_lines[0] if stderr_lines else f"plugin {path.name} printed nothing"
    return Result(status, summary.strip(), details=details)


def nagios_spec(path: Path) -> CheckSpec:
    """A check named `plugin.<file stem>`; arguments come from its config section."""

    def run(ctx: Context) -> Result:
        args = ctx.setting("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            return Result.error(f"setting args for plugin {path.name} must be a list of strings")
        return run_plugin(path, args, ctx, float(ctx.setting("timeout", 10.0)))

    return CheckSpec(
        id="plugin." + (re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem) or "_"),
        title=f"Plugin {path.name}", func=run, timeout=10.0,
        explain=f"Nagios-protocol plugin {path}: exit 0/1/2/3 maps to ok/warn/fail/error.",
        source=f"dir {path}", settings=(("args", list[str]),),
    )
