"""The final experiment of a run: fresh recognizers trained on Real, Syn and Real+Syn, one per
seed, tested on the held-out real subjects; and the same protocol with another recognizer on
a finished run (:func:`recognize_run`)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..config import config_to_dict
from ..data.motionset import MotionSet
from ..jsonio import read_json
from ..metrics.stats import Summary
from ..runfolder import TRAIN_SETS, RunFolder
from ..config import config_from_dict
from ..train.classical import ClassicalRecognizer
from ..train.guard import choose_synthetic
from ..train.realsyn import RealSynConfig
from ..train.device import resolve_device
from ..train.generative import load_trainer, new_trainer
from ..train.recognizer import RecognizerTrainer, evaluate, new_recognizer
from ..viz.confusion import write_report
from .config import RunConfig
from .data import Splits, load_or_none, stored_splits
from .rounds import draw_samples
from .seeds import balanced_requests, derive_seed

__all__ = ["synthetic_for_final", "final_phase", "final_recognition", "recognize_run", "summarise_seeds"]


def synthetic_for_final(f: RunFolder, cfg: RunConfig, sp: Splits, pool: MotionSet | None,
                        device) -> MotionSet | None:
    """The Syn set: the recycled pool, or (baseline) fresh samples of the final generator, classes
    balanced, drawn as ``loop.sampling`` says (from the prior, or around the real training samples,
    :func:`~infagenc.loop.rounds.draw_samples`; what the source-distance filter dropped is logged)."""
    if cfg.loop.selection != "none":
        return pool
    if f.synthetic_path.exists():
        return MotionSet.load(f.synthetic_path)
    gen = load_trainer(f.checkpoint("generator"), device)
    k = sp.train.num_classes
    total = (cfg.final.syn_per_class * k) if cfg.final.syn_per_class else len(sp.train)
    syn, dropped = draw_samples(cfg, gen, balanced_requests(k, total, cfg.data.frames), sp.train,
                                derive_seed(cfg.seed, "baseline_syn"),
                                {"run": cfg.name, "epoch": cfg.loop.epochs, "round": 0})
    if dropped is not None:
        f.log(f"baseline synthetic set: the source-distance filter dropped {dropped} of {len(syn) + dropped} samples")
    syn.save(f.synthetic_path)
    return syn


def final_phase(f: RunFolder, cfg: RunConfig, sp: Splits, syn: MotionSet | None, device, progress: bool) -> dict:
    if f.phase_done("final"):
        return f.read_json(f.recognition_summary_path())
    sets = tuple(cfg.final.train_sets) + (("auto",) if cfg.final.synthetic == "auto" else ())
    results = final_recognition(f, cfg, sp, syn, cfg.final.recognizer, sets, cfg.final.seeds,
                                device, "recognition", progress, evaluator=True, floor=cfg.final.floor)
    f.mark_done("final")
    return results


def _train_sets(sp: Splits, syn: MotionSet | None) -> dict[str, MotionSet]:
    sets = {"real": sp.train}
    if syn is not None and len(syn):
        syn = syn.relabel(sp.train.class_names)
        sets["syn"] = syn
        sets["real_syn"] = MotionSet.concat([sp.train, syn])
    return sets


def _one_seed(f: RunFolder, cfg: RunConfig, sp: Splits, train: MotionSet, name: str, s: int, recognizer,
              device, out: str, progress: bool, keep_evaluator: bool, seed_name: str | None = None) -> dict:
    """Train and test one recognizer; its report (history, train size and settings added). The
    training seed derives from ``seed_name`` (default ``name``): the guard's choice trains with
    the seed of the set it chose, so choosing Real repeats the Real result exactly."""
    done = f.recognition_report_path(name, s, out)
    rc = replace(recognizer, seed=derive_seed(cfg.seed, "final", seed_name or name, s), device=str(device),
                 precision=cfg.execution.precision)
    trainer = RecognizerTrainer(new_recognizer(rc, sp.train.layout, sp.train.channels, sp.train.num_classes),
                                rc, device)
    hist = trainer.fit(train, sp.val, progress=progress)
    report = evaluate(trainer.model, sp.test, batch_size=rc.eval_batch_size, precision=rc.precision)
    if keep_evaluator:  # the checkpoint first: the report is the marker of done
        trainer.save(f.checkpoint("evaluator"), meta={"trained_on": "real train only",
                                                      "preprocess": cfg.data.preprocess().to_dict()})
    write_report(report, done.parent, title=f"{name}, seed {s}",
                 extra={"history": hist, "train_size": len(train), "recognizer": config_to_dict(rc)})
    return read_json(done)


def final_recognition(f: RunFolder, cfg: RunConfig, sp: Splits, syn: MotionSet | None, recognizer,
                      train_sets, seeds, device, out: str, progress: bool, evaluator: bool = False,
                      floor: str | None = None) -> dict:
    """Fresh recognizers trained on each of ``train_sets`` (real / syn / real_syn), one per
    seed, tested on the held-out subjects; every seed's report in ``<out>/<set>/seed_<s>/``
    (a seed already reported is read back, so an interrupted phase resumes), the summary in
    ``<out>/summary.json``, with the ``floor`` recognizer's results beside them (key
    ``floor``) when one is asked for. The training seed is derived from the run seed, the set
    and the seed only, so for one run seed every selection mode trains the same Real recognizer."""
    sets = _train_sets(sp, syn)
    label = "" if out == "recognition" else f" ({recognizer.model}-{recognizer.size})"
    results: dict[str, dict] = {}
    plans = {name: (recognizer, name) for name in train_sets}
    guard = None
    if "auto" in train_sets and "real_syn" in sets:
        guard = guard_choice(f, cfg, sp, sets["syn"], recognizer, device, out, progress)
        plans["auto"] = auto_plan(recognizer, guard)
        sets["auto"] = sets[plans["auto"][1]]
    elif "auto" in train_sets:
        sets["auto"], plans["auto"] = sp.train, (recognizer, "real")  # no synthetic samples: Real
    for name in train_sets:
        if name not in sets:
            results[name] = {"skipped": "no synthetic samples were selected"}
            f.log(f"final recognition{label} on {name}: skipped (no synthetic samples)")
            continue
        rc, seed_name = plans[name]
        per_seed = []
        for s in seeds:
            done = f.recognition_report_path(name, s, out)
            if done.exists():
                per_seed.append(read_json(done))
                continue
            same = f.recognition_report_path(seed_name, s, out)
            if name == "auto" and seed_name == "real" and rc is recognizer and same.exists():
                f.write_json(done, read_json(same))  # the guard kept Real: the Real result, not retrained
                per_seed.append(read_json(done))
                continue
            keep = evaluator and name == "real" and s == seeds[0]
            d = _one_seed(f, cfg, sp, sets[name], name, s, rc, device, out, progress, keep, seed_name)
            per_seed.append(d)
            f.log(f"final recognition{label} on {name}, seed {s}: test accuracy {d['overall_accuracy']:.4f}")
        results[name] = summarise_seeds(per_seed, seeds, sp.train.class_names)
    if guard is not None and "auto" in results:
        results["auto"]["guard"] = guard
    if floor is not None:
        results["floor"] = floor_recognition(f, sp, sets, train_sets, floor, out)
    f.write_json(f.recognition_summary_path(out), results)
    return results


def guard_choice(f: RunFolder, cfg: RunConfig, sp: Splits, syn: MotionSet, recognizer, device, out: str,
                 progress: bool) -> dict:
    """The synthetic-data guard's result (run once, then read back from ``guard.json``)."""
    path = f.guard_path(out)
    stored = read_json(path, None)
    if stored is not None:
        return stored
    rc = replace(recognizer, seed=derive_seed(cfg.seed, "guard"), device=str(device),
                 precision=cfg.execution.precision)
    per_fold = cfg.final.guard_generators == "per_fold"
    f.log(f"synthetic guard: {cfg.final.guard.folds} subject folds of the training set"
          + (", a generator trained on each fold's training part" if per_fold else ", the run's synthetic set"))
    source = fold_synthetic(f, cfg, syn, device, out, progress) if per_fold else syn
    res = choose_synthetic(rc, sp.train, source, cfg.final.guard, progress=progress, log=f.log).to_dict()
    f.write_json(path, res)
    return res


def fold_synthetic(f: RunFolder, cfg: RunConfig, syn: MotionSet, device, out: str, progress: bool):
    """The guard's ``syn(fold, fit_real)``: fold ``fold``'s synthetic set, as many samples per class
    as ``syn`` holds, drawn (as ``loop.sampling`` says) from a new generator of ``cfg.generator``
    trained ``pretrain_generator_epochs`` epochs on ``fit_real`` alone; each set is written once
    (``<out>/guard_fold<i>.npz``, atomically) and read back on resume."""
    counts = np.bincount(syn.labels, minlength=syn.num_classes)
    requests = [(c, cfg.data.frames) for c in range(len(counts)) for _ in range(int(counts[c]))]

    def make(fold: int, fit_real: MotionSet) -> MotionSet:
        path = f.recognition_dir(out) / f"guard_fold{fold}.npz"
        if path.exists():
            return MotionSet.load(path)
        gen = new_trainer(fit_real, replace(cfg.generator, seed=derive_seed(cfg.seed, f"guard_generator_{fold}")),
                          device=device)
        gen.preprocess = cfg.data.preprocess()
        gen.fit(fit_real, progress=progress)
        out_set, _ = draw_samples(cfg, gen, requests, fit_real, derive_seed(cfg.seed, f"guard_syn_{fold}"),
                                  {"run": f"{cfg.name}-guard-fold{fold}"})
        path.parent.mkdir(parents=True, exist_ok=True)
        out_set.save(path)
        f.log(f"synthetic guard: fold {fold}'s generator trained on {len(fit_real)} samples, {len(out_set)} drawn")
        return out_set

    return make


def auto_plan(recognizer, guard: dict):
    """(recognizer config, set whose training seed it takes) of the guard's choice."""
    chosen = guard["chosen"]
    if chosen == "real":
        return recognizer, "real"
    fields = {k: v for k, v in guard["configs"][chosen].items() if k != "technique"}
    return replace(recognizer, realsyn=config_from_dict(RealSynConfig, fields, "guard choice")), "real_syn"


def floor_recognition(f: RunFolder, sp: Splits, sets: dict[str, MotionSet], train_sets, model: str,
                      out: str) -> dict:
    """The trivial floor: a classical recognizer (``linear`` / ``knn``) fitted on each training
    set and tested on the same held-out subjects; deterministic, so one result per set (its
    report in ``<out>/floor_<model>/<set>/``)."""
    res: dict = {"model": model}
    for name in train_sets:
        if name not in sets:
            continue
        done = f.floor_report_path(model, name, out)
        present = len(np.unique(sets[name].labels))
        if model == "linear" and present < 2:
            res[name] = {"skipped": f"the {name} set has samples of one class only"}
            continue
        if not done.exists():
            rec = ClassicalRecognizer(model).fit(sets[name])
            write_report(rec.evaluate(sp.test), done.parent, title=f"floor ({model}) on {name}",
                         extra={"train_size": len(sets[name]), "fit": rec.fit_info})
        d = read_json(done)
        per_class = {r["class"]: r["accuracy"] for r in d["per_class"] if r["accuracy"] is not None}
        res[name] = {"overall": d["overall_accuracy"], "per_class": per_class}
        f.log(f"floor ({model}) on {name}: test accuracy {d['overall_accuracy']:.4f}")
    return res


def summarise_seeds(per_seed: list[dict], seeds, class_names) -> dict:
    """Mean and 95% interval over seeds of the overall and per-class test accuracy."""
    acc = [d["overall_accuracy"] for d in per_seed]
    per_class = {}
    for c in class_names:
        vals = [r["accuracy"] for d in per_seed for r in d["per_class"] if r["class"] == c]
        if len(vals) == len(per_seed) and all(v is not None for v in vals):
            per_class[c] = Summary.from_values(vals).to_dict()
    return {"seeds": list(seeds), "overall": Summary.from_values(acc).to_dict(), "per_class": per_class,
            "per_seed": [{"seed": s, "overall": d["overall_accuracy"]} for s, d in zip(seeds, per_seed)]}


def recognize_run(run_dir: str | Path, recognizer, *, out: str | None = None, train_sets=None,
                  seeds=None, progress: bool = True) -> dict:
    """Final recognition of a finished run with another recognizer (e.g. MS-G3D beside the
    run's ST-GCN): the run's own data split and synthetic set (the recycled pool, or the
    baseline's fresh samples), the protocol of the run's final phase, results in
    ``<run_dir>/<out>/`` (default ``recognition_<model>-<size>``). ``recognizer`` is a
    :class:`~infagenc.models.RecognizerConfig`; ``train_sets`` and ``seeds`` default to the
    run's. Resumes per seed like the run itself."""
    folder = RunFolder(run_dir, create=False)
    stored = folder.read_json(folder.config_path)
    if stored is None:
        raise FileNotFoundError(f"{folder.config_path} not found: {run_dir} is not a run folder")
    cfg = RunConfig.from_dict(stored)
    if not folder.phase_done("final"):
        raise ValueError(f"{run_dir}: the run has not finished its final phase; finish it first "
                         f"(run it again with the same config)")
    out = out or f"recognition_{recognizer.model}-{recognizer.size}"
    if out == "recognition":
        raise ValueError("out='recognition' is the run's own final phase; choose another folder name")
    train_sets = tuple(train_sets or cfg.final.train_sets)
    bad = set(train_sets) - set(TRAIN_SETS) - {"auto"}
    if bad:
        raise ValueError(f"train_sets: unknown {sorted(bad)}")
    if cfg.execution.threads is not None:
        torch.set_num_threads(cfg.execution.threads)
    device = resolve_device(cfg.execution.device)
    sp = stored_splits(folder)
    syn = load_or_none(folder.synthetic_path)
    if syn is None and cfg.loop.selection == "none" and set(train_sets) - {"real"}:
        raise ValueError(f"{folder.synthetic_path} is missing: the baseline's synthetic set was not kept")
    folder.log(f"final recognition with {recognizer.model}-{recognizer.size} into {out}/")
    return final_recognition(folder, cfg, sp, syn, recognizer, train_sets, tuple(seeds or cfg.final.seeds),
                             device, out, progress)
