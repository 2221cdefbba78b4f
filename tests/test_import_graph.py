"""The package's import graph (read with ast, nothing imported): no cycle, and every import
points down the layers.

Layers, top to bottom (a module may import its own unit and any unit below it):

    longdoc (the package face, ``__main__``)
    cli
    api
    workflows
    agents | memory      siblings: neither imports the other
    retrieval
    config, errors and the root private helpers (``_lazy``, ``_portal``, ...)

``longdoc.testing`` holds test doubles: it may import agents and what lies below them, and
nothing in the package imports it except the package face (the lazy ``ScriptedModel``).

What counts:
- every ``import`` / ``from ... import`` naming ``longdoc``, at module level or inside a
  function (a lazy import is still a dependency); ``from longdoc.x import y`` is an edge to
  ``longdoc.x.y`` when ``y`` is a submodule, else to ``longdoc.x``;
- the lazy public names of a package (its ``_LAZY`` table of ``name -> ".module"``), which
  ``importlib`` loads on first use;
- an import under ``if TYPE_CHECKING:`` counts for direction and for cycles. It never runs,
  so it cannot leave a module half-initialised, but it is still a dependency: the annotated
  module cannot be read, type-checked or moved without the other. A type-only back edge is
  how a cycle hides (``retrieval/search.py`` annotating with ``Index`` while ``index.py``
  calls ``search``); the cure is a Protocol or the shared type in the lower module. Edges
  of that kind are marked ``(TYPE_CHECKING)`` in the failure message.
Importing a submodule runs its parent packages' ``__init__``; those implicit edges are left
out (every module would otherwise sit in a cycle with its package face).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import longdoc

ROOT = Path(longdoc.__file__).resolve().parent
NOT_PACKAGE = {"tests", "benchmarks", "examples", "build", "dist"}

# unit -> the units it may import besides itself
BASE = "base"
ALLOWED: dict[str, set[str]] = {
    "top": {"cli", "api", "workflows", "agents", "memory", "retrieval", "testing", BASE},
    "cli": {"api", "workflows", "agents", "memory", "retrieval", BASE},
    "api": {"workflows", "agents", "memory", "retrieval", BASE},
    "workflows": {"agents", "memory", "retrieval", BASE},
    "agents": {"retrieval", BASE},
    "memory": {"retrieval", BASE},
    "testing": {"agents", "retrieval", BASE},
    "retrieval": {BASE},
    BASE: set(),
}
BASE_MODULES = {"longdoc.config", "longdoc.errors"}


@dataclass(frozen=True)
class Edge:
    """One import of a longdoc module by another."""

    source: str
    target: str
    line: int
    type_only: bool

    def __str__(self) -> str:
        kind = " (TYPE_CHECKING)" if self.type_only else ""
        return f"{self.source} -> {self.target}  [{module_path(self.source)}:{self.line}]{kind}"


def module_path(name: str) -> str:
    """The file of a module, relative to the repository root."""
    parts = name.split(".")[1:]
    folder = ROOT.joinpath(*parts)
    if (folder / "__init__.py").is_file():
        return str((folder / "__init__.py").relative_to(ROOT))
    return str(folder.with_suffix(".py").relative_to(ROOT))


def package_modules() -> dict[str, Path]:
    """Every module of the package: root files and folders holding an ``__init__.py``."""
    found: dict[str, Path] = {}

    def walk(folder: Path, prefix: str) -> None:
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix == ".py":
                name = prefix if path.stem == "__init__" else f"{prefix}.{path.stem}"
                found[name] = path
            elif path.is_dir() and (path / "__init__.py").is_file():
                walk(path, f"{prefix}.{path.name}")

    for path in sorted(ROOT.iterdir()):
        if path.is_dir() and (path.name in NOT_PACKAGE or path.name.startswith(".")):
            continue
        if path.is_dir() and (path / "__init__.py").is_file():
            walk(path, f"longdoc.{path.name}")
        elif path.is_file() and path.suffix == ".py":
            found["longdoc" if path.stem == "__init__" else f"longdoc.{path.stem}"] = path
    return found


def unit(name: str) -> str:
    """The layer unit of a module: ``agents`` for ``longdoc.agents.gateway.client``."""
    parts = name.split(".")
    if name in ("longdoc", "longdoc.__main__"):
        return "top"
    if name in BASE_MODULES or parts[1].startswith("_"):
        return BASE
    return parts[1]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, type_only: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every node under ``node``, with whether it sits in an ``if TYPE_CHECKING:`` body."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield stmt, True
                yield from _walk(stmt, True)
            for stmt in child.orelse:
                yield stmt, type_only
                yield from _walk(stmt, type_only)
            continue
        yield child, type_only
        yield from _walk(child, type_only)


def _lazy_table(tree: ast.Module) -> tuple[dict[str, str], int]:
    # A package face's lazy names: ``_LAZY = {"Name": ".module"}`` (relative module names),
    # or ``_WHERE = {"Name": "module"}`` handed to lazy_exports as ``f".{v}"``.
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(node.value, ast.Dict):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            if names & {"_LAZY", "_WHERE"}:
                prefix = "." if "_WHERE" in names else ""
                table = ast.literal_eval(node.value)
                return {str(k): prefix + str(v) for k, v in table.items()}, node.lineno
    return {}, 0


class Package:
    """The package's modules, their syntax trees and the lazy names of its faces."""

    def __init__(self) -> None:
        self.paths = package_modules()
        self.trees = {
            name: ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for name, path in self.paths.items()
        }
        # package -> {public name -> the module that defines it}
        self.lazy: dict[str, dict[str, str]] = {}
        self.lazy_line: dict[str, int] = {}
        for name, tree in self.trees.items():
            table, self.lazy_line[name] = _lazy_table(tree)
            self.lazy[name] = {
                public: self.known(self.absolute(target, name)) for public, target in table.items()
            }

    def is_package(self, name: str) -> bool:
        return self.paths[name].stem == "__init__"

    def absolute(self, target: str, source: str) -> str:
        """``target`` (``.x``, ``..x`` or ``longdoc.x``) as seen from module ``source``."""
        level = len(target) - len(target.lstrip("."))
        if level == 0:
            return target
        base = source.split(".") if self.is_package(source) else source.split(".")[:-1]
        base = base[: len(base) - (level - 1)]
        return ".".join(base + ([target.lstrip(".")] if target.lstrip(".") else []))

    def known(self, target: str) -> str:
        """The longest prefix of a dotted name that is a module of the package."""
        while target and target not in self.paths:
            target = target.rpartition(".")[0]
        return target

    def imported(self, node: ast.Import | ast.ImportFrom, source: str) -> list[str]:
        """The longdoc modules one import statement loads."""
        if isinstance(node, ast.Import):
            return [self.known(a.name) for a in node.names if a.name.split(".")[0] == "longdoc"]
        module = self.absolute("." * node.level + (node.module or ""), source)
        if module.split(".")[0] != "longdoc":
            return []
        module = self.known(module)
        found = []
        for alias in node.names:
            sub = f"{module}.{alias.name}"
            # a submodule, a lazy name (resolved to where it lives), or a name of the module
            found.append(sub if sub in self.paths else self.lazy[module].get(alias.name, module))
        return found

    def edges(self, source: str) -> list[Edge]:
        """The imports of one module, lazy-name tables included, each edge once."""
        found: dict[tuple[str, int, bool], Edge] = {}

        def add(target: str, line: int, type_only: bool) -> None:
            # importing a module runs its parent packages first: an edge to one adds nothing
            if target and not (source == target or source.startswith(target + ".")):
                found.setdefault((target, line, type_only), Edge(source, target, line, type_only))

        for node, type_only in _walk(self.trees[source]):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in self.imported(node, source):
                    add(target, node.lineno, type_only)
        for target in sorted(set(self.lazy[source].values())):
            add(target, self.lazy_line[source], False)  # importlib loads it on first use
        return list(found.values())


def import_graph() -> list[Edge]:
    """Every edge of the package's import graph."""
    package = Package()
    return [edge for name in package.paths for edge in package.edges(name)]


def direction_violations(edges: list[Edge]) -> list[str]:
    """Imports that point up the layers, across siblings, or into the test doubles."""
    bad = []
    for edge in edges:
        source, target = unit(edge.source), unit(edge.target)
        if source == target or target in ALLOWED[source]:
            continue
        bad.append(f"{source} must not import {target}: {edge}")
    return bad


def cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components (more than one module) of the import graph."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm; the graph has ~100 nodes
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def describe_cycle(component: list[str], edges: list[Edge]) -> str:
    """A cycle's modules and the imports that close it."""
    members = set(component)
    inside = sorted(str(e) for e in edges if e.source in members and e.target in members)
    return "cycle among " + ", ".join(component) + ":\n      " + "\n      ".join(inside)


def test_the_graph_sees_the_package() -> None:
    modules = package_modules()
    assert {"longdoc", "longdoc.agents.gateway.client", "longdoc.retrieval.index"} <= set(modules)
    assert not any(name.split(".")[1] in NOT_PACKAGE for name in modules if "." in name)
    edges = import_graph()
    pairs = {(e.source, e.target, e.type_only) for e in edges}
    # a _LAZY table entry, a lazy name imported from a package face, a TYPE_CHECKING import
    assert ("longdoc", "longdoc.api", False) in pairs
    assert ("longdoc.agents.gateway", "longdoc.agents.gateway.client", False) in pairs
    assert ("longdoc", "longdoc.workflows.chain.graph", True) in pairs
    # an import inside a function: the index loads its embedder on first use
    assert ("longdoc.retrieval.index", "longdoc.retrieval.embedding", False) in pairs
    # the parent packages an import runs anyway are no edge
    assert not any(e.source.startswith(e.target + ".") for e in edges)


def test_the_checks_catch_what_they_claim() -> None:
    up = Edge("longdoc.retrieval.index", "longdoc.workflows.base", 1, type_only=True)
    sideways = Edge("longdoc.agents.memory", "longdoc.memory.types", 2, type_only=False)
    doubles = Edge("longdoc.workflows.chain.graph", "longdoc.testing.scripted", 3, False)
    down = Edge("longdoc.cli.core", "longdoc.api", 4, type_only=False)
    assert len(direction_violations([up, sideways, doubles, down])) == 3
    ab, bc = Edge("longdoc.a", "longdoc.b", 1, False), Edge("longdoc.b", "longdoc.c", 1, False)
    assert cycles([ab, bc]) == []
    assert cycles([ab, bc, Edge("longdoc.c", "longdoc.a", 1, type_only=True)]) == [
        ["longdoc.a", "longdoc.b", "longdoc.c"]
    ]


def test_imports_point_down_the_layers_without_cycles() -> None:
    edges = import_graph()
    problems = direction_violations(edges)
    problems += [describe_cycle(c, edges) for c in cycles(edges)]
    if problems:
        pytest.fail(f"{len(problems)} import-graph problem(s):\n  " + "\n  ".join(problems), False)
