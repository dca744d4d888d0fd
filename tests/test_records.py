"""sgdoctor.records.dataclass makes the class the standard library makes: the same fields,
repr, equality, hash (added, set to None or left alone by the same rules), params, doc,
match args, frozen guards and replace/asdict — for every shape sgdoctor uses and more."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, ClassVar

import pytest

from sgdoctor import records


def _pair(body: dict[str, Any], annotations: dict[str, Any], bases: tuple[type, ...] = (),
          *, ours_field: Any = records.field, **options: Any) -> tuple[type, type]:
    """The standard library's class and ours; ours declares its fields with ``ours_field``
    (records.field, or the standard library's, which a class of ours also takes)."""
    made = []
    for decorate, make in ((dataclasses.dataclass, dataclasses.field),
                           (records.dataclass, ours_field)):
        namespace = {"__annotations__": dict(annotations), "__module__": __name__,
                     "__qualname__": "Shape", **{k: (make(**v) if isinstance(
                         v, dict) else v) for k, v in body.items()}}
        made.append(decorate(**options)(type("Shape", bases, namespace)))
    return made[0], made[1]


def _outcome(fn: Any, obj: Any) -> Any:
    try:
        return fn(obj)
    except TypeError as exc:
        return type(exc)


def _same(std: type, ours: type, args: tuple, kwargs: dict) -> None:
    assert [(f.name, f.default, f.repr, f.compare, f.hash, f.init) for f in
            dataclasses.fields(std)] == [(f.name, f.default, f.repr, f.compare, f.hash, f.init)
                                         for f in dataclasses.fields(ours)]
    for name in ("init", "repr", "eq", "order", "unsafe_hash", "frozen"):
        assert getattr(std.__dataclass_params__, name) == getattr(
            ours.__dataclass_params__, name), name
    assert std.__doc__ == ours.__doc__
    assert std.__match_args__ == ours.__match_args__
    assert (std.__hash__ is None) == (ours.__hash__ is None)
    assert ("__hash__" in std.__dict__) == ("__hash__" in ours.__dict__)
    a, b = std(*args, **kwargs), ours(*args, **kwargs)
    assert repr(a) == repr(b)
    assert (a == std(*args, **kwargs)) == (b == ours(*args, **kwargs))
    assert (a == object()) == (b == object())
    if "__hash__" in std.__dict__ and std.__hash__ is not None:
        assert _outcome(hash, a) == _outcome(hash, b)
    assert dataclasses.asdict(a) == dataclasses.asdict(b)
    first = dataclasses.fields(std)[0].name if dataclasses.fields(std) else None
    if first and dataclasses.fields(std)[0].init:
        assert repr(dataclasses.replace(a, **{first: 7})) == repr(
            dataclasses.replace(b, **{first: 7}))
    if std.__dataclass_params__.frozen and first:
        for obj in (a, b):
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(obj, first, 1)


FIELDS = [
    ({}, {"a": int}, (1,), {}),
    ({"b": "x"}, {"a": int, "b": str}, (1,), {"b": "y"}),
    ({"b": {"default_factory": list}}, {"a": int, "b": list}, (1,), {}),
    ({"b": {"default": 2, "repr": False}}, {"a": int, "b": int}, (1,), {}),
    ({"b": {"default": 2, "compare": False}}, {"a": int, "b": int}, (1, 3), {}),
    ({"b": {"default": 2, "hash": False}}, {"a": int, "b": int}, (1,), {}),
    ({"b": {"default": 2, "compare": False, "hash": True}}, {"a": int, "b": int}, (1,), {}),
    ({"b": {"default_factory": dict, "init": False}}, {"a": int, "b": dict}, (1,), {}),
    ({"k": 5}, {"a": int, "k": ClassVar[int]}, (1,), {}),
    ({}, {}, (), {}),
    ({"a": (1, 2)}, {"a": tuple}, (), {}),
]


@pytest.mark.parametrize("shape", range(len(FIELDS)))
@pytest.mark.parametrize("frozen,eq", list(itertools.product([False, True], [False, True])))
@pytest.mark.parametrize("ours_field", [records.field, dataclasses.field])
def test_every_field_shape_and_option_makes_the_same_class(shape, frozen, eq,
                                                            ours_field) -> None:
    body, annotations, args, kwargs = FIELDS[shape]
    std, ours = _pair(body, annotations, frozen=frozen, eq=eq, ours_field=ours_field)
    _same(std, ours, args, kwargs)
    for cls in (std, ours):   # a class attribute that was a field() becomes its default
        for name, value in body.items():
            default = value.get("default", "absent") if isinstance(value, dict) else value
            assert cls.__dict__.get(name, "absent") == default


BAD_CALLS = [((), {}), ((1, 2, 3, 4), {}), ((1,), {"zz": 2}), ((1,), {"a": 1}),
             ((), {"b": "q"})]


@pytest.mark.parametrize("call", BAD_CALLS)
def test_a_wrong_call_raises_the_standard_librarys_type_error(call) -> None:
    std, ours = _pair({"b": "x", "c": {"default_factory": list}},
                      {"a": int, "b": str, "c": list}, frozen=True)
    args, kwargs = call
    messages = []
    for cls in (std, ours):
        with pytest.raises(TypeError) as caught:
            cls(*args, **kwargs)
        messages.append(str(caught.value).replace(f"{cls.__qualname__}.", ""))
    assert messages[0] == messages[1]


def test_a_shape_the_standard_library_refuses_is_refused_alike() -> None:
    for body, shape, error in (({"a": 1}, {"a": int, "b": int}, TypeError),
                                     ({"a": []}, {"a": list}, ValueError),
                                     ({"a": {"default": 1}}, {}, TypeError)):
        for make in (dataclasses.dataclass, records.dataclass):
            namespace = {"__annotations__": dict(shape), "__module__": __name__,
                         **{k: (dataclasses.field(**v) if isinstance(v, dict) else v)
                            for k, v in body.items()}}
            with pytest.raises(error):
                make(type("Bad", (), namespace))


def test_making_and_using_a_class_imports_neither_dataclasses_nor_inspect() -> None:
    """What start-up saves: no compilation, and no import of the standard library's module
    (which imports inspect, ast, dis and tokenize)."""
    import subprocess
    import sys

    code = """if True:
        import sys
        from sgdoctor.records import dataclass, field, replace
        @dataclass(frozen=True)
        class Point:
            \"\"\"A point.\"\"\"
            x: int
            y: list = field(default_factory=list)
        p = replace(Point(1), x=2)
        assert (p.x, p.y, repr(p), hash(Point(1, ())) == hash(Point(1, ()))) == (
            2, [], "Point(x=2, y=[])", True)
        print(sorted(m for m in ("dataclasses", "inspect", "ast", "dis") if m in sys.modules))
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("frozen", [False, True])
def test_methods_the_class_defines_are_kept(frozen) -> None:
    def __eq__(self, other):
        return "mine"

    def __repr__(self):
        return "mine"

    def __hash__(self):
        return 5

    for body in ({"__eq__": __eq__}, {"__repr__": __repr__}, {"__hash__": __hash__},
                 {"__eq__": __eq__, "__hash__": __hash__}):
        std, ours = _pair(dict(body), {"a": int}, frozen=frozen)
        _same(std, ours, (1,), {})
        assert (std(1) == std(2)) == (ours(1) == ours(2))


def test_inheritance_and_recursion_as_the_standard_library() -> None:
    base_std, base_ours = _pair({}, {"a": int}, frozen=True)
    std = dataclasses.dataclass(frozen=True)(type("Child", (base_std,), {
        "__annotations__": {"b": int}, "__module__": __name__, "__qualname__": "Child"}))
    ours = records.dataclass(frozen=True)(type("Child", (base_ours,), {
        "__annotations__": {"b": int}, "__module__": __name__, "__qualname__": "Child"}))
    _same(std, ours, (1, 2), {})
    with pytest.raises(TypeError):
        dataclasses.dataclass(type("Loose", (base_ours,), {"__annotations__": {"c": int}}))
    loop_std, loop_ours = _pair({"a": None}, {"a": Any})
    x, y = loop_std(), loop_ours()
    x.a, y.a = x, y
    assert repr(x) == repr(y) == "Shape(a=...)"


def test_other_options_are_the_standard_librarys_own() -> None:
    std, ours = _pair({}, {"a": int}, order=True, frozen=True)
    assert ours(1) < ours(2) and repr(ours(1)) == repr(std(1))
    assert records.dataclass is not dataclasses.dataclass
    std, ours = _pair({"b": {"default_factory": list, "repr": False}}, {"a": int, "b": list},
                      order=True)   # our field() reaches the standard library as its own
    assert ours(1) < ours(2) and repr(ours(1)) == repr(std(1)) == "Shape(a=1)"
    assert ours(1).b == [] and ours(1).b is not ours(1).b


def test_frozen_guards_as_the_standard_librarys() -> None:
    """The uncompiled guards raise what the compiled ones raise, and let a subclass's own
    attributes through as they do."""
    std, ours = _pair({"b": 2}, {"a": int, "b": int}, frozen=True)
    for cls in (std, ours):
        obj = cls(1)
        for name, delete in (("a", False), ("b", True), ("other", False)):
            with pytest.raises(dataclasses.FrozenInstanceError):
                delattr(obj, name) if delete else setattr(obj, name, 3)
        assert (obj.a, obj.b) == (1, 2)
    messages = []
    for cls in (std, ours):
        try:
            cls(1).a = 5
        except dataclasses.FrozenInstanceError as exc:
            messages.append(str(exc))
    assert messages == ["cannot assign to field 'a'"] * 2
    for cls in (std, ours):
        child = type("Child", (cls,), {})(1)
        child.extra = 4  # not a field, not the frozen class itself: allowed
        assert child.extra == 4
        del child.extra
        with pytest.raises(dataclasses.FrozenInstanceError):
            child.a = 9
    assert ours.__setattr__.__qualname__ == "Shape.__setattr__"


def test_a_class_made_while_another_thread_imports_dataclasses(monkeypatch) -> None:
    """A check thread may make a class while another is importing the standard library's
    dataclasses: the module is in sys.modules but has no Field yet."""
    import sys
    import types

    monkeypatch.setitem(sys.modules, "dataclasses", types.ModuleType("dataclasses"))
    made = records.dataclass(frozen=True)(type("Early", (), {
        "__annotations__": {"a": int, "b": int}, "__module__": __name__, "b": 2}))
    assert repr(made(1)) == "Early(a=1, b=2)"
