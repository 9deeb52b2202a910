"""The layers stay layers: tools -> pipeline -> transforms, and no import cycles."""
from __future__ import annotations

import ast
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("transforms", "pipeline", "tools")
MAY_IMPORT = {"transforms": {"transforms"}, "pipeline": {"transforms", "pipeline"},
              "tools": {"transforms", "pipeline", "tools"}}


def _module(path: pathlib.Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: pathlib.Path) -> list[tuple[str, bool]]:
    """(module imported, at the top of the file) for each import of our packages."""
    tree = ast.parse(path.read_text())
    top = set(map(id, tree.body))
    out = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            if name.split(".")[0] in PACKAGES:
                out.append((name, id(node) in top))
    return out


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        for name, at_top in _imports(path):
            if at_top and name in files and name != module:
                graph[module].add(name)
    return graph


def test_no_layer_imports_one_above_it__tools_pipeline_transforms():
    for pkg in PACKAGES:
        for path in (REPO / pkg).rglob("*.py"):
            for name, _ in _imports(path):
                assert name.split(".")[0] in MAY_IMPORT[pkg], f"{path.relative_to(REPO)} imports {name}"


def test_no_import_cycles__top_level_imports():
    graph = _graph()
    state: dict[str, int] = {}

    def visit(module: str, stack: list[str]) -> None:
        state[module] = 1
        for dep in graph[module]:
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(dep):] + [dep]))
            if dep not in state:
                visit(dep, [*stack, dep])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])
