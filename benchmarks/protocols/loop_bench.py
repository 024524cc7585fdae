"""Shared machinery of the loop protocols (``utkinect_loop.py``, ``syrip_loop.py``): one
``infagenc run`` per (mode, seed) in ``benchmarks/runs/<protocol>_current/<mode>_s<seed>/`` (not
committed; an interrupted run resumes; ``--modes`` also takes the variants of :data:`VARIANTS`:
other generators as baseline-style runs, ``exemplar``, ``exemplar_refine``, ``mdm``, and the loop
with bounded rounds, ``distance_bounded``, with the per-class filter, ``distance_per_class``, or
with a critic never updated on recycled samples, ``distance_independent``, with the per-class filter and
a class-balanced pool, ``distance_balanced``; ``--final-train-sets real real_syn`` skips the Syn-only
recognizer; ``--guard TECHNIQUES`` adds the synthetic-data guard's choice, the set "auto", to each run's
final phase, with a generator per validation fold), then every other final
recognizer of the protocol (e.g. MS-G3D beside the runs' ST-GCN) on the finished runs, then ``results/<protocol>_loop_current.json``
(every run: config, test accuracy of every training set and of the floor, generation metrics,
timings, machine) and ``results/<protocol>_loop_current.md``. The results file is the record: a
run it holds whose folder is not here (made in another checkout) is carried into the rebuilt
file, marked, as long as the protocol's config is unchanged, and a new command is appended to
the recorded ones. ``--jobs N`` runs N runs at a time,
one thread each (``benchmarks.common.run_jobs``); ``--tiny`` cuts every count to a few steps
(:data:`TINY_RUN`) and writes runs and results under ``benchmarks/runs/tiny/`` only.

The protocols are current: the final recognizers are the strong recipe of ``benchmarks/protocols/recipe.py``
with the epochs it chose on validation subjects, and generated samples keep the data's root
constraint (``generator.keep_root``, the default). The results made before (plain recognizers,
before the root fix: ``results/<protocol>_loop.*``, runs in ``benchmarks/runs/<protocol>/``) stay
as history.

For a given seed the three modes share the data split, the pre-trained critic and
generator and the Real recognizer (same derived seeds), so the Real column is the same
across modes and "Real+Syn - Real" is a paired difference. Intervals: mean ± 1.96·std/√n
over run seeds (sample std), and in brackets Student's t interval (n - 1 degrees of
freedom), the honest one for a handful of seeds.

Another final recognizer (:func:`infagenc.loop.recognize_run`; results in
``<run>/recognition_<model>-<size>/``) trains on the runs' own splits and synthetic sets. Its Real
recognizer depends on the seed only, so it is trained in the first mode's folder of a seed and
shared by the modes of that seed.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from infagenc.config import merge_dicts, read_config_file
from infagenc.jsonio import read_json
from infagenc.loop.config import RunConfig
from infagenc.loop.runner import recognize_run, run
from infagenc.metrics.stats import Summary
from infagenc.runfolder import RunFolder, environment
from infagenc.train.checkpoint import load_checkpoint
from infagenc.train.recognizer import RecognizerConfig

from benchmarks.common import (BENCH, DATA, REPO, RESULTS, RUNS, TINY, Job, add_jobs_argument, run_jobs,
                               write_results)

HERE = BENCH  # the studies' name for benchmarks/
MODES = ("none", "random", "distance")  # the loop's three ablation modes (the paper's Table 4)
# variants beside the three modes, each with its own config overrides (the folder name is the
# variant's): other generators as baseline-style runs without recycling (the paper's Table 2 rows
# beside the VAE baseline and the loop), and the loop with a bounded per-round cost
VARIANTS = {
    "exemplar": {"loop": {"selection": "none", "sampling": "exemplar"}},
    "exemplar_refine": {"loop": {"selection": "none", "sampling": "exemplar"}, "generator": {"lambda_cls": 0.1}},
    "mdm": {"loop": {"selection": "none"}, "generator": {"model": "mdm"}},
    # distance selection with a bounded per-round cost (13 batches of 16 an epoch: the real
    # training set once plus as many pool samples), against the plain loop's full passes
    "distance_bounded": {"loop": {"selection": "distance", "steps_per_epoch": 13}},
    # distance selection whose confidence filter keeps every class (the top 10% of a class by
    # p(cond) when none of it passes theta), against the paper's global filter
    "distance_per_class": {"loop": {"selection": "distance", "filter": "per_class"}},
    # distance selection whose samples are scored by the pre-trained critic (real data only, never
    # updated on recycled samples), against the paper's critic updated every round
    "distance_independent": {"loop": {"selection": "distance", "critic_mode": "independent"}},
    # distance selection with the per-class filter and a class-balanced recycled pool (each class
    # at most the real set's mean class size, its newest samples), against the paper's unbounded,
    # class-skewed pool
    "distance_balanced": {"loop": {"selection": "distance", "filter": "per_class", "pool_cap": 1.0}},
}
ALL_MODES = MODES + tuple(VARIANTS)
LABEL = {"none": "baseline VAE (no recycling)", "random": "random selection", "distance": "distance selection",
         "exemplar": "exemplar-conditioned CVAE (tau 1, no recycling)",
         "exemplar_refine": "exemplar-conditioned CVAE + classification refinement (weight 0.1)",
         "mdm": "MDM-style diffusion (slim, 50 DDIM steps, no recycling)",
         "distance_bounded": "distance selection, bounded rounds (loop.steps_per_epoch 13)",
         "distance_per_class": "distance selection, per-class filter (loop.filter per_class)",
         "distance_independent": "distance selection, independent critic (loop.critic_mode independent)",
         "distance_balanced": "distance selection, per-class filter, balanced pool (loop.pool_cap 1)"}
# --tiny: every count cut to a few steps (a smoke run of the whole command: minutes, numbers meaningless)
TINY_RUN = {"pretrain_generator_epochs": 2, "critic": {"epochs": 1, "target_accuracy": False},
            "loop": {"epochs": 2, "window": 1, "samples_per_epoch": 20},
            "final": {"recognizer": {"epochs": 1, "warmup_epochs": 0, "augment": {"repeat": 1}}, "seeds": [0]},
            "evaluation": {"repeats": 2, "diversity_pairs": 20, "multimodality_pairs": 5}}
TINY_OTHER = {"epochs": 1, "warmup_epochs": 0, "augment": {"repeat": 1}}


@dataclass(frozen=True)
class Protocol:
    name: str  # runs/<name>_current/, results/<name>_loop_current.*
    title: str
    config: Path
    intro: str  # the paragraph under the title (split, test set, what the columns are)
    data: Callable[[Path, Path], dict]  # (data root, runs folder) -> the config's "data" overrides
    default_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    # other final recognizers: name -> fields over the config's final.recognizer (chosen on validation)
    other_recognizers: dict = field(default_factory=dict)
    other_notes: str = ""  # how the other recognizers' settings were chosen

    @property
    def runs(self) -> Path:
        return RUNS / f"{self.name}_current"

    @property
    def results_name(self) -> str:
        return f"{self.name}_loop_current"

    @property
    def command(self) -> str:
        return f"python benchmarks/protocols/{self.name}_loop.py"

    def other(self, name: str, tiny: bool = False) -> RecognizerConfig:
        """The other final recognizer ``name``: the config's final recognizer with its fields."""
        base = read_config_file(self.config).get("final", {}).get("recognizer", {})
        d = merge_dicts(merge_dicts(base, self.other_recognizers[name]), TINY_OTHER if tiny else {})
        return RecognizerConfig.from_dict(d)


def config(p: Protocol, mode: str, seed: int, data_root: Path, tiny: bool = False,
           final_sets: list[str] | None = None, guard: tuple[str, ...] | None = None) -> RunConfig:
    """The run config of ``mode`` (a loop mode or a generator variant) and ``seed``;
    ``final_sets``: the final recognition's training sets (default: the config's); ``guard``:
    the techniques of the synthetic-data guard, which then trains the extra set "auto"
    (``final.synthetic = "auto"``, a generator per fold; empty tuple: the guard's default techniques)."""
    over = VARIANTS.get(mode, {"loop": {"selection": mode}})
    d = merge_dicts(read_config_file(p.config), {"name": f"{p.name}-{mode}-s{seed}", "seed": seed,
                                                 "data": p.data(data_root, p.runs), **over})
    if final_sets is not None:
        d = merge_dicts(d, {"final": {"train_sets": list(final_sets)}})
    if guard is not None:
        techniques = {"guard": {"techniques": list(guard)}} if guard else {}
        d = merge_dicts(d, {"final": {"synthetic": "auto", **techniques}})
    return RunConfig.from_dict(merge_dicts(d, TINY_RUN) if tiny else d)


def runs_folder(p: Protocol, tiny: bool = False) -> Path:
    return TINY / p.name if tiny else p.runs


def _finished_runs(runs: Path) -> list[tuple[str, int]]:
    out = []
    for d in sorted(runs.glob("*_s*")):
        mode, _, seed = d.name.rpartition("_s")
        if mode in ALL_MODES and seed.isdigit():
            out.append((mode, int(seed)))
    return sorted(out, key=lambda ms: (ALL_MODES.index(ms[0]), ms[1]))


def collect(p: Protocol, runs: Path | None = None) -> dict:
    """Every finished run under the protocol's runs folder (or ``runs``)."""
    runs = p.runs if runs is None else runs
    rows = []
    for mode, seed in _finished_runs(runs):
        row = run_row(runs / f"{mode}_s{seed}")
        if row is not None:
            rows.append({"mode": mode, "seed": seed, **row})
    return {"rows": rows}


def run_row(rd: Path) -> dict | None:
    """One finished run folder's numbers (None while its final recognition is missing): test
    accuracy of every training set, per class, pool size, last CAS, generation metrics against
    the test set (and the FID's interval over the evaluation's repeats) for samples from the final
    generator and for the recycled pool, timings and other final recognizers."""
    f = RunFolder(rd, create=False)
    summ = f.recognition_summary_path()
    if not summ.exists():
        return None
    rec = json.loads(summ.read_text())
    metrics = json.loads(f.metrics_path.read_text()) if f.metrics_path.exists() else None
    rounds = json.loads(f.rounds_path.read_text())
    mode = json.loads(f.config_path.read_text())["loop"]["selection"]
    per_class = {}
    for name in ("real", "syn", "real_syn"):
        rep = f.recognition_report_path(name, 0)
        if rep.exists():
            r = json.loads(rep.read_text())
            per_class[name] = {c["class"]: c["accuracy"] for c in r["per_class"]}
    return {
        "run_dir": str(rd.resolve().relative_to(REPO)) if rd.resolve().is_relative_to(REPO) else str(rd),
        "test_accuracy": {k: (v["overall"]["mean"] if "overall" in v else None) for k, v in rec.items()
                          if k != "floor"},
        "floor": {k: v["overall"] for k, v in rec.get("floor", {}).items() if isinstance(v, dict) and "overall" in v},
        "per_class": per_class,
        "synthetic_samples": rounds[-1].get("pool_size") if rounds and mode != "none" else None,
        "cas_last_round": rounds[-1]["best_cas"] if rounds else None,
        "generation_vs_test": None if metrics is None else {
            k: metrics["vs_test"]["generated"][k]["mean"] for k in ("fid", "accuracy", "diversity",
                                                                  "multimodality")},
        "fid_ci95": None if metrics is None else metrics["vs_test"]["generated"]["fid"].get("ci95"),
        "generation_vs_train": None if metrics is None or "vs_train" not in metrics else {
            k: metrics["vs_train"]["generated"][k]["mean"] for k in ("fid", "accuracy", "diversity",
                                                                   "multimodality")},
        "real_train_reference": None if metrics is None or "vs_train" not in metrics else {
            k: metrics["vs_train"]["real"][k]["mean"] for k in ("accuracy", "diversity", "multimodality")},
        # per round: how many samples of each class the round recycled (selected into the pool)
        "selected_per_class": [r["counts"]["selected"] for r in rounds if "counts" in r] if mode != "none" else None,
        # the recycled pool (critic-filtered, selected) under the same evaluator
        "pool_vs_test": None if metrics is None or "recycled_pool_vs_test" not in metrics else {
            k: metrics["recycled_pool_vs_test"]["generated"][k]["mean"] for k in ("fid", "accuracy", "diversity",
                                                                                "multimodality")},
        "pool_vs_train": None if metrics is None or "recycled_pool_vs_train" not in metrics else {
            k: metrics["recycled_pool_vs_train"]["generated"][k]["mean"] for k in ("fid", "accuracy", "diversity",
                                                                                 "multimodality")},
        "real_test_reference": None if metrics is None else {
            **{k: metrics["vs_test"]["real"][k]["mean"] for k in ("accuracy", "diversity", "multimodality")},
            "fid_real_train_vs_real_test": metrics.get("fid_real_train_vs_real_test")},
        "timing": json.loads(f.timing_path.read_text()) if f.timing_path.exists() else None,
        "other_recognizers": _other_results(rd),
        "generator_root": generator_root(rd),
        "guard": guard_summary(rec.get("auto", {}).get("guard")),
    }


def guard_summary(guard: dict | None) -> dict | None:
    """What the pages show of a run's guard (``recognition/guard.json``): its choice, why, the
    techniques, whether each fold had its own generator, the cost."""
    if guard is None:
        return None
    return {"chosen": guard["chosen"], "reason": guard["reason"], "seconds": guard.get("seconds"),
            "fold_synthetic": guard.get("fold_synthetic", False),
            "candidates": [row["candidate"] for row in guard.get("table", [])],
            "folds": len(guard["table"][0]["folds"]) if guard.get("table") else None}


def pretraining_history(rd: Path) -> list | None:
    """The run's generator pre-training history (one dict per epoch), None before it finished."""
    p = RunFolder(rd, create=False).pretrain_log_path("generator")
    return json.loads(p.read_text())["history"] if p.exists() else None


def generator_root(rd: Path) -> str | None:
    """The root constraint the run's generator restores on its samples (``MotionSpec.root``,
    read from its pre-trained checkpoint; ``none`` for checkpoints from before the option).
    Called on finished runs (:func:`run_row`), whose ``checkpoints/`` exists already."""
    p = RunFolder(rd, create=False).checkpoint("generator_pretrained")
    return load_checkpoint(p)["meta"]["spec"].get("root", "none") if p.exists() else None


def _other_results(rd: Path) -> dict:
    """{"msg3d-slim": {"real": acc, "real_syn": acc, ...}} from ``recognition_<model>-<size>/``."""
    f = RunFolder(rd, create=False)
    out = {}
    for d in sorted(rd.glob("recognition_*")):
        sets = {}
        for name in ("real", "syn", "real_syn", "auto"):
            rep = f.recognition_report_path(name, 0, d.name)
            if rep.exists():
                sets[name] = json.loads(rep.read_text())["overall_accuracy"]
        if sets:
            out[d.name.removeprefix("recognition_")] = sets
    return out


def other_table(res: dict, rec: str) -> str:
    """Test accuracy of another final recognizer; its Real is shared by the modes of a seed."""
    acc = {(r["mode"], r["seed"]): r.get("other_recognizers", {}).get(rec, {}) for r in res["rows"]}
    real = {s: a["real"] for (m, s), a in acc.items() if "real" in a}
    lines = ["| mode | seeds | Real | Syn | Real+Syn | Real+Syn - Real (paired) |", "|---|---|---|---|---|---|"]
    for mode in ALL_MODES:
        seeds = sorted(s for m, s in acc if m == mode and acc[(m, s)])
        if not seeds:
            continue

        def cell(vals):
            if not vals:
                return "-"
            return _interval(vals) + (f" ({', '.join(f'{100 * x:.1f}' for x in vals)})" if len(vals) > 1 else "")

        rs = [acc[(mode, s)]["real_syn"] for s in seeds if "real_syn" in acc[(mode, s)]]
        diffs = [acc[(mode, s)]["real_syn"] - real[s] for s in seeds if "real_syn" in acc[(mode, s)] and s in real]
        lines.append(f"| {LABEL[mode]} | {', '.join(map(str, seeds))} | "
                     f"{cell([real[s] for s in seeds if s in real])} | "
                     f"{cell([acc[(mode, s)]['syn'] for s in seeds if 'syn' in acc[(mode, s)]])} | {cell(rs)} | "
                     f"{_interval(diffs, signed=True) if diffs else '-'} |")
    return "\n".join(lines)


def other_recognizer_names(res: dict) -> list[str]:
    return sorted({k for r in res["rows"] for k in r.get("other_recognizers", {})})


def _interval(values: list[float], signed: bool = False) -> str:
    """``mean ± ci95 [t: ±ci95_t]`` in percent (one value: just the value)."""
    if len(values) == 1:
        return f"{100 * values[0]:{'+' if signed else ''}.1f}"
    s = Summary.from_values(values)
    return f"{100 * s.mean:{'+' if signed else ''}.1f} ± {100 * s.ci95:.1f} [t: ±{100 * s.ci95_t:.1f}]"


def table(res: dict) -> str:
    lines = ["| mode | seeds | floor (linear, Real) | Real | Syn | Real+Syn | Real+Syn - Real (paired) | "
             "synthetic samples |", "|---|---|---|---|---|---|---|---|"]
    for mode in ALL_MODES:
        rows = [r for r in res["rows"] if r["mode"] == mode]
        if not rows:
            continue

        def cell(key):
            v = [r["test_accuracy"].get(key) for r in rows]
            v = [x for x in v if x is not None]
            if not v:
                return "-"
            return _interval(v) + (f" ({', '.join(f'{100 * x:.1f}' for x in v)})" if len(v) > 1 else "")

        diffs = [r["test_accuracy"]["real_syn"] - r["test_accuracy"]["real"] for r in rows
                 if r["test_accuracy"].get("real_syn") is not None]
        syn = [r["synthetic_samples"] for r in rows if r["synthetic_samples"] is not None]
        floor = sorted({round(r["floor"]["real"], 6) for r in rows if "real" in r.get("floor", {})})
        lines.append(f"| {LABEL[mode]} | {', '.join(str(r['seed']) for r in rows)} | "
                     f"{', '.join(f'{100 * x:.1f}' for x in floor) or '-'} | {cell('real')} | {cell('syn')} | "
                     f"{cell('real_syn')} | {_interval(diffs, signed=True) if diffs else '-'} | "
                     f"{', '.join(map(str, syn)) if syn else '-'} |")
    return "\n".join(lines)


def guard_table(res: dict, rec: str | None = None) -> str:
    """Per mode: Real, auto (the guard's choice, trained on all training subjects) and auto - Real
    paired by seed, with each seed's choice; empty when no run has a guard. ``rec``: of another
    final recognizer (its choices are in its own run folders, not tabulated here)."""
    def acc(r):
        return r["test_accuracy"] if rec is None else r.get("other_recognizers", {}).get(rec, {})

    rows = [r for r in res["rows"] if acc(r).get("auto") is not None]
    if not rows:
        return ""
    lines = ["| mode | seeds | Real | auto | auto - Real (paired) | chosen, per seed |", "|---|---|---|---|---|---|"]
    for mode in ALL_MODES:
        rs = [r for r in rows if r["mode"] == mode]
        if not rs:
            continue
        real = {r["seed"]: acc(r).get("real") for r in rs}
        if rec is not None:  # another recognizer's Real is trained in the seed's first mode's folder
            real = {s: next((acc(x)["real"] for x in res["rows"] if x["seed"] == s and "real" in acc(x)), None)
                    for s in real}
        auto = [acc(r)["auto"] for r in rs]
        diffs = [acc(r)["auto"] - real[r["seed"]] for r in rs if real[r["seed"]] is not None]
        chosen = ", ".join(f"{r['seed']}: {(r.get('guard') or {}).get('chosen', '?')}" for r in rs) if rec is None \
            else "-"
        lines.append(f"| {LABEL[mode]} | {', '.join(str(r['seed']) for r in rs)} | "
                     f"{_interval([v for v in real.values() if v is not None])} | {_interval(auto)} | "
                     f"{_interval(diffs, signed=True) if diffs else '-'} "
                     f"({', '.join(f'{100 * d:+.1f}' for d in diffs)}) | {chosen} |")
    return "\n".join(lines)


# (a, b): the comparisons the pages make, "a - b" paired by seed
PAIRS = (("distance", "none"), ("random", "none"), ("distance", "random"), ("exemplar", "none"),
         ("exemplar_refine", "none"), ("exemplar_refine", "exemplar"), ("mdm", "none"),
         ("distance_bounded", "distance"), ("distance_per_class", "distance"),
         ("distance_independent", "distance"), ("distance_balanced", "distance"),
         ("distance_balanced", "none"))


def mode_differences(res: dict, rec: str | None = None) -> str:
    """Real+Syn of one mode minus another's, paired by seed (the seeds both have); ``rec``:
    of another final recognizer."""
    acc = {(r["mode"], r["seed"]): (r["test_accuracy"] if rec is None else
                                    r.get("other_recognizers", {}).get(rec, {})).get("real_syn")
           for r in res["rows"]}
    parts = []
    for a, b in PAIRS:
        seeds = sorted(s for m, s in acc if m == a and acc.get((b, s)) is not None and acc[(a, s)] is not None)
        if len(seeds) > 1:
            d = [acc[(a, s)] - acc[(b, s)] for s in seeds]
            parts.append(f"{a} − {b}: {_interval(d, signed=True)} ({len(seeds)} seeds: "
                         f"{', '.join(f'{100 * x:+.1f}' for x in d)})")
    return ("Real+Syn, one mode minus another, paired by seed: " + "; ".join(parts) + ".") if parts else ""


def pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def num(x, fmt=".2f") -> str:
    return "-" if x is None else format(x, fmt)


def _fid(x) -> float | None:
    return x["mean"] if isinstance(x, dict) else x


def per_run_table(res: dict) -> str:
    lines = ["| mode | seed | Real | Syn | Real+Syn | pool | CAS, last round | generated: accuracy | FID | "
             "diversity | multimodality | time, all phases (min) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["rows"]:
        a, g = r["test_accuracy"], r["generation_vs_test"] or {}
        wall = sum(r["timing"]["phases"].values()) / 60 if r.get("timing") else None  # summed over sessions
        lines.append(f"| {r['mode']} | {r['seed']} | {pct(a.get('real'))} | {pct(a.get('syn'))} | "
                     f"{pct(a.get('real_syn'))} | {r['synthetic_samples'] if r['synthetic_samples'] else '-'} | "
                     f"{num(r['cas_last_round'])} | {pct(g.get('accuracy'))} | {num(g.get('fid'), '.1f')} | "
                     f"{num(g.get('diversity'))} | {num(g.get('multimodality'))} | {num(wall, '.0f')} |")
    ref = reference_line(res["rows"])
    return "\n".join(lines + (["", ref] if ref else []))


def reference_line(rows: list[dict]) -> str:
    """The real test set under the runs' own evaluators (mean over the runs): what the
    generation metrics of the generated samples compare with."""
    refs = [r["real_test_reference"] for r in rows if r.get("real_test_reference")]
    if not refs:
        return ""
    mean = lambda k: sum(_fid(x[k]) for x in refs) / len(refs)  # noqa: E731
    return (f"Real test set under the same evaluators (mean over the {len(refs)} runs): accuracy "
            f"{100 * mean('accuracy'):.1f}, diversity {mean('diversity'):.2f}, multimodality "
            f"{mean('multimodality'):.2f}; FID real train vs real test {mean('fid_real_train_vs_real_test'):.1f}.")


def _stat(values: list[float], fmt: str = ".2f", scale: float = 1.0) -> str:
    """``mean ± t95`` (Student t over the seeds; one value: the value)."""
    v = [scale * x for x in values if x is not None]
    if not v:
        return "-"
    if len(v) == 1:
        return format(v[0], fmt)
    s = Summary.from_values(v)
    return f"{format(s.mean, fmt)} ± {format(s.ci95_t, fmt.lstrip('+'))}"


def generation_table(res: dict) -> str:
    """The paper's Table 2 per mode / generator: generation metrics of fresh samples (and of the
    recycled pool) against the real test and training sets, mean ± t95 over seeds, each run's
    evaluator its own Real recognizer; the real sets under the same evaluators below."""
    rows = res["rows"]
    lines = ["| generator | seeds | FID vs test | accuracy | diversity | multimodality | FID vs train | "
             "multimodality vs train set |", "|---|---|---:|---:|---:|---:|---:|---:|"]

    def line(label, rs, key, key_train):
        got = [r for r in rs if r.get(key)]
        if not got:
            return
        g = lambda k: [r[key][k] for r in got]  # noqa: E731
        tr = [r[key_train] for r in got if r.get(key_train)]
        lines.append(f"| {label} | {', '.join(str(r['seed']) for r in got)} | {_stat(g('fid'), '.1f')} | "
                     f"{_stat(g('accuracy'), '.1f', 100)} | {_stat(g('diversity'))} | {_stat(g('multimodality'))} | "
                     f"{_stat([t['fid'] for t in tr], '.1f')} | {_stat([t['multimodality'] for t in tr])} |")

    for mode in ALL_MODES:
        rs = [r for r in rows if r["mode"] == mode]
        line(LABEL[mode], rs, "generation_vs_test", "generation_vs_train")
        if any(r.get("pool_vs_test") for r in rs):  # the recycling modes
            line(f"{LABEL[mode]}: the recycled pool", rs, "pool_vs_test", "pool_vs_train")
    refs = [r for r in rows if r.get("real_test_reference")]
    if refs:
        rt = lambda k: [_fid(r["real_test_reference"][k]) for r in refs]  # noqa: E731
        lines.append(f"| real test set (reference) | {len(refs)} runs | {_stat(rt('fid_real_train_vs_real_test'), '.1f')}"
                     f" (real train vs test) | {_stat(rt('accuracy'), '.1f', 100)} | {_stat(rt('diversity'))} | "
                     f"{_stat(rt('multimodality'))} | - | "
                     f"{_stat([r['real_train_reference']['multimodality'] for r in refs if r.get('real_train_reference')])}"
                     " (real train set) |")
    return "\n".join(lines)


def generation_differences(res: dict) -> str:
    """FID and multimodality of fresh samples against the real test set, one generator minus
    another, paired by seed (the modes of a seed share split and evaluator), mean ± t95."""
    g = {(r["mode"], r["seed"]): r["generation_vs_test"] for r in res["rows"] if r.get("generation_vs_test")}
    parts = []
    for a, b in PAIRS:
        seeds = sorted(s for m, s in g if m == a and (b, s) in g)
        if len(seeds) > 1:
            d = {k: [g[(a, s)][k] - g[(b, s)][k] for s in seeds] for k in ("fid", "multimodality")}
            parts.append(f"{a} − {b}: FID {_stat(d['fid'], '+.1f')} ({', '.join(f'{x:+.1f}' for x in d['fid'])}), "
                         f"multimodality {_stat(d['multimodality'], '+.2f')}")
    return ("Fresh samples against the real test set, one generator minus another, paired by seed (mean ± t95; "
            "FID per seed in parentheses): " + "; ".join(parts) + ".") if parts else ""


def pool_counts_table(res: dict) -> str:
    """Per class, for the recycling modes: samples recycled over all rounds (mean over seeds) and
    the number of (run, round) pairs in which the class received none."""
    rs = [r for r in res["rows"] if r.get("selected_per_class")]
    classes = next((list(r["per_class"]["real"]) for r in res["rows"] if "real" in r.get("per_class", {})), None)
    if not rs or classes is None:
        return ""
    modes = [m for m in ALL_MODES if any(r["mode"] == m for r in rs)]
    head = [f"{m}: recycled (mean over seeds) | {m}: rounds with none" for m in modes]
    lines = ["| class | " + " | ".join(head) + " |", "|---|" + "---:|---:|" * len(modes)]
    for c, name in enumerate(classes):
        cells = []
        for m in modes:
            mr = [r for r in rs if r["mode"] == m]
            tot = [sum(rd[c] for rd in r["selected_per_class"]) for r in mr]
            zero = sum(rd[c] == 0 for r in mr for rd in r["selected_per_class"])
            rounds = sum(len(r["selected_per_class"]) for r in mr)
            cells.append(f"{sum(tot) / len(tot):.1f} | {zero} of {rounds}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_class_table(res: dict) -> str:
    """Per-class test accuracy, mean over seeds, for each mode's Real and Real+Syn."""
    cols = [(m, k) for m in ALL_MODES for k in ("real", "real_syn")
            if any(r["mode"] == m and k in r["per_class"] for r in res["rows"])]
    cols = [c for c in cols if not (c[1] == "real" and c[0] != cols[0][0])]  # Real is shared by the modes
    if not cols:
        return ""
    classes = next(iter(r["per_class"][cols[0][1]] for r in res["rows"] if cols[0][1] in r["per_class"]))
    head = ["Real" if k == "real" else f"Real+Syn, {m}" for m, k in cols]
    lines = ["| class | " + " | ".join(head) + " |", "|---|" + "---:|" * len(cols)]
    for c in classes:
        cells = []
        for m, k in cols:
            v = [r["per_class"][k][c] for r in res["rows"] if r["mode"] == m and k in r["per_class"]]
            cells.append(f"{100 * sum(v) / len(v):.1f}" if v else "-")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def other_sections(p: Protocol, res: dict) -> str:
    out = ""
    for rec in other_recognizer_names(res):
        out += (f"\n\n## Final recognizer {rec}\n\nThe same runs (splits, recycled pools, baseline samples), "
                f"final recognizer {rec} instead of the runs' own (command: `{p.command}`, which trains "
                f"it after the runs). {p.other_notes} For one seed the modes share its Real "
                f"recognizer.\n\n" + other_table(res, rec))
        diffs = mode_differences(res, rec)
        out += f"\n\n{diffs}" if diffs else ""
    return out


def guard_section(res: dict) -> str:
    """The guard's table under its heading (runs with ``final.synthetic = "auto"``); else empty."""
    t = guard_table(res)
    if not t:
        return ""
    g = next(r["guard"] for r in res["rows"] if r.get("guard"))
    return ("\n\n## The synthetic-data guard (auto)\n\nOn " + str(g.get("folds") or "the")
            + " subject folds of each run's training subjects (a "
            "baseline generator of the run's settings trained on each fold's training part, so validation never "
            "sees its own subjects through it), Real against Real+Syn with each of "
            f"{', '.join(c for c in g['candidates'] if c != 'real')}; the choice is trained on all training "
            "subjects and tested once (Real kept unless a candidate beats it by more than validation's noise; "
            "choosing Real repeats the Real result). For a recycling run the folds' samples are the baseline "
            "generator's, not a loop's: an approximation (a loop per fold would cost a run each).\n\n" + t)


def carried_note(res: dict) -> str:
    """A sentence naming the runs carried from an earlier results file (none: empty)."""
    c = [f"{r['mode']} s{r['seed']}" for r in res["rows"] if r.get("carried")]
    return (f" {len(c)} of the {len(res['rows'])} runs were made in an earlier checkout and are carried from the "
            f"results file (their run folders are not here; the same config), on that checkout's machine, where the "
            f"same seed may give other floats: {', '.join(c)}.") if c else ""


def markdown(p: Protocol, res: dict) -> str:
    env = res["environment"]
    return (f"# {p.title}\n\n"
            f"Command: `{res['command']}`; config `benchmarks/configs/{p.config.name}`. Machine: "
            f"{env.get('cpu_model') or env.get('processor')}, {env.get('cpu_count')} cores, torch {env.get('torch')}, "
            f"no GPU; "
            f"each run on 1 thread ({res.get('jobs', 1)} at a time), other jobs sharing the cores. " + p.intro +
            " Mean ± 95% interval over run seeds (1.96·std/√n; in brackets Student's t interval, n - 1 "
            "degrees of freedom; every seed in parentheses). Real: recognizer trained on the real training "
            "set; Syn: on synthetic samples only (the recycled pool, or for the baseline as many fresh "
            "samples as real ones, classes balanced); Real+Syn: on both. For one seed the modes share the "
            "split, the pre-trained models and the Real recognizer, so the difference column is paired."
            + carried_note(res) + "\n\n" + table(res) + "\n\n" + mode_differences(res) + guard_section(res)
            + other_sections(p, res) +
            "\n\n## Generation metrics (the paper's Table 2)\n\nFresh samples of each run's final generator "
            "(and, for the recycling modes, the recycled pool) under the run's evaluator (its Real recognizer, "
            "trained on real training data only), R = 20 repeats a run, as many samples a repeat as the larger "
            "real set; mean ± Student t 95% interval over seeds. Lower FID is closer to the real set; accuracy "
            "and multimodality should approach the real set's.\n\n" + generation_table(res) +
            (f"\n\n{gd}" if (gd := generation_differences(res)) else "") +
            (f"\n\n## Recycled samples per class\n\n{counts}" if (counts := pool_counts_table(res)) else "") +
            "\n\n## Every run\n\nGeneration metrics against the real test set, evaluator: the run's Real "
            "recognizer (trained on real training data only, never the loop's critic), R = 20 repeats "
            "(means shown; intervals in each run's `evaluation/metrics.json`). Pool: synthetic samples "
            "recycled into the training set by the end of the loop. CAS: the critic's accuracy on the "
            "samples of the last round's best epoch. Time: every phase's wall time summed over the run's "
            "sessions (1 thread, with other runs on the cores).\n\n" + per_run_table(res) +
            "\n\n## Per class (mean over seeds)\n\n" + per_class_table(res) + "\n")


def carry_rows(before: dict, rows: list[dict], config: dict) -> tuple[list[dict], int]:
    """``rows`` (the runs finished here) plus the rows of the earlier results file ``before``
    whose (mode, seed) is not among them, marked ``carried``, when ``before`` was made with
    the same protocol config (else none is carried, and a line says so); sorted by mode, then
    seed. Returns (rows, how many were carried)."""
    here = {(r["mode"], r["seed"]) for r in rows}
    old = [r for r in before.get("rows", []) if (r["mode"], r["seed"]) not in here and r["mode"] in ALL_MODES]
    if old and before.get("config") != config:
        print(f"the earlier results file's {len(old)} other runs are not carried: the protocol's config changed "
              f"since", file=sys.stderr)
        old = []
    out = rows + [{**r, "carried": True} for r in old]
    return sorted(out, key=lambda r: (ALL_MODES.index(r["mode"]), r["seed"])), len(old)


def run_loop(config: dict, folder: str, progress: bool = False) -> dict:
    """One loop run (a job of :func:`main`): ``infagenc run`` of ``config`` into ``folder``."""
    run(RunConfig.from_dict(config), Path(folder), progress=progress)
    return {"folder": folder}


def run_other(folder: str, recognizer: dict, train_sets: list, progress: bool = False) -> dict:
    """Another final recognizer on a finished run (a job of :func:`main`)."""
    recognize_run(folder, RecognizerConfig.from_dict(recognizer), train_sets=train_sets, progress=progress)
    return {"folder": folder, "train_sets": train_sets}


def loop_jobs(p: Protocol, modes, seeds, data_root: Path, tiny: bool, final_sets=None, guard=None) -> list[Job]:
    """One job per (mode, seed): the loop modes first (seed by seed, so each seed's modes finish
    together and pair), then the generator variants (seed by seed)."""
    runs = runs_folder(p, tiny)
    order = [(m, s) for group in (MODES, tuple(VARIANTS)) for s in seeds for m in group if m in modes]
    return [Job(f"{mode}_s{seed}", run_loop,
                {"config": config(p, mode, seed, data_root, tiny, final_sets, guard).to_dict(),
                 "folder": str(runs / f"{mode}_s{seed}")})
            for mode, seed in order]


def other_jobs(p: Protocol, names, modes, seeds, train_sets, tiny: bool) -> list[Job]:
    """Per (recognizer, mode, seed): ``train_sets``, but Real only in the seed's first mode (it is
    the same recognizer in every mode of a seed)."""
    runs = runs_folder(p, tiny)
    jobs = []
    for name in names:
        rc = p.other(name, tiny).to_dict()
        for seed in seeds:
            for i, mode in enumerate(modes):
                sets = [s for s in train_sets if s != "real" or i == 0]
                if sets:
                    jobs.append(Job(f"{name}_{mode}_s{seed}", run_other,
                                    {"folder": str(runs / f"{mode}_s{seed}"), "recognizer": rc, "train_sets": sets}))
    return jobs


def main(p: Protocol, argv=None, doc: str | None = None) -> int:
    ap = argparse.ArgumentParser(description=doc or p.title, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", nargs="+", choices=ALL_MODES, default=list(MODES),
                    help="loop modes and generator variants to run (default the three loop modes; "
                         f"variants: {', '.join(VARIANTS)}, each a baseline-style run of another generator); "
                         "the loop modes run first, seed by seed, then the variants")
    ap.add_argument("--final-train-sets", nargs="+", choices=("real", "syn", "real_syn"), default=None,
                    help="the runs' final training sets (default: the config's, all three); e.g. real real_syn "
                         "to skip the Syn-only recognizer and its cost")
    ap.add_argument("--seeds", nargs="+", type=int, default=list(p.default_seeds))
    ap.add_argument("--data-root", type=Path, default=DATA, help=f"folder holding the data (default {DATA})")
    ap.add_argument("--table-only", action="store_true", help="rebuild the results from finished runs")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--other", nargs="*", choices=sorted(p.other_recognizers), default=None,
                    help="the other final recognizers to train on the finished runs (default: all of the "
                         f"protocol's, {', '.join(sorted(p.other_recognizers)) or 'none'}; give none to skip)")
    ap.add_argument("--guard", metavar="TECHNIQUES", default=None,
                    help="the runs' final phase also trains 'auto', the synthetic-data guard's choice "
                         "(final.synthetic = 'auto', a generator per validation fold), comparing Real with these "
                         "comma-separated techniques (e.g. plain,weight; 'default': the guard's default, all of them)")
    ap.add_argument("--train-sets", nargs="+", choices=("real", "syn", "real_syn", "auto"),
                    default=["real", "real_syn"],
                    help="the other recognizers' training sets (default real real_syn; auto: their own guard)")
    ap.add_argument("--tiny", action="store_true",
                    help="a smoke run: every count cut to a few steps; runs and results in benchmarks/runs/tiny/")
    add_jobs_argument(ap)
    a = ap.parse_args(argv)
    others = sorted(p.other_recognizers) if a.other is None else a.other
    runs = runs_folder(p, a.tiny)
    progress = not a.no_progress and a.jobs == 1
    if not a.table_only:
        guard = None if a.guard is None else tuple(t for t in a.guard.split(",") if t and a.guard != "default")
        run_jobs(loop_jobs(p, a.modes, a.seeds, a.data_root, a.tiny, a.final_train_sets, guard), runs / "jobs",
                 a.jobs, progress=progress)
        run_jobs(other_jobs(p, others, a.modes, a.seeds, a.train_sets, a.tiny), runs / "jobs", a.jobs,
                 progress=progress)
    res = collect(p, runs)
    folder = TINY if a.tiny else RESULTS
    before = read_json(folder / f"{p.results_name}.json", {})
    res["rows"], n_carried = carry_rows(before, res["rows"], read_config_file(p.config))
    if not res["rows"]:
        print(f"no finished run under {runs}: nothing to tabulate", file=sys.stderr)
        return 1
    given = " ".join(sys.argv[1:] if argv is None else argv)
    new = f"{p.command} {given}".strip()
    # a rebuilt table keeps the commands and the --jobs its runs were made with; a new command is appended
    if a.table_only:
        res["command"] = before.get("command") or f"{p.command} (the table rebuilt from the finished runs: {given})"
    else:
        res["command"] = f"{before['command']}; then {new}" if before.get("command") and n_carried else new
    res["jobs"] = before.get("jobs", a.jobs)
    res["config"] = read_config_file(p.config)
    res["other_recognizers"] = {name: p.other(name, a.tiny).to_dict() for name in others}
    res["environment"] = environment()
    write_results(p.results_name, res, markdown(p, res), folder)
    return 0
