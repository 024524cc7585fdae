"""Real+Syn against a strong Real: each way of training on real and synthetic samples, and the
synthetic-data guard (``auto``), beside the floor and the recipe-trained Real recognizer.

    python benchmarks/protocols/realsyn.py --protocol syrip --model stgcn-slim --seeds 0,1,2
    python benchmarks/protocols/realsyn.py --protocol utkinect --model stgcn-slim --seeds 0,1,2
    python benchmarks/protocols/realsyn.py --protocol fewshot1 --candidates real,real_syn --seeds 0,1,2
    python benchmarks/protocols/realsyn.py --protocol fewshot5 --candidates real,real_syn --guard-techniques plain --seeds 0,1,2
    python benchmarks/protocols/realsyn.py --table-only

Protocol (the strong-recognizer benchmark's, ``benchmarks/protocols/recipe.py``, whose results it reads):

* data, split, preprocessing and the recognizer's recipe as ``recipe.py``'s ``recipe`` variant,
  with the epoch count that benchmark chose on validation subjects (it must have run first);
* synthetic samples: one conditional VAE (slim pre-norm transformer, 2 layers, d 64; lr 1e-3,
  batch 16, ``GEN_EPOCHS`` epochs; the loop protocols' generator settings) trained on the
  training subjects with seed 0, in the recognizer's preprocessed space; as many samples as
  real training samples, balanced over classes (the baseline VAE of the paper's Table 4: no
  recycling loop), drawn with seed 0. One generator and one synthetic set per protocol, so the
  spread over seeds is that of the recognizers' training (as in one run of ``infagenc run``);
* candidates, each trained on all training subjects (Real alone, or Real + the synthetic set)
  and tested once per seed: ``real`` (the recipe), ``real_syn`` (pooled), ``weight=0.5``
  (synthetic loss weight), ``ratio`` (a quarter of every batch synthetic), ``dann`` (domain
  classifier through gradient reversal, weight 0.1 ramped), ``lmmd`` (class-wise LMMD, weight
  0.5 ramped), ``two_stage`` (Syn for half the epochs, then Real); the candidates of
  ``infagenc.train.guard.candidate_configs`` with its default :class:`GuardConfig`;
* ``auto``: the guard (``choose_synthetic``) on 3 subject folds of the training subjects (seed
  0), once per protocol, each fold's synthetic set from a generator trained on that fold's
  training part (as many samples, balanced; guards made earlier with the protocol's one
  generator on every fold are shown as superseded); its choice is trained exactly as that
  candidate (same config, same seeds), so its test accuracy per seed is that candidate's (not
  trained twice);
* the floor: logistic regression (``recipe.py``'s reference floor) on Real, and on Real+Syn.

Few-shot (``--protocol fewshot5`` / ``fewshot1``): each seed s trains on its own draw of k real
samples per class (``recipe_fewshot.draw``: the draws of ``recipe.py``'s few-shot protocols, so
Real here is that benchmark's recipe run of the same seed), and so has its own generator (seed s,
trained on that draw), synthetic set (as many samples as the draw, balanced) and floor; the spread
over seeds includes the generator's. The guard runs per seed, on 3 subject folds of that seed's
draw (seed s), from 5 samples a class (``FEWSHOT_GUARD_MIN``; at k = 1 a fold's training part lacks
classes, so none runs), each fold's synthetic set from its own generator (seed s) trained on that
fold's training part only (a generator of the whole draw has seen, at 5 a class nearly memorised,
the fold's validation samples: its guard, kept as superseded, chose Real+Syn at +6.7 on
validation where the test said -5.1): its choice's test accuracy of that seed is the seed's ``auto``.

Results: ``results/realsyn/<protocol>/<model>.json`` (every seed; resumable), the table in
``results/realsyn.md``; the generator and the synthetic set in ``benchmarks/runs/realsyn/``
(not committed: derived from the data).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: benchmarks.*

from benchmarks.common import DATA, Job, add_jobs_argument, run_jobs  # noqa: E402
from benchmarks.common import RESULTS as ALL_RESULTS  # noqa: E402
from benchmarks.common import RUNS as ALL_RUNS  # noqa: E402
from benchmarks.protocols import recipe  # noqa: E402  (the strong-recognizer benchmark: data, recipe, epochs)
from benchmarks.protocols import recipe_fewshot as fewshot  # noqa: E402  (its few-shot draws)

from infagenc.data.motionset import MotionSet  # noqa: E402
from infagenc.jsonio import read_json, write_json  # noqa: E402
from infagenc.metrics.stats import Summary  # noqa: E402
from infagenc.models.cvae import CVAEConfig  # noqa: E402
from infagenc.runfolder import cpu_model  # noqa: E402
from infagenc.train.classical import ClassicalRecognizer  # noqa: E402
from infagenc.train.generator import GeneratorConfig, GeneratorTrainer, sample_motionset  # noqa: E402
from infagenc.train.guard import GuardConfig, candidate_configs, choose_synthetic  # noqa: E402
from infagenc.train.recognizer import RecognizerTrainer, evaluate, new_recognizer  # noqa: E402

RESULTS = ALL_RESULTS / "realsyn"
WORK = ALL_RUNS / "realsyn"
GEN_EPOCHS = {"utkinect": 300, "syrip": 300, "fewshot5": 300, "fewshot1": 300}
PROTOCOLS = tuple(GEN_EPOCHS)
COMMAND = "python benchmarks/protocols/realsyn.py"
# How the committed results were made where that was not one plain command (a session's CPU budget).
# few-shot: the guard runs per seed (on subject folds of that seed's draw) from this many real
# samples a class; below it a fold's training part may lack a class altogether
FEWSHOT_GUARD_MIN = 5
RUN_NOTES = {
    "utkinect": "Made in three steps within one session's CPU budget: `--candidates real,real_syn,"
                "real_syn:weight=0.5,real_syn:dann --no-guard --seeds 0,1,2` (stopped after seed 0 of weight=0.5; "
                "seed 0 of DANN unfinished, so no DANN row), then `--candidates real,real_syn --no-guard --seeds "
                "0,1,2,3,4`, then the guard alone with `--guard-techniques plain` (Real against pooled Real+Syn). "
                "That generator predates the generator-trainer base, which moved the CVAE's noise draw; re-made by "
                "the current code it is another one (last loss 0.427 against 0.418), so on 2026-12-02 MS-G3D's "
                "rows of it were put under 'superseded' (`--supersede-generator`) and Real+Syn re-made on the new "
                "generator with pooled and DANN candidates (`--candidates real_syn,real_syn:dann --no-guard`, the "
                "Intel Xeon); Real's rows stay (they never read the synthetic set). ST-GCN's the same way the same "
                "day (`--supersede-generator ... --candidates real_syn,real_syn:dann --guard-techniques plain,dann "
                "--seeds 0,1,2,3,4`, the Intel Xeon, a fresh checkout: the generator re-made), its guard with a "
                "generator per fold.",
    "syrip": "Re-made in full on 2026-12-02 (AMD EPYC, `--seeds 0,1,2`, every candidate and the guard): the current "
             "code's generator is not the earlier one (last training loss 0.433 against 0.403), so the earlier "
             "seeds 0-1 were dropped rather than paired with another synthetic set. LMMD and the guard were then "
             "re-run after LMMD's kernel bandwidth was put in the graph (before, LMMD collapsed the features: "
             "39.0 on every seed, shown as superseded; every other candidate's fold accuracies came out identical "
             "in both guard runs). Seeds 3-4 added the same day on an Intel Xeon (`--seeds 0,1,2,3,4`): the generator "
             "re-made there agreed with the recorded one to 1e-6 of its last loss (kept under `remade`).",
}


def synthetic_set(protocol: str, train: MotionSet, progress: bool, seed: int | None = None,
                  fold: int | None = None) -> tuple[MotionSet, dict]:
    """The protocol's synthetic set (trained and sampled once, then read back); few-shot: the
    set of seed ``seed``'s draw (its own generator, seeded ``seed``); with ``fold``: the set of
    the guard's fold ``fold`` (``train`` is then that fold's training part)."""
    work = WORK / protocol if seed is None else WORK / protocol / f"s{seed}"
    if fold is not None:
        work = work / f"fold{fold}"
    path, info_path = work / "synthetic.npz", work / "generator.json"
    if path.exists() and info_path.exists():
        return MotionSet.load(path), read_json(info_path)
    cfg = GeneratorConfig(cvae=CVAEConfig(num_layers=2, d_model=64, num_heads=4, ff_size=128), lr=1e-3,
                          batch_size=16, epochs=GEN_EPOCHS[protocol], seed=0 if seed is None else seed, device="cpu")
    t0 = time.perf_counter()
    ckpt = work / "generator.pt"
    gen = GeneratorTrainer.load(ckpt, "cpu") if ckpt.exists() else GeneratorTrainer.from_motionset(train, cfg, device="cpu")
    gen.fit(train, epochs=cfg.epochs - gen.epoch, progress=progress, eval_every=0, checkpoint=ckpt,
            save_every=50)
    counts = np.bincount(train.labels, minlength=train.num_classes)
    k, n = train.num_classes, len(train)
    per = [n // k + (1 if c < n % k else 0) for c in range(k)]
    requests = [(c, train.num_frames) for c in range(k) for _ in range(per[c])]
    syn = sample_motionset(gen.model, gen.spec, requests, seed=cfg.seed, provenance={"run": f"realsyn-{protocol}"})
    syn.save(path)
    info = {"config": cfg.to_dict(), "seconds": time.perf_counter() - t0, "samples": len(syn),
            "real_counts": counts.tolist(), "syn_per_class": per, "last": gen.history[-1] if gen.history else {},
            "load_avg": recipe.load_avg(), "cpu": cpu_model()}
    write_json(info_path, info)
    return syn, info


GEN_RTOL = 1e-4  # a re-made generator whose last loss differs by more is another generator


def same_generator(recorded: dict | None, made: dict, where: str) -> dict:
    """The generator record to keep when the synthetic set behind ``recorded`` was re-made
    (another checkout or machine): ``recorded`` plus the re-made run under ``remade`` when their
    last training losses agree to ``GEN_RTOL`` (the same generator up to float order), ``made``
    when nothing was recorded; otherwise a one-line error, since the rows of the recorded set
    cannot be paired with rows of another one."""
    if not recorded or recorded.get("seconds") == made.get("seconds"):
        return made
    a, b = recorded.get("last", {}).get("total"), made.get("last", {}).get("total")
    if a is None or b is None or abs(a - b) > GEN_RTOL * max(abs(a), abs(b)):
        raise SystemExit(f"{where}: the re-made generator is not the one its results were made with (last loss "
                         f"{b} against {a}); move that results file aside (or keep its rows as superseded) first")
    remade = [r for r in recorded.get("remade", []) if r.get("seconds") != made.get("seconds")]
    return {**recorded, "remade": remade + [{k: made[k] for k in ("seconds", "last", "load_avg", "cpu") if k in made}]}


def supersede_generator(res: dict, note: str) -> dict:
    """``res`` with every row made from its recorded synthetic set moved under ``superseded``
    (each candidate but Real, labelled ``<candidate>, earlier generator``: ``note`` says which) and
    the generator, the guard and the floors on Real+Syn dropped, so the next command makes them
    again from a new generator; Real's rows stay (they never read the synthetic set). The old
    guard's choice and floor are kept in the superseded entries' ``guard`` / ``floor``. Done once
    per ``note``: with an entry of that note already there, ``res`` comes back unchanged."""
    if any(v.get("note") == note for v in res.get("superseded", {}).values()):
        return res  # done before (a re-run of the same command): the rows since are the new generator's
    out = {k: v for k, v in res.items() if k not in ("generator", "generators", "guard", "guards")}
    runs = dict(res.get("runs", {}))
    sup = dict(res.get("superseded", {}))
    extra = {"generator": res.get("generator") or res.get("generators"), "guard": res.get("guard") or res.get("guards"),
             "floor": res.get("floor") or res.get("floor_seeds")}
    for cand in [c for c in runs if c != "real"]:
        sup[f"{cand}, earlier generator"] = {"note": note, "runs": runs.pop(cand), **extra}
    out.update(runs=runs, superseded=sup)
    out.pop("floor", None)
    out.pop("floor_seeds", None)
    return out


def setting(protocol: str, model: str, progress: bool = False, seed: int | None = None):
    """The protocol's recipe config (epochs as its validation chose), data and synthetic set;
    few-shot: seed ``seed``'s draw and its synthetic set."""
    name, size = model.split("-")
    prep, cfg = recipe.variants(protocol, name, size)["recipe"]
    chosen = read_json(ALL_RESULTS / "recipe" / protocol / f"{model}.json", {}).get("recipe", {})
    if "chosen_epochs" not in chosen:
        raise SystemExit(f"run `python benchmarks/protocols/recipe.py --protocol {protocol} --models {model}` first: "
                         f"its validation chooses the epochs")
    cfg = replace(cfg, epochs=chosen["chosen_epochs"], device="cpu")
    train, test = recipe.load(protocol, DATA, prep)
    k = fewshot.shots(protocol)
    if k:
        if seed is None:
            raise ValueError(f"{protocol}: a few-shot setting needs the seed of its draw")
        train, _ = fewshot.draw(train, k, seed)
    syn, gen_info = synthetic_set(protocol, train, progress, seed if k else None)
    return prep, cfg, train, test, syn.relabel(train.class_names), gen_info


def run(protocol: str, model: str, seeds, progress: bool, only=None, guard: bool = True, jobs: int = 1,
        guard_cfg: GuardConfig | None = None) -> dict:
    path = RESULTS / protocol / f"{model}.json"
    res = read_json(path, {})
    shots = fewshot.shots(protocol)
    if shots:  # per seed: its draw, generator, synthetic set, floor and guard (made here, once)
        for s in seeds:
            prep, cfg, train, test, syn, gen_info = setting(protocol, model, progress, seed=s)
            gens = res.setdefault("generators", {})
            gens[str(s)] = same_generator(gens.get(str(s)), gen_info, f"{path}, seed {s}")
            res.setdefault("floor_seeds", {}).setdefault(str(s), floors(train, syn, test))
            old = res.get("guards", {}).get(str(s))
            if old is not None and not old.get("fold_synthetic"):  # made with one generator for every fold
                res.setdefault("guards_shared", {})[str(s)] = res["guards"].pop(str(s))
            if guard and shots >= FEWSHOT_GUARD_MIN and str(s) not in res.get("guards", {}):
                # the draw's own guard, on subject folds of the draw (seed s: the draw's seed); each fold's
                # synthetic set from a generator of that fold's training part (5 a class: one generator of
                # the whole draw has memorised the validation samples)
                write_json(path, {**res, "config": cfg.to_dict(), "preprocess": prep.to_dict()})
                fold_syn = (lambda i, fit, s=s: synthetic_set(protocol, fit, progress, seed=s, fold=i)[0])
                g = choose_synthetic(replace(cfg, seed=s), train, fold_syn, guard_cfg or GuardConfig(),
                                     progress=progress, log=lambda m: print(f"seed {s}: {m}", flush=True))
                res.setdefault("guards", {})[str(s)] = {
                    **g.to_dict(), "load_avg": recipe.load_avg(),
                    "guard_config": dataclasses.asdict(guard_cfg or GuardConfig())}
        guard = False  # per seed above, not once per protocol
        res.update(config=cfg.to_dict(), preprocess=prep.to_dict())
    else:
        prep, cfg, train, test, syn, gen_info = setting(protocol, model, progress)
        res.update(generator=same_generator(res.get("generator"), gen_info, str(path)), config=cfg.to_dict(),
                   preprocess=prep.to_dict())
        res.setdefault("floor", floors(train, syn, test))
    write_json(path, res)
    cands = candidate_configs(cfg, GuardConfig())
    if only:
        unknown = sorted(set(only) - set(cands))
        if unknown:
            raise SystemExit(f"unknown candidate(s) {unknown}; choose from {sorted(cands)}")
        cands = {k: v for k, v in cands.items() if k in only}
    if guard and res.get("guard") and not res["guard"].get("fold_synthetic"):  # one generator for every fold
        res["guard_shared"] = res.pop("guard")
    if guard and "guard" not in res:  # each fold's synthetic set from a generator of its training part
        g = choose_synthetic(replace(cfg, seed=0), train,
                             lambda i, fit: synthetic_set(protocol, fit, progress, fold=i)[0],
                             guard_cfg or GuardConfig(), progress=progress, log=lambda m: print(m, flush=True))
        res["guard"] = {**g.to_dict(), "load_avg": recipe.load_avg(),
                        "guard_config": dataclasses.asdict(guard_cfg or GuardConfig())}
        write_json(path, res)
    runs = res.setdefault("runs", {})

    def merge(job: Job, record: dict) -> None:  # the one writer of ``path``
        cand, s = job.kwargs["candidate"], job.kwargs["seed"]
        runs.setdefault(cand, {})[str(s)] = record
        write_json(path, res)
        print(f"{protocol} {model} {cand} seed {s}: {100 * record['accuracy']:.1f} ({record['seconds']:.0f} s)",
              flush=True)

    # seed-major: an interrupted command leaves every candidate with the same seeds
    todo = [Job(f"{model}-{cand.replace(':', '-')}-s{s}", candidate_run,
                {"protocol": protocol, "model": model, "candidate": cand, "seed": s})
            for s in seeds for cand in cands if str(s) not in runs.get(cand, {})]
    run_jobs(todo, WORK / protocol / "jobs", jobs, merge=merge)
    return res


def candidate_run(protocol: str, model: str, candidate: str, seed: int, progress: bool = False) -> dict:
    """One candidate at one seed: trained on all training subjects (with the synthetic set unless
    Real), tested once (a job; the synthetic set must exist: the parent makes it)."""
    _, cfg, train, test, syn, _ = setting(protocol, model, seed=seed)
    rc = candidate_configs(cfg, GuardConfig())[candidate]
    data = train if candidate == "real" else MotionSet.concat([train, syn])
    return one(replace(rc, seed=seed), data, test)


def one(rc, data: MotionSet, test: MotionSet) -> dict:
    t0 = time.perf_counter()
    trainer = RecognizerTrainer(new_recognizer(rc, data.layout, data.channels, data.num_classes), rc)
    trainer.fit(data, None, progress=False)
    rep = evaluate(trainer.model, test)
    return {"accuracy": rep.overall, "per_class": {c: float(a) for c, a in zip(rep.class_names, rep.per_class)},
            "seconds": time.perf_counter() - t0, "load_avg": recipe.load_avg()}


def floors(train: MotionSet, syn: MotionSet, test: MotionSet) -> dict:
    """The linear floor on Real and on Real+Syn (deterministic), on the recognizer's preprocessing."""
    out = {}
    for name, data in (("real", train), ("real_syn", MotionSet.concat([train, syn]))):
        rep = ClassicalRecognizer("linear").fit(data).evaluate(test)
        out[name] = {"accuracy": rep.overall,
                     "per_class": {c: float(a) for c, a in zip(rep.class_names, rep.per_class)}}
    return out


def _pm(values) -> str:
    s = Summary.from_values([100 * v for v in values])
    return f"{s.mean:.1f} ± {s.ci95_t:.1f}" if len(values) > 1 else f"{s.mean:.1f}"


def table(protocol: str, model: str, res: dict) -> list[str]:
    runs, guard = res.get("runs", {}), res.get("guard", {})
    real = runs.get("real", {})
    ref = read_json(ALL_RESULTS / "recipe" / protocol / "floor.json", {})
    ref_key = "linear/per_frame"
    gens = res.get("generators")
    gen_text = (f"{res.get('generator', {}).get('samples', '?')} samples of one baseline CVAE "
                f"({GEN_EPOCHS.get(protocol)} epochs, {res.get('generator', {}).get('seconds', 0) / 60:.1f} min)"
                if not gens else
                f"per seed, as many samples as its draw ({next(iter(gens.values()))['samples']}) from a baseline CVAE "
                f"trained on that draw ({GEN_EPOCHS.get(protocol)} epochs, seeded by the seed, "
                f"{sum(g['seconds'] for g in gens.values()) / 60 / len(gens):.1f} min each)")
    guards = res.get("guards", {})  # few-shot: one guard per seed (its draw's subject folds)
    shared = res.get("guards_shared", {})
    if guards or shared:
        def per_seed(gs: dict) -> str:
            g0 = next(iter(gs.values()))
            return ("; ".join(f"seed {s}: {g['reason']}" for s, g in sorted(gs.items(), key=lambda x: int(x[0])))
                    + f" ({sum(g['seconds'] for g in gs.values()) / 60 / len(gs):.0f} min each; techniques "
                    f"compared with Real: {', '.join(g0['guard_config']['techniques'])})")
        guard_text = ("per seed, on subject folds of that seed's draw, each fold's synthetic set from a generator "
                      "of that fold's training part: " + (per_seed(guards) if guards else "not run yet"))
        if shared:
            guard_text += ("; superseded, with one generator of the whole draw for every fold (so validation saw its "
                           "own samples through it): " + per_seed(shared))
    else:
        def one_guard(g: dict) -> str:
            return (f"{g.get('reason', 'not run')} ({g.get('seconds', 0) / 60:.0f} min"
                    + (f"; techniques compared with Real: {', '.join(g['guard_config']['techniques'])}"
                       if "guard_config" in g else "") + ")")
        guard_text = ((("each fold's synthetic set from a generator of that fold's training part: "
                        if guard.get("fold_synthetic") else "one generator of every training subject for every "
                        "fold (validation saw its own subjects through it): ") + one_guard(guard)) if guard
                      else "not run")
        if res.get("guard_shared"):
            guard_text += ("; superseded, with one generator of every training subject for every fold: "
                           + one_guard(res["guard_shared"]))
    lines = [f"## {recipe.TITLES.get(protocol, protocol)}: {model}", "",
             f"Command: `{COMMAND} --protocol {protocol} --model {model}`. Test accuracy in %, every seed, "
             "mean ± t95 (Student's t over the seeds); 'minus Real' pairs each seed with the Real run of the "
             "same seed. Synthetic set: " + gen_text + ". Guard (auto): " + guard_text + "."
             + (f" {RUN_NOTES[protocol]}" if protocol in RUN_NOTES else ""), "",
             "| training | per seed | mean ± t95 | minus Real (t95) | guard: val acc (3 folds) |",
             "|---|---|---:|---:|---:|"]
    if ref_key in ref:
        lines.append(f"| floor (linear, reference preprocessing, Real) | - | {100 * ref[ref_key]['accuracy']:.1f} | "
                     "| |")
    for k, v in res.get("floor", {}).items():
        lines.append(f"| floor (linear, this preprocessing, {recipe_name(k)}) | - | {100 * v['accuracy']:.1f} | | |")
    fs = res.get("floor_seeds", {})
    for k in ("real", "real_syn"):
        accs = [fs[s][k]["accuracy"] for s in sorted(fs, key=int)]
        if accs:
            lines.append(f"| floor (linear, this preprocessing, {recipe_name(k)}; each seed's draw) | "
                         f"{' '.join(f'{100 * a:.1f}' for a in accs)} | {_pm(accs)} | | |")
    val = {r["candidate"]: r for r in guard.get("table", [])}
    rows = list(runs.items())
    if guard.get("chosen") in runs:
        rows.append((f"auto (chose {guard['chosen']})", runs[guard["chosen"]]))
    if res.get("guard_shared", {}).get("chosen") in runs:
        rows.append((f"auto with one generator for every fold (superseded; chose {res['guard_shared']['chosen']})",
                     runs[res["guard_shared"]["chosen"]]))
    for label, gs in (("auto", guards), ("auto with one generator for every fold (superseded: validation saw "
                                         "its own samples through it)", res.get("guards_shared", {}))):
        chosen = {s: g["chosen"] for s, g in gs.items() if s in runs.get(g["chosen"], {})}
        if chosen:
            rows.append((f"{label} (per seed: {', '.join(chosen[s] for s in sorted(chosen, key=int))})",
                         {s: runs[c][s] for s, c in chosen.items()}))
    for label, old in res.get("superseded", {}).items():
        rows.append((f"{label} (superseded: {old['note']})", old["runs"]))
    for cand, per in rows:
        seeds = sorted(per, key=int)
        accs = [per[s]["accuracy"] for s in seeds]
        diffs = [per[s]["accuracy"] - real[s]["accuracy"] for s in seeds if s in real]
        v = val.get(cand)
        val_cell = "" if v is None else f"{100 * v['mean']:.1f}"
        per_seed = " ".join(f"{100 * a:.1f}" for a in accs)
        diff_cell = _pm(diffs) if cand != "real" and diffs else ""
        lines.append(f"| {recipe_name(cand)} | {per_seed} | {_pm(accs)} | {diff_cell} | {val_cell} |")
    return lines + [""]


def recipe_name(cand: str) -> str:
    return {"real": "Real (recipe)", "real_syn": "Real+Syn (pooled)"}.get(cand, cand.replace("real_syn:", "Real+Syn, "))


def tables() -> str:
    out = ["# Real+Syn against a strong Real", "",
           "Made by `benchmarks/protocols/realsyn.py` (protocol in its docstring); 1 thread per process.", ""]
    for d in sorted(RESULTS.glob("*")):
        for f in sorted(d.glob("*.json")):
            out += table(d.name, f.stem, read_json(f))
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", choices=PROTOCOLS, default="syrip")
    ap.add_argument("--model", default="stgcn-slim", choices=("stgcn-slim", "msg3d-slim", "stgcn-paper"))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--candidates", default="",
                    help="comma-separated subset of the guard's candidates to train (default: all)")
    ap.add_argument("--no-guard", action="store_true", help="skip the guard (auto) on subject folds")
    ap.add_argument("--guard-techniques", default="",
                    help="comma-separated techniques the guard compares with Real (default: GuardConfig's, all; "
                         "e.g. plain,weight to bound its cost)")
    ap.add_argument("--supersede-generator", metavar="NOTE", default="",
                    help="first move every row made from the recorded synthetic set under 'superseded' (NOTE: why), "
                         "so this command trains a new generator and re-makes them (Real's rows stay)")
    ap.add_argument("--table-only", action="store_true")
    add_jobs_argument(ap)
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if a.supersede_generator and not a.table_only:
        path = RESULTS / a.protocol / f"{a.model}.json"
        res = read_json(path, {})
        new = supersede_generator(res, a.supersede_generator)
        if new is not res:  # the first time: the old synthetic set(s) go too
            work = WORK / a.protocol
            for d in (work, *work.glob("s*")):
                for f in ("synthetic.npz", "generator.json", "generator.pt"):
                    (d / f).unlink(missing_ok=True)
            write_json(path, new)
    if not a.table_only:
        only = [c for c in a.candidates.split(",") if c]
        techniques = tuple(t for t in a.guard_techniques.split(",") if t)
        guard_cfg = GuardConfig(techniques=techniques) if techniques else GuardConfig()
        run(a.protocol, a.model, [int(s) for s in a.seeds.split(",")], not a.no_progress, only, not a.no_guard,
            a.jobs, guard_cfg)
    (ALL_RESULTS / "realsyn.md").write_text(tables() + "\n")
    print(tables())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
