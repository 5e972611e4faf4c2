"""The layout rules the tree keeps (docs/architecture.md): one-way imports, kernels in their room,
every ``EIGEN_*`` setting read in ``offchain/settings.py`` and listed in ``docs/settings.md``."""

import ast
import re
from pathlib import Path

from offchain import settings

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "offchain"
PY_TREES = ("offchain", "scripts", "tests", "bench", "tools")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    """Line numbers inside ``if TYPE_CHECKING:`` blocks (imports there never run)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports(name: str, path: Path, modules: dict[str, Path], nested_only: bool = False) -> set[str]:
    """Every package module that ``name`` imports, at module level or inside a function (only inside a
    function or class with ``nested_only``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _type_checking_lines(tree)
    if nested_only:
        skip |= _top_level_lines(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _top_level_lines(tree: ast.Module) -> set[int]:
    """Line numbers of statements that run at import time (module level, incl. top-level if/try)."""
    lines: set[int] = set()
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_package_imports_are_one_way():
    """No import cycle anywhere in ``offchain``, counting imports inside functions too (so none can
    exist only to dodge a cycle)."""
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert _cycles(graph) == []


def test_package_imports_sit_at_module_level():
    """An import of a package module inside a function is allowed only in command modules (``cli``),
    which load their component when a sub-command runs so that ``eigen --help`` stays fast."""
    modules = _modules()
    nested = {
        name: found
        for name, path in modules.items()
        if "cli" not in name.split(".") and (found := _imports(name, path, modules, nested_only=True))
    }
    assert nested == {}


def test_crypto_params_is_a_leaf_and_kernel_wrappers_sit_below_the_curves():
    """The kernel wrappers take curve objects as arguments and read constants from ``params``."""
    modules = _modules()
    assert _imports("offchain.crypto.params", modules["offchain.crypto.params"], modules) <= {
        "offchain.errors"
    }
    curves = {"offchain.crypto.bn254", "offchain.crypto.bls12_381"}
    for wrapper in ("g1_native", "g2_native", "fr_native", "pairing_native", "g1_gpu"):
        name = f"offchain.crypto.{wrapper}"
        assert not _imports(name, modules[name], modules) & curves, name


def test_cycle_finder_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_library_holds_no_demo_and_no_stray_kernel():
    assert not list((PKG / "chain").glob("demo*.py"))
    for ext in ("*.c", "*.h", "*.cu"):
        for path in PKG.rglob(ext):
            assert path.parent.name == "kernels", f"{path.relative_to(ROOT)} is outside a kernels/ folder"


_READ = re.compile(
    r"""(environ\.get\(\s*|environ\[\s*|getenv\(\s*)["'](EIGEN_\w+)["']|["'](EIGEN_\w+)["']\s+(not\s+)?in\s+os\.environ"""
)


def _python_files():
    for tree in PY_TREES:
        yield from (ROOT / tree).rglob("*.py")


def test_eigen_settings_are_read_only_in_the_settings_module():
    offenders = []
    for path in _python_files():
        if path == PKG / "settings.py" or path == Path(__file__).resolve():
            continue
        for no, line in enumerate(path.read_text().splitlines(), 1):
            m = _READ.search(line)
            if m and not re.search(r"\]\s*=[^=]", line[m.end() :]):
                offenders.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}")
    assert offenders == []


def test_every_eigen_setting_is_declared_and_documented():
    declared = {s.name for s in settings.ALL}
    named: set[str] = set()
    for path in [*_python_files(), *(ROOT / "tools").glob("*.sh"), ROOT / "Makefile"]:
        named.update(re.findall(r"\bEIGEN_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    assert named - declared == set(), "EIGEN_* names used but not declared in offchain/settings.py"
    table = (ROOT / "docs" / "settings.md").read_text()
    documented = set(re.findall(r"^\| `(EIGEN_\w+)`", table, flags=re.M))
    assert documented == declared
    assert documented == set(re.findall(r"^\| ``(EIGEN_\w+)``", settings.__doc__ or "", flags=re.M))


def test_an_errors_module_with_all_lists_every_error_it_defines():
    """`__all__` in an errors.py is its public list: an error class left out of it is a class a caller
    importing the list cannot catch by name (helpers' branches added errors without listing them)."""
    for path in sorted(PKG.glob("*/errors.py")):
        tree = ast.parse(path.read_text())
        listed = next(
            (
                {e.value for e in node.value.elts}
                for node in tree.body
                if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            ),
            None,
        )
        if listed is None:
            continue
        defined = {n.name for n in tree.body if isinstance(n, ast.ClassDef) and not n.name.startswith("_")}
        assert defined <= listed, f"{path.relative_to(ROOT)}: not in __all__: {sorted(defined - listed)}"
