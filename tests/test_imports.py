"""The import graph of kamcore: no cycles (imports inside functions count), no private names across packages."""

import ast
from pathlib import Path

import kamcore

ROOT = Path(kamcore.__file__).parent


def _modules() -> dict[str, Path]:
    mods = {}
    for p in ROOT.rglob("*.py"):
        name = ".".join(p.relative_to(ROOT.parent).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = p
    return mods


def _imports(mods: dict[str, Path]):
    """Yield ``(importer, imported module, names)`` for every import statement, wherever it is."""
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                for a in node.names:
                    yield mod, a.name, []
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                for a in node.names:  # `from pkg import submodule` imports the submodule
                    full = f"{base}.{a.name}"
                    yield (mod, full, []) if full in mods else (mod, base, [a.name])


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
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
                out.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    mods = _modules()
    edges = {m: set() for m in mods}
    for src, dst, _ in _imports(mods):
        if dst in mods and dst != src:
            edges[src].add(dst)
    assert _cycles(edges) == []


def test_no_private_names_across_packages():
    mods = _modules()
    bad = []
    for src, dst, names in _imports(mods):
        if not dst.startswith("kamcore"):
            continue
        for n in names:
            if n.startswith("_") and not n.startswith("__"):
                if mods.get(dst) and dst.rpartition(".")[0] != src.rpartition(".")[0] and dst != src.rpartition(".")[0]:
                    bad.append(f"{src} imports {dst}.{n}")
    assert bad == []
