"""The house's layout rules, read from the source: no import circle, imports pointing one way, files under
400 lines (docs/ARCHITECTURE.md).

Every import statement counts, wherever it stands (inside functions, under TYPE_CHECKING), so a circle broken
only by deferring an import is still a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("api", "indexer", "retriever", "encoder", "decoder", "evaluation", "bench")
LOWER = ("indexer", "retriever", "encoder", "decoder")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod
                targets = [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                found = _resolve(target, modules)
                if found is not None and found != module:
                    graph[module].add(found)
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def _edges(graph: dict[str, set[str]], source: str, target: str) -> list[str]:
    def inside(module: str, package: str) -> bool:
        return module == package or module.startswith(package + ".")

    return sorted(
        f"{m} -> {d}" for m, deps in graph.items() if inside(m, source) for d in deps if inside(d, target)
    )


def test_no_import_circles() -> None:
    assert _circles(_graph()) == []


def test_the_circle_finder_finds_circles() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_lower_layers_never_import_the_surfaces_or_the_tools() -> None:
    graph = _graph()
    for lower in LOWER:
        for upper in ("api", "evaluation", "bench"):
            assert _edges(graph, lower, upper) == []
    # encoder and retriever sit at the bottom
    for bottom in ("encoder", "retriever"):
        for above in ("indexer", "decoder"):
            assert _edges(graph, bottom, above) == []


def test_inside_api_imports_point_one_way() -> None:
    graph = _graph()
    sdk = [e for e in _edges(graph, "api.client", "api") if not e.split(" -> ")[1].startswith("api.client")]
    assert sdk == []  # the SDK imports nothing else of vtrag (test_sdk_import.py checks it at run time)
    for package in ("indexer", "retriever", "encoder", "decoder", "evaluation"):
        assert _edges(graph, "api.client", package) == []
    for upper in ("api.rest", "api.cli", "api.mcp", "api.web"):
        assert _edges(graph, "api.service", upper) == []
    for upper in ("api.rest", "api.cli"):  # REST mounts the MCP server and the web page, not the reverse
        assert _edges(graph, "api.mcp", upper) == []
    for other in ("api.rest", "api.cli", "api.service", "api.mcp"):
        assert _edges(graph, "api.web", other) == []
    assert _edges(graph, "api.rest", "api.cli") == []
    assert _edges(graph, "api.rest", "evaluation") == []
    assert _edges(graph, "api.service", "evaluation") == []


def test_no_file_over_400_lines_outside_tests() -> None:
    tracked = [p for p in ROOT.rglob("*.py") if not p.relative_to(ROOT).parts[0].startswith((".", "tests"))]
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in tracked}
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}


def _top_level_names(path: Path) -> set[str]:
    """Names a module defines or imports at its top level (through if/try blocks, not into functions)."""
    names: set[str] = set()
    body = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while body:
        node = body.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            body.extend(node.body + getattr(node, "orelse", []) + getattr(node, "finalbody", []))
            for handler in getattr(node, "handlers", []):
                body.extend(handler.body)
    return names


def test_every_from_import_of_the_project_names_something_that_exists() -> None:
    """`from pkg.mod import name` anywhere (inside functions too, in bench scripts and tests) names a
    submodule or a top-level name of pkg.mod: a deferred import that a move broke fails here, not in the
    one run that reaches it."""
    modules = _modules()
    importers = [
        p for p in ROOT.rglob("*.py") if p.relative_to(ROOT).parts[0] in (*PACKAGES, "tests", "examples")
    ]
    broken = []
    for path in importers:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
                continue
            if node.module not in modules:
                continue
            defined = _top_level_names(modules[node.module])
            for alias in node.names:
                if (
                    alias.name != "*"
                    and alias.name not in defined
                    and f"{node.module}.{alias.name}" not in modules
                ):
                    broken.append(
                        f"{path.relative_to(ROOT)}:{node.lineno}: from {node.module} import {alias.name}"
                    )
    assert broken == []
