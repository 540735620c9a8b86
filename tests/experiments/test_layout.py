r"""The comparison harness imports in one direction: ``cli → comparison → {execution → {cluster, distributed},
compute} → runner`` (a cluster job with several GPUs trains through ``distributed``), with the options at the bottom, and no cycle among its modules, counting the imports inside functions."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "escnn_soft"

LAYERS = [("escnn_soft.experiments.cli",), ("escnn_soft.experiments.comparison",),
          ("escnn_soft.experiments.execution", "escnn_soft.experiments.compute"),
          ("escnn_soft.experiments.cluster",), ("escnn_soft.experiments.distributed",),
          ("escnn_soft.experiments.runner",), ("escnn_soft.experiments.options",)]
r"""The harness's layers, top first: a module may import those of lower layers only."""


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _nodes(tree: ast.AST):
    r"""The nodes of ``tree``, without the blocks of ``if TYPE_CHECKING:`` (imports for annotations only)."""
    for child in ast.iter_child_nodes(tree):
        test = child.test if isinstance(child, ast.If) else None
        if test is not None and "TYPE_CHECKING" in ast.unparse(test):
            yield from (n for orelse in child.orelse for n in [orelse, *_nodes(orelse)])
            continue
        yield child
        yield from _nodes(child)


def _imports(path: Path, modules: set) -> set:
    r"""The modules of ``modules`` that the file ``path`` imports, at its top or inside functions (a
    ``from package import name`` counts as an import of ``package.name`` when that is a module); imports
    for annotations only (``if TYPE_CHECKING:``) do not count."""
    name = _module(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in _nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[:len(base) - node.level + 1] if node.level else []
            origin = ".".join(base + ([node.module] if node.module else []))
            found.add(origin)
            found.update(f"{origin}.{alias.name}" for alias in node.names)
    return {m for m in found if m in modules and m != name}


def _graph() -> dict:
    files = {_module(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, set(files)) for name, path in files.items()}


def _cycle(graph: dict):
    r"""A cycle of ``graph`` as a list of modules, or ``None``."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_harness_has_no_import_cycle():
    graph = _graph()
    harness = {m: {n for n in deps if n.startswith("escnn_soft.experiments")} for m, deps in graph.items()
               if m.startswith("escnn_soft.experiments")}
    assert _cycle(harness) is None, " → ".join(_cycle(harness))


def test_the_layers_import_downward_only():
    graph = _graph()
    for i, layer in enumerate(LAYERS):
        above = {m for higher in LAYERS[:i] for m in higher}
        for module in layer:
            assert not graph[module] & above, f"{module} imports {sorted(graph[module] & above)} of a layer above it"
            for other in set(layer) - {module}:
                assert other not in graph[module], f"{module} imports {other} of its own layer"


def test_the_options_load_nothing_of_the_harness_and_no_torch():
    graph = _graph()
    assert not {m for m in graph["escnn_soft.experiments.options"] if m.startswith("escnn_soft")}
    code = "import sys, escnn_soft.experiments.options, escnn_soft.experiments.cli; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


@pytest.mark.parametrize("module", [m for layer in LAYERS for m in layer] + ["escnn_soft.experiments.claims",
                                                                            "escnn_soft.experiments.reports"])
def test_each_harness_module_imports_first_in_a_fresh_interpreter(module):
    r"""Imported first, each module loads the ones below it at its top without a partly initialised module."""
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
