"""The house, kept by the test command: the import contract (lint-imports, layers and what
built-in checks may import), no import cycle, and mypy clean on src/ and checks/."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(sys.executable).parent


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package as it installs (checks/ inside sgdoctor/), which is what grimp can walk."""
    top = tmp_path_factory.mktemp("house")
    shutil.copytree(ROOT / "src" / "sgdoctor", top / "sgdoctor",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "checks", top / "sgdoctor" / "checks",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", top / "pyproject.toml")
    return top


def _tool(name: str) -> str:
    path = TOOLS / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {TOOLS} (it is in the test extra)")
    return str(path)


def test_import_contract_holds(tree: Path) -> None:
    proc = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=tree, capture_output=True,
                          text=True, timeout=300,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def _imports(path: Path, module: str) -> set[str]:
    """Every sgdoctor module that ``module`` imports, at module level or inside functions."""
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("sgdoctor.")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if base.startswith("sgdoctor"):
                found.add(base)
                found |= {f"{base}.{a.name}" for a in node.names}
    return found


def test_no_import_cycle(tree: Path) -> None:
    modules = {}
    for path in (tree / "sgdoctor").rglob("*.py"):
        rel = path.relative_to(tree).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        modules[name] = path
    graph = {m: {t for t in _imports(p, m) if t in modules and t != "sgdoctor" and t != m
                 and not m.startswith(t + ".")} for m, p in modules.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles[:10])


def test_mypy_is_clean() -> None:
    proc = subprocess.run([_tool("mypy"), "--no-incremental"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:]
