"""Size limits that keep the code readable: no module in src/ over 500 lines, no function
(or method) over 80 lines from its ``def`` to its last line."""
from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "infagenc"
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80


def _long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            if n > MAX_FUNCTION_LINES:
                out.append(f"{path.relative_to(SRC.parent)}:{node.lineno} {node.name} ({n} lines)")
    return out


def test_no_module_over_500_lines():
    long = [f"{p.relative_to(SRC.parent)} ({n} lines)" for p in sorted(SRC.rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES]
    assert long == []


def test_no_function_over_80_lines():
    assert [f for p in sorted(SRC.rglob("*.py")) for f in _long_functions(p)] == []
