"""InfAGenC on UTKinect-Action3D cross-subject: Real vs Syn vs Real+Syn under the three
ablation modes of the loop (baseline VAE without recycling, random selection, distance
selection), five run seeds each; ST-GCN slim (the runs' own) and MS-G3D slim as final
recognizers, both with the strong recipe.

    python benchmarks/protocols/utkinect_loop.py --jobs 2         # all modes, seeds 0-4, MS-G3D, the table
    python benchmarks/protocols/utkinect_loop.py --modes distance --seeds 3 4
    python benchmarks/protocols/utkinect_loop.py --table-only     # rebuild the table from finished runs
    python benchmarks/protocols/utkinect_loop.py --tiny --seeds 0 --jobs 2   # a smoke run (minutes)
    # the Table 2 generators and the bounded loop beside the modes, without the Syn-only recognizer:
    python benchmarks/protocols/utkinect_loop.py --seeds 0 1 2 --modes none random distance exemplar mdm \
        distance_bounded --final-train-sets real real_syn --other --jobs 2

Each (mode, seed) is one `infagenc run` with ``benchmarks/configs/utkinect.toml`` in
``benchmarks/runs/utkinect_current/<mode>_s<seed>/``; see ``loop_bench.py`` for what is shared and
written (``results/utkinect_loop_current.json`` and ``.md``). The config's data preparation and
final recognizer are ``benchmarks/protocols/recipe.py``'s ``recipe`` variant with the epochs it chose on
validation subjects s07, s09 (ST-GCN slim 20, MS-G3D slim 10: ``results/recipe/utkinect/*.json``);
generated samples keep the data's root constraint.

Cost (1 thread a run, this 2-core CPU under load): 20-40 min a run (the plain protocol's final
recognizers took 10-17 min of its runs; the recipe's, 3 min for Real, 3 for Syn, 6 for Real+Syn,
about 13), so 15 runs 6-9 CPU hours, then MS-G3D about 1.5 CPU hours (Real 3 min a seed, Real+Syn
about 6 min a run): 7.5-10 CPU hours, 4-5 hours wall with ``--jobs 2``.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: benchmarks.* imports

from benchmarks.common import CONFIGS  # noqa: E402
from benchmarks.protocols.loop_bench import Protocol, main  # noqa: E402


def data(root: Path, runs: Path) -> dict:
    path = (root / "utkinect" / "joints").resolve()
    if not path.is_dir():
        raise SystemExit(f"UTKinect not found at {path} (pass --data-root, the folder holding utkinect/)")
    return {"path": str(path)}


PROTOCOL = Protocol(
    name="utkinect", title="InfAGenC on UTKinect-Action3D (cross-subject)", config=CONFIGS / "utkinect.toml",
    intro="Test accuracy (%) on the even subjects (99 segments); training on the odd subjects (100).", data=data,
    other_recognizers={"msg3d": {"model": "msg3d", "epochs": 10}},
    other_notes=("MS-G3D slim with the same recipe, 10 epochs: `benchmarks/protocols/recipe.py`'s choice on validation "
                 "subjects s07, s09 (never on the test subjects)."))

if __name__ == "__main__":
    sys.exit(main(PROTOCOL, doc=__doc__))
