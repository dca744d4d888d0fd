"""``dataclass`` as the standard library makes it, at less than half the start-up cost.

The standard library writes every generated method as source and compiles it; for a frozen
class that is six compilations (``__init__``, ``__repr__``, ``__eq__``, ``__hash__``,
``__setattr__``, ``__delattr__``), about half a millisecond, and a run imports about a
hundred such classes before it checks anything. Here the standard library still makes the
class, its fields and its ``__init__``; ``__repr__``, ``__eq__`` and ``__hash__`` are
closures over the fields instead, with the standard library's own rules (which fields take
part, when ``__hash__`` is added, set to None or left alone), and ``__dataclass_params__``
says what was asked for. A frozen class's ``__setattr__`` and ``__delattr__`` guards (two of
its three compilations) are closures too, the standard library's own code: while it makes one
of our classes it is handed them in place of its private ``_frozen_get_del_attr`` (Python
3.10 to 3.12, whose signature that is; elsewhere it compiles them itself).

Only ``frozen`` and ``eq`` are taken here; any other option goes to the standard library
unchanged. Type checkers see the standard library's decorator.
"""

from __future__ import annotations

import dataclasses
import reprlib
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

__all__ = ["dataclass", "field"]

_OURS = frozenset({"frozen", "eq"})


def _repr_of(names: tuple[str, ...]) -> Callable[[Any], str]:
    @reprlib.recursive_repr()
    def __repr__(self: Any) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{self.__class__.__qualname__}({shown})"

    return __repr__


def _eq_of(names: tuple[str, ...]) -> Callable[[Any, Any], Any]:
    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return (tuple(getattr(self, name) for name in names)
                    == tuple(getattr(other, name) for name in names))
        return NotImplemented

    return __eq__


def _hash_of(names: tuple[str, ...]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:
        return hash(tuple(getattr(self, name) for name in names))

    return __hash__


def _frozen_guards(cls: type, fields: list[dataclasses.Field[Any]],
                   globals: dict[str, Any]) -> tuple[Callable[..., None], Callable[..., None]]:
    """The standard library's frozen ``__setattr__`` and ``__delattr__``, uncompiled."""
    names = tuple(f.name for f in fields)
    owner: Any = cls
    frozen_error = dataclasses.FrozenInstanceError

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is owner or name in names:
            raise frozen_error(f"cannot assign to field {name!r}")
        super(owner, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is owner or name in names:
            raise frozen_error(f"cannot delete field {name!r}")
        super(owner, self).__delattr__(name)

    return __setattr__, __delattr__


_STDLIB_GUARDS = (getattr(dataclasses, "_frozen_get_del_attr", None)
                  if (3, 10) <= sys.version_info[:2] <= (3, 12) else None)
_GUARDS_LOCK = threading.Lock()


def _stdlib_class(cls: type, frozen: bool) -> Any:
    if not frozen or _STDLIB_GUARDS is None:
        return dataclasses.dataclass(cls, frozen=frozen, repr=False, eq=False)
    with _GUARDS_LOCK:  # another thread's dataclass in this window gets the same guards
        vars(dataclasses)["_frozen_get_del_attr"] = _frozen_guards
        try:
            return dataclasses.dataclass(cls, frozen=True, repr=False, eq=False)
        finally:
            vars(dataclasses)["_frozen_get_del_attr"] = _STDLIB_GUARDS


def _set_new(cls: type, name: str, value: Any) -> None:
    """As the standard library does: a method the class defines itself is kept."""
    if name not in cls.__dict__:
        value.__qualname__ = f"{cls.__qualname__}.{name}"
        setattr(cls, name, value)


def _process(cls: type, frozen: bool, eq: bool) -> type:
    own_hash = cls.__dict__.get("__hash__", dataclasses.MISSING)
    explicit_hash = not (own_hash is dataclasses.MISSING
                         or (own_hash is None and "__eq__" in cls.__dict__))
    made = _stdlib_class(cls, frozen)
    params = made.__dataclass_params__
    params.repr, params.eq = True, eq
    fields = dataclasses.fields(made)
    _set_new(made, "__repr__", _repr_of(tuple(f.name for f in fields if f.repr)))
    if eq:
        _set_new(made, "__eq__", _eq_of(tuple(f.name for f in fields if f.compare)))
        if not explicit_hash:  # the standard library's _hash_action, for unsafe_hash=False
            if frozen:
                made.__hash__ = _hash_of(tuple(
                    f.name for f in fields if (f.compare if f.hash is None else f.hash)))
                made.__hash__.__qualname__ = f"{made.__qualname__}.__hash__"
            else:
                made.__hash__ = None
    return made


def _dataclass(cls: type | None = None, /, **options: Any) -> Any:
    if set(options) - _OURS:
        return dataclasses.dataclass(cls, **options) if cls is not None else \
            dataclasses.dataclass(**options)
    frozen, eq = bool(options.get("frozen", False)), bool(options.get("eq", True))

    def wrap(klass: type) -> type:
        return _process(klass, frozen, eq)

    return wrap if cls is None else wrap(cls)


if TYPE_CHECKING:
    from dataclasses import dataclass, field
else:
    dataclass = _dataclass
    field = dataclasses.field
