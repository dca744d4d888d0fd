"""`sgdoctor lib NAME_OR_PATH...`: a safe ldd.

Where each library resolves for a dlopen from this Python, and why (which search step),
the copies it shadows, the files the loader skipped, and what is missing — computed by
the static ld.so model, so nothing is loaded or executed.
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer

from sgdoctor.environ import snapshot
from sgdoctor.errors import ConfigError


def _how(node) -> str:
    return f"{node.how}; already loaded in Python" if node.preloaded else node.how


def _node_view(node, parents: dict[int, str]) -> dict[str, Any]:
    return {"name": node.requested, "path": node.path, "found_by": _how(node),
            "soname": node.obj.soname, "needed_by": parents.get(id(node))}


def describe(resolver, request: str) -> dict[str, Any]:
    """Everything `sgdoctor lib` knows about one request, as plain data."""
    result = resolver.dlopen(request)
    out: dict[str, Any] = {"request": request, "ok": result.ok, "path": None,
                           "found_by": result.how or None, "soname": None,
                           "shadowed": [], "skipped": [], "missing": [], "errors": [],
                           "dependencies": []}
    out["skipped"] = [{"path": s.path, "reason": s.reason + ("" if s.fatal else ", skipped")}
                      for s in result.skipped]
    out["errors"] = [error.words for error in result.errors]
    out["missing"] = [{"name": n, "needed_by": by} for n, by in result.missing]
    root = result.root
    if root is None:
        return out
    out.update(path=root.path, realpath=os.path.realpath(root.path), soname=root.obj.soname)
    out["shadowed"] = [{"path": p, "found_by": how} for p, how in resolver.copies(request)[1:]]
    parents: dict[int, str] = {}
    for node in result.objects:
        for dep in node.deps or ():
            if dep.node is not None:
                parents.setdefault(id(dep.node), node.path)
    out["dependencies"] = [_node_view(n, parents) for n in result.objects[1:]]
    out["tree"] = _tree(root, set())
    return out


def _tree(node, seen: set[int]) -> dict[str, Any]:
    """The DT_NEEDED tree; an object already shown is listed again without its subtree."""
    entry: dict[str, Any] = {"name": node.requested, "path": node.path, "found_by": _how(node)}
    if id(node) in seen:
        entry["repeated"] = True
        return entry
    seen.add(id(node))
    children = []
    for dep in node.deps or ():
        if dep.node is None:
            children.append({"name": dep.name, "path": None,
                             "error": dep.error.words if dep.error else "not found"})
        else:
            child = _tree(dep.node, seen)
            child["name"] = dep.name
            children.append(child)
    entry["needed"] = children
    return entry


def _text(item: dict[str, Any], tree: bool) -> list[str]:
    lines = []
    if item["path"]:
        soname = f", soname {item['soname']}" if item["soname"] else ""
        lines.append(f"{item['request']} => {item['path']}  [{item['found_by']}{soname}]")
        if item.get("realpath") and item["realpath"] != item["path"]:
            lines.append(f"    real file: {item['realpath']}")
    else:
        lines.append(f"{item['request']} => not found")
    for copy in item["shadowed"]:
        lines.append(f"    shadows: {copy['path']}  [{copy['found_by']}]")
    for skip in item["skipped"]:
        lines.append(f"    skipped: {skip['path']}: {skip['reason']}")
    for miss in item["missing"]:
        lines.append(f"    MISSING: {miss['name']} (needed by {miss['needed_by']})")
    for error in item["errors"]:
        lines.append(f"    ERROR: {error}")
    if tree and item.get("tree"):
        lines += _tree_lines(item["tree"]["needed"], "    ")
    elif item["dependencies"]:
        lines.append(f"    {len(item['dependencies'])} dependencies resolve (--tree lists them)"
                     if not item["missing"] else "")
    return [line for line in lines if line]


def _tree_lines(children: list[dict[str, Any]], indent: str) -> list[str]:
    lines = []
    for child in children:
        if child.get("path") is None:
            lines.append(f"{indent}{child['name']} => not found ({child.get('error')})")
            continue
        more = "  (see above)" if child.get("repeated") else ""
        lines.append(f"{indent}{child['name']} => {child['path']}  [{child['found_by']}]{more}")
        lines += _tree_lines(child.get("needed", []), indent + "    ")
    return lines


def lib_command(
    names: Annotated[list[str], typer.Argument(help="Library names (libfoo.so.1) or paths.",
                                                metavar="NAME_OR_PATH...",
                                                show_default=False)],
    tree: Annotated[bool, typer.Option("--tree", help="Print every dependency with its "
                                                      "full path.")] = False,
    format: Annotated[str, typer.Option("--format", "-f", help="table|json")] = "table",
) -> None:
    """Where each library resolves for a dlopen from this Python, and why (a safe ldd).

    Follows glibc's ld.so: LD_LIBRARY_PATH, DT_RPATH/DT_RUNPATH ($ORIGIN), ld.so.cache,
    system directories, glibc-hwcaps; nothing is loaded. Exit 1 when one does not load.
    """
    from sgdoctor.probe.ldso import LoaderError
    from sgdoctor.probe.ldso.resolver import Resolver

    if format not in ("table", "json"):
        raise ConfigError(f"--format {format!r}: choose table or json")
    try:
        resolver = Resolver(snapshot())
        items = [describe(resolver, name) for name in names]
    except LoaderError as exc:
        raise ConfigError(f"cannot model the dynamic loader: {exc}") from None
    if format == "json":
        doc = {"loader": resolver.facts.interpreter,
               "search": {"system_dirs": list(resolver.facts.system_dirs),
                          "hwcaps": list(resolver.facts.hwcaps),
                          "ld_so_cache": resolver.cache_problem or resolver.facts.cache_path},
               "libraries": items}
        typer.echo(json.dumps(doc, indent=2))
    else:
        for item in items:
            for line in _text(item, tree):
                typer.echo(line)
    raise typer.Exit(0 if all(item["ok"] for item in items) else 1)


def register(app: typer.Typer) -> None:
    app.command("lib")(lib_command)
