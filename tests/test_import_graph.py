"""The import graph of the package: one-way arrows and private names kept private.

The graph is read from the source with :mod:`ast` (nothing is imported): one node per module
of ``stability`` (and of ``stability.proofs``, whose sources are the top-level ``proofs/``
folder), one edge per ``import``/``from ... import`` of another module of the package. The
rules:

* **no cycles** among the imports executed when a module is loaded (module level, outside
  ``if TYPE_CHECKING:``); an import inside a function runs later and cannot deadlock the
  import system, so it is not an edge of that graph;
* **private stays private**: no module imports a private name (``_name``, not dunder) of
  another module, or reads one as ``module._name``; a private module (``package._module``)
  is imported only from inside ``package``;
* **the simulator stands on its own**: ``stability.simulation`` (a module or a package) never
  imports ``stability.numeric``, directly, lazily or through the modules it loads.

The check functions return the violations, so a failure message lists every one of them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Package name → folder of its sources.
SOURCES = {"stability": ROOT / "stability", "stability.proofs": ROOT / "proofs"}
SIMULATOR = "stability.simulation"
NUMERIC = "stability.numeric"


@dataclass(frozen=True)
class Import:
    """One import statement's target, as seen from the importing module."""

    importer: str
    module: str  # the package module imported (or imported from)
    names: tuple[str, ...]  # the names taken with ``from module import ...`` (empty for import)
    line: int
    module_level: bool  # executed when the importer is loaded


def module_files() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    modules: dict[str, Path] = {}
    for package, folder in SOURCES.items():
        for path in sorted(folder.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _walk(node: ast.AST, module_level: bool) -> Iterator[tuple[ast.AST, bool]]:
    """Every node below ``node``, with whether it runs when the module is loaded."""
    for child in ast.iter_child_nodes(node):
        inside_function = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        level = module_level and not inside_function and not _type_checking_block(child)
        yield child, module_level
        yield from _walk(child, level)


def _resolve(importer: str, is_package: bool, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def imports(modules: dict[str, Path] | None = None) -> list[Import]:
    """Every import of a package module by a package module."""
    modules = module_files() if modules is None else modules
    found: list[Import] = []
    for importer, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node, module_level in _walk(tree, True):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        found.append(Import(importer, alias.name, (), node.lineno, module_level))
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(importer, _is_package(importer, modules), node.module, node.level)
                if target not in modules:
                    continue
                names = tuple(alias.name for alias in node.names)
                found.append(Import(importer, target, names, node.lineno, module_level))
                for name in names:  # ``from package import submodule``
                    if f"{target}.{name}" in modules:
                        found.append(
                            Import(importer, f"{target}.{name}", (), node.lineno, module_level)
                        )
    return found


def graph(*, module_level_only: bool = True) -> dict[str, set[str]]:
    """Module → the package modules it imports (explicitly; parent packages not added)."""
    modules = module_files()
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for item in imports(modules):
        if item.module != item.importer and (item.module_level or not module_level_only):
            edges[item.importer].add(item.module)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = lowlink[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(edges.get(node, ())):
            if successor not in index:
                connect(successor)
                lowlink[node] = min(lowlink[node], lowlink[successor])
            elif successor in on_stack:
                lowlink[node] = min(lowlink[node], index[successor])
        if lowlink[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return sorted(components)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def private_name_violations() -> list[str]:
    """Every import (or attribute read) of a private name of another module, one line each."""
    modules = module_files()
    violations: list[str] = []
    for item in imports(modules):
        if item.module == item.importer:
            continue
        where = f"{modules[item.importer].relative_to(ROOT)}:{item.line}"
        for name in item.names:
            if _private(name) and f"{item.module}.{name}" not in modules:
                violations.append(f"{where}: {item.importer} imports {item.module}.{name}")
        # a private module is for its own package
        parts = item.module.split(".")
        for depth, part in enumerate(parts):
            owner = ".".join(parts[:depth])
            if _private(part) and depth and not _inside(item.importer, owner):
                violations.append(
                    f"{where}: {item.importer} imports the private module {item.module}"
                )
                break
    for importer, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bound: dict[str, str] = {}  # local name → package module
        for node, _ in _walk(tree, True):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules and alias.asname:
                        bound[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(importer, _is_package(importer, modules), node.module, node.level)
                for alias in node.names:
                    if f"{target}.{alias.name}" in modules:
                        bound[alias.asname or alias.name] = f"{target}.{alias.name}"
        for node, _ in _walk(tree, True):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
                and bound[node.value.id] != importer
                and _private(node.attr)
                and f"{bound[node.value.id]}.{node.attr}" not in modules
            ):
                violations.append(
                    f"{path.relative_to(ROOT)}:{node.lineno}: {importer} reads "
                    f"{bound[node.value.id]}.{node.attr}"
                )
    return sorted(set(violations))


def reachable(start: str, edges: dict[str, set[str]]) -> dict[str, list[str]]:
    """Every module reachable from ``start``, with one import path to it."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop()
        for successor in sorted(edges.get(node, ())):
            if successor not in paths:
                paths[successor] = [*paths[node], successor]
                frontier.append(successor)
    return paths


def simulator_numeric_violations() -> list[str]:
    """Every import path from a simulator module to ``stability.numeric``, one line each.

    The simulator's own imports count wherever they sit (lazy ones included); through the
    other modules, the imports that run when they are loaded.
    """
    modules = module_files()
    loaded = graph(module_level_only=True)
    everything = graph(module_level_only=False)
    violations = []
    for simulator in (name for name in modules if _inside(name, SIMULATOR)):
        for first in sorted(everything[simulator]):
            if _inside(first, SIMULATOR):
                continue
            for target, path in reachable(first, loaded).items():
                if _inside(target, NUMERIC):
                    violations.append(" → ".join([simulator, *path]))
                    break
    return sorted(set(violations))


# ---------------------------------------------------------------------------------------------
# The checkers check: small synthetic trees with a known answer


def test_cycle_finder_on_known_graphs():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"c"}}) == []
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}) == [["a", "b"], ["c", "d"]]


def test_relative_imports_resolve():
    assert _resolve("stability.proofs.gd_edge", False, "registry", 1) == "stability.proofs.registry"
    assert _resolve("stability.proofs", True, "registry", 1) == "stability.proofs.registry"
    assert _resolve("stability.cli.prove", False, None, 2) == "stability"
    assert _resolve("stability.cli.prove", False, "errors", 2) == "stability.errors"


def test_the_graph_sees_the_package():
    modules = module_files()
    assert "stability.cli.prove" in modules and "stability.proofs.registry" in modules
    edges = graph()
    assert "stability.proofs.registry" in edges["stability.proofs.gd_edge"]
    assert "stability.errors" in edges["stability.cli"]
    # a lazy import is an edge of the full graph only
    assert "stability.testing._assertions" not in edges["stability.testing.plugin"]
    lazy_edges = graph(module_level_only=False)["stability.testing.plugin"]
    assert "stability.testing._assertions" in lazy_edges


def test_private_checker_sees_a_private_import(tmp_path, monkeypatch):
    package = tmp_path / "stability"
    (package / "inner").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "inner" / "__init__.py").write_text("")
    (package / "inner" / "_helpers.py").write_text("def _secret():\n    pass\n")
    (package / "inner" / "user.py").write_text("from stability.inner._helpers import _secret\n")
    (package / "outside.py").write_text(
        "from stability.inner import _helpers\n\n\ndef f():\n    return _helpers._secret()\n"
    )
    monkeypatch.setattr("tests.test_import_graph.SOURCES", {"stability": package})
    monkeypatch.setattr("tests.test_import_graph.ROOT", tmp_path)
    assert private_name_violations() == [
        "stability/inner/user.py:1: stability.inner.user imports stability.inner._helpers._secret",
        "stability/outside.py:1: stability.outside imports the private module "
        "stability.inner._helpers",
        "stability/outside.py:5: stability.outside reads stability.inner._helpers._secret",
    ]


def test_simulator_checker_follows_lazy_and_indirect_imports(tmp_path, monkeypatch):
    package = tmp_path / "stability"
    (package / "numeric").mkdir(parents=True)
    (package / "simulation").mkdir()
    for folder in (package, package / "numeric", package / "simulation"):
        (folder / "__init__.py").write_text("")
    (package / "numeric" / "exact.py").write_text("x = 1\n")
    (package / "middle.py").write_text("from stability.numeric import exact\n")
    (package / "unused.py").write_text("def f():\n    from stability.numeric import exact\n")
    (package / "simulation" / "kernel.py").write_text("import stability.unused\n")
    (package / "simulation" / "runner.py").write_text(
        "def run():\n    from stability import middle\n"
    )
    monkeypatch.setattr("tests.test_import_graph.SOURCES", {"stability": package})
    assert simulator_numeric_violations() == [
        "stability.simulation.runner → stability.middle → stability.numeric"
    ]
    (package / "simulation" / "runner.py").write_text("x = 2\n")
    assert simulator_numeric_violations() == []


# ---------------------------------------------------------------------------------------------
# The rules, on the package


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_no_module_imports_a_private_name_of_another():
    assert private_name_violations() == []


def test_the_simulator_imports_no_numeric_code():
    assert simulator_numeric_violations() == []
