"""The shape of qlint's own code: no import cycle between its modules, none between its
packages (the layers: frontend, facts, graph, pack, analysis, rules, report, replay ...), and
short functions where the pack format is defined."""
from __future__ import annotations

import ast
import os

from conftest import REPO

from qlint.analysis.scc import sccs

PACKAGE = os.path.join(REPO, "qlint")


def _modules() -> dict[str, str]:
    """Dotted module name -> file, for every module of qlint."""
    out = {}
    for directory, _dirs, names in os.walk(PACKAGE):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                dotted = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                out[dotted.removesuffix(".__init__")] = path
    return out


def _imported(name: str, path: str, modules: dict) -> set[str]:
    """The qlint modules `name` imports, at the top or inside a function (a cycle broken by
    importing late is still a cycle)."""
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    found = set()
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level \
                else []
            module = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in modules else module)
    return {m for m in found if m in modules and m != name}


def _graph(group=lambda m: m) -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {group(m): set() for m in modules}
    for name, path in modules.items():
        graph[group(name)].update(group(t) for t in _imported(name, path, modules)
                                  if group(t) != group(name))
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member."""
    return [c for c in sccs(sorted(graph), lambda node: sorted(graph[node])) if len(c) > 1]


def _layer(module: str) -> str:
    """qlint.rules.lock_rules -> qlint.rules; qlint.cli -> qlint.cli."""
    return ".".join(module.split(".")[:2])


def test_the_checker_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_itself_back():
    assert _cycles(_graph()) == []


def test_the_packages_are_layers():
    """No package imports one that imports it back: the pack format is below the analysis,
    the rules and the runtime checker, and the analysis knows nothing of the rules."""
    graph = _graph(_layer)
    assert _cycles(graph) == []
    assert "qlint.rules" not in graph["qlint.analysis"]
    assert {"qlint.analysis", "qlint.rules", "qlint.replay"} & graph["qlint.pack"] == set()


def test_functions_of_the_pack_format_are_short():
    long = []
    for directory, _dirs, names in os.walk(os.path.join(PACKAGE, "pack")):
        for name in sorted(names):
            if not name.endswith(".py"):
                continue
            path = os.path.join(directory, name)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read())
            long += [f"{os.path.relpath(path, REPO)}:{node.lineno} {node.name}"
                     for node in ast.walk(tree)
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                     and node.end_lineno - node.lineno + 1 > 80]
    assert os.path.isdir(os.path.join(PACKAGE, "pack"))
    assert long == []
