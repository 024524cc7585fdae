"""Strong Real recognizers: the trivial floor beside deep recognizers without and with the
small-data recipe, on UTKinect-Action3D cross-subject and SyRIP infant postures; every setting
chosen on validation subjects only.

    python benchmarks/protocols/recipe.py --models floor,stgcn-slim          # one process (resumable)
    python benchmarks/protocols/recipe.py --models msg3d-slim --seeds 0,1,2  # another, side by side
    python benchmarks/protocols/recipe.py --protocol syrip --models floor,stgcn-slim --seeds 0,1,2
    python benchmarks/protocols/recipe.py --protocol fewshot5 --models floor,stgcn-slim,msg3d-slim
    python benchmarks/protocols/recipe.py --table-only                       # the tables from the results

Protocol (UTKinect, ``../shared/data/utkinect/joints``, 199 segments, 10 actions, 10 subjects):

* split: odd subjects (s01 s03 s05 s07 s09) train, even subjects (s02 ... s10) test, as the
  other UTKinect benchmarks;
* preprocessing (:class:`infagenc.data.preprocess.Preprocess`): resampled to 32 frames, root
  (shoulder_center) at the origin in the first frame, mean bone length 1; the recipe adds
  view alignment (``align``: each sequence rotated so that its hip line faces +x and its
  spine +y in the first frame);
* the floor: logistic regression and 1-nearest-neighbour on the standardised flattened
  joints (``infagenc.train.classical``); deterministic (one fit). The reference floor is the
  one the issue asking for it defined (root at the origin in every frame, scale-normalised,
  resampled), fixed before any deep result; the floor with the deep variants' preprocessings
  is listed too;
* deep recognizers: ``plain`` is the earlier protocol (Adam lr 1e-3, constant, batch 16, no
  augmentation); ``recipe`` adds view alignment, on-the-fly augmentation (rotation +-60 deg
  about the vertical, tilts +-10 deg, isotropic scale 0.5-1.5, temporal crop to >= 80%, joint
  jitter 0.01, the training set repeated 5x per epoch: ``AugmentConfig.strong``), label
  smoothing 0.1, dropout 0.3 before the head, weight decay 5e-4, a 2-epoch warm-up;
* selection: 2 of the 5 training subjects (``holdout_subjects(train, 0.4, seed=0)``: s07, s09)
  validate; one model (seed 0) per variant is trained on the other 3 and validated after each
  listed epoch count (``EPOCHS``); the count with the best validation accuracy (earliest on
  ties) is used. The test subjects are not looked at before that;
* final: trained on all 5 training subjects with the chosen epochs, seeds 0-4, tested once;
  the reported accuracy is the last epoch's. Intervals: Student's t over the seeds
  (``Summary.ci95_t``); the paired difference to the floor is per seed against the
  (deterministic) floor: logistic regression ('minus floor') and 1-NN ('minus 1-NN'), both on
  the reference preprocessing (root at the origin in every frame).

Few-shot UTKinect (``--protocol fewshot1`` / ``fewshot5``: k = 1 / 5 real training samples per
class; code in ``recipe_fewshot.py``): the test subjects and preprocessings are those above.

* training set: seed s draws its own k per class from the 100 segments of the odd subjects
  (``per_class_subset(train, k, seed=s)``, the draws of ``benchmarks/protocols/fewshot.py``); the names
  drawn are stored with every result (``train_names``). The floor is no longer deterministic:
  it is fitted per seed on that seed's draw, and every deep run of seed s on the same draw, so
  the spread over seeds includes the draw and 'minus floor' pairs each seed with its own floor;
* selection (the test subjects untouched): k per class drawn (seed 0) from the 3 training
  subjects that ``holdout_subjects(train, 0.4, seed=0)`` keeps (s01 s03 s05), validated on every
  segment of the other 2 (s07 s09, 40 segments); epochs read at ``recipe_fewshot.EPOCHS``
  (more than above, as tiny sets need more passes: k = 5 plain 20/40/80/160, recipe
  10/20/40/80; k = 1 plain 40/80/160/320, recipe 20/40/80/160; an epoch of the recipe is the
  pass over the set repeated 5x), earliest best as above;
* final: seeds 0-4, each trained on its own draw with the chosen epochs, tested once.

SyRIP (``../shared/data/syrip/2d_gt``: ``train200.json`` -> ``validate500.json``, one frame per
sample, COCO-17 xy, 4 postures; one "subject" per image): keypoints not labelled filled with
the mean of the image's labelled ones, root (nose) at the origin, mean bone length 1 (the
floor uses the same); the recipe for single 2D frames: in-plane rotation +-17 deg, scale
+-0.1 per axis (PYSKL's ``AugmentConfig.moderate``), a left/right mirror with probability 0.5
(postures are mirror-symmetric classes), jitter 0.01, the set repeated 5x, label smoothing,
head dropout, weight decay, warm-up as above (no view alignment: it needs 3D); selection on
20% of train200 (``holdout_subjects(train, 0.2, seed=0)``), epochs read at ``EPOCHS``; seeds
0-2; validate500 is the test set, looked at once.

Results: ``results/recipe/<protocol>/<model>.json`` (every seed; a run already there is
skipped, so an interrupted command resumes) and ``results/recipe.md``. Every seed's record holds
its wall time and the 1/5/15-minute load averages of the machine when it finished (``load_avg``);
``environment.json`` the thread settings (``--threads``, default 1; run with ``OMP_NUM_THREADS=1``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: benchmarks.*

from benchmarks.common import DATA, REPO, RESULTS, RUNS, Job, add_jobs_argument, load_avg, run_jobs  # noqa: E402
from benchmarks.protocols import recipe_fewshot as fewshot  # noqa: E402

from infagenc.data.preprocess import Preprocess
from infagenc.data.readers import read
from infagenc.data.splits import holdout_subjects, split_by_subjects
from infagenc.jsonio import read_json, write_json
from infagenc.metrics.stats import Summary
from infagenc.train.augment import AugmentConfig
from infagenc.train.classical import ClassicalRecognizer
from infagenc.train.recognizer import RecognizerConfig, RecognizerTrainer, evaluate, new_recognizer
from infagenc.workflows.tune import validation_accuracies

COMMAND = "python benchmarks/protocols/recipe.py"
TEST_SUBJECTS = ("s02", "s04", "s06", "s08", "s10")
PLAIN_PREP = Preprocess(frames=32, root="first_frame", normalize_scale=True)
RECIPE_PREP = replace(PLAIN_PREP, align=True)
# the floor as the issue that asked for it defined it, before any deep result: root-centred per
# frame, scale-normalised, resampled (to 32 frames here); every deep result is compared with it
FLOOR_PREP = replace(PLAIN_PREP, root="per_frame")
SYRIP_PREP = Preprocess(root="per_frame", normalize_scale=True, unlabelled="fill")
VAL_FRACTION = {"utkinect": 0.4, "syrip": 0.2, "fewshot1": 0.4, "fewshot5": 0.4}
EPOCHS = {"plain": (20, 40, 60), "recipe": (10, 20, 30)}  # epoch counts read on validation
PROTOCOLS = ("utkinect", "fewshot5", "fewshot1", "syrip")


def library_state() -> dict:
    """The commit the run started from and the library files then edited but not committed."""
    def git(*args):
        r = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None
    status = git("status", "--porcelain", "--", "src")
    return {"git_head": git("rev-parse", "HEAD"),
            "src_uncommitted": status.splitlines() if status is not None else None}


def epoch_list(protocol: str, variant: str) -> tuple[int, ...]:
    k = fewshot.shots(protocol)
    return fewshot.EPOCHS[k][variant] if k else EPOCHS[variant]


def variants(protocol: str, model: str, size: str) -> dict[str, tuple[Preprocess, RecognizerConfig]]:
    base = RecognizerConfig(model=model, size=size, lr=1e-3, batch_size=16)
    common = dict(weight_decay=5e-4, label_smoothing=0.1, warmup_epochs=2, model_options={"head_dropout": 0.3})
    if protocol == "syrip":
        aug = AugmentConfig.moderate(mirror=0.5, jitter=0.01, repeat=5)
        return {"plain": (SYRIP_PREP, base), "recipe": (SYRIP_PREP, replace(base, augment=aug, **common))}
    recipe = replace(base, augment=AugmentConfig.strong(crop_min=0.8, jitter=0.01), **common)
    return {"plain": (PLAIN_PREP, base), "recipe": (RECIPE_PREP, recipe)}


def load(protocol: str, data: Path, prep: Preprocess):
    """(train, test) of a protocol, preprocessed; test subjects as the protocol fixes them."""
    if protocol == "syrip":
        folder = data / "syrip" / "2d_gt"
        train = read(folder / "train200.json", "coco")
        test = read(folder / "validate500.json", "coco", class_names=train.class_names)
        return prep(train), prep(test)
    ms = prep(read(data / "utkinect" / "joints", progress=False))
    return split_by_subjects(ms, list(TEST_SUBJECTS))


def floor_results(protocol: str, data: Path, seeds, path: Path) -> dict:
    preps = (("per_frame", SYRIP_PREP),) if protocol == "syrip" else \
        (("per_frame", FLOOR_PREP), ("plain", PLAIN_PREP), ("aligned", RECIPE_PREP))
    if fewshot.shots(protocol):
        loaded = [(name, *load(protocol, data, prep)) for name, prep in preps]
        return fewshot.floor_results(protocol, loaded, seeds, path, load_avg)
    out = {}
    for prep_name, prep in preps:
        train, test = load(protocol, data, prep)
        for model in ("linear", "knn"):
            t0 = time.perf_counter()
            rep = ClassicalRecognizer(model).fit(train).evaluate(test)
            out[f"{model}/{prep_name}"] = {"accuracy": rep.overall, "mean_class_accuracy": rep.mean_class_accuracy,
                                           "per_class": {c: float(a) for c, a in zip(rep.class_names, rep.per_class)},
                                           "seconds": time.perf_counter() - t0}
            print(f"{protocol} floor {model} ({prep_name}): {100 * rep.overall:.1f}", flush=True)
    out["load_avg"] = load_avg()
    write_json(path, out)
    return out


def deep_results(protocol: str, data: Path, model: str, size: str, seeds, path: Path, jobs: int = 1) -> dict:
    res = read_json(path, {})
    for name, (prep, cfg) in variants(protocol, model, size).items():
        entry = res.setdefault(name, {"config": cfg.to_dict(), "preprocess": prep.to_dict(), "seeds": {}})
        if "chosen_epochs" not in entry:
            train, _ = load(protocol, data, prep)
            select(entry, replace(cfg, seed=0), train, protocol, epoch_list(protocol, name))
            write_json(path, res)
            print(f"{model}-{size} {name}: validation {entry['validation']} -> {entry['chosen_epochs']} epochs",
                  flush=True)
        todo = [s for s in seeds if str(s) not in entry["seeds"]]

        def merge(job: Job, record: dict, entry=entry, name=name) -> None:  # the one writer of ``path``
            entry["seeds"][str(job.kwargs["seed"])] = record
            write_json(path, res)
            print(f"{model}-{size} {name} seed {job.kwargs['seed']}: test {100 * record['accuracy']:.1f} "
                  f"({record['seconds']:.0f} s)", flush=True)

        run_jobs([Job(f"{model}-{size}-{name}-s{s}", seed_run,
                      {"protocol": protocol, "data": str(data), "model": model, "size": size, "variant": name,
                       "seed": s, "epochs": entry["chosen_epochs"]}) for s in todo],
                 RUNS / "recipe" / protocol / "jobs", jobs, merge=merge)
    return res


def seed_run(protocol: str, data: str, model: str, size: str, variant: str, seed: int, epochs: int,
             progress: bool = False) -> dict:
    """One seed of one variant, trained on the training subjects and tested once (a job)."""
    prep, cfg = variants(protocol, model, size)[variant]
    train, test = load(protocol, Path(data), prep)
    k = fewshot.shots(protocol)
    rc = replace(cfg, seed=seed, epochs=epochs)
    sub, names = fewshot.draw(train, k, seed) if k else (train, None)
    t0 = time.perf_counter()
    trainer = RecognizerTrainer(new_recognizer(rc, sub.layout, sub.channels, sub.num_classes), rc)
    trainer.fit(sub, None, progress=progress)
    rep = evaluate(trainer.model, test)
    return {"accuracy": rep.overall, "mean_class_accuracy": rep.mean_class_accuracy,
            "per_class": {c: float(a) for c, a in zip(rep.class_names, rep.per_class)},
            "seconds": time.perf_counter() - t0, "load_avg": load_avg(), **({"train_names": names} if k else {})}


def select(entry: dict, cfg: RecognizerConfig, train, protocol: str, epochs) -> None:
    """Epochs chosen on validation subjects (the test set untouched), recorded in ``entry``."""
    fit, val = holdout_subjects(train, VAL_FRACTION[protocol], seed=0)
    k = fewshot.shots(protocol)
    if k:
        fit, names = fewshot.draw(fit, k, 0)
        entry["selection_train_names"] = names
    t0 = time.perf_counter()
    accs = validation_accuracies(cfg, fit, val, epochs)
    best = max(epochs, key=lambda e: (accs[e]["val_acc"], -e))
    entry.update(validation={str(e): accs[e]["val_acc"] for e in epochs}, chosen_epochs=best,
                 val_subjects=sorted(set(val.subjects.tolist()))[:20], val_samples=len(val),
                 selection_train_samples=len(fit), selection_seconds=time.perf_counter() - t0,
                 selection_load_avg=load_avg())


def _pm(values) -> str:
    s = Summary.from_values([100 * v for v in values])
    return f"{s.mean:.1f} ± {s.ci95_t:.1f}" if len(values) > 1 else f"{s.mean:.1f}"


UTK_PREP_NOTE = ("Preprocessing: per_frame = root at the origin in every frame; plain = the root of the "
                 "first frame at the origin; aligned = plain + view alignment.")
FEWSHOT_NOTE = ("Each seed s draws its own {k} training sample(s) per class from the odd subjects (the names "
                "are in the json); the floor is fitted per seed on the same draw as every deep run of that seed "
                "(its rows: every seed, mean ± t95), and 'minus floor' / 'minus 1-NN' pair each seed with its "
                "own floor. Epochs chosen on validation: {k} per class of s01 s03 s05 (seed 0) trained, every "
                "segment of s07 s09 validated. ")
PREP_NOTE = {"utkinect": UTK_PREP_NOTE, "fewshot5": FEWSHOT_NOTE.format(k=5) + UTK_PREP_NOTE,
             "fewshot1": FEWSHOT_NOTE.format(k=1) + UTK_PREP_NOTE,
             "syrip": "Preprocessing, every recognizer and the floor: keypoints not labelled filled with the "
                      "mean of the image's labelled ones, the nose at the origin, mean bone length 1."}
TITLES = {"utkinect": "UTKinect-Action3D (cross-subject: odd subjects train, even subjects test)",
          "fewshot5": "UTKinect-Action3D few-shot, k = 5: 5 real training samples per class drawn per seed "
                      "from the odd subjects, even subjects test",
          "fewshot1": "UTKinect-Action3D few-shot, k = 1: 1 real training sample per class drawn per seed "
                      "from the odd subjects, even subjects test",
          "syrip": "SyRIP infant postures (train200 -> validate500)"}


def tables(results_root: Path) -> str:
    out = ["# Strong Real recognizers", ""]
    for protocol in PROTOCOLS:
        if (results_root / protocol / "floor.json").exists():
            out.append(table(protocol, results_root / protocol))
    return "\n".join(out)


def _floor_label(protocol: str):
    def label(key: str) -> tuple[str, str]:
        m, p = key.split("/")
        return (m, "nose at the origin") if protocol == "syrip" else (m, p)
    return label


def table(protocol: str, results_dir: Path) -> str:
    floor = read_json(results_dir / "floor.json", {})
    runs = fewshot.floor_runs(floor)
    env = read_json(results_dir / "environment.json", {})
    lines = [f"## {TITLES[protocol]}", "",
             f"Command: `{COMMAND} --protocol {protocol}`; protocol in its docstring. Machine: {env.get('machine', '?')}, "
             f"{env.get('cores', '?')} cores, torch {env.get('torch', '?')}, 1 thread per process. Test accuracy in %, "
             "mean ± t-interval (95%, Student's t over the seeds); 'minus floor' is each seed's accuracy "
             "minus the floor's (logistic regression on root-centred, scale-normalised joints, "
             "the first line), 'minus 1-NN' the same against the 1-NN floor (the second line), each with its "
             "t-interval. " + PREP_NOTE[protocol], "",
             "| recognizer | variant | epochs (chosen on val) | val acc | test acc per seed | mean ± t95 | "
             "minus floor (t95) | minus 1-NN (t95) | s / seed |", "|---|---|---:|---:|---|---:|---:|---:|---:|"]
    lines += fewshot.floor_rows(runs, _floor_label(protocol), _pm)
    mismatched = []
    for path in sorted(results_dir.glob("*-*.json")):
        res = read_json(path)
        for name, entry in res.items():
            seeds = entry.get("seeds", {})
            if not seeds:
                continue
            mismatched += [f"{path.stem} {name} seed {s}" for s in fewshot.check_draws(floor, entry)]
            order = sorted(seeds, key=int)
            accs = [seeds[s]["accuracy"] for s in order]
            diffs = []
            for key in ("linear/per_frame", "knn/per_frame"):
                d = [seeds[s]["accuracy"] - fewshot.floor_acc(runs, key, s) for s in order
                     if fewshot.floor_acc(runs, key, s) is not None]
                diffs.append(_pm(d) if d else "–")
            val = entry["validation"][str(entry["chosen_epochs"])]
            lines.append(f"| {path.stem} | {name} | {entry['chosen_epochs']} | {100 * val:.1f} | "
                         f"{', '.join(f'{100 * a:.1f}' for a in accs)} | {_pm(accs)} | {diffs[0]} | {diffs[1]} | "
                         f"{np.mean([seeds[s]['seconds'] for s in seeds]):.0f} |")
    if mismatched:
        lines += ["", "**Trained on other samples than the floor of the same seed:** " + ", ".join(mismatched)]
    classes = _per_class_rows(fewshot.floor_per_class(runs), results_dir)
    if classes:
        lines += ["", "Per class (test accuracy %, mean over the seeds; the floor: logistic regression):", ""] + classes
    return "\n".join(lines) + "\n"


def _per_class_rows(floor_classes: dict | None, results_dir: Path) -> list[str]:
    cols = {"floor": floor_classes}
    for path in sorted(results_dir.glob("*-*.json")):
        for name, entry in read_json(path).items():
            seeds = entry.get("seeds", {})
            if seeds and all("per_class" in v for v in seeds.values()):
                names = list(next(iter(seeds.values()))["per_class"])
                cols[f"{path.stem} {name}"] = {c: float(np.nanmean([seeds[s]["per_class"][c] for s in seeds]))
                                               for c in names}
    cols = {k: v for k, v in cols.items() if v}
    if len(cols) < 2:
        return []
    names = list(next(iter(cols.values())))
    out = ["| class | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for c in names:
        out.append(f"| {c} | " + " | ".join(f"{100 * col.get(c, float('nan')):.1f}" for col in cols.values()) + " |")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--protocol", choices=PROTOCOLS, default="utkinect")
    ap.add_argument("--data", type=Path, default=DATA,
                    help="the folder with utkinect/ and syrip/ (default ../shared/data)")
    ap.add_argument("--models", default="floor,stgcn-slim,msg3d-slim",
                    help="comma-separated: floor, stgcn-slim, stgcn-paper, msg3d-slim, msg3d-paper")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--table-only", action="store_true")
    add_jobs_argument(ap)
    a = ap.parse_args(argv)
    out = RESULTS / "recipe" / a.protocol
    if not a.table_only:
        if not a.data.exists():
            print(f"{a.data}: the shared data folder is not there (pass --data)", file=sys.stderr)
            return 2
        torch.set_num_threads(a.threads)
        write_json(out / "environment.json", {"machine": platform.machine(), "cores": os.cpu_count(),
                                              "torch": torch.__version__, "threads": a.threads,
                                              "torch_threads": torch.get_num_threads(),
                                              "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                                              "load_avg_at_start": load_avg(), **library_state()})
        seeds = [int(s) for s in a.seeds.split(",") if s]
        for m in a.models.split(","):
            if m == "floor":
                floor_results(a.protocol, a.data, seeds, out / "floor.json")
            else:
                model, size = m.split("-")
                deep_results(a.protocol, a.data, model, size, seeds, out / f"{m}.json", a.jobs)
    text = tables(RESULTS / "recipe")
    (RESULTS / "recipe.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
