"""InfAGenC on SyRIP infant postures (train200 -> validate500, 4 postures, T = 1): the
pipeline of the UTKinect loop benchmark generating single-frame postures; Real vs Syn vs
Real+Syn under the three ablation modes of the loop.

    python benchmarks/syrip_loop.py                 # all modes, seeds 0-4, then the table
    python benchmarks/syrip_loop.py --modes distance --seeds 0 1
    python benchmarks/syrip_loop.py --table-only

Data: ``<data-root>/syrip/2d_gt/train200.json`` (``data.path``) and ``validate500.json``
(``data.test_path``): COCO keypoints of single images, one "subject" per image. Keypoints
marked not labelled (visibility 0; 5 in train200, 8 in validate500) carry placeholder
coordinates; ``data.unlabelled = "fill"`` sets them to the mean of the image's labelled
keypoints (``infagenc.data.preprocess.fill_unlabelled``), as the recognizer benchmark
does. Everything else is in ``benchmarks/configs/syrip.toml``; see ``loop_bench.py`` for
what is written.
"""
from __future__ import annotations

import sys
from pathlib import Path

from loop_bench import HERE, Protocol, main


def data(root: Path, runs: Path) -> dict:
    folder = (root / "syrip" / "2d_gt").resolve()
    if not (folder / "train200.json").is_file():
        raise SystemExit(f"SyRIP not found at {folder} (pass --data-root, the folder holding syrip/)")
    return {"path": str(folder / "train200.json"), "test_path": str(folder / "validate500.json")}


PROTOCOL = Protocol(
    name="syrip", title="InfAGenC on SyRIP infant postures (train200 -> validate500)",
    config=HERE / "configs" / "syrip.toml",
    intro=("Test accuracy (%) on the 500 validate500 images (195 Prone, 108 Supine, 142 Sitting, 55 Standing); "
           "training on train200 (T = 1, COCO-17 xy)."), data=data)

if __name__ == "__main__":
    sys.exit(main(PROTOCOL, doc=__doc__))
