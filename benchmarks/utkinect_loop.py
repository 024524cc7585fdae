"""InfAGenC on UTKinect-Action3D cross-subject: Real vs Syn vs Real+Syn under the three
ablation modes of the loop (baseline VAE without recycling, random selection, distance
selection), five run seeds each.

    python benchmarks/utkinect_loop.py                         # all modes, seeds 0-4, then the table
    python benchmarks/utkinect_loop.py --modes distance --seeds 3 4
    python benchmarks/utkinect_loop.py --table-only            # rebuild the table from finished runs
    python benchmarks/utkinect_loop.py --recognizer msg3d      # MS-G3D as the final recognizer of finished runs

Each (mode, seed) is one `infagenc run` with ``benchmarks/configs/utkinect.toml`` in
``benchmarks/runs/utkinect/<mode>_s<seed>/``; see ``loop_bench.py`` for what is shared and
written (``results/utkinect_loop.json`` and ``.md``).
"""
from __future__ import annotations

import sys
from pathlib import Path

from loop_bench import HERE, Protocol, main


def data(root: Path, runs: Path) -> dict:
    path = (root / "utkinect" / "joints").resolve()
    if not path.is_dir():
        raise SystemExit(f"UTKinect not found at {path} (pass --data-root, the folder holding utkinect/)")
    return {"path": str(path)}


PROTOCOL = Protocol(
    name="utkinect", title="InfAGenC on UTKinect-Action3D (cross-subject)", config=HERE / "configs" / "utkinect.toml",
    intro="Test accuracy (%) on the even subjects (99 segments); training on the odd subjects (100).", data=data,
    other_recognizers={"msg3d": {"model": "msg3d", "size": "slim", "lr": 1e-3, "epochs": 41}},
    other_notes=("MS-G3D slim, lr 1e-3, 41 epochs: the settings chosen on validation subjects s07, s09 in "
                 "`utkinect_recognizers.py` (never on the test subjects)."))

if __name__ == "__main__":
    sys.exit(main(PROTOCOL, doc=__doc__))
