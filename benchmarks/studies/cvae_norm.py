"""CVAE layer-norm placement (pre-norm vs ACTOR's post-norm) and learning rate, chosen on
validation subjects: the comparison behind ``CVAEConfig.norm_first = True``.

    python benchmarks/studies/cvae_norm.py        # seeds 0 1, 300 epochs
    python benchmarks/studies/cvae_norm.py --epochs 100 --seeds 0

Data as ``benchmarks/configs/utkinect.toml`` with the preparation it had then (xyz, 32 frames,
root-relative per frame, mean bone length 1, no view alignment), **training subjects only**: two of the five odd subjects
(``holdout_subjects(train, 0.4, seed=0)``, as in the recognizer benchmark) validate, the
other three train. The test subjects are not read. The CVAE is the config's small one
(2 layers, d 64, 4 heads, ff 128, paper loss weights, KL weight 1.0, batch 16); for each
norm placement x learning rate x seed it trains the given epochs and reports on the
validation subjects:

* reconstruction MSE with z = mu (``GeneratorTrainer.evaluate``), against two references
  computed from the training subjects: the per-class static mean pose (one pose per
  class) and the per-class per-frame mean (one sequence per class);
* the temporal standard deviation of generated samples (10 per class, mean over joints
  and coordinates of the std over frames) against that of the validation sequences: a
  generator that learned only a static pose has a temporal std near 0.

Writes ``results/cvae_norm.json`` and ``results/cvae_norm.md``.

Frozen study: its committed results were made at commit 2d6e215; the library has changed since, so a run made now is not that run.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: benchmarks.* imports

from benchmarks.common import CONFIGS, DATA, RESULTS  # noqa: E402
from infagenc.config import merge_dicts, read_config_file
from infagenc.data.splits import holdout_subjects
from infagenc.loop.config import RunConfig
from infagenc.runfolder import environment
from infagenc.loop.runner import prepare_data
from infagenc.loop.seeds import derive_seed
from infagenc.train.generator import GeneratorTrainer, sample_motionset

CONFIG = CONFIGS / "utkinect.toml"
COMMAND = "python benchmarks/studies/cvae_norm.py"


def _temporal_std(x: np.ndarray) -> float:
    return float(x.std(axis=1).mean())


def references(train, val) -> dict:
    mse = {}
    static = np.stack([train.data[train.labels == c].mean(axis=(0, 1)) for c in range(train.num_classes)])
    per_frame = np.stack([train.data[train.labels == c].mean(axis=0) for c in range(train.num_classes)])
    mse["static_class_mean_pose"] = float(((val.data - static[val.labels][:, None]) ** 2).mean())
    mse["class_mean_sequence"] = float(((val.data - per_frame[val.labels]) ** 2).mean())
    return {"mse": mse, "val_temporal_std": _temporal_std(val.data)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="CVAE norm placement x learning rate on validation subjects")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--lrs", nargs="+", type=float, default=[1e-4, 1e-3])
    ap.add_argument("--data-root", type=Path, default=DATA)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    path = (a.data_root / "utkinect" / "joints").resolve()
    if not path.is_dir():
        raise SystemExit(f"UTKinect not found at {path} (pass --data-root, the folder holding utkinect/)")
    # the config's data preparation of the committed results (the protocol has since taken the recipe's)
    cfg = RunConfig.from_dict(merge_dicts(read_config_file(CONFIG), {"data": {"path": str(path), "root": "per_frame",
                                                                              "align": False}}))
    sp = prepare_data(cfg, progress=False)
    train, val = holdout_subjects(sp.train, 0.4, seed=0)  # test subjects: never used below
    command = " ".join([COMMAND, *(sys.argv[1:] if argv is None else argv)])
    res = {"command": command, "epochs": a.epochs, "train_subjects": sorted(set(train.subjects.tolist())),
           "val_subjects": sorted(set(val.subjects.tolist())), "references": references(train, val), "rows": []}
    for norm_first in (False, True):
        for lr in a.lrs:
            for seed in a.seeds:
                gcfg = replace(cfg.generator, lr=lr, epochs=a.epochs, device="cpu",
                               seed=derive_seed(seed, "cvae-norm"), cvae=replace(cfg.generator.cvae, norm_first=norm_first))
                t0 = time.perf_counter()
                trainer = GeneratorTrainer.from_motionset(train, gcfg)
                trainer.fit(train, progress=False)
                ev = trainer.evaluate(trainer.tensors(val))
                syn = sample_motionset(trainer.model, trainer.spec, per_class=10, length=cfg.data.frames,
                                       seed=derive_seed(seed, "cvae-norm-sample"))
                row = {"norm": "pre" if norm_first else "post", "lr": lr, "seed": seed,
                       "val_reconstruction_mse": ev["rec"], "val_kl": ev.get("kl"),
                       "generated_temporal_std": _temporal_std(syn.data), "seconds": time.perf_counter() - t0}
                res["rows"].append(row)
                print(json.dumps(row), file=sys.stderr)
    res["environment"] = environment()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cvae_norm.json").write_text(json.dumps(res, indent=2, default=float) + "\n")
    ref = res["references"]
    lines = ["# CVAE layer-norm placement on validation subjects (UTKinect)", "",
             f"Command: `{command}`; protocol in the script's docstring. {a.epochs} epochs on subjects "
             f"{', '.join(res['train_subjects'])}, validated on {', '.join(res['val_subjects'])} (test subjects "
             f"not read). References on the validation subjects: MSE of the per-class static mean pose "
             f"{ref['mse']['static_class_mean_pose']:.3f}, of the per-class mean sequence "
             f"{ref['mse']['class_mean_sequence']:.3f}; temporal std of the real sequences "
             f"{ref['val_temporal_std']:.3f}.", "",
             "| layers | lr | seed | validation reconstruction MSE (z = mu) | generated temporal std | minutes |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['norm']}-norm | {r['lr']:g} | {r['seed']} | {r['val_reconstruction_mse']:.3f} | "
              f"{r['generated_temporal_std']:.3f} | {r['seconds'] / 60:.1f} |" for r in res["rows"]]
    (RESULTS / "cvae_norm.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
