"""`sgdoctor mesh --group NAME --expect N`: prove the Gloo full mesh across the fleet.

Thin: options in, a run plan with the one check mesh.gloo (the rendezvous parameters as its
options) through the runner like any other, one report through the usual pipeline (every
--format, --output, exit codes); the table also draws the matrix.
"""

from __future__ import annotations

import dataclasses
import re
import signal
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sgdoctor.api import Text
from sgdoctor.cli_common import (
    ConfigOpt,
    FailOnOpt,
    FormatOpt,
    LangOpt,
    NoColorOpt,
    OutputOpt,
    build_request,
    emit,
    exit_code_for,
    utf8_stdout,
)
from sgdoctor.errors import ConfigError

if TYPE_CHECKING:
    from sgdoctor.plan import RunRequest
    from sgdoctor.report import Report
    from sgdoctor.runner import RunPlan

DEFAULT_TIMEOUT = "60s"
CHECK_ID = "mesh.gloo"


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
        config: ConfigOpt = None, no_color: NoColorOpt = False, lang: LangOpt = None,
    ) -> None:
        """Every node reaches every other over its Gloo interface (meeting in etcd)."""
        from sgdoctor.environ import snapshot
        from sgdoctor.parse.mesh import check_name

        env = snapshot()
        req = build_request(env, format=format, output=output, fail_on=fail_on,
                            timeout=timeout, config=config, no_color=no_color, lang=lang)
        name = name if name is not None else socket.gethostname()
        for value, what in ((group, "--group"), (name, "--name")):
            problem = check_name(value, what)
            if problem:
                raise ConfigError(problem)
        if not 1 <= expect <= 4096:
            raise ConfigError(Text("--expect {expect}: give the number of nodes (1 to 4096)",
                                   expect=expect))
        if not 0 <= port <= 65535:
            raise ConfigError(Text("--port {port}: choose 1-65535, or 0 for an ephemeral port",
                                   port=port))
        ttl = req.settings.get(CHECK_ID, {}).get("lease_ttl", 10)
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not 2 <= ttl <= 3600:
            raise ConfigError(Text('[checks."{check}"] lease_ttl = {ttl}: give whole seconds '
                                   "from 2 to 3600", check=CHECK_ID, ttl=repr(ttl)))
        report, signum = _run(env, req, group=group, name=name, expect=expect, port=port)
        from sgdoctor.report.matrix import matrix_text

        matrix = report.checks[0].details.get("matrix") or {}
        emit(report, req, trailer=matrix_text(matrix, unicode=utf8_stdout())
             if req.format == "table" else "")
        raise typer.Exit(exit_code_for(report, req, signum))


class _Signals:
    """SIGINT/SIGTERM while the mesh runs: remembered, and the check asked to stop (it then
    leaves the group cleanly); a second signal changes nothing (the cleanup is bounded)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def reason(self) -> str | None:
        return None if self.signum is None else \
            f"interrupted by {signal.Signals(self.signum).name}"

    def __enter__(self) -> _Signals:
        def handler(signum: int, frame: object) -> None:
            self.signum = self.signum or signum

        self._previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, old in self._previous.items():
            signal.signal(signum, old)


def _run(env: Mapping[str, str], req: RunRequest, *, group: str, name: str, expect: int,
         port: int) -> tuple[Report, int | None]:
    """mesh.gloo through the run plan: --timeout is its own limit as well as the run's, the
    rendezvous parameters are its options; the config's only/skip are `check`'s, not ours."""
    from sgdoctor import runner
    from sgdoctor.cli_common import plan_for
    from sgdoctor.registry import builtin_specs

    spec = next(s for s in builtin_specs() if s.id == CHECK_ID)
    settings = {**req.settings, CHECK_ID: {**req.settings.get(CHECK_ID, {}),
                                           "timeout": req.timeout}}
    mine = dataclasses.replace(req, only=(), skip=(), wait=None, settings=settings)
    with _Signals() as signals:
        plan = plan_for(mine, known=[spec], wait=False, extra_options={
            "group": group, "name": name, "expect": expect, "port": port,
            "settings": req.settings, "stop": signals.reason})
        result = runner.run(plan, env)
    return dataclasses.replace(result.report, hostname=name), signals.signum


# ---------------------------------------------------------------- the mesh at launch (exec)
DEFAULT_LAUNCH_TIMEOUT = "120s"   # pods of one deployment start minutes apart at worst
_GROUP_CHARS = re.compile(r"[^A-Za-z0-9._:@+-]")


@dataclasses.dataclass(frozen=True)
class LaunchMesh:
    """What `exec --mesh` decided: ``options`` for mesh.gloo (None: no mesh), or ``note``
    saying why the default stayed off."""

    options: Mapping[str, Any] | None
    timeout: float = 0.0
    note: Text | None = None


def launch_group(address: str) -> str:
    """A mesh group name from a --dist-init-addr (one etcd key segment)."""
    name = _GROUP_CHARS.sub("_", address).strip("_")[:128]
    return name if name and name[0].isalnum() else f"g{name}"[:128]


def _etcd_configured(env: Mapping[str, str]) -> bool:
    """ETCD_ENDPOINTS set, or Dynamo's default (localhost:2379) answers a TCP connect."""
    if env.get("ETCD_ENDPOINTS"):
        return True
    try:
        socket.create_connection(("localhost", 2379), timeout=0.5).close()
    except OSError:
        return False
    return True


def launch_mesh(launch: Mapping[str, Any], env: Mapping[str, str], req: RunRequest, *,
                mesh: bool | None, group: str | None, timeout: str | None) -> LaunchMesh:
    """Decide the mesh at launch from the parsed launch's options (nnodes, node_rank,
    dist_init_addr): on by default for --nnodes N > 1 with an etcd configured; ``mesh``
    True/False is --mesh/--no-mesh. Explicit --mesh without what it needs is a usage error;
    the default never blocks (a command line sgdoctor cannot read means no mesh)."""
    from sgdoctor.durations import parse_duration
    from sgdoctor.parse.mesh import check_name

    if mesh is False:
        return LaunchMesh(None)
    nnodes, rank = launch.get("nnodes"), launch.get("node_rank", 0)
    address = launch.get("dist_init_addr")
    if not (isinstance(nnodes, int) and nnodes > 1 and isinstance(rank, int)
            and 0 <= rank < nnodes):
        if mesh:
            raise ConfigError(Text("--mesh needs a launch with --nnodes N > 1 and a "
                                   "--node-rank below N"))
        return LaunchMesh(None)
    if group is not None:
        problem = check_name(group, "--mesh-group")
        if problem:
            raise ConfigError(problem)
    elif isinstance(address, str) and address:
        group = launch_group(address)
    elif mesh:
        raise ConfigError(Text("--mesh needs --mesh-group NAME (the launch has no "
                               "--dist-init-addr)"))
    else:
        return LaunchMesh(None, note=Text("mesh skipped: the launch has no --dist-init-addr "
                                          "to name the group (give --mesh-group NAME)"))
    if not mesh and not _etcd_configured(env):
        return LaunchMesh(None, note=Text("mesh skipped: no etcd configured (ETCD_ENDPOINTS "
                                          "unset and nothing answers on localhost:2379)"))
    limit = parse_duration(timeout or DEFAULT_LAUNCH_TIMEOUT, "--mesh-timeout")
    names = [f"rank{i}" for i in range(nnodes)]
    return LaunchMesh({"group": group, "name": names[rank], "expect": nnodes, "port": 0,
                       "expected_names": names, "settings": req.settings}, limit)


def with_mesh(plan: RunPlan, decided: LaunchMesh) -> RunPlan:
    """``plan`` with mesh.gloo added (whatever --only/--skip chose), its rendezvous options,
    and a run deadline that leaves it its own --mesh-timeout."""
    from sgdoctor.registry import builtin_specs

    if decided.options is None:
        return plan
    spec = next(s for s in builtin_specs() if s.id == CHECK_ID)
    settings = {**plan.settings, CHECK_ID: {**plan.settings.get(CHECK_ID, {}),
                                            "timeout": decided.timeout}}
    specs = tuple(s for s in plan.specs if s.id != CHECK_ID) + (spec,)
    return dataclasses.replace(plan, specs=specs, settings=settings,
                               timeout=max(plan.timeout, decided.timeout),
                               extra_options={**plan.extra_options, **decided.options})
