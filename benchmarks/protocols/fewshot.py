"""Few-shot scaling on UTKinect-Action3D cross-subject: k = 1 and k = 5 real samples per class
plus 0 / 50 / 100 / 150 / 200 synthetic samples per class; test accuracy against the synthetic
count, with a plot.

    python benchmarks/protocols/fewshot.py --jobs 2            # seeds 0 1 2, k 1 5, N 0 50 100 150 200
    python benchmarks/protocols/fewshot.py --seeds 3 --shots 5
    python benchmarks/protocols/fewshot.py --table-only        # rebuild table and plot from the JSON
    python benchmarks/protocols/fewshot.py --tiny --seeds 0 --shots 1 --syn 0 50 --jobs 2   # a smoke run

Protocol, per run seed s and k:

* data as ``benchmarks/configs/utkinect.toml`` (odd subjects train, even subjects test, 32 frames,
  the root of the first frame at the origin, mean bone length 1, view alignment: the strong
  recipe's preparation); the k-shot set is ``per_class_subset(train, k, seed=s)`` (10k segments of
  the odd subjects; the draws of ``benchmarks/protocols/recipe.py --protocol fewshot<k>``);
* generator: the CVAE of that config (2 layers, d 64, lr 1e-3, paper loss weights, generated
  samples keeping the data's root constraint) trained on the k-shot set only, for 2100 optimizer
  steps (the step count of the loop protocol's 300 pre-training epochs on 100 segments); 200
  samples per class drawn once (seeded), and the N-per-class training sets are nested (the first
  N of each class), so the curve adds data rather than redrawing it. The synthetic samples are the
  generator's raw output: no critic filter or distance selection (with one real sample per class
  the loop's within-class distances are degenerate);
* recognizer: the config's final recognizer (ST-GCN slim with the strong recipe) trained on
  k-shot + N synthetic per class for a fixed budget of optimizer steps whatever N: the steps of
  the epochs ``recipe.py`` chose on validation subjects for the k-shot set alone
  (``results/recipe/fewshot<k>/stgcn-slim.json``: k = 5 80 epochs of 16 batches, 1280 steps;
  k = 1 160 epochs of 4 batches, 640 steps), so more synthetic data does not also mean more
  training (the recipe's epoch, the set repeated 5x, is trained as 5 passes, the warm-up's 2
  epochs as 10, so the budget is met to within one pass); tested once on the 99 segments of the
  even subjects. Nothing is chosen on the test subjects.

Every generator and every cell (seed, k, N) is a job (``--jobs N``: N at a time, one thread each);
generators and their samples are kept in ``benchmarks/runs/fewshot_current/``, each finished job's
result there too, and only this process writes ``results/fewshot_current.json`` (a cell already
there is skipped, so an interrupted command resumes), ``.md`` and ``.png``. The results made before
(plain recognizer: ``results/fewshot.*`` before the root fix, ``results/fewshot_kr.*`` with it)
stay as history.

Cost (1 thread a job, this 2-core CPU under load): a generator about 2 min (2100 steps); a cell
about 0.3 s a step of 16 clips (the plain protocol's cells: 90-290 s for 420 steps), so 3-5 min
for k = 1 (640 steps) and 6-10 min for k = 5 (1280 steps); 3 seeds x 2 k x 5 N: about 3.5 CPU
hours, about 2 hours wall with ``--jobs 2``.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: benchmarks.* imports

import numpy as np  # noqa: E402

from infagenc.config import merge_dicts, read_config_file  # noqa: E402
from infagenc.data.motionset import MotionSet  # noqa: E402
from infagenc.data.splits import per_class_subset  # noqa: E402
from infagenc.jsonio import read_json, write_json  # noqa: E402
from infagenc.loop.config import RunConfig  # noqa: E402
from infagenc.loop.runner import prepare_data  # noqa: E402
from infagenc.loop.seeds import derive_seed  # noqa: E402
from infagenc.metrics.stats import Summary  # noqa: E402
from infagenc.runfolder import environment  # noqa: E402
from infagenc.train.generator import GeneratorConfig, GeneratorTrainer, sample_motionset  # noqa: E402
from infagenc.train.recognizer import RecognizerConfig, RecognizerTrainer, evaluate, new_recognizer  # noqa: E402

from benchmarks.common import CONFIGS, DATA, RESULTS, RUNS, TINY, Job, add_jobs_argument, run_jobs  # noqa: E402

CONFIG = CONFIGS / "utkinect.toml"
NAME = "fewshot_current"
GEN_STEPS = 2100
MAX_SYN = 200
COMMAND = "python benchmarks/protocols/fewshot.py"
TINY_STEPS = {"generator": 20, "recognizer": 8}  # --tiny: a smoke run (numbers meaningless)


def base_config(data_root: Path) -> RunConfig:
    path = (Path(data_root) / "utkinect" / "joints").resolve()
    if not path.is_dir():
        raise SystemExit(f"UTKinect not found at {path} (pass --data-root, the folder holding utkinect/)")
    return RunConfig.from_dict(merge_dicts(read_config_file(CONFIG), {"data": {"path": str(path)}}))


def work_dir(tiny: bool) -> Path:
    return TINY / "fewshot" if tiny else RUNS / NAME


def _batches(n: int, batch: int, repeat: int = 1) -> int:
    return math.ceil(n * repeat / batch)


def _epochs(steps: int, n: int, batch: int, repeat: int = 1) -> int:
    return math.ceil(steps / _batches(n, batch, repeat))


def recipe_steps(rc: RecognizerConfig, k: int, classes: int) -> int:
    """The recognizer's step budget for k per class: the epochs recipe.py chose on validation for
    the k-shot set alone, in optimizer steps."""
    model = f"{rc.model}-{rc.size}"
    path = RESULTS / "recipe" / f"fewshot{k}" / f"{model}.json"
    chosen = read_json(path, {}).get("recipe", {}).get("chosen_epochs")
    if chosen is None:
        raise SystemExit(f"{path}: no chosen epochs; run `python benchmarks/protocols/recipe.py --protocol fewshot{k} "
                         f"--models {model}` first (its validation chooses them)")
    return chosen * _batches(k * classes, rc.batch_size, rc.augment.repeat)


def shot_set(data_root: str, k: int, seed: int) -> tuple[MotionSet, MotionSet]:
    """(the k-shot training set of ``seed``, the test set)."""
    sp = prepare_data(base_config(Path(data_root)), progress=False)
    return per_class_subset(sp.train, k, seed=seed), sp.test


def generator_job(k: int, seed: int, data_root: str, generator: dict, path: str, progress: bool = False) -> dict:
    """Train the CVAE on the k-shot set and draw MAX_SYN samples per class into ``path`` (a job)."""
    import time

    shot, _ = shot_set(data_root, k, seed)
    gcfg = GeneratorConfig.from_dict(generator)
    t0 = time.perf_counter()
    trainer = GeneratorTrainer.from_motionset(shot, gcfg)
    hist = trainer.fit(shot, progress=progress)
    syn = sample_motionset(trainer.model, trainer.spec, per_class=MAX_SYN, length=shot.num_frames,
                           seed=derive_seed(seed, "fewshot-sample", k), provenance={"run": f"fewshot-k{k}-s{seed}"})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    syn.save(path)
    return {"epochs": gcfg.epochs, "steps": gcfg.epochs * _batches(len(shot), gcfg.batch_size),
            "final_loss": hist[-1], "root": trainer.spec.root, "seconds": time.perf_counter() - t0}


def first_per_class(syn: MotionSet, n: int) -> MotionSet:
    keep = np.concatenate([np.flatnonzero(syn.labels == c)[:n] for c in range(syn.num_classes)])
    return syn.subset(np.sort(keep))


def cell_job(k: int, seed: int, n: int, data_root: str, recognizer: dict, steps: int, synthetic: str,
             progress: bool = False) -> dict:
    """One cell: the recognizer trained on the k-shot set + the first ``n`` synthetic samples per
    class for ``steps`` optimizer steps, tested once (a job)."""
    import time

    shot, test = shot_set(data_root, k, seed)
    train = shot if n == 0 else MotionSet.concat([shot, first_per_class(MotionSet.load(synthetic), n)])
    rc = RecognizerConfig.from_dict(recognizer)
    # the recipe's epoch (the set repeated r times) as r passes, so that the budget is met to within
    # one pass whatever N (the warm-up counted in passes too)
    r = rc.augment.repeat
    rc = replace(rc, augment=replace(rc.augment, repeat=1), warmup_epochs=rc.warmup_epochs * r)
    epochs = _epochs(steps, len(train), rc.batch_size)
    rc = replace(rc, seed=derive_seed(seed, "fewshot-recognizer", k, n), epochs=epochs, device="cpu")
    t0 = time.perf_counter()
    trainer = RecognizerTrainer(new_recognizer(rc, train.layout, train.channels, train.num_classes), rc, "cpu")
    trainer.fit(train, progress=progress)
    rep = evaluate(trainer.model, test)
    return {"seed": seed, "k": k, "syn_per_class": n, "train_samples": len(train), "epochs": epochs,
            "steps": epochs * _batches(len(train), rc.batch_size), "test_accuracy": rep.overall,
            "mean_class_accuracy": rep.mean_class_accuracy, "shot_names": [str(x) for x in shot.names],
            "seconds": time.perf_counter() - t0}


# ------------------------------------------------------------------------ output
def _summary(rows: list[dict], k: int, n: int) -> Summary | None:
    v = [r["test_accuracy"] for r in rows if r["k"] == k and r["syn_per_class"] == n]
    return Summary.from_values(v) if v else None


def _full_set_reference() -> str:
    """The same recognizer and recipe on all 100 training segments (``recipe.py``), for scale."""
    seeds = read_json(RESULTS / "recipe" / "utkinect" / "stgcn-slim.json", {}).get("recipe", {}).get("seeds", {})
    v = [r["accuracy"] for r in seeds.values()]
    if len(v) < 2:
        return ""
    s = Summary.from_values(v)
    return (f" For scale: the same recognizer and recipe on the full real training set (100 segments, about 10 "
            f"per class) reaches {100 * s.mean:.1f} ± {100 * s.ci95_t:.1f} (t, {len(v)} seeds, "
            "`benchmarks/protocols/recipe.py`).")


def markdown(res: dict) -> str:
    rows = res["rows"]
    shots = sorted({r["k"] for r in rows})
    counts = sorted({r["syn_per_class"] for r in rows})
    env = res["environment"]
    budget = ", ".join(f"k = {k}: {s}" for k, s in sorted(res.get("recognizer_steps", {}).items()))
    out = ["# Few-shot scaling on UTKinect-Action3D (cross-subject)", "",
           f"Command: `{res['command']}`; protocol in the script's docstring. Machine: {env.get('processor')}, "
           f"{env.get('cpu_count')} cores, torch {env.get('torch')}, no GPU, 1 thread a job "
           f"({res.get('jobs', 1)} at a time). Test accuracy (%) on the "
           "99 segments of the even subjects; k real segments per class from the odd subjects plus N synthetic "
           "per class from a CVAE trained on those k only (samples keeping the data's root constraint); the "
           f"recognizer (ST-GCN slim, the strong recipe) trains a fixed number of steps whatever N ({budget}). "
           "Mean ± 95% interval over run seeds (1.96·std/√n; in brackets Student's t, n - 1 "
           "degrees of freedom); every seed in parentheses. Chance: 10%." + _full_set_reference(), "",
           f"![accuracy against synthetic samples per class]({NAME}.png)", "",
           "| k real / class | " + " | ".join(f"N = {n}" for n in counts) + " |",
           "|---|" + "---|" * len(counts)]
    for k in shots:
        cells = []
        for n in counts:
            s = _summary(rows, k, n)
            if s is None:
                cells.append("-")
            elif s.R == 1:
                cells.append(f"{100 * s.mean:.1f}")
            else:
                vals = ", ".join(f"{100 * x:.1f}" for x in s.values)
                cells.append(f"{100 * s.mean:.1f} ± {100 * s.ci95:.1f} [t: ±{100 * s.ci95_t:.1f}] ({vals})")
        out.append(f"| {k} | " + " | ".join(cells) + " |")
    gains = []
    for k in shots:
        for n in counts:
            if n == 0:
                continue
            d = [a["test_accuracy"] - b["test_accuracy"] for a in rows for b in rows
                 if a["k"] == b["k"] == k and a["seed"] == b["seed"] and a["syn_per_class"] == n
                 and b["syn_per_class"] == 0]
            if len(d) > 1:
                s = Summary.from_values(d)
                gains.append(f"k = {k}, N = {n}: {100 * s.mean:+.1f} ± {100 * s.ci95:.1f} [t: ±{100 * s.ci95_t:.1f}]")
    if gains:
        out += ["", "Paired gain over N = 0 (same seed, same k-shot set): " + "; ".join(gains) + "."]
    gens = res.get("generators", {})
    if gens:
        out += ["", "Generators: " + "; ".join(f"{key}: {g['steps']} steps, {g['seconds'] / 60:.1f} min"
                                             for key, g in sorted(gens.items())) + "."]
    return "\n".join(out) + "\n"


def plot(res: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = res["rows"]
    fig, ax = plt.subplots(figsize=(7.5, 4))
    shots = sorted({r["k"] for r in rows})
    for i, k in enumerate(shots):
        dx = 3.0 * (i - (len(shots) - 1) / 2)  # side by side, so the intervals do not hide each other
        counts = sorted({r["syn_per_class"] for r in rows if r["k"] == k})
        ss = [_summary(rows, k, n) for n in counts]
        mean = [100 * s.mean for s in ss]
        err = [0.0 if s.R < 2 else 100 * s.ci95_t for s in ss]
        line = ax.errorbar([n + dx for n in counts], mean, yerr=err, marker="o", capsize=4, label=f"{k} real / class")
        seeds = [r for r in rows if r["k"] == k]
        ax.plot([r["syn_per_class"] + dx for r in seeds], [100 * r["test_accuracy"] for r in seeds], ".",
                color=line[0].get_color(), alpha=0.45)
    ax.axhline(10, ls=":", color="grey", label="chance")
    ax.set_ylim(0, 100)  # a t-interval of 2-3 seeds can reach past the possible range
    ax.set_xlabel("synthetic samples per class")
    ax.set_ylabel("test accuracy (%), even subjects")
    ax.set_title("UTKinect few-shot, ST-GCN slim with the recipe\nmean ± 95% t-interval over seeds (dots: seeds)",
                 fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # outside: no curve hidden
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(res: dict, folder: Path) -> None:
    """The results JSON, page and plot (this process is their one writer)."""
    res["rows"].sort(key=lambda r: (r["k"], r["syn_per_class"], r["seed"]))
    res["environment"] = environment()
    write_json(folder / f"{NAME}.json", res)
    if res["rows"]:
        (folder / f"{NAME}.md").write_text(markdown(res))
        plot(res, folder / f"{NAME}.png")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Few-shot scaling on UTKinect-Action3D")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--shots", nargs="+", type=int, default=[1, 5], choices=(1, 5))
    ap.add_argument("--syn", nargs="+", type=int, default=[0, 50, 100, 150, 200])
    ap.add_argument("--data-root", type=Path, default=DATA, help=f"folder holding utkinect/ (default {DATA})")
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--tiny", action="store_true",
                    help="a smoke run: a few steps per job; results in benchmarks/runs/tiny/ only")
    add_jobs_argument(ap)
    a = ap.parse_args(argv)
    if max(a.syn) > MAX_SYN:
        ap.error(f"at most {MAX_SYN} synthetic samples per class")
    folder, work = (TINY, work_dir(True)) if a.tiny else (RESULTS, work_dir(False))
    res = read_json(folder / f"{NAME}.json", {})
    res.setdefault("rows", [])
    res.setdefault("generators", {})
    res.setdefault("recognizer_steps", {})
    res.update({"command": COMMAND + (" --tiny" if a.tiny else ""), "config": read_config_file(CONFIG),
                "jobs": a.jobs})
    if not a.table_only:
        cfg = base_config(a.data_root)
        classes = prepare_data(cfg, progress=False).train.num_classes
        rc = cfg.final.recognizer
        steps = {k: TINY_STEPS["recognizer"] if a.tiny else recipe_steps(rc, k, classes) for k in a.shots}
        res["recognizer_steps"].update({str(k): s for k, s in steps.items()})
        done = {(r["seed"], r["k"], r["syn_per_class"]) for r in res["rows"]}
        cells = [(s, k, n) for s in a.seeds for k in a.shots for n in a.syn if (s, k, n) not in done]
        gen_steps = TINY_STEPS["generator"] if a.tiny else GEN_STEPS
        gens = []
        for s, k in sorted({(s, k) for s, k, n in cells if n > 0}):
            g = replace(cfg.generator, seed=derive_seed(s, "fewshot-generator", k), device="cpu",
                        epochs=_epochs(gen_steps, k * classes, cfg.generator.batch_size))
            gens.append(Job(f"gen_k{k}_s{s}", generator_job, {
                "k": k, "seed": s, "data_root": str(a.data_root), "generator": g.to_dict(),
                "path": str(work / f"syn_k{k}_s{s}.npz")}))

        def add_generator(job: Job, info: dict) -> None:
            res["generators"][f"k{job.kwargs['k']}_s{job.kwargs['seed']}"] = info
            write(res, folder)

        def add_cell(job: Job, row: dict) -> None:
            res["rows"].append(row)
            print(f"seed {row['seed']} k {row['k']} N {row['syn_per_class']}: {100 * row['test_accuracy']:.1f}% "
                  f"({row['seconds']:.0f} s)", file=sys.stderr)
            write(res, folder)

        progress = not a.no_progress and a.jobs == 1
        run_jobs(gens, work / "jobs", a.jobs, merge=add_generator, progress=progress)
        run_jobs([Job(f"cell_k{k}_s{s}_n{n}", cell_job, {
            "k": k, "seed": s, "n": n, "data_root": str(a.data_root), "recognizer": rc.to_dict(), "steps": steps[k],
            "synthetic": str(work / f"syn_k{k}_s{s}.npz")}) for s, k, n in cells],
            work / "jobs", a.jobs, merge=add_cell, progress=progress)
    write(res, folder)
    if res["rows"]:
        print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
