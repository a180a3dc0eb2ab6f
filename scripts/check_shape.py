"""The house rules of docs/architecture.md, measured on mlfail/ (run by `make lint`).

- no module over 700 lines;
- no function or method body over 100 lines (the signature and docstring are not counted, so
  Typer option declarations don't count);
- no import cycle between modules, function-level imports included (an import moved into a
  function to dodge a cycle is still a cycle). Imports under `if TYPE_CHECKING:` are left out:
  they never run.

Exit 1 with one line per breach. Usage: python scripts/check_shape.py [PROJECT_DIR]
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 100


def _modules(pkg: Path, root: Path) -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for f in sorted(pkg.rglob("*.py")):
        name = ".".join(f.relative_to(root).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = f
    return mods


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return (node.end_lineno or node.lineno) - body[0].lineno + 1


class _Imports(ast.NodeVisitor):
    def __init__(self, name: str, is_pkg: bool, mods: dict[str, Path]) -> None:
        self.base = name if is_pkg else name.rpartition(".")[0]
        self.name, self.mods, self.found = name, mods, set[str]()

    def visit_If(self, node: ast.If) -> None:
        if "TYPE_CHECKING" in ast.unparse(node.test):
            for s in node.orelse:
                self.visit(s)
            return
        self.generic_visit(node)

    def _add(self, target: str) -> None:
        if target in self.mods and target != self.name:
            self.found.add(target)

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self._add(a.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            parts = self.base.split(".")
            mod = ".".join(
                parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else [])
            )
        else:
            mod = node.module or ""
        # `from pkg import sub` imports the submodule; `from pkg import name` imports pkg.
        subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in self.mods]
        for s in subs:
            self._add(s)
        if len(subs) < len(node.names):
            self._add(mod)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            strong(v)
    return out


def check(root: Path) -> list[str]:
    mods = _modules(root / "mlfail", root)
    problems: list[str] = []
    edges: dict[str, set[str]] = {}
    for name, f in mods.items():
        src = f.read_text()
        rel = f.relative_to(root)
        n = src.count("\n") + (0 if src.endswith("\n") else 1)
        if n > MAX_MODULE_LINES:
            problems.append(f"{rel}: {n} lines (limit {MAX_MODULE_LINES})")
        tree = ast.parse(src)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                ln = _body_lines(node)
                if ln > MAX_FUNCTION_LINES:
                    problems.append(
                        f"{rel}:{node.lineno} {node.name}: body {ln} lines (limit {MAX_FUNCTION_LINES})"
                    )
        v = _Imports(name, f.name == "__init__.py", mods)
        v.visit(tree)
        # the package `mlfail` itself only re-exports; an edge into it is not a design cycle
        edges[name] = {t for t in v.found if t != "mlfail"}
    for comp in _cycles(edges):
        problems.append("import cycle: " + " <-> ".join(comp))
    return problems


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    problems = check(root)
    for p in problems:
        print(p)
    if not (root / "docs" / "architecture.md").exists():
        problems.append("docs/architecture.md is missing")
        print(problems[-1])
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
