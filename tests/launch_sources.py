"""The real argument definitions of SGLang 0.5.23 and Dynamo 1.6.1, read from their wheels
with `ast` (nothing is imported: neither installs here), as rows of
sgdoctor.parse.launch_tables. test_launch_sources.py compares them with the mirror;
`python tests/launch_sources.py WHEEL_DIR` prints the table to paste when a release moves.

The wheels come from scripts/bootstrap's cache (.venv/launch-sources) or `pip download`.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".venv" / "launch-sources"
WHEELS = {"sglang": "sglang==0.5.23", "ai_dynamo": "ai-dynamo==1.6.1"}
UNKNOWN = "<expr>"


def wheel_dir(tmp: Path | None = None) -> Path:
    """A directory holding both wheels: the bootstrap cache, else a fresh download."""
    if all(list(CACHE.glob(f"{name}-*.whl")) for name in WHEELS):
        return CACHE
    target = tmp or CACHE
    target.mkdir(parents=True, exist_ok=True)
    for name, spec in WHEELS.items():
        if not list(target.glob(f"{name}-*.whl")):
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                            "--only-binary=:all:", "-d", str(target), spec], check=True,
                           timeout=600)
    return target


class Wheel:
    def __init__(self, path: Path) -> None:
        self.zip = zipfile.ZipFile(path)
        self.names = set(self.zip.namelist())

    def tree(self, name: str) -> ast.Module:
        return ast.parse(self.zip.read(name).decode("utf-8"), filename=name)

    def modules(self, prefix: str) -> Iterator[tuple[str, ast.Module]]:
        for name in sorted(self.names):
            if name.startswith(prefix) and name.endswith(".py") and "/tests/" not in name:
                yield name, self.tree(name)


_SCOPE: dict[str, Any] = {}    # loop variables while a generated group is walked


def _value(node: ast.AST | None) -> Any:
    """A literal, or a string built from loop variables ("--ais-" + flag); else UNKNOWN."""
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    if isinstance(node, ast.Name) and node.id in _SCOPE:
        return _SCOPE[node.id]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _value(node.left), _value(node.right)
        if isinstance(left, str) and isinstance(right, str) and UNKNOWN not in (left, right):
            return left + right
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "replace" and len(node.args) == 2):
        base = _value(node.func.value)
        old, new = (_value(a) for a in node.args)
        if all(isinstance(v, str) and v != UNKNOWN for v in (base, old, new)):
            return base.replace(old, new)
    return UNKNOWN


def _dotted(node: ast.AST) -> str:
    return ast.unparse(node)


def _dest(flags: tuple[str, ...], dest: Any) -> str:
    if isinstance(dest, str):
        return dest
    long = [f for f in flags if f.startswith("--")]
    return (long or list(flags))[0].lstrip("-").replace("-", "_")


# --- custom action classes: what argparse sees of them (nargs, boolean-optional) ---------

def _action_classes(trees: list[ast.Module]) -> dict[str, tuple[str, Any]]:
    """class name -> ("bool_optional" | "const" | "store", default nargs)."""
    out: dict[str, tuple[str, Any]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {_dotted(b).split(".")[-1] for b in node.bases}
            if "BooleanOptionalAction" in bases:
                out[node.name] = ("bool_optional", 0)
                continue
            if "Action" not in bases:
                continue
            nargs: Any = None
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    args = item.args
                    names = [a.arg for a in args.args]
                    defaults = dict(zip(names[len(names) - len(args.defaults):],
                                        args.defaults, strict=True))
                    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs,
                                                              args.kw_defaults, strict=True)
                                     if d is not None})
                    if "nargs" in defaults:
                        nargs = _value(defaults["nargs"])
            out[node.name] = ("const" if nargs == 0 else "store", nargs)
    return out


def _row(flags: tuple[str, ...], kw: dict[str, ast.AST], actions: dict[str, tuple[str, Any]],
         env: str | None = None, default: Any = None,
         bool_optional: bool = False) -> tuple[Any, ...]:
    """One option as (flags, dest, kind, nargs, const, default, env)."""
    action = kw.get("action")
    nargs = _value(kw["nargs"]) if "nargs" in kw else None
    const = _value(kw.get("const"))
    if "default" in kw:
        default = _value(kw["default"])
    if bool_optional:
        kind = "bool_optional"
    elif action is None:
        kind = "store"
    elif isinstance(action, ast.Constant):
        kind = {"store_true": "store_true", "store_false": "store_false", "store_const": "const",
                "append": "append", "count": "count", "store": "store", "help": "help",
                "version": "help", "append_const": "append_const"}[action.value]
        if kind == "store_true":
            default = False if "default" not in kw else default
        if kind == "store_false":
            default = True if "default" not in kw else default
    else:
        name = _dotted(action).split(".")[-1]
        if name == "BooleanOptionalAction":
            kind = "bool_optional"
        else:
            kind, class_nargs = actions.get(name, ("store", None))
            if "nargs" not in kw:
                nargs = class_nargs
            elif kind == "const" and nargs is None:
                kind = "store"
            if kind == "const":
                const = _value(kw.get("const_value", kw.get("const"))) \
                    if ("const_value" in kw or "const" in kw) else True
    if kind in ("store_true", "store_false", "const", "count", "help", "bool_optional"):
        nargs = None
    if kind != "const":
        const = None
    return (flags, _dest(flags, _value(kw.get("dest"))), kind, nargs, const, default, env)


# --- SGLang: A[T, "help"] / A[T, Arg(...)] fields plus add_cli_args' own registrations -------

def _unwrap(node: ast.AST) -> tuple[ast.AST, bool]:
    """Optional[X] / X | None / Union[X, None] -> (X, True)."""
    if isinstance(node, ast.Subscript) and _dotted(node.value).split(".")[-1] == "Optional":
        return node.slice, True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        parts = [p for p in (node.left, node.right)
                 if not (isinstance(p, ast.Constant) and p.value is None)]
        if len(parts) == 1:
            return parts[0], True
    if isinstance(node, ast.Subscript) and _dotted(node.value).split(".")[-1] == "Union":
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        rest = [e for e in elts if not (isinstance(e, ast.Constant) and e.value is None)]
        if len(rest) == 1:
            return rest[0], True
    return node, False


def _sglang_field(name: str, ann: ast.Subscript, value: ast.AST | None,
                  actions: dict[str, tuple[str, Any]]) -> tuple[Any, ...] | None:
    parts = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
    arg: dict[str, ast.AST] | None = None
    for meta in parts[1:]:
        if isinstance(meta, ast.Constant) and isinstance(meta.value, str):
            arg = {}
            break
        if isinstance(meta, ast.Call) and _dotted(meta.func).split(".")[-1] == "Arg":
            arg = {k.arg: k.value for k in meta.keywords if k.arg}
            break
    if arg is None or _value(arg.get("no_cli")) is True:
        return None
    cli = _value(arg["cli_name"]) if "cli_name" in arg else "--" + name.replace("_", "-")
    aliases = _value(arg["aliases"]) if "aliases" in arg else []
    flags = (cli, *(aliases or []))
    default = _value(value) if value is not None else None
    kw: dict[str, ast.AST] = {"dest": ast.Constant(name)}
    if "action" in arg:
        kw["action"] = arg["action"]
        extra = arg.get("action_kwargs")
        if isinstance(extra, ast.Dict):
            kw.update({_value(k): v for k, v in zip(extra.keys, extra.values, strict=True)
                       if k is not None})
        return _row(flags, kw, actions, default=default)
    inner, _ = _unwrap(parts[0])
    head = _dotted(inner.value if isinstance(inner, ast.Subscript) else inner).split(".")[-1]
    if head == "Literal":
        if "nargs" in arg:
            kw["nargs"] = arg["nargs"]
        return _row(flags, kw, actions, default=default)
    if head in ("list", "List") and "type_parser" not in arg:
        kw["nargs"] = arg.get("nargs", ast.Constant("+"))
        return _row(flags, kw, actions, default=default)
    if head == "bool":
        kw["action"] = ast.Constant("store_true")
        if value is not None:
            kw["default"] = value
        return _row(flags, kw, actions, default=default)
    if "nargs" in arg:
        kw["nargs"] = arg["nargs"]
    return _row(flags, kw, actions, default=default)


def sglang_rows(wheel: Wheel) -> list[tuple[Any, ...]]:
    server_args = wheel.tree("sglang/srt/server_args.py")
    trees = [server_args, wheel.tree("sglang/srt/arg_groups/argparse_actions.py")]
    actions = _action_classes(trees)
    namespaces: list[str] = []
    for node in server_args.body:
        if (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "_INPUT_NAMESPACES"):
            namespaces = [_dotted(e) for e in node.value.elts]  # type: ignore[attr-defined]
    classes: dict[str, ast.ClassDef] = {}
    for _, tree in wheel.modules("sglang/srt/arg_groups/fields/"):
        classes.update({n.name: n for n in tree.body if isinstance(n, ast.ClassDef)})
    rows = []
    for cls_name in namespaces:
        for item in classes[cls_name].body:
            if (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                    and isinstance(item.annotation, ast.Subscript)
                    and _dotted(item.annotation.value).split(".")[-1] in ("A", "Annotated")):
                row = _sglang_field(item.target.id, item.annotation, item.value, actions)
                if row is not None:
                    rows.append(row)
    cls = next(n for n in server_args.body if isinstance(n, ast.ClassDef)
               and n.name == "ServerArgs")
    add = next(n for n in cls.body if isinstance(n, ast.FunctionDef)
               and n.name == "add_cli_args")
    for call in ast.walk(add):
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and call.func.attr == "add_argument"):
            flags = tuple(_value(a) for a in call.args)
            rows.append(_row(flags, {k.arg: k.value for k in call.keywords if k.arg},
                             actions))
    return rows


# --- Dynamo: ArgGroup.add_arguments methods, followed through the groups they call ----------

class DynamoSource:
    def __init__(self, wheel: Wheel) -> None:
        trees = [t for _, t in wheel.modules("dynamo/")]
        self.actions = _action_classes(trees)
        self.classes: dict[str, ast.ClassDef] = {}
        self.functions: dict[str, ast.FunctionDef] = {}
        self.dicts: dict[str, ast.Dict] = {}
        for tree in trees:
            for node in tree.body:
                if (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                        and isinstance(node.value, ast.Dict)):
                    self.dicts.setdefault(node.targets[0].id, node.value)
                if isinstance(node, ast.ClassDef):
                    self.classes.setdefault(node.name, node)
                elif isinstance(node, ast.FunctionDef):
                    self.functions.setdefault(node.name, node)

    def group(self, cls_name: str, attrs: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        cls = self.classes[cls_name]
        method = next(n for n in cls.body if isinstance(n, ast.FunctionDef)
                      and n.name == "add_arguments")
        return self.walk(method.body, attrs or {})

    def function(self, name: str) -> list[tuple[Any, ...]]:
        return self.walk(self.functions[name].body, {})

    def walk(self, body: list[ast.stmt], attrs: dict[str, Any]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for stmt in body:
            if isinstance(stmt, ast.If):
                test = stmt.test
                if (isinstance(test, ast.Attribute) and isinstance(test.value, ast.Name)
                        and test.value.id == "self" and test.attr in attrs):
                    rows += self.walk(stmt.body if attrs[test.attr] else stmt.orelse, attrs)
                else:
                    rows += self.walk(stmt.body, attrs) + self.walk(stmt.orelse, attrs)
                continue
            if isinstance(stmt, ast.For) and self._dict_loop(stmt) is not None:
                rows += self._unroll(stmt, attrs)
                continue
            if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                value = _value(stmt.value)
                if value != UNKNOWN and _SCOPE:
                    _SCOPE[stmt.targets[0].id] = value
            if isinstance(stmt, (ast.For, ast.With, ast.Try)):
                rows += self.walk(stmt.body, attrs)
                continue
            for call in [n for n in ast.walk(stmt) if isinstance(n, ast.Call)]:
                rows += self.call(call, attrs)
        return rows

    def _dict_loop(self, loop: ast.For) -> tuple[str, list[Any]] | None:
        """`for name, ... in MODULE_DICT.items()`: the loop variable and the dict's keys."""
        it = loop.iter
        if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute)
                and it.func.attr == "items" and isinstance(it.func.value, ast.Name)
                and it.func.value.id in self.dicts):
            return None
        target = loop.target.elts[0] if isinstance(loop.target, ast.Tuple) else loop.target
        if not isinstance(target, ast.Name):
            return None
        return target.id, [_value(k) for k in self.dicts[it.func.value.id].keys]

    def _unroll(self, loop: ast.For, attrs: dict[str, Any]) -> list[tuple[Any, ...]]:
        name, keys = self._dict_loop(loop) or ("", [])
        rows: list[tuple[Any, ...]] = []
        for key in keys:
            _SCOPE.clear()
            _SCOPE[name] = key
            try:
                rows += self.walk(loop.body, attrs)
            finally:
                _SCOPE.clear()
        return rows

    def _default(self, node: ast.AST | None, attrs: dict[str, Any]) -> Any:
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id == "self" and node.attr in attrs):
            return attrs[node.attr]
        return _value(node)

    def call(self, call: ast.Call, attrs: dict[str, Any]) -> list[tuple[Any, ...]]:
        func = call.func
        kw = {k.arg: k.value for k in call.keywords if k.arg}
        if isinstance(func, ast.Name) and func.id in ("add_argument",
                                                      "add_negatable_bool_argument"):
            flags = tuple(f for f in (_value(kw.get("flag_name")),
                                      _value(kw.get("obsolete_flag"))) if isinstance(f, str))
            default = self._default(kw.pop("default", None), attrs)
            return [_row(flags, kw, self.actions, env=_value(kw.get("env_var")), default=default,
                         bool_optional=func.id == "add_negatable_bool_argument")]
        if isinstance(func, ast.Attribute) and func.attr == "add_argument":
            flags = tuple(_value(a) for a in call.args)
            return [_row(flags, kw, self.actions)]
        if (isinstance(func, ast.Attribute) and func.attr == "add_arguments"
                and isinstance(func.value, ast.Call) and isinstance(func.value.func, ast.Name)
                and func.value.func.id in self.classes):
            inner = {k.arg: _value(k.value) for k in func.value.keywords if k.arg}
            return self.group(func.value.func.id, inner)
        if (isinstance(func, ast.Name) and func.id in self.functions
                and func.id.startswith("add_") and func.id.endswith("_arguments")):
            return self.function(func.id)
        return []


def dynamo_rows(wheel: Wheel) -> dict[str, list[tuple[Any, ...]]]:
    src = DynamoSource(wheel)
    return {
        "frontend": src.group("FrontendArgGroup"),
        "worker": src.group("DynamoRuntimeArgGroup") + src.group("DynamoSGLangArgGroup"),
        "worker_router": src.function("add_worker_router_arguments"),
    }


def extract(directory: Path) -> dict[str, list[tuple[Any, ...]]]:
    sglang = Wheel(next(directory.glob("sglang-*.whl")))
    dynamo = Wheel(next(directory.glob("ai_dynamo-*.whl")))
    return {"sglang": sglang_rows(sglang), **{f"dynamo_{k}": v
                                               for k, v in dynamo_rows(dynamo).items()}}


def render(tables: dict[str, list[tuple[Any, ...]]]) -> str:
    lines = []
    for name, rows in tables.items():
        lines.append(f"{name.upper()}: tuple[Row, ...] = (")
        lines += [f"    {row!r}," for row in rows]
        lines.append(")")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    where = Path(sys.argv[1]) if len(sys.argv) > 1 else wheel_dir()
    sys.stdout.write(render(extract(where)))
    os._exit(0)
