"""Recognizers on real data: UTKinect-Action3D cross-subject (ST-GCN and MS-G3D) and SyRIP
infant postures (ST-GCN); settings chosen on training subjects only; 3 seeds each.

    python benchmarks/studies/utkinect_recognizers.py              # everything (hours on 2 cores)
    python benchmarks/studies/utkinect_recognizers.py --only syrip
    python benchmarks/studies/utkinect_recognizers.py --table-only # rebuild the .md from the JSON, no training

Frozen study: its committed results were made at commit b4921cf, with the plain recognizers (no
augmentation or recipe); ``benchmarks/protocols/recipe.py`` has since measured the strong ones. The loop
protocols' critics keep the settings it chose.

Runs already finished are kept in ``results/utkinect_recognizers.json`` and skipped when the
command is run again (an interrupted run picks up where it stopped). Writes
``results/utkinect_recognizers.json`` (every run, every seed) and ``results/utkinect_recognizers.md``.

UTKinect-Action3D (``../shared/data/utkinect/joints``; 199 labelled segments, 10 actions,
10 subjects; Kinect-v1 20 joints, xyz in metres):

* split: odd subjects (s01 s03 s05 s07 s09) train, even subjects (s02 s04 s06 s08 s10) test;
* preprocessing (one ``infagenc.data.preprocess.Preprocess``, applied in its order):
  resampled linearly to 32 frames (segments last 5-170 frames, median 28), positions
  relative to the first frame's centre joint (shoulder_center, so the trajectory is kept),
  scaled so that each sequence's mean bone length is 1 (the committed results were made
  with the older order root, scale, length; the scale is now measured on the resampled
  frames);
* selection: 2 of the 5 training subjects (``holdout_subjects(train, 0.4, seed=0)``)
  validate; for each learning rate of the grid one model (seed 0) is trained on the
  other 3 subjects for ``max_epochs`` epochs and validated after each; the (lr, epochs)
  with the best validation accuracy, averaged over 3 consecutive epochs (earliest on
  ties), is used for the final runs. The test subjects are never looked at before that;
* final: trained on all 5 training subjects with the chosen settings, seeds 0, 1, 2, and
  tested once on the even subjects.

SyRIP (``../shared/data/syrip/2d_gt``): ``train200.json`` -> ``validate500.json``, one
frame per sample (T = 1), COCO-17 xy pixels, 4 postures; one "subject" per image:

* preprocessing (one ``Preprocess``): keypoints marked not labelled (visibility 0; 5 in
  train200) are set to the mean of the image's labelled keypoints (counted in the results),
  positions relative to the centre joint (nose, PYSKL's COCO centre), scaled to mean bone
  length 1;
* selection: 20% of the train200 images (``holdout_subjects(train, 0.2, seed=0)``)
  validate, as above; final: all 200 train, seeds 0, 1, 2, tested on validate500.

Adam, cross-entropy, batch 16, constant learning rate, no augmentation. Model sizes are
set in ``PROTOCOLS`` (slim where paper size does not fit the CPU budget; the results
say which). Intervals: mean +- 1.96 * std / sqrt(n) over the seeds (sample std).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from infagenc.data.motionset import MotionSet
from infagenc.data.preprocess import Preprocess, unlabelled_mask
from infagenc.data.readers.coco import read_coco
from infagenc.data.readers.utkinect import read_utkinect
from infagenc.data.splits import holdout_subjects, split_by_subjects
from infagenc.train.recognizer import RecognizerConfig, RecognizerTrainer, evaluate, new_recognizer

HERE = Path(__file__).resolve().parents[1]  # benchmarks/
RESULTS = HERE / "results"
COMMAND = "python benchmarks/studies/utkinect_recognizers.py"


@dataclass(frozen=True)
class Protocol:
    name: str
    models: tuple[tuple[str, str], ...]  # (model, size)
    lrs: tuple[float, ...]
    max_epochs: int
    val_fraction: float
    seeds: tuple[int, ...] = (0, 1, 2)
    batch_size: int = 16


PROTOCOLS = {
    "utkinect": Protocol("utkinect", (("stgcn", "paper"), ("msg3d", "slim"), ("msg3d", "paper")),
                         (1e-3, 3e-3), 50, 0.4),
    "syrip": Protocol("syrip", (("stgcn", "paper"), ("stgcn", "slim")), (1e-3, 3e-3), 80, 0.2),
}


# ------------------------------------------------------------------------------ data
# the order is Preprocess's: unlabelled keypoints, length, root, scale
PREPROCESS = {"utkinect": Preprocess(frames=32, root="first_frame", normalize_scale=True),
              "syrip": Preprocess(root="per_frame", normalize_scale=True, unlabelled="fill")}


def describe(prep: Preprocess) -> str:
    """A preprocessing chain in words, in the order it is applied."""
    steps = []
    if prep.unlabelled == "fill":
        steps.append("unlabelled keypoints -> mean of labelled ones")
    if prep.frames is not None:
        steps.append(f"fixed_length({prep.frames}, {prep.resample})")
    if prep.root != "none":
        steps.append(f"root_relative({prep.root})")
    if prep.normalize_scale:
        steps.append("normalize_scale(1)")
    return " -> ".join(steps) or "none"


def load_utkinect(data: Path) -> tuple[MotionSet, MotionSet, dict]:
    prep = PREPROCESS["utkinect"]
    ms = prep(read_utkinect(data / "utkinect" / "joints", progress=False))
    subjects = sorted(set(ms.subjects.tolist()))
    even = [s for s in subjects if int(s[1:]) % 2 == 0]
    train, test = split_by_subjects(ms, even)
    info = {"samples": len(ms), "notes": ms.notes,
            "excluded": [f"{Path(e.file).name}: {e.sample}: {e.reason}" for e in ms.exclusions],
            "train_subjects": sorted(set(train.subjects.tolist())), "test_subjects": even,
            "preprocess": describe(prep)}
    return train, test, info


def load_syrip(data: Path) -> tuple[MotionSet, MotionSet, dict]:
    folder = data / "syrip" / "2d_gt"
    prep = PREPROCESS["syrip"]
    train = read_coco(folder / "train200.json")
    test = read_coco(folder / "validate500.json", class_names=train.class_names)
    n_tr, n_te = (int(unlabelled_mask(s).sum()) for s in (train, test))
    train, test = prep(train), prep(test)
    info = {"train_samples": len(train), "test_samples": len(test),
            "train_class_counts": train.class_counts(), "test_class_counts": test.class_counts(),
            "unlabelled_keypoints_filled": {"train200": n_tr, "validate500": n_te},
            "preprocess": describe(prep)}
    return train, test, info


# ------------------------------------------------------------------------------ runs
class Store:
    """Finished runs in the results JSON, written after each run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = json.loads(path.read_text()) if path.is_file() else {}
        self.data.setdefault("runs", {})

    def get(self, key: str) -> dict | None:
        return self.data["runs"].get(key)

    def put(self, key: str, value: dict) -> None:
        self.data["runs"][key] = value
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.path)


def _log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def train_once(train: MotionSet, val: MotionSet | None, model: str, size: str, lr: float, epochs: int,
               seed: int, batch_size: int, tag: str) -> tuple[RecognizerTrainer, list[dict]]:
    cfg = RecognizerConfig(model=model, size=size, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    trainer = RecognizerTrainer(new_recognizer(cfg, train.layout, train.channels, train.num_classes), cfg)
    for _ in range(epochs):
        rec = trainer.fit(train, val, epochs=1, progress=False)[0]
        extra = f" val_acc {rec['val_acc']:.3f}" if val is not None else ""
        _log(f"{tag} epoch {rec['epoch']:3d} loss {rec['loss']:.3f} acc {rec['acc']:.3f}{extra} "
             f"({rec['seconds']:.1f} s)")
    return trainer, trainer.history


def choose(curve: list[float], window: int = 3) -> tuple[int, float]:
    """(epochs, smoothed accuracy): the best trailing mean over ``window`` epochs, earliest on ties."""
    acc = np.asarray(curve)
    smooth = np.array([acc[max(0, e - window + 1):e + 1].mean() for e in range(len(acc))])
    best = int(np.flatnonzero(smooth >= smooth.max() - 1e-12)[0])
    return best + 1, float(smooth[best])


def select(store: Store, proto: Protocol, train: MotionSet, model: str, size: str) -> tuple[dict, dict]:
    """(chosen settings, what each learning rate gave on the validation subjects)."""
    rest, val = holdout_subjects(train, proto.val_fraction, seed=0)
    best, details = None, {}
    for lr in proto.lrs:
        key = f"{proto.name}/{model}-{size}/select/lr{lr:g}"
        run = store.get(key)
        if run is None:
            t0 = time.time()
            _, hist = train_once(rest, val, model, size, lr, proto.max_epochs, 0, proto.batch_size, key)
            run = {"lr": lr, "val_subjects": sorted(set(val.subjects.tolist())) if proto.name == "utkinect"
                   else f"{len(val)} images", "train_samples": len(rest), "val_samples": len(val),
                   "val_acc": [h["val_acc"] for h in hist], "train_acc": [h["acc"] for h in hist],
                   "loss": [h["loss"] for h in hist], "seconds": round(time.time() - t0, 1)}
            store.put(key, run)
        epochs, score = choose(run["val_acc"])
        _log(f"{key}: best {epochs} epochs, smoothed val acc {score:.3f}")
        details[f"{lr:g}"] = {"epochs": epochs, "val_acc_smoothed": score, "val_subjects": run["val_subjects"],
                              "train_samples": run["train_samples"], "val_samples": run["val_samples"]}
        if best is None or score > best["val_acc_smoothed"]:
            best = {"lr": lr, "epochs": epochs, "val_acc_smoothed": score}
    return best, details


def final(store: Store, proto: Protocol, train: MotionSet, test: MotionSet, model: str, size: str,
          chosen: dict) -> list[dict]:
    out = []
    for seed in proto.seeds:
        key = f"{proto.name}/{model}-{size}/final/seed{seed}"
        run = store.get(key)
        if run is None or run.get("chosen") != chosen:
            t0 = time.time()
            trainer, hist = train_once(train, None, model, size, chosen["lr"], chosen["epochs"], seed,
                                       proto.batch_size, key)
            report = evaluate(trainer.model, test, split="test")
            run = {"chosen": chosen, "seed": seed, "train_acc_last": hist[-1]["acc"],
                   "report": report.to_dict(), "seconds": round(time.time() - t0, 1)}
            store.put(key, run)
        _log(f"{key}: test accuracy {run['report']['overall_accuracy']:.3f}")
        out.append(run)
    return out


def summary(values: list[float]) -> dict:
    v = np.asarray(values, dtype=np.float64)
    std = float(v.std(ddof=1)) if len(v) > 1 else math.nan
    return {"mean": float(v.mean()), "ci95": 1.96 * std / math.sqrt(len(v)), "std": std, "n": len(v),
            "values": v.tolist()}


def aggregate(runs: list[dict]) -> dict:
    reports = [r["report"] for r in runs]
    classes = reports[0]["class_names"]
    per_class = {c: summary([rep["per_class"][i]["accuracy"] for rep in reports]) for i, c in enumerate(classes)}
    subjects = [s["subject"] for s in reports[0]["per_subject"]]
    per_subject = ({s: summary([rep["per_subject"][i]["accuracy"] for rep in reports]) for i, s in enumerate(subjects)}
                   if len(subjects) <= 50 else {})  # SyRIP: one image per "subject", see the reports
    return {"overall": summary([rep["overall_accuracy"] for rep in reports]),
            "mean_class": summary([rep["mean_class_accuracy"] for rep in reports]),
            "per_class": per_class, "per_subject": per_subject,
            "class_samples": {r["class"]: r["samples"] for r in reports[0]["per_class"]}}


# --------------------------------------------------------------------------- output
def pct(s: dict) -> str:
    return f"{100 * s['mean']:.1f} ± {100 * s['ci95']:.1f}"


def _data_path(text: str) -> str:
    """Absolute paths of the machine the run was on -> relative to the data folder."""
    return re.sub(r"\S*/shared/data/", "../shared/data/", text)


def _value(v) -> str:
    """A data-description value as a person would write it (no JSON braces or quotes)."""
    if isinstance(v, dict):
        return ", ".join(f"{k} {_value(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(_value(x) for x in v) if v else "none"
    return _data_path(str(v))


DATA_LABELS = {"samples": "samples", "train_samples": "training samples", "test_samples": "test samples",
               "train_subjects": "training subjects", "test_subjects": "test subjects",
               "train_class_counts": "training samples per class", "test_class_counts": "test samples per class",
               "unlabelled_keypoints_filled": "unlabelled keypoints filled", "excluded": "excluded",
               "notes": "reader notes", "preprocess": "preprocessing"}


def _data_lines(info: dict) -> list[str]:
    out = []
    for k, v in info.items():
        label = DATA_LABELS.get(k, k.replace("_", " "))
        if isinstance(v, list) and k in ("excluded", "notes"):
            out.append(f"- {label}:" + (" none" if not v else ""))
            out += [f"  - {_data_path(str(x))}" for x in v]
        else:
            out.append(f"- {label}: {_value(v)}")
    return out


def markdown(store: Store, unfinished: dict[str, dict[str, str]] | None = None) -> str:
    d = store.data
    lines = ["# Recognizers on real data", "", f"Command: `{COMMAND}`", "",
             f"Machine: {d['machine']['processor']}, {d['machine']['cpu_count']} cores, torch "
             f"{d['machine']['torch']}, {d['machine']['threads']} thread(s). Protocols and choices: the docstring "
             f"of `benchmarks/studies/utkinect_recognizers.py`. Accuracies in %, mean ± 1.96·std/√n over the seeds "
             f"(sample std).", ""]
    for name, res in d.get("results", {}).items():
        lines += [f"## {name}", "", "Data:", ""] + _data_lines(res["data"]) + ["",
                  "| model | size | chosen lr | epochs | val acc (select) | test acc per seed | mean ± 95% | "
                  "mean class acc |", "|---|---|---:|---:|---:|---|---:|---:|"]
        for key, m in res["models"].items():
            model, size = key.split("-")
            seeds = ", ".join(f"{100 * v:.1f}" for v in m["overall"]["values"])
            lines.append(f"| {model} | {size} | {m['chosen']['lr']:g} | {m['chosen']['epochs']} | "
                         f"{100 * m['chosen']['val_acc_smoothed']:.1f} | {seeds} | {pct(m['overall'])} | "
                         f"{pct(m['mean_class'])} |")
        for key, what in (unfinished or {}).get(name, {}).items():
            lines.append(f"| {key.split('-')[0]} | {key.split('-')[1]} | not finished: {what} | | | | | |")
        for key, m in res["models"].items():
            sel = "; ".join(f"lr {lr}: best {s['epochs']} epochs, val acc {100 * s['val_acc_smoothed']:.1f}"
                            for lr, s in m["selection"].items())
            first = next(iter(m["selection"].values()))
            held = f" (subjects {_value(first['val_subjects'])})" if isinstance(first["val_subjects"], list) else ""
            lines += ["", f"Selection, {key}: trained on {first['train_samples']} samples, validated on "
                          f"{first['val_samples']}{held}; {sel}. "
                          f"Final runs: {m['seconds'] / len(m['overall']['values']):.0f} s per seed."]
        for key, m in res["models"].items():
            lines += ["", f"Per class, {key} (test samples; accuracy in %, mean ± 95% over the seeds):", "",
                      "| class | test samples | accuracy |", "|---|---:|---:|"]
            lines += [f"| {c} | {m['class_samples'][c]} | {pct(s)} |" for c, s in m["per_class"].items()]
            if m["per_subject"]:
                lines += ["", f"Per test subject, {key} (accuracy in %, mean ± 95% over the seeds):", "",
                          "| subject | accuracy |", "|---|---:|"]
                lines += [f"| {s} | {pct(v)} |" for s, v in m["per_subject"].items()]
            else:
                lines += ["", f"Per subject, {key}: not tabulated (one image per subject; every image's "
                              f"prediction is in the per-seed reports of the JSON)."]
        lines.append("")
    return "\n".join(lines) + "\n"


def _missing(store: Store, proto: Protocol, model: str, size: str) -> str:
    """The runs of (model, size) not yet in the store, in words ('' when all are there)."""
    sel = [f"lr {lr:g}" for lr in proto.lrs if store.get(f"{proto.name}/{model}-{size}/select/lr{lr:g}") is None]
    fin = [f"seed {seed}" for seed in proto.seeds
           if store.get(f"{proto.name}/{model}-{size}/final/seed{seed}") is None]
    return "; ".join(x for x in (f"selection at {', '.join(sel)} not run" if sel else "",
                                 f"final {', '.join(fin)} not run" if fin else "") if x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data",
                    help="folder with utkinect/ and syrip/ (default ../shared/data)")
    ap.add_argument("--only", choices=sorted(PROTOCOLS), nargs="+", default=sorted(PROTOCOLS))
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--out", type=Path, default=RESULTS / "utkinect_recognizers.json")
    ap.add_argument("--table-only", action="store_true",
                    help="train nothing: tabulate the finished runs of the JSON (models with runs missing "
                         "are listed as not finished)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    store = Store(args.out)
    if not args.table_only:
        store.data["machine"] = {"processor": platform.processor() or platform.machine(),
                                 "cpu_count": os.cpu_count(), "torch": torch.__version__,
                                 "threads": args.threads, "python": sys.version.split()[0]}
    store.data["command"] = COMMAND
    store.data.setdefault("results", {})
    loaders = {"utkinect": load_utkinect, "syrip": load_syrip}
    unfinished: dict[str, dict[str, str]] = {}
    for name in args.only:
        proto = PROTOCOLS[name]
        train, test, info = loaders[name](args.data)
        res = {"data": info, "protocol": {"lrs": proto.lrs, "max_epochs": proto.max_epochs,
                                          "val_fraction": proto.val_fraction, "seeds": proto.seeds,
                                          "batch_size": proto.batch_size}, "models": {}}
        for model, size in proto.models:
            missing = _missing(store, proto, model, size) if args.table_only else ""
            if missing:
                unfinished.setdefault(name, {})[f"{model}-{size}"] = missing
                continue
            chosen, details = select(store, proto, train, model, size)
            runs = final(store, proto, train, test, model, size, chosen)
            res["models"][f"{model}-{size}"] = {"chosen": chosen, "selection": details, **aggregate(runs),
                                                "seconds": sum(r["seconds"] for r in runs)}
        store.data["results"][name] = res
        store.save()
    (args.out.with_suffix(".md")).write_text(markdown(store, unfinished), encoding="utf-8")
    _log(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
