"""The package is a house of floors (issue 19): every module lives in a package named for
its floor, a package imports only floors below it, and no modules import each other in a
circle. Every import is counted, at module level, inside functions and under
``TYPE_CHECKING`` alike, since each is a dependency of the code that holds it."""

import ast
from pathlib import Path

import pytest

import hdpmusic

PACKAGE = Path(hdpmusic.__file__).parent

#: the floors, ground first; a package may import the root and any package on a lower floor
FLOORS: dict[str, int] = {
    "runtime": 0,        # errors, devices, threads, workers, progress
    "formats": 1,        # corpus, task data, representations, checkpoints, atomic writes
    "audio": 2,          # audio info, frame features, extraction
    "model": 2,          # the HDPGMM: math, optimisers, estimator
    "baselines": 3,      # G1, VQ, KIM, CLMR
    "evaluation": 3,     # protocols, metrics, uncertainty, interpretability
    "representations": 4,  # the model registry
    "datasets": 4,       # dataset loaders, splits, the demo collection, planted corpora
    "report": 5,         # tables, figures, the HTML page
    "pipeline": 6,       # fit, transform, embed, experiment, demo
    "hear": 7,           # the HEAR 2021 API
    "cli": 8,            # argument parsing and printing
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def floor_of(module: str) -> str | None:
    """The floor package of a module (None for the root ``hdpmusic`` and ``__main__``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in FLOORS else None


def import_graph() -> dict[str, set[str]]:
    """``module -> modules of the package it imports`` (a ``from a.b import c`` names the
    module ``a.b.c`` where that is one, else ``a.b``)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in modules else base)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def upward(graph: dict[str, set[str]]) -> list[str]:
    """Imports of a package on the same or a higher floor, as ``"a -> b"``."""
    found = []
    for source, targets in sorted(graph.items()):
        here = floor_of(source)
        for target in sorted(targets):
            there = floor_of(target)
            if here is None or there is None or here == there:
                continue
            if FLOORS[there] >= FLOORS[here]:
                found.append(f"{source} -> {target}")
    return found


def test_the_walk_sees_the_imports():
    graph = import_graph()
    checkpoint = graph["hdpmusic.formats.checkpoint"]
    assert "hdpmusic.formats.filekind" in checkpoint                    # module level
    assert "hdpmusic.formats.corpus" in checkpoint                      # in a function
    assert "hdpmusic.model.hdpgmm" in graph["hdpmusic.evaluation.interpretability"]
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_floor_rule_catches_an_upward_import():
    graph = {"hdpmusic.model.x": {"hdpmusic.cli.y"}, "hdpmusic.cli.y": {"hdpmusic.model.x"},
             "hdpmusic.audio.z": {"hdpmusic.model.x"}, "hdpmusic.model.w": {"hdpmusic"}}
    assert upward(graph) == ["hdpmusic.audio.z -> hdpmusic.model.x",
                             "hdpmusic.model.x -> hdpmusic.cli.y"]


def test_no_module_imports_itself_back_through_others():
    assert circles(import_graph()) == []


def test_every_package_imports_only_floors_below_it():
    assert upward(import_graph()) == []


def test_every_module_lives_in_a_floor_package():
    loose = [m for m in import_graph()
             if floor_of(m) is None and m not in ("hdpmusic", "hdpmusic.__main__")]
    assert loose == []
    assert sorted(p.name for p in PACKAGE.iterdir()
                  if p.is_dir() and (p / "__init__.py").exists()) == sorted(FLOORS)


def test_the_old_flat_paths_import_the_moved_modules_with_a_warning():
    import importlib
    import sys

    for old, new in hdpmusic.MOVED.items():
        assert floor_of(f"hdpmusic.{new}") is not None
        sys.modules.pop(f"hdpmusic.{old}", None)
        with pytest.warns(DeprecationWarning, match=f"hdpmusic.{old} moved to hdpmusic.{new}"):
            module = importlib.import_module(f"hdpmusic.{old}")
        assert module is importlib.import_module(f"hdpmusic.{new}")
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("hdpmusic.no_such_module")


HEAVY = {"torch", "librosa", "matplotlib", "sklearn", "scipy", "h5py", "numba", "soundfile"}


def _module_level_imports(path: Path, name: str, modules: dict[str, Path]) -> tuple[set, set]:
    """(package modules, heavy third-party packages) a module imports when it loads (its
    top-level statements, not functions and not ``TYPE_CHECKING`` blocks)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    ours, heavy = set(), set()
    body = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while body:
        node = body.pop(0)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            continue
        if isinstance(node, ast.If | ast.Try):
            body += node.body + getattr(node, "orelse", []) + getattr(node, "finalbody", [])
            continue
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                     for a in node.names]
        for full in names:
            if full in modules:
                ours.add(full)
            elif full.split(".")[0] in HEAVY:
                heavy.add(full.split(".")[0])
    return ours, heavy


def heavy_at_import() -> dict[str, set[str]]:
    """Module -> the heavy packages importing it loads (through package modules too)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    direct = {n: _module_level_imports(p, n, modules) for n, p in modules.items()}
    found: dict[str, set[str]] = {}

    def visit(name: str, seen: frozenset) -> set[str]:
        if name not in found:
            ours, heavy = direct[name]
            parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
            for other in (ours | parents) - seen - {name}:
                heavy = heavy | visit(other, seen | {name})
            found[name] = heavy
        return found[name]

    for name in modules:
        visit(name, frozenset())
    return found


def test_function_local_imports_only_defer_heavy_dependencies():
    """A package module is imported inside a function only where importing it at module
    level would load a heavy library (torch, librosa, matplotlib, ...) the importing module
    does not load already."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    heavy = heavy_at_import()
    assert "torch" in heavy["hdpmusic.model.hdpgmm"] and not heavy["hdpmusic.runtime.errors"]
    needless = []
    for name, path in modules.items():
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                        "hdpmusic"):
                    target = node.module
                    target = next((f"{target}.{a.name}" for a in node.names
                                   if f"{target}.{a.name}" in modules), target)
                    if not heavy[target] - heavy[name]:
                        needless.append(f"{name}:{node.lineno} imports {target}")
    assert needless == []


def test_the_old_representations_module_still_gives_the_file_class():
    from hdpmusic.formats.representations import Representations

    with pytest.warns(DeprecationWarning, match="moved to hdpmusic.formats.representations"):
        from hdpmusic.representations import Representations as old
    assert old is Representations
    with pytest.raises(ImportError):
        from hdpmusic.representations import Nothing  # noqa: F401
