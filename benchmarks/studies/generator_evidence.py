"""Evidence for the generator (issue 4): train it on the demo data (rot6d, 24 joints, root
translation as an extra joint) and on UTKinect-Action3D (xyz, 20 joints, root-relative,
fixed length), and show that the reconstruction error falls and what it generates.

One command (CPU; slim pre-norm CVAE, lr 1e-3, otherwise the paper's defaults: batch 16,
loss weights 1.0 / 0.001 / 1.0, KL "mean"):

    python benchmarks/studies/generator_evidence.py --epochs 300 --lr 1e-3

(With the paper's lr 1e-4 and ACTOR's post-norm layers the slim CVAE learned only the
per-class mean pose within 500 epochs; see ``infagenc.models.cvae.CVAEConfig``.)

Writes, per data set, under benchmarks/results/generator_evidence/<name>/:

* ``history.json``: per-epoch training losses, and every ``--eval-every`` epochs the
  reconstruction error with z = mu (``eval_rec`` etc.);
* ``curves.png``, ``eval_curves.png``: those curves;
* ``samples.npz``: ``--per-class`` generated samples per class (seed 0), an infagenc motion set;
* ``real_vs_generated.png``: one column per class, real samples on top, generated below;
* ``summary.json``: data, config, time, first/last losses, the KL per epoch, and a crude collapse check:
  diversity / multimodality (:mod:`infagenc.metrics.generation`) computed on raw joint
  positions (flattened xyz sequences; NOT the recognizer features of the paper's metrics).

The checkpoint (``generator.pt``, git-ignored) sits beside them; rerunning resumes.
Other settings, e.g. the released code's KL: ``--kl-reduction sum --kl-weight 1e-5 --tag releasedkl``.
UTKinect is read from ``../shared/data/utkinect/joints`` (skipped, saying so, if absent).

Frozen study: its committed results were made at commit 49408b1 (before generated samples kept the
root constraint); the library has changed since, so a run made now is not that run.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from infagenc.data.demo import make_demo
from infagenc.data.motionset import MotionSet
from infagenc.data.preprocess import Preprocess
from infagenc.metrics.generation import diversity, multimodality
from infagenc.models.cvae import CVAEConfig
from infagenc.models.sizes import SIZES
from infagenc.train.generator import GeneratorConfig, GeneratorTrainer, sample_motionset
from infagenc.viz import plot_curves, snapshot_grid

REPO = Path(__file__).resolve().parents[2]


def shown(path: Path) -> str:
    """``path`` relative to the repository's parent (``../shared/...``) when it is below it."""
    try:
        return "../" + path.resolve().relative_to(REPO.parent.resolve()).as_posix()
    except ValueError:
        return str(path)


def datasets(utk_dir: Path) -> dict[str, tuple[MotionSet | None, bool, str]]:
    """name -> (motion set or None, model the translation?, how it was prepared)."""
    out = {"demo": (Preprocess(frames=60)(make_demo(seed=0)), True,
                    "make_demo(seed=0): 6 subjects x 6 per class x 4 classes, rot6d + trans, resampled to 60 frames")}
    if (utk_dir / "actionLabel.txt").is_file():
        from infagenc.data.readers import read

        ms = read(utk_dir, progress=False)
        out["utkinect"] = (Preprocess(frames=30, root="per_frame")(ms), False,
                           f"{shown(utk_dir)}: xyz, kinect20, root-relative per frame, resampled to 30 frames "
                           f"({len(ms.exclusions)} segment(s) excluded by the reader)")
    else:
        out["utkinect"] = (None, False, f"skipped: {shown(utk_dir)} is absent")
    return out


def positions(ms: MotionSet) -> np.ndarray:
    xyz = ms.to_xyz() if ms.rep != "xyz" else ms
    return xyz.data.reshape(len(xyz), -1).astype(np.float64)


def run(name: str, ms: MotionSet, trans: bool, how: str, a: argparse.Namespace) -> dict:
    out = a.out / (f"{name}-{a.tag}" if a.tag else name)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "generator.pt"
    if ckpt.exists():
        tr = GeneratorTrainer.load(ckpt, device="cpu")
    else:
        cfg = GeneratorConfig(cvae=CVAEConfig.of_size(a.size), trans=trans, epochs=a.epochs, seed=a.seed,
                              device="cpu", lr=a.lr, lambda_kl=a.kl_weight, kl_reduction=a.kl_reduction)
        tr = GeneratorTrainer.from_motionset(ms, cfg)
    t0 = time.perf_counter()
    tr.fit(ms, epochs=max(0, a.epochs - tr.epoch), progress=not a.no_progress, eval_every=a.eval_every,
           checkpoint=ckpt, save_every=a.eval_every)
    seconds = time.perf_counter() - t0
    (out / "history.json").write_text(json.dumps(tr.history, indent=1))
    terms = [k for k in ("rec", "pos", "kl", "vel") if k in tr.history[0]]
    plot_curves(tr.history, out / "curves.png", panels=[[k] for k in terms], keys=terms, logy=["rec", "pos"],
                title=f"generator on {name} ({a.size} CVAE): training losses")
    evals = [h for h in tr.history if "eval_rec" in h]
    if evals:
        plot_curves([{k: h[k] for k in ["epoch"] + [f"eval_{t}" for t in terms]} for h in evals],
                    out / "eval_curves.png", panels=[[f"eval_{k}"] for k in terms],
                    logy=["eval_rec", "eval_pos"], title=f"{name}: with z = mu, no dropout (every {a.eval_every})")
    gen = sample_motionset(tr.model, tr.spec, per_class=a.per_class, length=ms.num_frames, seed=0,
                           provenance={"run": f"evidence-{name}", "epoch": tr.epoch})
    gen.save(out / "samples.npz")
    snapshot_grid(ms, gen, out / "real_vs_generated.png", real_rows=2, generated_rows=3, seed=0)
    rng = np.random.default_rng(0)
    pr, pg = positions(ms), positions(gen)
    before = json.loads((out / "summary.json").read_text()).get("train_seconds", 0.0) \
        if (out / "summary.json").exists() else 0.0
    summary = {
        "data": how, "samples": len(ms), "classes": list(ms.class_names), "frames": ms.num_frames,
        "layout": ms.layout.name, "rep": ms.rep, "trans_joint": trans, "config": tr.cfg.to_dict(),
        "epochs": tr.epoch, "train_seconds": round(before + seconds, 1), "torch_threads": torch.get_num_threads(),
        "first": tr.history[0], "last": tr.history[-1],
        "eval_rec_first_last": [evals[0]["eval_rec"], evals[-1]["eval_rec"]] if evals else None,
        "eval_kl_every_eval": {h["epoch"]: h["eval_kl"] for h in evals},
        "raw_position_check": {
            "note": "diversity / multimodality on flattened joint positions (not recognizer features)",
            "real": {"diversity": diversity(pr, 200, rng), "multimodality": multimodality(pr, ms.labels, 20, rng)},
            "generated": {"diversity": diversity(pg, 200, rng),
                          "multimodality": multimodality(pg, gen.labels, 20, rng)},
        },
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description="Generator evidence on the demo data and UTKinect")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--size", choices=SIZES, default="slim")
    ap.add_argument("--eval-every", type=int, default=10)
    ap.add_argument("--per-class", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=GeneratorConfig.lr)
    ap.add_argument("--kl-weight", type=float, default=GeneratorConfig.lambda_kl)
    ap.add_argument("--kl-reduction", choices=("mean", "batchmean", "sum"), default=GeneratorConfig.kl_reduction)
    ap.add_argument("--tag", default="", help="results go to <data>-<tag>/ (for runs with non-default settings)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", nargs="+", default=None, help="data set names to run (demo, utkinect)")
    ap.add_argument("--utkinect", type=Path, default=REPO.parent / "shared" / "data" / "utkinect" / "joints")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "generator_evidence")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for name, (ms, trans, how) in datasets(a.utkinect).items():
        if a.only and name not in a.only:
            continue
        if ms is None:
            print(f"{name}: {how}")
            continue
        s = run(name, ms, trans, how, a)
        print(json.dumps({"data": name, "epochs": s["epochs"], "eval_rec_first_last": s["eval_rec_first_last"],
                          "seconds": s["train_seconds"]}), flush=True)


if __name__ == "__main__":
    main()
