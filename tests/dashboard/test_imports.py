"""The dashboard reads and draws only (issue 17, part 4): no module of ``dashboard/`` imports the stages that
compute -- the Monte Carlo, training, preprocessing -- counting imports inside functions.  What the pages
draw is computed by kamcore functions the dashboard calls through :mod:`kamcore.monitor` (event display),
:mod:`kamcore.metrics` (sample comparison), :mod:`kamcore.catalog` (run state, reference run) and
:mod:`kamcore.models` (checkpoints, generators)."""

from __future__ import annotations

import ast
from pathlib import Path

import dashboard

ROOT = Path(dashboard.__file__).parent
FORBIDDEN = ("kamcore.sim", "kamcore.train", "kamcore.preprocess")


def _imports(path: Path):
    """``(line, imported module)`` of every import statement of ``path``, wherever it is (relative imports
    stay inside ``dashboard``)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom) and not node.level:
            base = node.module or ""
            yield node.lineno, base
            for a in node.names:  # ``from kamcore import sim`` imports kamcore.sim
                yield node.lineno, f"{base}.{a.name}"


def _is_forbidden(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FORBIDDEN)


def test_the_dashboard_imports_no_computing_stage():
    files = sorted(ROOT.rglob("*.py"))
    assert len(files) > 10  # the walk found the package
    bad = [f"{p.relative_to(ROOT.parent)}:{line} imports {mod}" for p in files for line, mod in _imports(p)
           if _is_forbidden(mod)]
    assert bad == [], "\n".join(bad)


def test_the_check_sees_imports_inside_functions(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("import numpy\n\ndef f():\n    from kamcore.preprocess import hitmaps\n    import kamcore.sim\n"
                   "    from kamcore import train\n    from kamcore.monitor import display_event\n")
    found = {".".join(mod.split(".")[:2]) for _, mod in _imports(src) if _is_forbidden(mod)}
    assert found == {"kamcore.preprocess", "kamcore.sim", "kamcore.train"}
