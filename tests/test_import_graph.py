"""No import cycles among the modules of `durable_harden` (analyzers/, codeactions/, server/).

The graph is read from the source with `ast`, so it sees every import statement wherever it
stands: at the top, under `if TYPE_CHECKING:`, inside a function (a local import that only
hides a cycle still counts).

What is not an edge, and why:
- importing `a.b.c` also runs the `__init__` of the packages `a` and `a.b`; that is not counted
  as an edge from the importer to those packages. A package whose `__init__` imports its own
  submodules (server/lsp/__init__.py registers every feature module) would otherwise close a
  "cycle" with every sibling import, which Python resolves (the package is in `sys.modules`
  while its `__init__` runs). An explicit import of a package (`from durable_harden.codeactions
  import fixes_for`) is an edge to its `__init__`.
- `importlib.import_module(name)` with a computed name (the rule and fix registries discover
  their modules that way) is a call, not an import statement; those registries load leaf modules
  by design.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "durable_harden"
SUBPACKAGES = ("analyzers", "codeactions", "server")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for top in SUBPACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([PACKAGE, *parts])] = path
    for path in sorted((ROOT / PACKAGE).glob("*.py")):
        found[PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"] = path
    return found


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The module `name` names, or the nearest package or module above it (`a.b.func` -> a.b)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                # `from pkg import sub` imports the submodule `pkg.sub` when there is one
                targets = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                    for alias in node.names
                ]
            for target in targets:
                if target == PACKAGE or target.startswith(f"{PACKAGE}."):
                    owner = _owner(target, modules)
                    if owner is not None and owner != name:
                        graph[name].add(owner)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found is not None:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found is not None:
                return found
    return None


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = import_graph()
    assert len(graph) > 100
    # a TYPE_CHECKING import (codeactions/spec.py) and a function-local one
    # (codeactions/__init__.py imports the rule registry inside `specs()`)
    assert "durable_harden.analyzers.findings" in graph["durable_harden.codeactions.spec"]
    assert "durable_harden.analyzers.rules" in graph["durable_harden.codeactions"]
    # a relative-free package import and a package's own submodules
    assert "durable_harden.server.lsp.code_actions" in graph["durable_harden.server.lsp"]


def test_find_cycle_finds_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
