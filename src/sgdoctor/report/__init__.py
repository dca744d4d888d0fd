"""The report: what every format renders. Built once, redacted once, never probed again.

Reporters (one per file here) share one interface, :class:`Reporter`, and one registry,
:func:`reporter`: the CLI, `serve` and `exec` all render through it. A format's module is
imported only when that format is used (the table's rich is slow to import).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, Mapping

from sgdoctor import __version__
from sgdoctor.api import Message, Status, Text
from sgdoctor.engine import Outcome
from sgdoctor.records import dataclass, field
from sgdoctor.redact import Redactor

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from sgdoctor.probe.consumers import Consumers

SCHEMA_VERSION = 1
# The formats a user can ask for (--format, serve's ?format=), in the order help lists them.
FORMATS = ("table", "json", "prometheus", "junit", "nagios")
# Every reporter: format name -> module under sgdoctor.report ("lines": exec's log lines).
_MODULES = {"table": "table", "json": "json", "prometheus": "prometheus", "junit": "junit",
            "nagios": "nagios", "lines": "lines"}
ORDER = (Status.OK, Status.WARN, Status.FAIL, Status.SKIP, Status.ERROR)


@dataclass(frozen=True)
class CheckReport:
    id: str
    title: str
    status: Status
    summary: str
    remedy: str | None
    env: list[str]
    details: dict[str, Any]
    duration_ms: float
    ignored: dict[str, str] | None = None
    # The templates and fields of summary and remedy (api.Result), for a translated render;
    # never in the JSON.
    summary_parts: tuple[Message, ...] = field(default=(), compare=False, repr=False)
    remedy_parts: tuple[Message, ...] = field(default=(), compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id, "title": self.title, "status": self.status.value,
            "summary": self.summary, "remedy": self.remedy, "env": self.env,
            "details": self.details, "duration_ms": round(self.duration_ms, 3),
        }
        if self.ignored:
            doc["ignored"] = self.ignored
        return doc


@dataclass(frozen=True)
class Report:
    hostname: str
    started_at: float
    duration_ms: float
    checks: list[CheckReport] = field(default_factory=list)
    # probe.consumers: name -> {version, where} or None; the interpreter they are of, how it
    # was chosen, and why its packages could not be read (the table's footer says all three)
    consumers: Mapping[str, Any] | None = None
    server_python: str | None = None
    server_how: str | None = None
    consumers_error: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in ORDER}
        for c in self.checks:
            counts[c.status.value] += 1
        return counts

    @property
    def status(self) -> Status:
        found = {c.status for c in self.checks}
        for status in (Status.FAIL, Status.ERROR, Status.WARN):
            if status in found:
                return status
        return Status.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "sgdoctor", "version": __version__},
            "host": {"hostname": self.hostname},
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
            "duration_ms": round(self.duration_ms, 3),
            "status": self.status.value,
            "counts": self.counts,
            "checks": [c.to_dict() for c in self.checks],
            **({"consumers": dict(self.consumers)} if self.consumers is not None else {}),
        }


def _redacted(redact: Redactor, parts: Iterable[Message]) -> tuple[Message, ...]:
    def fields(values: Mapping[str, Any]) -> dict[str, Any]:
        return {k: Text(v.msgid, **fields(v.fields)) if isinstance(v, Text) else redact.any(v)
                for k, v in values.items()}

    return tuple((msgid, fields(values)) for msgid, values in parts)


def build_report(outcomes: Iterable[Outcome], env: Mapping[str, str], *, started_at: float,
                 duration_ms: float, consumers: Consumers | None = None) -> Report:
    """Turn outcomes into a report, masking every secret on the way (design.md: Secrets)."""
    redact = Redactor(env)
    checks = [
        CheckReport(
            id=o.spec.id, title=redact.text(o.spec.title), status=o.result.status,
            summary=redact.text(o.result.summary),
            remedy=redact.text(o.result.remedy) if o.result.remedy else None,
            env=list(o.env), details=redact.any(dict(o.result.details)),
            duration_ms=o.duration_ms, ignored=redact.any(o.ignored) if o.ignored else None,
            summary_parts=_redacted(redact, o.result.summary_parts),
            remedy_parts=_redacted(redact, o.result.remedy_parts),
        )
        for o in outcomes
    ]
    import socket

    return Report(socket.gethostname(), started_at, duration_ms, checks,
                  redact.any(consumers.as_json()) if consumers else None,
                  redact.text(consumers.python) if consumers and consumers.python else None,
                  redact.text(consumers.how) if consumers else None,
                  redact.text(consumers.error.message) if consumers and consumers.error else None)


@dataclass(frozen=True)
class RenderOptions:
    """How to show a report: the gate (`fail_on`), colour, `verbose` (the table lists
    skipped checks in full), the terminal's `width` (None: the reporter's default) and
    whether the output can carry non-ASCII glyphs; `lang` is the language of the human
    formats (table, Nagios, JUnit); JSON and Prometheus stay English and only say it."""

    fail_on: str = "fail"
    color: bool = False
    verbose: bool = False
    width: int | None = None
    unicode: bool = True
    lang: str = "en"


def _default_exit(report: Report, options: RenderOptions) -> int:
    return exit_code(report, options.fail_on)


@dataclass(frozen=True)
class Reporter:
    """One output format: its name, HTTP content type, how to render a report, and the
    exit code a report means in this format (design.md's, or Nagios' for nagios)."""

    name: str
    content_type: str
    render: Callable[[Report, RenderOptions], str]
    exit_code: Callable[[Report, RenderOptions], int] = _default_exit


def reporter(name: str) -> Reporter:
    """The registered reporter for a format name; KeyError for an unknown one."""
    module = importlib.import_module(f"sgdoctor.report.{_MODULES[name]}")
    found: Reporter = module.REPORTER
    return found


def render(report: Report, name: str, options: RenderOptions | None = None) -> str:
    return reporter(name).render(report, options or RenderOptions())


def exit_code(report: Report, fail_on: str = "fail") -> int:
    """design.md's exit codes: 1 any fail (or warn with --fail-on warn), else 3 on error."""
    counts = report.counts
    if counts["fail"] or (fail_on == "warn" and counts["warn"]):
        return 1
    if counts["error"]:
        return 3
    return 0

