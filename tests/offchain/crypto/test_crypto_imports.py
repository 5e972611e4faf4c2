"""offchain.crypto's imports go one way: no cycle among its modules, params.py a leaf, the kernel
wrappers below the curve modules, and no import of a package module hidden inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import offchain.crypto

PKG = "offchain.crypto"
SRC = Path(offchain.crypto.__file__).resolve().parent
ROOT = SRC.parents[1]  # the folder holding the offchain package
WRAPPERS = ("g1_native", "g2_native", "fr_native", "pairing_native", "g1_gpu")


def _imports(node: ast.AST) -> list[str]:
    """The offchain modules an import statement names (``from offchain.crypto import bn254`` names
    offchain.crypto.bn254, ``from offchain import native`` offchain.native)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.startswith("offchain")]
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("offchain"):
        folder = ROOT.joinpath(*node.module.split("."))
        subs = [f"{node.module}.{a.name}" for a in node.names if (folder / f"{a.name}.py").is_file()]
        return subs or [node.module]
    return []


def _graph() -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    """Module -> the offchain modules it imports anywhere, and module -> those imported in a function."""
    graph, nested = {}, {}
    for path in sorted(SRC.glob("*.py")):
        name = f"{PKG}.{path.stem}"
        tree = ast.parse(path.read_text())
        graph[name] = {m for node in ast.walk(tree) for m in _imports(node)}
        top = {id(n) for n in tree.body}
        nested[name] = [m for node in ast.walk(tree) if id(node) not in top for m in _imports(node)]
    return graph, nested


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if n not in graph:
                continue
            if state.get(n) == 1:
                return stack[stack.index(n) :] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_cycle_in_crypto():
    graph, _ = _graph()
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_cycle_detector_sees_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_params_is_a_leaf_and_wrappers_take_curves_as_arguments():
    graph, nested = _graph()
    assert graph[f"{PKG}.params"] <= {"offchain.errors"}
    for w in WRAPPERS:
        assert not graph[f"{PKG}.{w}"] & {f"{PKG}.bn254", f"{PKG}.bls12_381"}, w
    for name, mods in nested.items():
        assert not mods, f"{name} imports {mods} inside a function"
