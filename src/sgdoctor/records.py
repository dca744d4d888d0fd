"""``dataclass`` as the standard library makes it, without compiling anything at start-up.

The standard library writes every generated method as source and compiles it (``__init__``,
and for a frozen class ``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__`` and
``__delattr__``), about half a millisecond a class, and importing it imports ``inspect``
(with ``ast``, ``dis`` and ``tokenize``): a run makes about a hundred such classes before it
checks anything. Here every method is a closure over the fields, with the standard library's
rules: which fields take part, the order of fields across bases, defaults and factories,
``__post_init__``, when ``__hash__`` is added, set to None or left alone, the frozen guards
and their ``FrozenInstanceError``.

What only tools read is made when first read, by the standard library itself:
``__dataclass_fields__`` (so ``dataclasses.fields``, ``asdict``, ``replace`` and a standard
dataclass inheriting from ours work) and the generated ``__doc__`` of a class without one.

Only ``frozen`` and ``eq`` are taken here; any other option, and the InitVar and KW_ONLY
pseudo-fields, go to the standard library unchanged. Type checkers see the standard
library's decorator.
"""

from __future__ import annotations

import sys
from _thread import get_ident
from collections.abc import Callable

TYPE_CHECKING = False

__all__ = ["dataclass", "field", "replace"]

_OURS = frozenset({"frozen", "eq"})
_FIELDS = "_sgdoctor_fields"    # the class's own Fields, bases included, in order


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Field:
    """What ``field()`` says about one attribute; ``classvar`` marks a ClassVar."""

    __slots__ = ("name", "type", "default", "default_factory", "init", "repr", "hash",
                 "compare", "metadata", "classvar")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING,
                 init: bool = True, repr: bool = True, hash: bool | None = None,
                 compare: bool = True, metadata: Any = None) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name: str = ""
        self.type: Any = None
        self.default, self.default_factory = default, default_factory
        self.init, self.repr, self.hash, self.compare = init, repr, hash, compare
        self.metadata, self.classvar = metadata, False


def _field(*, default: Any = MISSING, default_factory: Any = MISSING, init: bool = True,
          repr: bool = True, hash: bool | None = None, compare: bool = True,
          metadata: Any = None) -> Any:
    return Field(default, default_factory, init, repr, hash, compare, metadata)


def _stdlib_field() -> type | None:
    """The standard library's Field class, if anything imported dataclasses (else no value
    in a class body can be one); None too while another thread imports it."""
    return getattr(sys.modules.get("dataclasses"), "Field", None)


def _from_stdlib(value: Any, kind: type | None) -> Field | None:
    """A ``dataclasses.field()`` written in a class body, as our Field (None: not one);
    ``kind`` is _stdlib_field()."""
    if kind is None or not isinstance(value, kind):
        return None
    std: Any = sys.modules["dataclasses"]
    theirs: Any = value
    default, factory = (MISSING if x is std.MISSING else x
                        for x in (theirs.default, theirs.default_factory))
    return Field(default, factory, theirs.init, theirs.repr, theirs.hash, theirs.compare,
                 theirs.metadata)


def _to_stdlib(f: Field) -> Any:
    """Our Field as the standard library's ``field()`` makes it (imports dataclasses)."""
    import dataclasses

    def theirs(value: Any) -> Any:
        return dataclasses.MISSING if value is MISSING else value

    return dataclasses.field(default=theirs(f.default),
                             default_factory=theirs(f.default_factory), init=f.init,
                             repr=f.repr, hash=f.hash, compare=f.compare, metadata=f.metadata)


def _is_classvar(annotation: Any) -> bool:
    if isinstance(annotation, str):
        if "ClassVar" not in annotation:
            return False
        head = annotation.strip()
        for prefix in ("typing.ClassVar", "ClassVar"):
            if head.startswith(prefix) and head[len(prefix):len(prefix) + 1] in ("", "["):
                return True
        return False
    typing = sys.modules.get("typing")
    return typing is not None and (annotation is typing.ClassVar or
                                   getattr(annotation, "__origin__", None) is typing.ClassVar)


def _pseudo(annotation: Any) -> bool:
    """InitVar or KW_ONLY: left to the standard library."""
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return "InitVar" in text or "KW_ONLY" in text


def _collect(cls: type) -> list[Field] | None:
    """The fields as the standard library orders them; None: a shape we leave to it."""
    fields: dict[str, Field] = {}
    for base in cls.__mro__[-1:0:-1]:
        if "__dataclass_fields__" in base.__dict__ and _FIELDS not in base.__dict__:
            return None   # a base the standard library made
        for f in base.__dict__.get(_FIELDS, ()):
            fields[f.name] = f
    annotations = cls.__dict__.get("__annotations__", {})
    std = _stdlib_field()
    for name, annotation in annotations.items():
        if _pseudo(annotation):
            return None
        value = cls.__dict__.get(name, MISSING)
        f = value if isinstance(value, Field) else _from_stdlib(value, std)
        declared = f is not None
        if f is None:
            f = Field(default=value)
        f.name, f.type, f.classvar = name, annotation, _is_classvar(annotation)
        if f.classvar:
            if f.default_factory is not MISSING:
                raise TypeError(f"field {name} cannot have a default factory")
        elif f.default is not MISSING and type(f.default).__hash__ is None:
            raise ValueError(f"mutable default {type(f.default)} for field {name} is not "
                             "allowed: use default_factory")
        fields[name] = f
        if declared:   # as the standard library: the class attribute becomes the default
            if f.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
    for name, value in cls.__dict__.items():
        if (isinstance(value, Field) or _from_stdlib(value, std) is not None) and \
                name not in annotations:
            raise TypeError(f"{name!r} is a field but has no type annotation")
    return list(fields.values())


def _init_of(cls: type, fields: list[Field]) -> Callable[..., None]:
    params = [f for f in fields if f.init and not f.classvar]
    names = tuple(f.name for f in params)
    seen_default = False
    for f in params:
        has = f.default is not MISSING or f.default_factory is not MISSING
        if seen_default and not has:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
        seen_default = seen_default or has
    count = len(names)
    known = frozenset(names)
    factories = tuple((f.name, f.default_factory) for f in params
                      if f.default_factory is not MISSING)
    later = tuple((f.name, f.default, f.default_factory) for f in fields
                  if not f.init and not f.classvar and
                  (f.default is not MISSING or f.default_factory is not MISSING))
    defaults = {f.name: f.default for f in params if f.default is not MISSING}
    required = count - len(defaults) - len(factories)
    post_init = getattr(cls, "__post_init__", None) is not None

    def bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if len(args) > count:
            takes = (f"{count + 1}" if required == count else
                     f"from {required + 1} to {count + 1}")
            raise TypeError(f"__init__() takes {takes} positional arguments but "
                            f"{len(args) + 1} were given")
        values = dict(zip(names, args, strict=False))
        if known.issuperset(kwargs) and values.keys().isdisjoint(kwargs):
            values.update(kwargs)
        else:   # say what is wrong, in the order the arguments came
            for key, value in kwargs.items():
                if key not in known:
                    raise TypeError(f"__init__() got an unexpected keyword argument {key!r}")
                if key in values:
                    raise TypeError(f"__init__() got multiple values for argument {key!r}")
                values[key] = value
        if len(values) == count:
            return values
        for name, factory in factories:
            if name not in values:
                values[name] = factory()
        missing = [n for n in names if n not in values and n not in defaults]
        if missing:
            listed = " and ".join(", ".join(repr(n) for n in missing).rsplit(", ", 1))
            raise TypeError(f"__init__() missing {len(missing)} required positional "
                            f"argument{'s' if len(missing) > 1 else ''}: {listed}")
        for name in names:
            if name not in values:
                values[name] = defaults[name]
        return values

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if kwargs or len(args) != count:   # (every field given: no factory is called)
            self.__dict__.update(bind(args, kwargs))
        else:
            self.__dict__.update(zip(names, args, strict=True))
        for name, default, factory in later:
            self.__dict__[name] = factory() if factory is not MISSING else default
        if post_init:
            self.__post_init__()

    return __init__


def _repr_of(names: tuple[str, ...]) -> Callable[[Any], str]:
    running: set[tuple[int, int]] = set()

    def __repr__(self: Any) -> str:
        key = (id(self), get_ident())   # reprlib.recursive_repr's guard, without its wrapper
        if key in running:
            return "..."
        running.add(key)
        try:
            shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        finally:
            running.discard(key)
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


def _frozen_guards(cls: type, names: tuple[str, ...]) -> tuple[Callable[..., None],
                                                              Callable[..., None]]:
    """The standard library's frozen ``__setattr__`` and ``__delattr__``."""
    owner: Any = cls

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is owner or name in names:
            from dataclasses import FrozenInstanceError

            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(owner, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is owner or name in names:
            from dataclasses import FrozenInstanceError

            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(owner, self).__delattr__(name)

    return __setattr__, __delattr__


class _Params:
    """``__dataclass_params__``: what was asked for."""

    def __init__(self, frozen: bool, eq: bool) -> None:
        self.init, self.repr, self.eq, self.order = True, True, eq, False
        self.unsafe_hash, self.frozen = False, frozen

    def __repr__(self) -> str:
        return (f"_DataclassParams(init=True,repr=True,eq={self.eq},order=False,"
                f"unsafe_hash=False,frozen={self.frozen})")


class _StdlibFields:
    """``__dataclass_fields__``, made by the standard library's ``field()`` when a tool
    first asks (then kept on the class)."""

    def __init__(self, owner: type) -> None:
        self.owner = owner

    def __get__(self, obj: Any, cls: type | None = None) -> dict[str, Any]:
        import dataclasses

        owner = self.owner
        made = {}
        for f in owner.__dict__[_FIELDS]:
            std = _to_stdlib(f)
            std.name, std.type, std.kw_only = f.name, f.type, False
            kinds: Any = dataclasses
            std._field_type = kinds._FIELD_CLASSVAR if f.classvar else kinds._FIELD
            made[f.name] = std
        type.__setattr__(owner, "__dataclass_fields__", made)
        return made


class _Doc:
    """The standard library's ``__doc__`` for a class without one: its signature."""

    def __init__(self, owner: type) -> None:
        self.owner = owner

    def __get__(self, obj: Any, cls: type | None = None) -> str:
        import inspect

        owner = self.owner
        factory = type("_HAS_DEFAULT_FACTORY_CLASS", (), {"__repr__": lambda _: "<factory>"})()
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        sig = inspect.Signature([
            inspect.Parameter(f.name, kind, annotation=f.type, default=(
                factory if f.default_factory is not MISSING else
                inspect.Parameter.empty if f.default is MISSING else f.default))
            for f in owner.__dict__[_FIELDS] if f.init and not f.classvar])
        text = owner.__name__ + str(sig)
        type.__setattr__(owner, "__doc__", text)
        return text


def _set_new(cls: type, name: str, value: Any, *, force: bool = False) -> None:
    """As the standard library does: a method the class defines itself is kept."""
    if force or name not in cls.__dict__:
        value.__qualname__ = f"{cls.__qualname__}.{name}"
        setattr(cls, name, value)


def _process(cls: type, frozen: bool, eq: bool) -> type | None:
    for base in cls.__mro__[1:-1]:
        params = base.__dict__.get("__dataclass_params__")
        if params is not None and params.frozen != frozen:
            raise TypeError("cannot inherit non-frozen dataclass from a frozen one" if frozen
                            is False else "cannot inherit frozen dataclass from a non-frozen one")
    own_hash = cls.__dict__.get("__hash__", MISSING)
    explicit_hash = not (own_hash is MISSING or (own_hash is None and "__eq__" in cls.__dict__))
    fields = _collect(cls)
    if fields is None:
        return None
    for name, value in ((_FIELDS, tuple(fields)), ("__dataclass_fields__", _StdlibFields(cls)),
                        ("__dataclass_params__", _Params(frozen, eq))):
        type.__setattr__(cls, name, value)
    real = [f for f in fields if not f.classvar]
    _set_new(cls, "__init__", _init_of(cls, fields))
    _set_new(cls, "__repr__", _repr_of(tuple(f.name for f in real if f.repr)))
    if eq:
        _set_new(cls, "__eq__", _eq_of(tuple(f.name for f in real if f.compare)))
    if frozen:
        setter, deleter = _frozen_guards(cls, tuple(f.name for f in real))
        for name, method in (("__setattr__", setter), ("__delattr__", deleter)):
            if name in cls.__dict__:
                raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
            _set_new(cls, name, method)
    if eq and not explicit_hash:  # the standard library's _hash_action, for unsafe_hash=False
        if frozen:
            _set_new(cls, "__hash__", _hash_of(tuple(
                f.name for f in real if (f.compare if f.hash is None else f.hash))), force=True)
        else:
            type.__setattr__(cls, "__hash__", None)
    if not cls.__dict__.get("__doc__"):
        type.__setattr__(cls, "__doc__", _Doc(cls))
    if "__match_args__" not in cls.__dict__:
        type.__setattr__(cls, "__match_args__", tuple(f.name for f in real if f.init))
    return cls


def _dataclass(cls: type | None = None, /, **options: Any) -> Any:
    def stdlib(klass: type) -> Any:
        import dataclasses

        for name, value in list(klass.__dict__.items()):
            if isinstance(value, Field):   # our field(), in the standard library's words
                setattr(klass, name, _to_stdlib(value))
        return dataclasses.dataclass(klass, **options)

    if set(options) - _OURS:
        return stdlib if cls is None else stdlib(cls)
    frozen, eq = bool(options.get("frozen", False)), bool(options.get("eq", True))

    def wrap(klass: type) -> type:
        return _process(klass, frozen, eq) or stdlib(klass)

    return wrap if cls is None else wrap(cls)


def _replace(obj: Any, /, **changes: Any) -> Any:
    """``dataclasses.replace`` for our classes, without importing the standard library's."""
    fields = type(obj).__dict__.get(_FIELDS)
    if fields is None:
        import dataclasses

        return dataclasses.replace(obj, **changes)
    for f in fields:
        if f.classvar:
            continue
        if not f.init:
            if f.name in changes:
                raise ValueError(f"field {f.name} is declared with init=False, it cannot be "
                                 "specified with replace()")
            continue
        if f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return obj.__class__(**changes)


if TYPE_CHECKING:
    from dataclasses import dataclass, field, replace
    from typing import Any
else:
    dataclass, field, replace = _dataclass, _field, _replace
