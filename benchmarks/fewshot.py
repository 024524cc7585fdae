"""Few-shot scaling on UTKinect-Action3D cross-subject (issue 7.1c): k = 1 and
k = 5 real samples per class plus 0 / 50 / 100 / 150 / 200 synthetic samples per class;
test accuracy against the synthetic count, with a plot.

    python benchmarks/fewshot.py                  # seeds 0 1 2, k 1 5, N 0 50 100 150 200
    python benchmarks/fewshot.py --seeds 3 --shots 5
    python benchmarks/fewshot.py --table-only     # rebuild table and plot from the JSON

Protocol, per run seed s and k:

* data as ``benchmarks/configs/utkinect.toml`` (odd subjects train, even subjects test,
  32 frames, root-relative per frame, mean bone length 1); the k-shot set is
  ``per_class_subset(train, k, seed=s)`` (10k segments of the odd subjects);
* generator: the CVAE of that config (2 layers, d 64, lr 1e-3, paper loss weights)
  trained on the k-shot set only, for 2100 optimizer steps (the step count of the loop
  benchmark's 300 pre-training epochs on 100 segments); 200 samples per class drawn
  once (seeded), and the N-per-class training sets are nested (the first N of each
  class), so the curve adds data rather than redrawing it. The synthetic samples are
  the generator's raw output: no critic filter or distance selection (with one real
  sample per class the loop's within-class distances are degenerate);
* recognizer: the slim ST-GCN of the config's final recognizer (Adam lr 3e-3, batch 16)
  trained on k-shot + N synthetic per class for a fixed budget of 420 optimizer steps
  whatever N (the budget of the loop benchmark's Real recognizer: 60 epochs of 7
  batches), so more synthetic data does not also mean more training; tested once on the
  99 segments of the even subjects. Nothing is chosen on the test subjects: every
  setting is inherited from the loop benchmark.

Cells already in ``results/fewshot.json`` are skipped (an interrupted run picks up where
it stopped; generators and their samples are cached in ``benchmarks/runs/fewshot/``).
Writes ``results/fewshot.json``, ``results/fewshot.md`` and ``results/fewshot.png``.

The config's ``generator.keep_root`` (false in ``utkinect.toml``: the committed runs were made
before samples were re-centred on the root) or ``--keep-root`` decides where things go: with
samples re-centred, the cache is ``benchmarks/runs/fewshot_kr/`` and the results
``results/fewshot_kr.*``, so cached samples or finished cells of one setting are never
reused for the other.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from infagenc.config import merge_dicts, read_config_file
from infagenc.data.motionset import MotionSet
from infagenc.data.splits import per_class_subset
from infagenc.loop.config import RunConfig
from infagenc.runfolder import environment
from infagenc.loop.runner import prepare_data
from infagenc.loop.seeds import derive_seed
from infagenc.metrics.stats import Summary
from infagenc.train.generator import GeneratorTrainer, sample_motionset
from infagenc.train.recognizer import RecognizerTrainer, evaluate, new_recognizer

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CONFIG = HERE / "configs" / "utkinect.toml"
DATA = HERE.parent.parent / "shared" / "data"
GEN_STEPS = 2100
REC_STEPS = 420
MAX_SYN = 200
COMMAND = "python benchmarks/fewshot.py"


def _name(keep_root: bool) -> str:
    """Cache folder and results name of a root setting (see the module docstring)."""
    return "fewshot_kr" if keep_root else "fewshot"


def runs_dir(keep_root: bool) -> Path:
    return HERE / "runs" / _name(keep_root)


def base_config(data_root: Path, keep_root: bool = False) -> RunConfig:
    """The protocol's config; ``keep_root`` turns ``generator.keep_root`` on (else the file's value)."""
    path = (data_root / "utkinect" / "joints").resolve()
    if not path.is_dir():
        raise SystemExit(f"UTKinect not found at {path} (pass --data-root, the folder holding utkinect/)")
    over = {"data": {"path": str(path)}, **({"generator": {"keep_root": True}} if keep_root else {})}
    return RunConfig.from_dict(merge_dicts(read_config_file(CONFIG), over))


def _epochs(steps: int, n: int, batch: int) -> int:
    return math.ceil(steps / math.ceil(n / batch))


def synthetic(cfg: RunConfig, shot: MotionSet, k: int, seed: int, progress: bool) -> tuple[MotionSet, dict]:
    """MAX_SYN samples per class from a CVAE trained on the k-shot set (cached)."""
    path = runs_dir(cfg.generator.keep_root) / f"syn_k{k}_s{seed}.npz"
    info_path = path.with_suffix(".json")
    if path.exists() and info_path.exists():
        return MotionSet.load(path), json.loads(info_path.read_text())
    epochs = _epochs(GEN_STEPS, len(shot), cfg.generator.batch_size)
    gcfg = replace(cfg.generator, seed=derive_seed(seed, "fewshot-generator", k), epochs=epochs, device="cpu")
    t0 = time.perf_counter()
    trainer = GeneratorTrainer.from_motionset(shot, gcfg)
    hist = trainer.fit(shot, progress=progress)
    syn = sample_motionset(trainer.model, trainer.spec, per_class=MAX_SYN, length=cfg.data.frames,
                           seed=derive_seed(seed, "fewshot-sample", k), provenance={"run": f"fewshot-k{k}-s{seed}"})
    info = {"epochs": epochs, "steps": epochs * math.ceil(len(shot) / gcfg.batch_size),
            "final_loss": hist[-1], "seconds": time.perf_counter() - t0}
    path.parent.mkdir(parents=True, exist_ok=True)
    syn.save(path)
    info_path.write_text(json.dumps(info, indent=2, default=float) + "\n")
    return syn, info


def first_per_class(syn: MotionSet, n: int) -> MotionSet:
    keep = np.concatenate([np.flatnonzero(syn.labels == c)[:n] for c in range(syn.num_classes)])
    return syn.subset(np.sort(keep))


def cell(cfg: RunConfig, shot: MotionSet, syn: MotionSet, test: MotionSet, k: int, n: int, seed: int,
         progress: bool) -> dict:
    train = shot if n == 0 else MotionSet.concat([shot, first_per_class(syn, n)])
    rc = cfg.final.recognizer
    epochs = _epochs(REC_STEPS, len(train), rc.batch_size)
    rc = replace(rc, seed=derive_seed(seed, "fewshot-recognizer", k, n), epochs=epochs, device="cpu")
    t0 = time.perf_counter()
    model = new_recognizer(rc, train.layout, train.channels, train.num_classes)
    trainer = RecognizerTrainer(model, rc, "cpu")
    trainer.fit(train, progress=progress)
    rep = evaluate(trainer.model, test)
    return {"seed": seed, "k": k, "syn_per_class": n, "train_samples": len(train), "epochs": epochs,
            "steps": epochs * math.ceil(len(train) / rc.batch_size), "test_accuracy": rep.overall,
            "mean_class_accuracy": rep.mean_class_accuracy, "shot_names": list(shot.names),
            "seconds": time.perf_counter() - t0}


# ------------------------------------------------------------------------ output
def _summary(rows: list[dict], k: int, n: int) -> Summary | None:
    v = [r["test_accuracy"] for r in rows if r["k"] == k and r["syn_per_class"] == n]
    return Summary.from_values(v) if v else None


def _full_set_reference() -> str:
    """The loop benchmark's Real recognizer (all 100 training segments), for scale."""
    path = RESULTS / "utkinect_loop.json"
    if not path.exists():
        return ""
    v = [r["test_accuracy"]["real"] for r in json.loads(path.read_text())["rows"] if r["mode"] == "none"]
    if len(v) < 2:
        return ""
    s = Summary.from_values(v)
    return (f" For scale: the same recognizer on the full real training set (100 segments, about 10 per class) "
            f"reaches {100 * s.mean:.1f} ± {100 * s.ci95:.1f} ({len(v)} seeds, loop benchmark).")


def markdown(res: dict) -> str:
    rows = res["rows"]
    shots = sorted({r["k"] for r in rows})
    counts = sorted({r["syn_per_class"] for r in rows})
    env = res["environment"]
    kr = res.get("keep_root", False)
    out = ["# Few-shot scaling on UTKinect-Action3D (cross-subject)"
           + (", samples re-centred on the root" if kr else ""), "",
           f"Command: `{res['command']}`; protocol in the script's docstring. Machine: {env.get('processor')}, "
           f"{env.get('cpu_count')} cores, torch {env.get('torch')}, no GPU, 1 thread. Test accuracy (%) on the "
           "99 segments of the even subjects; k real segments per class from the odd subjects plus N synthetic "
           f"per class from a CVAE trained on those k only; the recognizer's training budget is fixed "
           f"({res['recognizer_steps']} steps) "
           "whatever N. Mean ± 95% interval over run seeds (1.96·std/√n; in brackets Student's t, n - 1 "
           "degrees of freedom); every seed in parentheses. Chance: 10%. Generated samples "
           + ("re-centred on the root joint (`generator.keep_root = true`)." if kr else
              "as the decoder gives them, root not re-centred (`generator.keep_root = false`, the runs made "
              "before that fix).") + _full_set_reference(), "",
           f"![accuracy against synthetic samples per class]({_name(kr)}.png)", "",
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
    kr = ", samples re-centred on the root" if res.get("keep_root") else ""
    ax.set_title(f"UTKinect few-shot{kr}\nmean ± 95% t-interval over seeds (dots: seeds)", fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # outside: no curve hidden
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(res: dict) -> None:
    res["environment"] = environment()
    name = _name(res.get("keep_root", False))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(res, indent=2, default=float) + "\n")
    if res["rows"]:
        (RESULTS / f"{name}.md").write_text(markdown(res))
        plot(res, RESULTS / f"{name}.png")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Few-shot scaling on UTKinect-Action3D")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--shots", nargs="+", type=int, default=[1, 5])
    ap.add_argument("--syn", nargs="+", type=int, default=[0, 50, 100, 150, 200])
    ap.add_argument("--data-root", type=Path, default=DATA, help=f"folder holding utkinect/ (default {DATA})")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--keep-root", action="store_true",
                    help="re-centre generated samples on the root (generator.keep_root; results/fewshot_kr.*)")
    a = ap.parse_args(argv)
    if max(a.syn) > MAX_SYN:
        ap.error(f"at most {MAX_SYN} synthetic samples per class")
    keep_root = a.keep_root or RunConfig.from_dict(read_config_file(CONFIG)).generator.keep_root
    out = RESULTS / f"{_name(keep_root)}.json"
    res = json.loads(out.read_text()) if out.exists() else {}
    res.setdefault("rows", [])
    res.setdefault("generators", {})
    res.update({"command": COMMAND + (" --keep-root" if a.keep_root else ""), "config": read_config_file(CONFIG),
                "keep_root": keep_root, "generator_steps": GEN_STEPS, "recognizer_steps": REC_STEPS})
    if not a.table_only:
        torch.set_num_threads(a.threads)
        cfg = base_config(a.data_root, keep_root)
        sp = prepare_data(cfg, progress=False)
        done = {(r["seed"], r["k"], r["syn_per_class"]) for r in res["rows"]}
        for seed in a.seeds:
            for k in a.shots:
                todo = [n for n in a.syn if (seed, k, n) not in done]
                if not todo:
                    continue
                shot = per_class_subset(sp.train, k, seed=seed)
                syn, info = synthetic(cfg, shot, k, seed, not a.no_progress)
                res["generators"][f"k{k}_s{seed}"] = info
                for n in todo:
                    row = cell(cfg, shot, syn, sp.test, k, n, seed, not a.no_progress)
                    res["rows"].append(row)
                    print(f"seed {seed} k {k} N {n}: {100 * row['test_accuracy']:.1f}% ({row['seconds']:.0f} s)",
                          file=sys.stderr)
                    write(res)
    res["rows"].sort(key=lambda r: (r["k"], r["syn_per_class"], r["seed"]))
    write(res)
    if res["rows"]:
        print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
