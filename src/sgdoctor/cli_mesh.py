"""`sgdoctor mesh --group NAME --expect N`: prove the Gloo full mesh across the fleet.

Thin: options in, sgdoctor.mesh runs, one `mesh.gloo` result goes through the usual report
pipeline (every --format, --output, exit codes); the table also draws the matrix.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from sgdoctor.cli_common import (
    ConfigOpt,
    FailOnOpt,
    FormatOpt,
    NoColorOpt,
    OutputOpt,
    build_request,
    emit,
    exit_code_for,
    utf8_stdout,
)
from sgdoctor.errors import ConfigError

DEFAULT_TIMEOUT = "60s"


def register(app: typer.Typer) -> None:
    @app.command("mesh")
    def mesh_command(
        group: Annotated[str, typer.Option(
            "--group", help="The deployment's name: every node of it runs with the same one.")],
        expect: Annotated[int, typer.Option(
            "--expect", help="How many nodes the group has (this one included).")],
        timeout: Annotated[str, typer.Option(
            "--timeout", help="Deadline for the whole run: joining, dialling, reporting "
                              f"(default {DEFAULT_TIMEOUT}).")] = DEFAULT_TIMEOUT,
        port: Annotated[int, typer.Option(
            "--port", help="TCP port to listen on at the Gloo address (default: ephemeral).")
        ] = 0,
        name: Annotated[str | None, typer.Option(
            "--name", help="This node's name in the group (default: the hostname; must be "
                           "unique in the group).")] = None,
        format: FormatOpt = None, output: OutputOpt = None, fail_on: FailOnOpt = None,
        config: ConfigOpt = None, no_color: NoColorOpt = False,
    ) -> None:
        """Every node reaches every other over its Gloo interface (meeting in etcd)."""
        from sgdoctor.parse.mesh import check_name

        env = dict(os.environ)
        req = build_request(env, format=format, output=output, fail_on=fail_on,
                            timeout=timeout, config=config, no_color=no_color)
        name = name if name is not None else socket.gethostname()
        for value, what in ((group, "--group"), (name, "--name")):
            problem = check_name(value, what)
            if problem:
                raise ConfigError(problem)
        if not 1 <= expect <= 4096:
            raise ConfigError(f"--expect {expect}: give the number of nodes (1 to 4096)")
        if not 0 <= port <= 65535:
            raise ConfigError(f"--port {port}: choose 1-65535, or 0 for an ephemeral port")
        ttl = req.settings.get("mesh.gloo", {}).get("lease_ttl", 10)
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not 2 <= ttl <= 3600:
            raise ConfigError(f'[checks."mesh.gloo"] lease_ttl = {ttl!r}: give whole seconds '
                              "from 2 to 3600")
        report, signum = _run(env, req, group=group, name=name, expect=expect, port=port)
        matrix = report.checks[0].details.get("matrix") or {}
        emit(report, req, trailer=matrix_text(matrix, unicode=utf8_stdout())
             if req.format == "table" else "")
        raise typer.Exit(exit_code_for(report, req, signum))


def _run(env: dict[str, str], req: Any, *, group: str, name: str, expect: int,
         port: int) -> tuple[Any, int | None]:
    from sgdoctor import mesh, waiting
    from sgdoctor.api import SPEC_ATTR, Context
    from sgdoctor.report import build_report
    from sgdoctor.runner import Outcome

    spec = getattr(mesh.mesh_gloo, SPEC_ATTR)
    started_wall, started = time.time(), time.monotonic()
    ctx = Context(env, deadline=started + req.timeout, settings=req.settings.get(spec.id, {}),
                  options={"group": group, "name": name, "expect": expect, "port": port,
                           "settings": req.settings})
    restore = waiting.raise_on_signals()
    try:
        result, signum = mesh.run(ctx)
    finally:
        restore()
    duration = (time.monotonic() - started) * 1000
    outcome = Outcome(spec, result, duration, env=tuple(dict.fromkeys([*spec.env,
                                                                        *result.env])))
    report = build_report([outcome], env, started_at=started_wall, duration_ms=duration)
    return dataclasses.replace(report, hostname=name), signum


def matrix_text(matrix: Mapping[str, Mapping[str, Any]], *, unicode: bool = True) -> str:
    """Rows: the dialling node; columns: the node dialled; cells: RTT in ms, ✗ or ?."""
    names = sorted(set(matrix) | {n for row in matrix.values() for n in row})
    if len(names) < 2:
        return ""
    bad, unknown, self_cell = ("✗", "?", "—") if unicode else ("x", "?", "-")
    cells = [[self_cell if src == dst else _cell(matrix.get(src, {}).get(dst), bad, unknown)
              for dst in names] for src in names]
    width = max(len(n) for n in names)
    col = max(width, *(len(c) for row in cells for c in row))
    arrow = "→" if unicode else "->"
    lines = ["", f"Gloo reachability (row {arrow} column: round trip in ms; {bad} cannot "
                 f"connect, {unknown} no result)",
             " " * width + "  " + "  ".join(n.rjust(col) for n in names)]
    for src, row in zip(names, cells, strict=True):
        lines.append(src.ljust(width) + "  " + "  ".join(c.rjust(col) for c in row))
    return "\n".join(lines) + "\n"


def _cell(value: Any, bad: str, unknown: str) -> str:
    if not isinstance(value, Mapping):
        return unknown
    rtt = value.get("rtt_ms")
    return f"{rtt:.2f}" if isinstance(rtt, (int, float)) else bad
