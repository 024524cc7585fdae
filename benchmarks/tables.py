"""Regenerate the result tables of benchmarks/README.md from benchmarks/results/*.md.

    python benchmarks/tables.py

Each block of README.md between ``<!-- BEGIN results/NAME.md -->`` and
``<!-- END results/NAME.md -->`` is replaced by the current content of that file (its
first heading dropped); everything else in README.md is left as written.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BLOCK = re.compile(r"(<!-- BEGIN (results/[\w.-]+\.md) -->\n)(.*?)(<!-- END \2 -->)", re.S)


def _body(path: Path) -> str:
    if not path.exists():
        return f"_{path.name} has not been produced yet (run its command)._\n"
    lines = path.read_text(encoding="utf-8").splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines).strip() + "\n"


def regenerate(readme: Path = HERE / "README.md") -> str:
    text = readme.read_text(encoding="utf-8")
    new = BLOCK.sub(lambda m: m.group(1) + _body(HERE / m.group(2)) + m.group(4), text)
    readme.write_text(new, encoding="utf-8")
    return new


if __name__ == "__main__":
    regenerate()
    sys.exit(0)
