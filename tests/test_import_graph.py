"""No import cycle between the modules of `eventsui` and `automations`.

A cycle means neither module can be read (or loaded) without the other; a lazy import inside a
function only hides it, so imports anywhere in a module count. The graph is read from the
source with `ast`, without importing anything.
"""

from __future__ import annotations

import ast
import itertools
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("eventsui", "automations")


def module_files(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Every module of the packages by its dotted name (a package by its `__init__`)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imports_of(path: Path, module: str, modules: set[str]) -> set[str]:
    """The modules of `modules` that `module` imports, anywhere in it (functions included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            origin = node.module or ""
            if node.level:  # relative: `from . import x`, `from ..a import x`
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                # `from a import b` imports the module a.b if there is one, else a name of a.
                submodule = f"{origin}.{alias.name}"
                found.add(submodule if submodule in modules else origin)
    return {name for name in found if name in modules and name != module}


def import_graph(files: dict[str, Path] | None = None) -> dict[str, set[str]]:
    """Module -> the modules it imports."""
    files = module_files() if files is None else files
    return {module: imports_of(path, module, set(files)) for module, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle, as [a, b, ..., a] where each module imports the next one.

    graphlib reports one cycle at a time; an edge of it is dropped to look for the next.
    """
    graph = {node: set(edges) for node, edges in graph.items()}
    found = []
    while True:
        try:
            tuple(TopologicalSorter(graph).static_order())
        except CycleError as exc:
            # graphlib lists a cycle so that each node is a dependency of the next one.
            cycle = list(reversed(exc.args[1]))
            found.append(cycle)
            graph[cycle[0]].discard(cycle[1])
        else:
            return found


def test_graph_counts_imports_in_functions_relative_ones_and_submodules(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    for name in ("__init__", "b", "c", "d", "sub/__init__", "sub/e"):
        (package / f"{name}.py").write_text("")
    (package / "a.py").write_text(
        "import pkg.d\n"
        "from .c import something\n"
        "from pkg.sub import e\n"
        "def later():\n"
        "    from . import b\n"
    )
    (package / "sub" / "e.py").write_text("from .. import c\nfrom ..b import x\n")
    graph = import_graph(module_files(tmp_path, ("pkg",)))
    assert graph["pkg.a"] == {"pkg.b", "pkg.c", "pkg.d", "pkg.sub.e"}
    assert graph["pkg.sub.e"] == {"pkg.c", "pkg.b"}
    assert cycles(graph) == []


def test_every_cycle_is_reported_in_import_order():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}, "e": {"d"}, "f": {"a"}}
    found = cycles(graph)
    assert len(found) == 2
    for cycle in found:
        assert cycle[0] == cycle[-1]
        assert all(after in graph[before] for before, after in itertools.pairwise(cycle))


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)
