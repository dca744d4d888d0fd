"""The public plugin API: everything a check, built-in or third-party, may use.

A check is a function ``(ctx: Context) -> Result`` decorated with :func:`check`.
It never prints; it reads ``ctx.env`` (a frozen snapshot), probes through
``sgdoctor.probe`` with ``ctx.timeout(...)``-clamped timeouts, and returns a Result.
"""

from __future__ import annotations

import enum
import re
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Status", "Result", "Context", "CheckSpec", "CheckFunc", "check", "SPEC_ATTR"]

SPEC_ATTR = "__sgdoctor_check__"
_ID = re.compile(r"[A-Za-z0-9_.-]+")


class Status(str, enum.Enum):
    """A check's verdict; the string values are part of the JSON contract."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Result:
    """What a check found, and what to do about it."""

    status: Status
    summary: str
    remedy: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    env: tuple[str, ...] = ()

    @classmethod
    def _make(cls, status: Status, summary: str, remedy: str | None,
              details: Mapping[str, Any] | None, env: Iterable[str] | None) -> Result:
        return cls(status, summary, remedy, dict(details or {}), tuple(env or ()))

    @classmethod
    def ok(cls, summary: str, *, remedy: str | None = None,
           details: Mapping[str, Any] | None = None, env: Iterable[str] | None = None) -> Result:
        return cls._make(Status.OK, summary, remedy, details, env)

    @classmethod
    def warn(cls, summary: str, *, remedy: str | None = None,
             details: Mapping[str, Any] | None = None, env: Iterable[str] | None = None) -> Result:
        return cls._make(Status.WARN, summary, remedy, details, env)

    @classmethod
    def fail(cls, summary: str, *, remedy: str | None = None,
             details: Mapping[str, Any] | None = None, env: Iterable[str] | None = None) -> Result:
        return cls._make(Status.FAIL, summary, remedy, details, env)

    @classmethod
    def skip(cls, summary: str, *, remedy: str | None = None,
             details: Mapping[str, Any] | None = None, env: Iterable[str] | None = None) -> Result:
        return cls._make(Status.SKIP, summary, remedy, details, env)

    @classmethod
    def error(cls, summary: str, *, details: Mapping[str, Any] | None = None,
              env: Iterable[str] | None = None) -> Result:
        """For plugin authors who detect their own fault; the runner uses it for crashes."""
        return cls._make(Status.ERROR, summary, None, details, env)


# Probes stop this long before the deadline so a slow endpoint is reported as a
# fail of that endpoint, not as the runner giving up on the whole check.
DEADLINE_MARGIN = 0.15


class Context:
    """What a check may know about the run: the environment, settings, and time left."""

    def __init__(self, env: Mapping[str, str], *, deadline: float,
                 settings: Mapping[str, Any] | None = None,
                 options: Mapping[str, Any] | None = None) -> None:
        self.env: Mapping[str, str] = MappingProxyType(dict(env))
        self.deadline = deadline
        self.settings: Mapping[str, Any] = MappingProxyType(dict(settings or {}))
        self.options: Mapping[str, Any] = MappingProxyType(dict(options or {}))

    def remaining(self) -> float:
        """Seconds left before this check's deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    def timeout(self, wanted: float) -> float:
        """Clamp a network or subprocess timeout to the time this check has left."""
        return max(0.01, min(wanted, self.remaining() - DEADLINE_MARGIN))

    def setting(self, name: str, default: Any = None) -> Any:
        """A per-check setting from the config file (``[checks."<id>"]``)."""
        return self.settings.get(name, default)

    def derive(self, *, deadline: float, settings: Mapping[str, Any] | None = None) -> Context:
        return Context(self.env, deadline=deadline, settings=settings, options=self.options)


CheckFunc = Callable[[Context], Result]


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: its identity, what it reads, and how long it may take."""

    id: str
    title: str
    func: CheckFunc
    env: tuple[str, ...] = ()
    timeout: float = 5.0
    depends_on: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    explain: str = ""
    source: str = "built-in"

    def run(self, ctx: Context) -> Result:
        return self.func(ctx)


def _clean_doc(text: str) -> str:
    """Like inspect.cleandoc, without importing inspect on every start."""
    first, _, rest = text.expandtabs().partition("\n")
    return "\n".join(part for part in (first.strip(), textwrap.dedent(rest).strip()) if part)


def check(id: str, *, title: str, env: Iterable[str] = (), timeout: float = 5.0,
          depends_on: Iterable[str] = (), tags: Iterable[str] = (),
          explain: str | None = None) -> Callable[[CheckFunc], CheckFunc]:
    """Declare a check. ``explain`` (default: the docstring) feeds ``sgdoctor explain``."""

    if not _ID.fullmatch(id):
        raise ValueError(f"invalid check id {id!r}: use letters, digits, '.', '_' and '-' "
                         "(monitoring keys on ids)")

    def decorate(func: CheckFunc) -> CheckFunc:
        spec = CheckSpec(
            id=id, title=title, func=func, env=tuple(env), timeout=float(timeout),
            depends_on=tuple(depends_on), tags=tuple(tags),
            explain=_clean_doc(explain if explain is not None else (func.__doc__ or "")),
        )
        setattr(func, SPEC_ATTR, spec)
        return func

    return decorate
