"""The package's module graph, read from its source with `ast`: which module imports which,
at module level or inside a function, and the layer each module belongs to.

    python tests/module_graph.py      # modules, edges, edges that point up, cycles, sizes

`tests/test_layers.py` checks that every edge points down the layers and that no module
imports another of the package inside a function.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "simulation"

#: the layers, bottom first; a module may import only from its own layer or those below.
#: A module belongs to the first prefix it matches.
LAYERS = (
    ("base", ("simulation.errors", "simulation.randomness", "simulation.trace",
              "simulation.cluster")),
    ("scenario", ("simulation.scenario",)),
    ("protocols", ("simulation.protocols",)),
    ("world", ("simulation.world",)),
    ("transport", ("simulation.transport",)),
    ("session", ("simulation.session",)),
    ("strategies", ("simulation.strategies",)),
    ("engine", ("simulation.engine", "simulation.results", "simulation.validity",
                "simulation.feasibility")),
    ("runner", ("simulation.runner", "simulation.calibration", "simulation.validation")),
    ("outputs", ("simulation.outputs", "simulation.sweeps", "simulation.analysis")),
    ("study", ("simulation.figures", "simulation.study", "simulation.docs")),
    ("cli", ("simulation.cli", "simulation.__main__")),
)
#: the package's front door imports lazily whatever its functions return (`run`, `sweep`)
TOP = "simulation"


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(name: str) -> int | None:
    """Index of a module's layer (None for the package's front door)."""
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return index
    return None


def _target(node, mod: str, is_package: bool, known: set[str]) -> list[str]:
    """The package's modules an import statement names."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = mod.split(".") if is_package else mod.split(".")[:-1]
            base = base[:len(base) - node.level + 1]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        names = [f"{prefix}.{a.name}" for a in node.names] + [prefix]
    out = []
    for n in names:
        while n and n not in known:
            n = n.rpartition(".")[0]
        if n and n.startswith("simulation") and n not in out:
            out.append(n)
    # `from simulation.x import y`: y is a module of the package, or a name in x
    return [n for n in out if not any(o != n and o.startswith(n + ".") for o in out)] \
        if isinstance(node, ast.ImportFrom) else out


def edges() -> list[tuple[str, str, bool]]:
    """(importer, imported, inside a function) for every import of a package module."""
    mods = modules()
    known = set(mods)
    out = []
    for mod, path in mods.items():
        tree = ast.parse(path.read_text())
        is_package = path.name == "__init__.py"

        def visit(node, in_function):
            for child in ast.iter_child_nodes(node):
                inner = in_function or isinstance(child, (ast.FunctionDef,
                                                          ast.AsyncFunctionDef))
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    for target in _target(child, mod, is_package, known):
                        if target != mod:
                            out.append((mod, target, in_function))
                visit(child, inner)
        visit(tree, False)
    return sorted(set(out))


def upward(all_edges) -> list[tuple[str, str]]:
    """Edges from a module to one of a higher layer."""
    out = []
    for a, b, _ in all_edges:
        la, lb = layer_of(a), layer_of(b)
        if la is not None and lb is not None and lb > la:
            out.append((a, b))
    return out


def cycles(all_edges) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for a, b, _ in all_edges:
        if a != TOP and b != TOP:
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
    index, low, stack, on, comps = {}, {}, [], set(), []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return comps


def main() -> int:
    mods = modules()
    all_edges = edges()
    inner = [(a, b) for a, b, f in all_edges if f and a != TOP]
    up = upward(all_edges)
    print(f"modules: {len(mods)}")
    print(f"import edges: {len({(a, b) for a, b, _ in all_edges})}")
    print(f"imports inside functions: {len(inner)}")
    for a, b in inner:
        print(f"  {a} -> {b}")
    print(f"edges that point up: {len(up)}")
    for a, b in up:
        print(f"  {a} -> {b}")
    comps = cycles(all_edges)
    print(f"cycles: {len(comps)}")
    for comp in comps:
        print(f"  {len(comp)} modules: {', '.join(comp)}")
    sizes = sorted(((sum(1 for _ in p.open()), m) for m, p in mods.items()), reverse=True)
    print("largest files:")
    for lines, m in sizes[:6]:
        print(f"  {lines:5d}  {m}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
