"""The public plugin API: everything a check, built-in or third-party, may use.

A check is a function ``(ctx: Context) -> Result`` decorated with :func:`check`.
It never prints; it reads ``ctx.env`` (a frozen snapshot), probes through
``sgdoctor.probe`` with ``ctx.timeout(...)``-clamped timeouts, and returns a Result.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType

from sgdoctor.errors import FailureKind, ProbeError
from sgdoctor.records import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Status", "Result", "Finding", "Message", "Text", "Findings", "Context", "CheckSpec",
           "CheckFunc", "check", "SPEC_ATTR", "SEVERITY", "FailureKind", "ProbeError",
           "SETTING_TYPES"]

SPEC_ATTR = "__sgdoctor_check__"
_ID = re.compile(r"[A-Za-z0-9_.-]+")
_CODE = re.compile(r"[a-z0-9_.-]+")


class Status(str, enum.Enum):
    """A check's verdict; the string values are part of the JSON contract."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


# A translatable text: its English template (the gettext msgid) and the named fields it is
# formatted with. Fields are values, paths, names, commands: never translated, except a
# field that is itself a Text (a clause reused in several templates).
Message = tuple[str, Mapping[str, "Any"]]  # "Any": typing is not imported at run time


def _english(template: str, fields: Mapping[str, Any] | None) -> str:
    return template.format(**fields) if fields else template


@dataclass(frozen=True)
class Text:
    """A template and its fields, English when formatted; reporters translate it.

    Give one as a summary or remedy (``found.fail(Text("no interface {name}", name=n),
    ...)``), or as a field of another Text for a clause shared by several messages."""

    msgid: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __init__(self, msgid: str, /, **fields: Any) -> None:
        object.__setattr__(self, "msgid", msgid)
        object.__setattr__(self, "fields", MappingProxyType(fields))

    def __str__(self) -> str:
        return _english(self.msgid, self.fields)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    @property
    def message(self) -> Message:
        return (self.msgid, self.fields)

    @classmethod
    def join(cls, sep: str, items: Iterable[str | Text]) -> Text:
        """Items joined by `sep`, each translated on its own (the template itself has no
        words, so it needs no translation)."""
        parts = {f"p{n}": item for n, item in enumerate(items)}
        return cls(sep.join("{" + name + "}" for name in parts), **parts)


def _message(text: str | Text | None, fields: Mapping[str, Any] | None
             ) -> tuple[str | None, Message | None]:
    """English text and message of a summary/remedy given as a Text, a template with
    `fields`, or plain text (its own msgid)."""
    if text is None or str(text) == "":
        return None, None
    if isinstance(text, Text):
        return str(text), text.message
    if fields is not None:
        return _english(text, fields), (text, fields)
    return text, (text, {})


@dataclass(frozen=True)
class Result:
    """What a check found, and what to do about it.

    `summary_parts`/`remedy_parts` are the templates and fields the English text was made
    from (folded summaries are joined by "; ", remedies by newlines): reporters translate
    them at render time. Without parts the English text itself is the msgid. Pass
    ``fields=`` to a constructor to make `summary` and `remedy` templates."""

    status: Status
    summary: str
    remedy: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    env: tuple[str, ...] = ()
    summary_parts: tuple[Message, ...] = field(default=(), compare=False, repr=False)
    remedy_parts: tuple[Message, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def _make(cls, status: Status, summary: str | Text, remedy: str | Text | None,
              details: Mapping[str, Any] | None, env: Iterable[str] | None,
              fields: Mapping[str, Any] | None = None) -> Result:
        if fields is None and not isinstance(summary, Text) and not isinstance(remedy, Text):
            return cls(status, summary, remedy, dict(details or {}), tuple(env or ()))
        parts = dict(fields) if fields is not None else None
        text, message = _message(summary, parts)
        remedy_text, remedy_message = _message(remedy, parts)
        return cls(status, text or "", remedy_text, dict(details or {}), tuple(env or ()),
                   (message,) if message else (), (remedy_message,) if remedy_message else ())

    @classmethod
    def ok(cls, summary: str | Text, *, remedy: str | Text | None = None,
           details: Mapping[str, Any] | None = None, env: Iterable[str] | None = None) -> Result:
        return cls._make(Status.OK, summary, remedy, details, env)

    @classmethod
    def warn(cls, summary: str | Text, *, remedy: str | Text | None = None,
             details: Mapping[str, Any] | None = None, env: Iterable[str] | None = None,
             fields: Mapping[str, Any] | None = None) -> Result:
        return cls._make(Status.WARN, summary, remedy, details, env, fields)

    @classmethod
    def fail(cls, summary: str | Text, *, remedy: str | Text | None = None,
             details: Mapping[str, Any] | None = None, env: Iterable[str] | None = None,
             fields: Mapping[str, Any] | None = None) -> Result:
        return cls._make(Status.FAIL, summary, remedy, details, env, fields)

    @classmethod
    def skip(cls, summary: str | Text, *, remedy: str | Text | None = None,
             details: Mapping[str, Any] | None = None, env: Iterable[str] | None = None,
             fields: Mapping[str, Any] | None = None) -> Result:
        return cls._make(Status.SKIP, summary, remedy, details, env, fields)

    @classmethod
    def error(cls, summary: str | Text, *, details: Mapping[str, Any] | None = None,
              env: Iterable[str] | None = None,
              fields: Mapping[str, Any] | None = None) -> Result:
        """For plugin authors who detect their own fault; the runner uses it for crashes."""
        return cls._make(Status.ERROR, summary, None, details, env, fields)


# How bad each status is when findings are folded into one verdict.
SEVERITY: Mapping[Status, int] = MappingProxyType(
    {Status.SKIP: 0, Status.OK: 1, Status.WARN: 2, Status.ERROR: 3, Status.FAIL: 4})


@dataclass(frozen=True)
class Finding:
    """One thing a check found. ``code`` is stable (monitoring keys on it), the text is not.

    With ``fields``, `summary` and `remedy` are given as templates ("{name} is down") and
    become the English text; either may also be a :class:`Text` with its own fields. The
    templates stay in `summary_message`/`remedy_message` for translation.
    """

    status: Status
    summary: str
    remedy: str | None = None
    code: str = "finding"
    fields: Mapping[str, Any] | None = field(default=None, compare=False)
    summary_message: Message = field(default=("", {}), compare=False, repr=False)
    remedy_message: Message | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not _CODE.fullmatch(self.code):
            raise ValueError(f"invalid finding code {self.code!r}: use a-z, 0-9, '_', '.', '-'")
        if self.summary_message[0]:
            return  # dataclasses.replace: already made
        fields = MappingProxyType(dict(self.fields)) if self.fields is not None else None
        summary, message = _message(self.summary, fields)
        remedy, remedy_message = _message(self.remedy, fields)
        for name, value in (("fields", fields), ("summary", summary or ""),
                            ("summary_message", message or ("", {})), ("remedy", remedy),
                            ("remedy_message", remedy_message)):
            object.__setattr__(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "status": self.status.value, "summary": self.summary,
                "remedy": self.remedy}


class Findings:
    """Many findings, one Result, by ONE policy for every check:

    the worst status wins; the summary is that status's summaries, in the order they were
    added, joined by "; "; the remedies of every finding worse than ok, worst first and
    de-duplicated, one per line; every finding is listed in ``details["findings"]``.
    With no finding worse than ok the result is ok with ``ok_summary``.
    """

    def __init__(self, items: Iterable[Finding] = ()) -> None:
        self._items: list[Finding] = list(items)

    def add(self, status: Status, summary: str | Text, remedy: str | Text | None = None, *,
            code: str = "finding", fields: Mapping[str, Any] | None = None) -> Finding:
        item = Finding(Status(status), summary, remedy or None, code,  # type: ignore[arg-type]
                       fields)
        self._items.append(item)
        return item

    def ok(self, summary: str | Text, *, code: str = "ok",
           fields: Mapping[str, Any] | None = None) -> Finding:
        return self.add(Status.OK, summary, code=code, fields=fields)

    def warn(self, summary: str | Text, remedy: str | Text | None = None, *, code: str,
             fields: Mapping[str, Any] | None = None) -> Finding:
        return self.add(Status.WARN, summary, remedy, code=code, fields=fields)

    def fail(self, summary: str | Text, remedy: str | Text | None = None, *, code: str,
             fields: Mapping[str, Any] | None = None) -> Finding:
        return self.add(Status.FAIL, summary, remedy, code=code, fields=fields)

    def extend(self, items: Iterable[Finding]) -> None:
        self._items.extend(items)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def worst(self) -> Status:
        return max((f.status for f in self._items), key=SEVERITY.__getitem__, default=Status.OK)

    def problems(self) -> list[Finding]:
        """Findings worse than ok, worst first (stable within one status)."""
        bad = [f for f in self._items if SEVERITY[f.status] > SEVERITY[Status.OK]]
        return sorted(bad, key=lambda f: -SEVERITY[f.status])

    def result(self, ok_summary: str | Text, *, details: Mapping[str, Any] | None = None,
               env: Iterable[str] | None = None, ok_remedy: str | Text | None = None,
               ok_fields: Mapping[str, Any] | None = None) -> Result:
        """``ok_fields`` makes `ok_summary` (and `ok_remedy`) templates, as ``fields`` does."""
        merged = dict(details or {})
        merged["findings"] = [f.as_dict() for f in self._items]
        worst = self.worst
        if SEVERITY[worst] <= SEVERITY[Status.OK]:
            return Result._make(Status.OK, ok_summary, ok_remedy, merged, env, ok_fields)
        chosen = [f for f in self._items if f.status is worst]
        remedies = {f.remedy: f.remedy_message for f in self.problems()
                    if f.remedy and f.remedy_message}
        return Result(worst, "; ".join(f.summary for f in chosen),
                      "\n".join(remedies) or None, merged, tuple(env or ()),
                      tuple(f.summary_message for f in chosen), tuple(remedies.values()))


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

# What a setting may be declared as: one of these types (float also takes an int), list[T]
# of one of the scalars (a list whose items are all T), or a tuple of those (any of them).
SETTING_TYPES: tuple[type, ...] = (str, int, float, bool, list, dict)
_SCALARS = (str, int, float, bool)


def _declared_type(kind: Any) -> bool:
    if isinstance(kind, tuple):
        return bool(kind) and all(_declared_type(k) and not isinstance(k, tuple) for k in kind)
    if getattr(kind, "__origin__", None) is list:
        args: tuple[Any, ...] = getattr(kind, "__args__", ())
        return len(args) == 1 and args[0] in _SCALARS
    return kind in SETTING_TYPES


def _settings(declared: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...] | None:
    if declared is None:
        return None
    for name, kind in declared.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"setting name {name!r} must be a non-empty string")
        if not _declared_type(kind):
            raise ValueError(f"setting {name!r}: declare str, int, float, bool, list, dict, "
                             f"list[str] (or another scalar) or a tuple of them, not {kind!r}")
    return tuple(declared.items())


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
    # (name, type) of every setting the check reads; None: not declared (any key passes).
    settings: tuple[tuple[str, Any], ...] | None = None

    def run(self, ctx: Context) -> Result:
        return self.func(ctx)


def _clean_doc(text: str) -> str:
    """Like inspect.cleandoc, without importing inspect (or textwrap) on every start."""
    first, _, rest = text.expandtabs().partition("\n")
    lines = rest.split("\n")
    cut = min((len(line) - len(line.lstrip(" \t")) for line in lines if line.strip(" \t")),
              default=0)   # textwrap.dedent's common margin, once tabs are expanded
    body = "\n".join(line[cut:] if line.strip(" \t") else "" for line in lines)
    return "\n".join(part for part in (first.strip(), body.strip()) if part)


def check(id: str, *, title: str, env: Iterable[str] = (), timeout: float = 5.0,
          depends_on: Iterable[str] = (), tags: Iterable[str] = (),
          explain: str | None = None,
          settings: Mapping[str, Any] | None = None) -> Callable[[CheckFunc], CheckFunc]:
    """Declare a check. ``explain`` (default: the docstring) feeds ``sgdoctor explain``.

    ``settings`` names the keys of its config section (``[checks."<id>"]``) with their
    types, e.g. ``{"libraries": list[str], "maca_dir": str}``; ``timeout`` is always
    accepted. The runner validates them once: an unknown key or a wrong type is a usage
    error (exit 2) naming the check and the key. Without a declaration any key passes.
    """

    if not _ID.fullmatch(id):
        raise ValueError(f"invalid check id {id!r}: use letters, digits, '.', '_' and '-' "
                         "(monitoring keys on ids)")
    declared = _settings(settings)

    def decorate(func: CheckFunc) -> CheckFunc:
        spec = CheckSpec(
            id=id, title=title, func=func, env=tuple(env), timeout=float(timeout),
            depends_on=tuple(depends_on), tags=tuple(tags),
            explain=_clean_doc(explain if explain is not None else (func.__doc__ or "")),
            settings=declared,
        )
        setattr(func, SPEC_ATTR, spec)
        return func

    return decorate
