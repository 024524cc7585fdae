"""The few-shot UTKinect protocols of ``benchmarks/protocols/recipe.py`` (``--protocol fewshot1`` and
``--protocol fewshot5``): the k-shot draws, the floor fitted per seed, the floor's rows of the
table. The protocol itself is described in ``recipe.py``'s docstring.

* the test set is that of ``--protocol utkinect`` (the even subjects, 99 segments);
* seed s draws its own training set: ``per_class_subset(train, k, seed=s)`` over the 100
  segments of the odd subjects (the draw of ``benchmarks/protocols/fewshot.py``'s seed s), so the spread
  over the seeds includes the draw; the sample names are recorded with every result, and the
  floor and every deep variant of seed s are fitted on the same names;
* epoch selection: ``per_class_subset(fit, k, seed=0)`` of the 3 training subjects that
  ``holdout_subjects(train, 0.4, seed=0)`` keeps (s01 s03 s05), validated on every segment of
  the other 2 (s07 s09, 40 segments); epoch counts read at :data:`EPOCHS`.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from infagenc.data.motionset import MotionSet
from infagenc.data.splits import per_class_subset
from infagenc.jsonio import read_json, write_json
from infagenc.train.classical import ClassicalRecognizer

SHOTS = {"fewshot1": 1, "fewshot5": 5}
# Epoch counts read on validation. An epoch is one pass over the k-shot set (the recipe's: over the
# set repeated 5x). The lists cover the optimizer-step range the full protocol chose in (280-640
# steps: batches of 16) and go beyond it, as tiny sets may need more passes: k = 5 (50 samples,
# 4 batches; the recipe 16) plain up to 640 steps, recipe up to 1280; k = 1 (10 samples, 1 batch;
# the recipe 4) plain up to 320 steps, recipe up to 640.
EPOCHS = {5: {"plain": (20, 40, 80, 160), "recipe": (10, 20, 40, 80)},
          1: {"plain": (40, 80, 160, 320), "recipe": (20, 40, 80, 160)}}
KEYS = ("linear/per_frame", "knn/per_frame", "linear/plain", "knn/plain", "linear/aligned", "knn/aligned")


def shots(protocol: str) -> int | None:
    """k of a few-shot protocol, None for the others."""
    return SHOTS.get(protocol)


def draw(train: MotionSet, k: int, seed: int) -> tuple[MotionSet, list[str]]:
    """(the k-shot subset of ``train``, its sample names)."""
    sub = per_class_subset(train, k, seed=seed)
    return sub, [str(n) for n in sub.names]


def floor_results(protocol: str, loaded: Sequence[tuple[str, MotionSet, MotionSet]], seeds, path: Path,
                  load_avg: Callable[[], list]) -> dict:
    """The floor (logistic regression, 1-NN; each preprocessing in ``loaded``: (name, train, test))
    fitted on each seed's k-shot draw; seeds already in ``path`` are kept."""
    k = SHOTS[protocol]
    res = read_json(path, {})
    runs = res.setdefault("seeds", {})
    for s in seeds:
        if str(s) in runs:
            continue
        run: dict = {}
        for prep_name, train, test in loaded:
            sub, names = draw(train, k, s)
            if run.setdefault("train_names", names) != names:
                raise RuntimeError(f"seed {s}: the {prep_name} preprocessing drew other samples")
            for model in ("linear", "knn"):
                t0 = time.perf_counter()
                rep = ClassicalRecognizer(model).fit(sub).evaluate(test)
                run[f"{model}/{prep_name}"] = {
                    "accuracy": rep.overall, "mean_class_accuracy": rep.mean_class_accuracy,
                    "per_class": {c: float(a) for c, a in zip(rep.class_names, rep.per_class)},
                    "seconds": time.perf_counter() - t0}
        run["load_avg"] = load_avg()
        runs[str(s)] = run
        write_json(path, res)
        print(f"{protocol} floor seed {s}: " + ", ".join(
            f"{key} {100 * run[key]['accuracy']:.1f}" for key in KEYS if key in run), flush=True)
    return res


def floor_runs(floor: dict) -> dict[str, dict]:
    """``{seed: {floor key: result}}``; a deterministic floor (one fit) is one run under ``"*"``."""
    if "seeds" in floor:
        return {s: floor["seeds"][s] for s in sorted(floor["seeds"], key=int)}
    return {"*": floor}


def floor_acc(runs: dict[str, dict], key: str, seed: str) -> float | None:
    """The floor's accuracy paired with a deep run's ``seed`` (the deterministic one for every seed)."""
    run = runs.get(seed, runs.get("*"))
    return None if run is None or key not in run else run[key]["accuracy"]


def floor_rows(runs: dict[str, dict], label: Callable[[str], tuple[str, str]], pm: Callable) -> list[str]:
    """Table rows of the floor: every seed's accuracy and the mean (± t95 over the seeds)."""
    lines = []
    for key in KEYS:
        found = [r[key] for r in runs.values() if key in r]
        if found:
            accs = [f["accuracy"] for f in found]
            m, p = label(key)
            lines.append(f"| floor: {m} | {p} | – | – | {', '.join(f'{100 * a:.1f}' for a in accs)} | "
                         f"{pm(accs)} | – | – | {np.mean([f['seconds'] for f in found]):.1f} |")
    return lines


def floor_per_class(runs: dict[str, dict]) -> dict[str, float] | None:
    """The logistic-regression floor's per-class accuracy, mean over the seeds."""
    found = [r["linear/per_frame"]["per_class"] for r in runs.values() if "linear/per_frame" in r]
    if not found:
        return None
    return {c: float(np.nanmean([f[c] for f in found])) for c in found[0]}


def check_draws(floor: dict, deep: dict) -> list[str]:
    """Seeds whose deep run was trained on other samples than the floor of that seed (should be none)."""
    runs = floor.get("seeds", {})
    return [s for s, r in deep.get("seeds", {}).items()
            if "train_names" in r and s in runs and runs[s].get("train_names") != r["train_names"]]
