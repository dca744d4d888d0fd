"""From what the user asked (flags over the config file) to a RunPlan, below the CLI.

`build_request` merges flags over the config file into a RunRequest (what to run AND how
to show it); `make_plan` turns it into the runner's RunPlan: discovery, selection,
ignores and settings, validated once. Every mistake here is a ConfigError (exit 2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sgdoctor import config as config_mod
from sgdoctor.api import CheckSpec, Text
from sgdoctor.durations import parse_duration
from sgdoctor.errors import ConfigError, ProbeError
from sgdoctor.i18n import choose as choose_lang
from sgdoctor.records import dataclass, field
from sgdoctor.report import FORMATS
from sgdoctor.runner import FAIL_ON, RunPlan
from sgdoctor.selection import expand_ignores, select
from sgdoctor.settings import validate

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@dataclass(frozen=True)
class RunRequest:
    """Flags merged over the config file: everything one command needs."""

    format: str = "table"
    output: str | None = None
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    ignore: Mapping[str, str] = field(default_factory=dict)
    fail_on: str = "fail"
    timeout: float = 10.0
    checks_dirs: tuple[str, ...] = ()
    verbose: bool = False
    color: bool = True
    deep: bool = False
    wait: float | None = None
    interval: float = 2.0
    host_root: str | None = None
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    lang: str = "en"
    python: str | None = None  # the server's interpreter (probe.consumers), if not found
    consumers: Mapping[str, str] = field(default_factory=dict)  # config [consumers] pins

    @property
    def consumer_options(self) -> dict[str, Any]:
        """The ctx.options keys probe.consumers reads ("command" is exec's to add)."""
        options: dict[str, Any] = {"consumers": dict(self.consumers)} if self.consumers else {}
        if self.python:
            options["python"] = self.python
        return options

    @property
    def options(self) -> dict[str, Any]:
        """What checks see as ctx.options (the plan's, for callers without one)."""
        options: dict[str, Any] = {"verbose": self.verbose, "deep": self.deep}
        if self.host_root is not None:
            options["host_root"] = self.host_root
        return {**options, **self.consumer_options}


def _split(values: Sequence[str] | str | None) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [values]
    return tuple(part.strip() for v in values or () for part in str(v).split(",")
                 if part.strip())


def _ignores(items: Sequence[str]) -> dict[str, str]:
    result = {}
    for item in items:
        check_id, sep, reason = item.partition("=")
        if not sep or not check_id or not reason.strip():
            raise ConfigError(Text("--ignore {value}: expected ID=REASON", value=repr(item)))
        result[check_id] = reason.strip()
    return result


def _host_root(value: Any) -> str | None:
    if value is None:
        return None
    from sgdoctor.probe.hostroot import HostRoot

    try:
        return HostRoot.from_options({"host_root": value}).root
    except ProbeError as exc:
        raise ConfigError(Text("--host-root: {error}", error=str(exc))) from None


def build_request(env: Mapping[str, str], *, format: str | None = None,
                  output: str | None = None, only: Sequence[str] | None = None,
                  skip: Sequence[str] | None = None, ignore: Sequence[str] | None = None,
                  fail_on: str | None = None, timeout: str | None = None,
                  checks_dir: Sequence[str] | None = None, config: str | None = None,
                  verbose: bool = False, no_color: bool = False, deep: bool = False,
                  wait: str | None = None, interval: str | None = None,
                  host_root: str | None = None, lang: str | None = None,
                  python: str | None = None) -> RunRequest:
    """Flags win over the config file; None (or False) means "not given"."""
    file = config_mod.load(config, env)
    opts = file.options
    fmt = format or opts.get("format", "table")
    if fmt not in FORMATS:
        raise ConfigError(Text("--format {value}: choose one of {choices}", value=repr(fmt),
                               choices=", ".join(FORMATS)))
    if output == "":
        raise ConfigError(Text("--output needs a file name"))
    for option, given in (("--only", only), ("--skip", skip)):
        if given and not _split(given):
            raise ConfigError(Text("{option} needs at least one check id or glob",
                                   option=option))
    chosen_fail_on = fail_on or opts.get("fail_on", "fail")
    if chosen_fail_on not in FAIL_ON:
        raise ConfigError(Text("--fail-on {value}: choose warn or fail",
                               value=repr(chosen_fail_on)))
    dirs = opts.get("checks_dir", [])
    checks_dirs = tuple(checks_dir or ()) or tuple([dirs] if isinstance(dirs, str) else dirs)
    if not checks_dirs and env.get("SGDOCTOR_CHECKS_DIR"):
        checks_dirs = (env["SGDOCTOR_CHECKS_DIR"],)
    waited = wait if wait is not None else opts.get("wait")
    pins = opts.get("consumers", {})
    from sgdoctor.probe.consumers import CONSUMERS

    for name, version in pins.items():
        if name not in CONSUMERS or not isinstance(version, str) or not version.strip():
            raise ConfigError(Text('config [consumers] {name}: expected one of {names} = '
                                   '"<version>"', name=repr(name), names=", ".join(CONSUMERS)))
    return RunRequest(
        format=fmt,
        output=output or opts.get("output"),
        only=_split(only) or _split(opts.get("only")),
        skip=_split(skip) or _split(opts.get("skip")),
        ignore={**{str(k): str(v) for k, v in opts.get("ignore", {}).items()},
                **_ignores(list(ignore or ()))},
        fail_on=chosen_fail_on,
        timeout=parse_duration(timeout if timeout is not None else opts.get("timeout", 10),
                               "--timeout"),
        checks_dirs=checks_dirs,
        verbose=verbose or bool(opts.get("verbose", False)),
        color=not (no_color or "NO_COLOR" in env or opts.get("color") is False),
        deep=deep or bool(opts.get("deep", False)),
        wait=parse_duration(waited, "--wait") if waited is not None else None,
        interval=parse_duration(interval if interval is not None else opts.get("interval", 2),
                                "--interval"),
        host_root=_host_root(host_root if host_root is not None else opts.get("host_root")),
        settings=file.checks,
        lang=choose_lang(lang, opts.get("lang"), env),
        python=python or opts.get("python"),
        consumers={str(k): str(v).strip() for k, v in pins.items()},
    )


# Checks tagged so need the group's rendezvous: only `sgdoctor mesh` runs them.
RENDEZVOUS_TAG = "mesh"


def make_plan(req: RunRequest, *, known: Sequence[CheckSpec] | None = None,
              extra_options: Mapping[str, Any] | None = None,
              wait: bool = True, started: float | None = None) -> RunPlan:
    """Discover (unless `known` is given), select, expand ignores, validate settings.

    `known` is what --only/--skip/--ignore choose from: by default every discovered check
    but those needing the mesh rendezvous (`sgdoctor mesh` passes its own). A config
    section naming no check at all is an error either way. `started`: see RunPlan."""
    from sgdoctor.registry import discover

    discovered: Sequence[CheckSpec] | None = None
    if known is None:
        discovered = discover(req.checks_dirs, import_timeout=req.timeout)
        known = [s for s in discovered if RENDEZVOUS_TAG not in s.tags]
    chosen = select(known, req.only, req.skip)
    ids = {s.id for s in known}
    if any(check_id not in ids for check_id in req.settings):
        everything = discovered if discovered is not None else discover(req.checks_dirs)
        ids |= {s.id for s in everything}
    validate(req.settings, known, ids)
    return RunPlan(specs=tuple(chosen), timeout=req.timeout, settings=req.settings,
                   verbose=req.verbose, deep=req.deep, host_root=req.host_root,
                   extra_options={**req.consumer_options, **(extra_options or {})},
                   ignore=expand_ignores(known, req.ignore),
                   fail_on=req.fail_on, wait=req.wait if wait else None,
                   interval=req.interval, lang=req.lang, started=started)
