"""The package's layering rule: dependencies point one way.

    base (config, jsonio, runfolder) < skeleton < data < metrics < models < train
        < viz | loop | workflows < cli

A module may import its own package, the packages below it and the base modules, never one
above or beside it, with these exceptions stated here: ``viz`` draws and tabulates what the
lower layers produce and reads run folders, so it may import skeleton, data, metrics and the
base only (never models or train: the report is built from the run folder alone); ``loop``
and ``workflows`` (the application layer: a run, the standalone recognizer / generator
commands) may import ``viz`` for their pictures, and ``loop`` may not import ``workflows``
or the reverse. The base modules import nothing of the package but each other and the
package version. The test reads every module's import statements (also those inside
functions) with ``ast``, so a lazy import cannot hide a wrong-way dependency.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "infagenc"

BASE = {"config", "jsonio", "runfolder", "__init__"}
# package -> the packages it may import (besides itself and the base modules)
ALLOWED = {
    "skeleton": set(),
    "data": {"skeleton"},
    "metrics": {"skeleton", "data"},
    "models": {"skeleton"},
    "train": {"skeleton", "data", "metrics", "models"},
    "viz": {"skeleton", "data", "metrics"},
    "loop": {"skeleton", "data", "metrics", "models", "train", "viz"},
    "workflows": {"skeleton", "data", "metrics", "models", "train", "viz"},
    "cli": {"skeleton", "data", "metrics", "models", "train", "viz", "loop", "workflows"},
    "__main__": {"cli"},  # ``python -m infagenc``
}


def _unit(path: Path) -> str:
    """The layer a file belongs to: its top-level package, or the base module's name."""
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_units(path: Path) -> set[tuple[str, int]]:
    """(top-level infagenc unit, line) of every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel = path.relative_to(SRC)
    pkg_parts = list(rel.parts[:-1])  # the package the module is in, relative to infagenc
    out = set()
    for node in ast.walk(tree):
        names: list[list[str]] = []
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[1:] for a in node.names if a.name.split(".")[0] == "infagenc"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts[:len(pkg_parts) - (node.level - 1)]
                mod = base + (node.module.split(".") if node.module else [])
                names = [mod + [a.name] if not node.module else mod for a in node.names]
            elif node.module and node.module.split(".")[0] == "infagenc":
                mod = node.module.split(".")[1:]
                names = [mod or [a.name] for a in node.names]
        for parts in names:
            if parts:
                out.add((parts[0], node.lineno))
    return out


def _violations() -> list[str]:
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        unit = _unit(path)
        for target, line in _imported_units(path):
            if target == unit or target in {"__version__"}:
                continue
            if unit in BASE:
                ok = target in BASE
            else:
                ok = target in BASE or target in ALLOWED[unit]
            if not ok:
                bad.append(f"{path.relative_to(SRC.parent)}:{line}: {unit} imports {target}")
    return bad


def test_every_package_has_a_layer():
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    packages |= {p.stem for p in SRC.glob("*.py")} - BASE
    assert packages <= set(ALLOWED), f"packages without a declared layer: {sorted(packages - set(ALLOWED))}"


def test_no_lower_layer_imports_a_higher_one():
    assert _violations() == []


@pytest.mark.parametrize("src, unit, target", [
    ("from ..viz.confusion import plot_confusion\n", "train", "viz"),
    ("from infagenc.loop.runner import run\n", "viz", "loop"),
    ("def f():\n    from ..train.generator import sample_motionset\n", "viz", "train"),
])
def test_the_checker_sees_a_wrong_way_import(tmp_path, monkeypatch, src, unit, target):
    # a wrong-way import planted in a copy of the tree is reported (the check can fail)
    import shutil

    root = tmp_path / "infagenc"
    shutil.copytree(SRC, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / unit / "planted.py").write_text(src, encoding="utf-8")
    monkeypatch.setattr(__import__(__name__), "SRC", root)
    found = _violations()
    assert any(f"planted.py" in v and f"{unit} imports {target}" in v for v in found), found
