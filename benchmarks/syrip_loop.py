"""InfAGenC on SyRIP infant postures (train200 -> validate500, 4 postures, T = 1): the
pipeline of the UTKinect loop benchmark generating single-frame postures; Real vs Syn vs
Real+Syn under the three ablation modes of the loop.

    python benchmarks/syrip_loop.py                 # all modes, seeds 0-4, then the table
    python benchmarks/syrip_loop.py --modes distance --seeds 0 1
    python benchmarks/syrip_loop.py --table-only

Data: ``<data-root>/syrip/2d_gt/train200.json`` and ``validate500.json`` (COCO keypoints of
single images, one "subject" per image). Keypoints marked not labelled (visibility 0; 5 in
train200, 8 in validate500) carry placeholder coordinates; they are set to the mean of the
image's labelled keypoints (``infagenc.data.preprocess.fill_unlabelled``) and the two sets
are written to ``benchmarks/runs/syrip/data/*.npz``, which the runs read
(``data.path`` / ``data.test_path``); root-relative positions and scaling are the run's
(``benchmarks/configs/syrip.toml``). See ``loop_bench.py`` for what is written.
"""
from __future__ import annotations

import sys
from pathlib import Path

from loop_bench import HERE, Protocol, main

from infagenc.data.preprocess import fill_unlabelled
from infagenc.data.readers.coco import read_coco


def data(root: Path, runs: Path) -> dict:
    folder = root / "syrip" / "2d_gt"
    if not (folder / "train200.json").is_file():
        raise SystemExit(f"SyRIP not found at {folder} (pass --data-root, the folder holding syrip/)")
    out = runs / "data"
    paths = {"path": out / "train200.npz", "test_path": out / "validate500.npz"}
    if not all(p.is_file() for p in paths.values()):
        train, _ = fill_unlabelled(read_coco(folder / "train200.json"))
        test, _ = fill_unlabelled(read_coco(folder / "validate500.json", class_names=train.class_names))
        out.mkdir(parents=True, exist_ok=True)
        train.save(paths["path"])
        test.save(paths["test_path"])
    return {k: str(v.resolve()) for k, v in paths.items()}


PROTOCOL = Protocol(
    name="syrip", title="InfAGenC on SyRIP infant postures (train200 -> validate500)",
    config=HERE / "configs" / "syrip.toml",
    intro=("Test accuracy (%) on the 500 validate500 images (195 Prone, 108 Supine, 142 Sitting, 55 Standing); "
           "training on train200 (T = 1, COCO-17 xy)."), data=data)

if __name__ == "__main__":
    sys.exit(main(PROTOCOL, doc=__doc__))
