"""Per-check settings (`[checks."<id>"]` in the config file), validated once per plan.

One outcome for every bad setting: a ConfigError (exit 2) naming the check and the key,
with a "did you mean" when a known name is close. A check's own limits on a value (a
positive number, a plain file name) stay in the check; the key and its type are checked
here, before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sgdoctor.api import CheckSpec, Text
from sgdoctor.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Every check takes `timeout`: its own time limit in seconds, applied by the engine.
COMMON = {"timeout": float}


def did_you_mean(word: str, known: Iterable[str]) -> Text | str:
    """' (did you mean X?)' for the closest known word, else ''."""
    import difflib  # only a mistyped name needs it: not on every start

    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return Text(" (did you mean {word}?)", word=close[0]) if close else ""


_TYPE_NAMES = {str: Text("a string"), int: Text("a whole number"), float: Text("a number"),
               bool: Text("true or false"), list: Text("a list"), dict: Text("a table")}
_LIST_NAMES = {str: Text("a list of strings"), int: Text("a list of whole numbers"),
               float: Text("a list of numbers"), bool: Text("a list of booleans")}


def type_name(kind: Any) -> Text | str:
    if isinstance(kind, tuple):
        names = [type_name(k) for k in kind]
        joined = names[0]
        for name in names[1:]:
            joined = Text("{first} or {second}", first=joined, second=name)
        return joined
    if getattr(kind, "__origin__", None) is list:
        item = kind.__args__[0]
        return _LIST_NAMES.get(item) or Text("a list of {kind}", kind=type_name(item))
    return _TYPE_NAMES.get(kind) or str(getattr(kind, "__name__", kind))


def fits(value: Any, kind: Any) -> bool:
    """Whether a TOML value has the declared type (float takes an int; bool is no number)."""
    if isinstance(kind, tuple):
        return any(fits(value, k) for k in kind)
    if getattr(kind, "__origin__", None) is list:
        return isinstance(value, list) and all(fits(v, kind.__args__[0]) for v in value)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _where(check_id: str) -> str:
    return f'[checks."{check_id}"]'


def validate_section(spec: CheckSpec, section: Mapping[str, Any]) -> None:
    """Every key of one check's section is declared and has its declared type."""
    declared = {**COMMON, **dict(spec.settings or ())}
    for key, value in section.items():
        if key not in declared:
            if spec.settings is None:
                continue
            known = ", ".join(sorted(declared))
            raise ConfigError(Text("{where} {key}: unknown setting of {id}{hint}; it takes: "
                                   "{known}", where=_where(spec.id), key=key, id=spec.id,
                                   hint=did_you_mean(key, declared), known=known))
        kind = declared[key]
        if not fits(value, kind):
            raise ConfigError(Text("{where} {key} = {value}: expected {kind}",
                                   where=_where(spec.id), key=key, value=repr(value),
                                   kind=type_name(kind)))
        if key == "timeout" and not value > 0:
            raise ConfigError(Text("{where} timeout = {value}: expected a number of seconds "
                                   "above zero", where=_where(spec.id), value=repr(value)))


def validate(settings: Mapping[str, Mapping[str, Any]], specs: Sequence[CheckSpec],
             known_ids: Iterable[str] | None = None) -> None:
    """Sections of the given specs are valid; with `known_ids` (every check this host
    knows, selected or not) a section for an id that names no check is an error too."""
    by_id = {s.id: s for s in specs}
    if known_ids is not None:
        ids = set(known_ids) | set(by_id)
        for check_id in settings:
            if check_id not in ids:
                raise ConfigError(Text("{where}: no check has the id {id}{hint} (see "
                                       "`sgdoctor list`)", where=_where(check_id),
                                       id=repr(check_id), hint=did_you_mean(check_id, ids)))
    for check_id, section in settings.items():
        spec = by_id.get(check_id)
        if spec is not None:
            validate_section(spec, section)
