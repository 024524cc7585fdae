"""InfAGenC on SyRIP infant postures (train200 -> validate500, 4 postures, T = 1): the
pipeline of the UTKinect loop protocol generating single-frame postures; Real vs Syn vs
Real+Syn under the three ablation modes of the loop, five run seeds.

    python benchmarks/protocols/syrip_loop.py --jobs 2        # all modes, seeds 0-4, then the table
    python benchmarks/protocols/syrip_loop.py --modes distance --seeds 0 1
    python benchmarks/protocols/syrip_loop.py --table-only
    python benchmarks/protocols/syrip_loop.py --tiny --seeds 0 --jobs 2   # a smoke run (minutes)

Data: ``<data-root>/syrip/2d_gt/train200.json`` (``data.path``) and ``validate500.json``
(``data.test_path``): COCO keypoints of single images, one "subject" per image. Keypoints
marked not labelled (visibility 0; 5 in train200, 8 in validate500) carry placeholder
coordinates; ``data.unlabelled = "fill"`` sets them to the mean of the image's labelled
keypoints (``infagenc.data.preprocess.fill_unlabelled``), as the recognizer benchmarks do.
Everything else is in ``benchmarks/configs/syrip.toml``: the final recognizer is
``benchmarks/protocols/recipe.py``'s ``recipe`` variant for SyRIP (ST-GCN slim, 30 epochs chosen on 40
validation images of train200: ``results/recipe/syrip/stgcn-slim.json``); see ``loop_bench.py``
for what is written (``results/syrip_loop_current.*``).

Cost (measured, 1 thread a run, 2 runs on a 2-core CPU): on an AMD EPYC 6-7 min a baseline-style
run (none, exemplar, exemplar_refine, mdm), 11-14 min a recycling run (random, distance and its
variants); on an Intel Xeon (AVX-512) 4.4, 7.5-12 and 4.5-5 min (``distance_balanced``): the 15 runs
of the three modes x 5 seeds about 2.5 CPU hours, 1.3 hours wall with ``--jobs 2``.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: benchmarks.* imports

from benchmarks.common import CONFIGS  # noqa: E402
from benchmarks.protocols.loop_bench import Protocol, main  # noqa: E402


def data(root: Path, runs: Path) -> dict:
    folder = (root / "syrip" / "2d_gt").resolve()
    if not (folder / "train200.json").is_file():
        raise SystemExit(f"SyRIP not found at {folder} (pass --data-root, the folder holding syrip/)")
    return {"path": str(folder / "train200.json"), "test_path": str(folder / "validate500.json")}


PROTOCOL = Protocol(
    name="syrip", title="InfAGenC on SyRIP infant postures (train200 -> validate500)",
    config=CONFIGS / "syrip.toml",
    intro=("Test accuracy (%) on the 500 validate500 images (195 Prone, 108 Supine, 142 Sitting, 55 Standing); "
           "training on train200 (T = 1, COCO-17 xy)."), data=data)

if __name__ == "__main__":
    sys.exit(main(PROTOCOL, doc=__doc__))
