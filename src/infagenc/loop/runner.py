"""The InfAGenC pipeline: data -> pre-training -> the loop -> final recognition -> metrics.

:func:`run` executes every phase of a :class:`~infagenc.loop.config.RunConfig` in a run
folder (:mod:`infagenc.runfolder`), skipping phases already done, so an
interrupted run resumes where it stopped. Within the loop a checkpoint is written after
every round (window); a resumed loop restarts the interrupted window from that
checkpoint, and since every random draw comes from seeded generators whose states are
checkpointed (generator and critic trainers) or from seeds derived from the run seed and
the epoch / round number (sampling, random selection), the resumed run reaches the same
selections as an uninterrupted one.

The loop (SPEC §4), for each epoch t of each window:

1. train the generator one epoch on X_train (real + the samples recycled so far);
2. generate N_t samples, classes balanced (default N_t = number of real training samples);
3. score them with the critic M: CAS(t) = fraction predicted as their conditioning class.
   Only the window's best-CAS epoch's samples, probabilities and features are kept.
   (``score_fraction < 1``: CAS(t) on a class-balanced fraction of N_t; the generator's
   weights at the window's best epoch are kept, and its N_t samples generated from them
   and scored once at the window's end - the same selection inputs for less scoring);
At the end of each window (a "round"), unless ``selection == "none"`` (the baseline VAE):
4-6. filter the best epoch's samples on confidence and select by distance to the REAL
   training samples in M's feature space (or at random, the ablation) -
   :mod:`infagenc.loop.selection`;
7. add the selected samples to X_train (tagged synthetic with run, epoch, round, seed)
   and update M for ``critic_update_epochs`` epochs on X_train.

M's features do not change within a window (M is only updated at its end), so the
features computed for CAS are the ones used for selection: nothing is scored twice.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import config_to_dict
from ..data.demo import make_demo
from ..data.motionset import MotionSet
from ..data.preprocess import (fill_unlabelled, fixed_length, normalize_scale, root_constraint, root_relative,
                               unlabelled_mask)
from ..data.splits import assert_disjoint, holdout_subjects, split_by_subjects
from ..metrics.stats import Summary
from ..train.device import resolve_device
from ..train.generator import GeneratorTrainer, sample_motionset
from ..train.recognizer import (RecognizerTrainer, evaluate, new_recognizer, predict, write_report)
from .config import RunConfig
from ..runfolder import RunFolder, environment
from .seeds import balanced_requests, derive_seed
from .selection import best_epoch, cas, select

__all__ = ["run", "recognize_run", "prepare_data", "derive_seed", "balanced_requests", "Splits"]


@dataclass
class Splits:
    train: MotionSet
    val: MotionSet | None
    test: MotionSet
    notes: tuple[str, ...] = ()  # what preparing the data changed (for the run log)


# ------------------------------------------------------------------------- data
def load_real(cfg: RunConfig, progress: bool = True, *, test: bool = False) -> MotionSet:
    """The configured real data set (the built-in demo set when ``data.path`` is unset), or
    with ``test`` the fixed test set of ``data.test_path``; ``progress`` goes to readers that
    show a progress bar."""
    d = cfg.data
    if test and d.test_path is None:
        raise ValueError("data.test_path is not set")
    where = d.test_path if test else d.path
    if where is None:
        ms = make_demo(num_subjects=d.demo_subjects, per_class=d.demo_per_class, seed=d.demo_seed,
                       rep=d.rep or "rot6d")
    else:
        from ..data.readers import locate, read, reader_options

        fmt, path = (d.format, where) if d.format else locate(where)
        options = dict(d.options)
        if "progress" in reader_options(fmt):
            options.setdefault("progress", progress)
        ms = read(path, fmt, on_bad=d.on_bad, **options)
    if not ms.labelled:
        raise ValueError(f"{where}: the InfAGenC loop needs labelled data (this set has no classes)")
    if d.rep is not None and d.rep != ms.rep:
        ms = ms.to_rep(d.rep)
    return ms


def _unlabelled(ms: MotionSet, how: str, where: str | None) -> tuple[MotionSet, str]:
    """Keypoints with confidence 0 kept / filled / refused (``data.unlabelled``); the
    confidences are dropped afterwards (the models use positions only, and synthetic
    samples have none). Returns the set and a note of what was done ("" if nothing)."""
    if ms.conf is None:
        return ms, ""
    hidden = unlabelled_mask(ms)
    n = int(hidden.sum())
    if n and how == "error":
        bad = [str(ms.names[i]) for i in np.flatnonzero(hidden.any(axis=(1, 2)))]
        raise ValueError(f"{where}: {n} keypoints have confidence 0 (not labelled) in {len(bad)} samples, "
                         f"e.g. {', '.join(bad[:5])}; set data.unlabelled = 'fill' or 'keep'")
    if n and how == "fill":
        ms, _ = fill_unlabelled(ms)
        note = f"{n} keypoints with confidence 0 filled with the mean of their frame's labelled keypoints"
    else:
        note = f"{n} keypoints with confidence 0 kept as the file gives them" if n else ""
    out = replace(ms, conf=None)
    if note:
        out.notes.append(note)
    return out, note


def prepare_data(cfg: RunConfig, progress: bool = True) -> Splits:
    """Read, preprocess (fixed length, root, scale) and split by subject (train / val / test);
    with ``data.test_path`` the test set is that file, preprocessed the same way."""
    d = cfg.data
    notes: list[str] = []

    def prepared(ms: MotionSet, where: str | None) -> MotionSet:
        ms, note = _unlabelled(ms, d.unlabelled, where)
        if note:
            notes.append(f"{'test' if where is not None and where == d.test_path else 'training'} data: {note}")
        ms = fixed_length(ms, d.frames, d.resample)
        if d.root != "none":
            ms = root_relative(ms, d.root)
        return normalize_scale(ms) if d.normalize_scale else ms

    ms = prepared(load_real(cfg, progress), d.path)
    if d.test_path is not None:
        train, test = ms, prepared(load_real(cfg, progress, test=True), d.test_path)
        if test.layout.name != train.layout.name or test.rep != train.rep:
            raise ValueError(f"{d.test_path}: the test set's layout / representation ({test.layout.name}, "
                             f"{test.rep}) differ from those of {d.path} ({train.layout.name}, {train.rep})")
        try:  # the same classes, matched by name (a file may list them in another order)
            test = test.relabel(train.class_names)
        except ValueError as e:
            raise ValueError(f"{d.test_path}: the test set has classes the training set {d.path} lacks: {e}") from None
    elif d.test_subjects is not None:
        train, test = split_by_subjects(ms, d.test_subjects)
    else:
        train, test = holdout_subjects(ms, d.test_fraction, seed=d.split_seed)
    val = None
    if d.val_fraction > 0:
        train, val = holdout_subjects(train, d.val_fraction, seed=derive_seed(d.split_seed, "val"))
        assert_disjoint(val, test)
    assert_disjoint(train, test)
    empty = [c for c, n in train.class_counts().items() if n == 0]
    if empty:
        raise ValueError(f"classes {empty} have no training samples after the subject split")
    return Splits(train, val, test, tuple(notes))


# ---------------------------------------------------------------------- the run
class _Run:
    def __init__(self, cfg: RunConfig, folder: RunFolder, progress: bool):
        self.cfg, self.folder, self.progress = cfg, folder, progress
        self.device = resolve_device(cfg.device)
        self.critic_cfg = replace(cfg.critic, device=str(self.device), precision=cfg.precision,
                                  seed=derive_seed(cfg.seed, "critic"))
        self.gen_cfg = replace(cfg.generator, device=str(self.device), precision=cfg.precision,
                               seed=derive_seed(cfg.seed, "generator"), epochs=cfg.pretrain_generator_epochs)

    # ---------------------------------------------------------------- phases
    def data(self) -> Splits:
        f = self.folder
        if f.phase_done("data"):
            return _stored_splits(f)
        sp = prepare_data(self.cfg, self.progress)
        sp.train.save(f.path("data", "train.npz"))
        sp.test.save(f.path("data", "test.npz"))
        if sp.val is not None:
            sp.val.save(f.path("data", "val.npz"))
        f.write_json("data/summary.json", {"train": sp.train.summary(), "test": sp.test.summary(),
                                           "val": None if sp.val is None else sp.val.summary()})
        f.log(f"data: train {len(sp.train)} ({len(set(sp.train.subjects))} subjects), test {len(sp.test)} "
              f"({len(set(sp.test.subjects))} subjects), val {0 if sp.val is None else len(sp.val)}")
        for note in sp.notes:
            f.log(note)
        f.mark_done("data")
        return sp

    def pretrain_critic(self, sp: Splits) -> RecognizerTrainer:
        f = self.folder
        path = f.checkpoint("critic_pretrained")
        if f.phase_done("pretrain_critic"):
            return RecognizerTrainer.load(path, self.device)
        t0 = time.perf_counter()
        model = new_recognizer(self.critic_cfg, sp.train.layout, sp.train.channels, sp.train.num_classes)
        trainer = RecognizerTrainer(model, self.critic_cfg, self.device)
        hist = trainer.fit(sp.train, sp.val, progress=self.progress)
        trainer.save(path)
        f.write_json("pretrain_critic.json", {"history": hist, "seconds": time.perf_counter() - t0})
        f.log(f"critic pre-trained: {len(hist)} epochs, last {hist[-1]}")
        f.mark_done("pretrain_critic")
        return trainer

    def pretrain_generator(self, sp: Splits, chunk: int = 50) -> GeneratorTrainer:
        f = self.folder
        path = f.checkpoint("generator_pretrained")
        if f.phase_done("pretrain_generator"):
            return self._checked(GeneratorTrainer.load(path, self.device), sp, path)
        partial = f.checkpoint("generator_pretraining")
        if partial.exists():
            trainer = self._checked(GeneratorTrainer.load(partial, self.device), sp, partial)
        else:
            # the generator models the root translation exactly when the data keeps one
            gcfg = replace(self.gen_cfg, trans=sp.train.trans is not None)
            trainer = GeneratorTrainer.from_motionset(sp.train, gcfg, device=self.device)
        total = self.cfg.pretrain_generator_epochs
        t0 = time.perf_counter()
        ts = trainer.tensors(sp.train)
        bar = tqdm(total=total, initial=trainer.epoch, desc="generator pre-training", disable=not self.progress)
        while trainer.epoch < total:
            for _ in range(min(chunk, total - trainer.epoch)):
                rec = trainer.train_epoch(ts)
                bar.update(1)
                bar.set_postfix(loss=f"{rec['total']:.4f}")
            trainer.save(partial)
        bar.close()
        trainer.save(path)
        f.write_json("pretrain_generator.json", {"history": trainer.history, "seconds": time.perf_counter() - t0})
        f.log(f"generator pre-trained: {trainer.epoch} epochs")
        f.mark_done("pretrain_generator")
        partial.unlink(missing_ok=True)
        return trainer

    def _checked(self, trainer: GeneratorTrainer, sp: Splits, path) -> GeneratorTrainer:
        """A generator loaded from the run folder must restore the root constraint the config
        asks for (``generator.keep_root``); a checkpoint copied from another run may not."""
        want = root_constraint(sp.train) if self.gen_cfg.keep_root else "none"
        if trainer.spec.root != want:
            raise ValueError(f"{path}: the generator restores root constraint {trainer.spec.root!r} on its "
                             f"samples, the config (generator.keep_root = {self.gen_cfg.keep_root}) asks for "
                             f"{want!r}; was the checkpoint copied from another run?")
        return trainer

    # ------------------------------------------------------------------ loop
    def loop(self, sp: Splits, gen: GeneratorTrainer, critic: RecognizerTrainer,
             stop_after_rounds: int | None = None) -> MotionSet | None:
        f, cfg, lc = self.folder, self.cfg, self.cfg.loop
        if f.phase_done("loop"):
            return _load_or_none(f.root / "synthetic.npz")
        st = f.state()
        done = int(st.get("rounds_done", 0))
        if done:
            gen = GeneratorTrainer.load(f.checkpoint("generator"), self.device)
            critic = RecognizerTrainer.load(f.checkpoint("critic"), self.device)
        pool = _load_or_none(f.root / "synthetic.npz") if done else None
        epochs_log: list[dict] = f.read_json("epochs.json", []) if done else []
        rounds_log: list[dict] = f.read_json("rounds.json", []) if done else []
        epochs_log = [e for e in epochs_log if e["epoch"] <= done * lc.window]
        rounds_log = rounds_log[:done]

        real = sp.train
        n_t = lc.samples_per_epoch or len(real)
        requests = balanced_requests(real.num_classes, n_t, cfg.data.frames)
        probing = lc.score_fraction < 1.0
        probe = balanced_requests(real.num_classes, max(real.num_classes, round(lc.score_fraction * n_t)),
                                  cfg.data.frames) if probing else requests
        x_train = real if pool is None else MotionSet.concat([real, pool])
        gen_ts = gen.tensors(x_train)
        eval_bs = self.critic_cfg.eval_batch_size
        real_feat = None  # critic features of the real training set, recomputed after each critic update

        bar = tqdm(total=lc.epochs, initial=done * lc.window, desc=f"loop ({lc.selection})",
                   disable=not self.progress)

        def generate(t: int, reqs, r: int) -> MotionSet:
            return sample_motionset(gen.model, gen.spec, reqs, seed=derive_seed(cfg.seed, "sample", t),
                                    precision=cfg.precision, dropout=lc.sample_dropout or None,
                                    provenance={"run": cfg.name, "epoch": t, "round": r + 1})

        for r in range(done, lc.rounds):
            best = None  # (epoch, cas, samples, predictions) of the best epoch so far in this window
            best_state = None  # with score_fraction < 1: the generator's weights at that epoch
            cas_window: dict[int, float] = {}
            for t in range(r * lc.window + 1, (r + 1) * lc.window + 1):
                t0 = time.perf_counter()
                losses = gen.train_epoch(gen_ts)
                t1 = time.perf_counter()
                syn = generate(t, probe, r)
                t2 = time.perf_counter()
                pr = predict(critic.model, syn, batch_size=eval_bs, precision=cfg.precision)
                c = cas(pr.pred, syn.labels)
                t3 = time.perf_counter()
                cas_window[t] = c
                if best is None or c > best[1]:
                    best = (t, c, syn, pr)
                    if probing and lc.selection != "none":
                        best_state = {k: v.detach().clone() for k, v in gen.model.state_dict().items()}
                rec = {"epoch": t, "round": r + 1, "cas": c, "scored": len(syn),
                       **{f"gen_{k}": v for k, v in losses.items() if k != "epoch"},
                       "time_gen_train": t1 - t0, "time_generate": t2 - t1, "time_score": t3 - t2}
                epochs_log.append(rec)
                f.log(f"epoch {t}: CAS {c:.3f}, generator loss {losses['total']:.4f}")
                bar.update(1)
                bar.set_postfix(cas=f"{c:.2f}", round=r + 1)
            b_epoch, b_cas, syn, pr = best
            assert b_epoch == best_epoch(cas_window)
            rrec = {"round": r + 1, "best_epoch": b_epoch, "best_cas": b_cas, "selection": lc.selection}
            if best_state is not None:  # the best epoch's full N_t samples, from its kept weights
                t0 = time.perf_counter()
                now = {k: v.detach().clone() for k, v in gen.model.state_dict().items()}
                gen.model.load_state_dict(best_state)
                syn = generate(b_epoch, requests, r)
                gen.model.load_state_dict(now)
                pr = predict(critic.model, syn, batch_size=eval_bs, precision=cfg.precision)
                rrec.update({"best_cas_all": cas(pr.pred, syn.labels), "time_rescore": time.perf_counter() - t0})
            if lc.selection != "none":
                t0 = time.perf_counter()
                if real_feat is None:
                    real_feat = predict(critic.model, real, batch_size=eval_bs, precision=cfg.precision).features
                res = select(pr.probs, syn.labels, pr.features, real_feat, real.labels, mode=lc.selection,
                             theta=lc.theta, w_within=lc.w_within, w_between=lc.w_between, form=lc.score_form,
                             keep_fraction=lc.keep_fraction,
                             rng=np.random.default_rng(derive_seed(cfg.seed, "random_selection", r + 1)))
                chosen = syn.subset(res.selected_index)
                t1 = time.perf_counter()
                rd = f.round_dir(r + 1)
                chosen.save(rd / "selected.npz")
                f.write_json(str((rd / "scores.json").relative_to(f.root)), {
                    "round": r + 1, "best_epoch": b_epoch, "class_names": list(syn.class_names),
                    "candidates": [
                        {"name": str(syn.names[i]), "class": int(syn.labels[i]),
                         "confidence": float(res.confidence[i]), "passed_filter": bool(res.passed_filter[i]),
                         "d_within": _num(res.d_within[i]), "d_between": _num(res.d_between[i]),
                         "score": _num(res.score[i]), "selected": bool(res.selected[i])}
                        for i in range(len(syn))]})
                pool = chosen if pool is None else MotionSet.concat([pool, chosen])
                x_train = MotionSet.concat([real, pool])
                gen_ts = gen.tensors(x_train)
                t2 = time.perf_counter()
                crit_ts = _tensors_for(critic, x_train)
                upd = [critic.train_epoch(crit_ts) for _ in range(lc.critic_update_epochs)]
                real_feat = None
                t3 = time.perf_counter()
                rrec.update({"counts": res.per_class_counts(syn.labels, real.num_classes),
                             "pool_size": len(pool), "critic_update": upd,
                             "time_select": t1 - t0, "time_critic_update": t3 - t2})
                pool.save(f.root / "synthetic.npz")
                f.log(f"round {r + 1}: best epoch {b_epoch} (CAS {b_cas:.3f}); kept "
                      f"{int(res.passed_filter.sum())} after the filter, selected {len(chosen)}; pool {len(pool)}")
            else:
                f.log(f"round {r + 1}: best epoch {b_epoch} (CAS {b_cas:.3f}); no recycling (baseline)")
            rounds_log.append(rrec)
            gen.save(f.checkpoint("generator"))
            critic.save(f.checkpoint("critic"))
            f.write_json("epochs.json", epochs_log)
            f.write_json("rounds.json", rounds_log)
            f.set_state(rounds_done=r + 1)
            if stop_after_rounds is not None and r + 1 >= stop_after_rounds and r + 1 < lc.rounds:
                bar.close()
                raise _Stopped(r + 1)
        bar.close()
        f.mark_done("loop")
        return pool

    # ------------------------------------------------------ final recognition
    def synthetic_for_final(self, sp: Splits, pool: MotionSet | None) -> MotionSet | None:
        """The Syn set: the recycled pool, or (baseline) fresh samples of the final generator."""
        cfg, f = self.cfg, self.folder
        if cfg.loop.selection != "none":
            return pool
        path = f.root / "synthetic.npz"
        if path.exists():
            return MotionSet.load(path)
        gen = GeneratorTrainer.load(f.checkpoint("generator"), self.device)
        k = sp.train.num_classes
        total = (cfg.final.syn_per_class * k) if cfg.final.syn_per_class else len(sp.train)
        syn = sample_motionset(gen.model, gen.spec, balanced_requests(k, total, cfg.data.frames),
                               seed=derive_seed(cfg.seed, "baseline_syn"), precision=cfg.precision,
                               dropout=cfg.loop.sample_dropout or None,
                               provenance={"run": cfg.name, "epoch": cfg.loop.epochs, "round": 0})
        syn.save(path)
        return syn

    def final(self, sp: Splits, syn: MotionSet | None) -> dict:
        f, cfg = self.folder, self.cfg
        if f.phase_done("final"):
            return f.read_json("recognition/summary.json")
        results = _final_recognition(f, cfg, sp, syn, cfg.final.recognizer, cfg.final.train_sets,
                                     cfg.final.seeds, self.device, "recognition", self.progress,
                                     evaluator=True)
        f.mark_done("final")
        return results


def _final_recognition(f: RunFolder, cfg: RunConfig, sp: Splits, syn: MotionSet | None, recognizer,
                       train_sets, seeds, device, out: str, progress: bool, evaluator: bool = False) -> dict:
    """Fresh recognizers trained on each of ``train_sets`` (real / syn / real_syn), one per
    seed, tested on the held-out subjects; every seed's report in ``<out>/<set>/seed_<s>/``
    (a seed already reported is read back, so an interrupted phase resumes), the summary in
    ``<out>/summary.json``. The training seed is derived from the run seed, the set and the
    seed only, so for one run seed every selection mode trains the same Real recognizer."""
    sets = {"real": sp.train}
    if syn is not None and len(syn):
        syn = syn.relabel(sp.train.class_names)
        sets["syn"] = syn
        sets["real_syn"] = MotionSet.concat([sp.train, syn])
    label = "" if out == "recognition" else f" ({recognizer.model}-{recognizer.size})"
    results: dict[str, dict] = {}
    for name in train_sets:
        if name not in sets:
            results[name] = {"skipped": "no synthetic samples were selected"}
            f.log(f"final recognition{label} on {name}: skipped (no synthetic samples)")
            continue
        per_seed = []
        for s in seeds:
            done = f.root / out / name / f"seed_{s}" / "report.json"
            if done.exists():
                per_seed.append(_read(done))
                continue
            rc = replace(recognizer, seed=derive_seed(cfg.seed, "final", name, s),
                         device=str(device), precision=cfg.precision)
            model = new_recognizer(rc, sp.train.layout, sp.train.channels, sp.train.num_classes)
            trainer = RecognizerTrainer(model, rc, device)
            hist = trainer.fit(sets[name], sp.val, progress=progress)
            report = evaluate(trainer.model, sp.test, batch_size=rc.eval_batch_size, precision=cfg.precision)
            write_report(report, done.parent, title=f"{name}, seed {s}")
            if evaluator and name == "real" and s == seeds[0]:
                trainer.save(f.checkpoint("evaluator"), meta={"trained_on": "real train only"})
            d = _read(done)
            d["history"] = hist
            d["train_size"] = len(sets[name])
            d["recognizer"] = config_to_dict(rc)  # which model and settings produced this report
            f.write_json(str(done.relative_to(f.root)), d)
            per_seed.append(d)
            f.log(f"final recognition{label} on {name}, seed {s}: test accuracy {d['overall_accuracy']:.4f}")
        results[name] = _summarise_seeds(per_seed, seeds, sp.train.class_names)
    f.write_json(f"{out}/summary.json", results)
    return results


def recognize_run(run_dir: str | Path, recognizer, *, out: str | None = None, train_sets=None,
                  seeds=None, progress: bool = True) -> dict:
    """Final recognition of a finished run with another recognizer (e.g. MS-G3D beside the
    run's ST-GCN): the run's own data split and synthetic set (the recycled pool, or the
    baseline's fresh samples), the protocol of the run's final phase, results in
    ``<run_dir>/<out>/`` (default ``recognition_<model>-<size>``). ``recognizer`` is a
    :class:`~infagenc.models.RecognizerConfig`; ``train_sets`` and ``seeds`` default to the
    run's. Resumes per seed like the run itself."""
    folder = RunFolder(run_dir)
    stored = folder.read_json("config.json")
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
    bad = set(train_sets) - {"real", "syn", "real_syn"}
    if bad:
        raise ValueError(f"train_sets: unknown {sorted(bad)}")
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    root = folder.root
    sp = _stored_splits(folder)
    syn = _load_or_none(root / "synthetic.npz")
    if syn is None and cfg.loop.selection == "none" and set(train_sets) - {"real"}:
        raise ValueError(f"{root / 'synthetic.npz'} is missing: the baseline's synthetic set was not kept")
    folder.log(f"final recognition with {recognizer.model}-{recognizer.size} into {out}/")
    return _final_recognition(folder, cfg, sp, syn, recognizer, train_sets, tuple(seeds or cfg.final.seeds),
                              device, out, progress)


class _Stopped(Exception):
    def __init__(self, rounds: int):
        super().__init__(f"stopped after round {rounds}")
        self.rounds = rounds


def _num(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _read(path: Path) -> dict:
    import json

    return json.loads(Path(path).read_text(encoding="utf-8"))


def _stored_splits(f: RunFolder) -> Splits:
    """The splits a run folder's data phase wrote (``data/train|val|test.npz``)."""
    return Splits(MotionSet.load(f.root / "data" / "train.npz"), _load_or_none(f.root / "data" / "val.npz"),
                  MotionSet.load(f.root / "data" / "test.npz"))


def _load_or_none(path: Path) -> MotionSet | None:
    return MotionSet.load(path) if path.exists() else None


def _tensors_for(trainer: RecognizerTrainer, ms: MotionSet):
    from ..train.batching import to_tensors

    return to_tensors(ms, trainer.device)


def _summarise_seeds(per_seed: list[dict], seeds, class_names) -> dict:
    """Mean and 95% interval over seeds of the overall and per-class test accuracy."""
    acc = [d["overall_accuracy"] for d in per_seed]
    per_class = {}
    for c in class_names:
        vals = [r["accuracy"] for d in per_seed for r in d["per_class"] if r["class"] == c]
        if len(vals) == len(per_seed) and all(v is not None for v in vals):
            per_class[c] = Summary.from_values(vals).to_dict()
    return {"seeds": list(seeds), "overall": Summary.from_values(acc).to_dict(), "per_class": per_class,
            "per_seed": [{"seed": s, "overall": d["overall_accuracy"]} for s, d in zip(seeds, per_seed)]}


# Options added since runs were first written whose default changed what a run does: a stored
# config without them gets the value that reproduces the old behaviour, not the new default.
_LEGACY = {("generator", "keep_root"): False}


# Settings that change how fast a run goes, not what it computes (up to floating-point
# reduction order): a run may resume with others; the change is logged.
_EXECUTION_ONLY = ("threads",)


def _without(d: dict | None, keys) -> dict | None:
    return None if d is None else {k: v for k, v in d.items() if k not in keys}


def _resolved_again(stored: dict) -> dict | None:
    """A stored config resolved by this version (options added since get their defaults, or
    for behaviour-changing ones (``_LEGACY``) the old behaviour's value, so a run started by
    an older version resumes only with a config that means what it meant); None if it no
    longer resolves."""
    stored = json.loads(json.dumps(stored))
    for (section, key), old in _LEGACY.items():
        if isinstance(stored.get(section), dict):
            stored[section].setdefault(key, old)
    try:
        return RunConfig.from_dict(stored).to_dict()
    except (ValueError, TypeError):
        return None


def run(cfg: RunConfig, run_dir: str | Path, *, progress: bool = True,
        stop_after_rounds: int | None = None) -> dict:
    """Run (or resume) the whole pipeline in ``run_dir``; returns a summary dict.

    ``stop_after_rounds`` stops the loop after that many rounds (as an interruption
    would); calling :func:`run` again on the same folder resumes it.
    """
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    folder = RunFolder(run_dir)
    existing = folder.read_json("config.json")
    resolved = cfg.to_dict()
    before = _resolved_again(existing) if existing is not None else None
    if existing is not None and _without(before, _EXECUTION_ONLY) != _without(resolved, _EXECUTION_ONLY):
        raise ValueError(f"{folder.config_path} holds a different config: resume with the same config, "
                         f"or use a new run folder")
    folder.write_json("config.json", resolved)
    r = _Run(cfg, folder, progress)
    folder.write_json("environment.json", environment(r.device))
    t_start = time.perf_counter()
    folder.log(f"run {cfg.name!r} in {folder.root} on {r.device}")
    for key in _EXECUTION_ONLY:
        if before is not None and before.get(key) != resolved.get(key):
            folder.log(f"resumed with {key} = {resolved.get(key)} (the run so far: {before.get(key)})")
    timing = folder.read_json("timing.json", {"phases": {}, "sessions": []})

    def timed(phase: str, fn, *a):
        t0 = time.perf_counter()
        try:
            return fn(*a)
        finally:
            timing["phases"][phase] = timing["phases"].get(phase, 0.0) + time.perf_counter() - t0
            folder.write_json("timing.json", timing)

    sp = timed("data", r.data)
    critic = timed("pretrain_critic", r.pretrain_critic, sp)
    gen = timed("pretrain_generator", r.pretrain_generator, sp)
    try:
        pool = timed("loop", r.loop, sp, gen, critic, stop_after_rounds)
    except _Stopped as s:
        folder.log(f"stopped after round {s.rounds} (resume by running again)")
        timing["sessions"].append(time.perf_counter() - t_start)
        folder.write_json("timing.json", timing)
        return {"stopped_after_rounds": s.rounds, "run_dir": str(folder.root)}
    syn = timed("final_recognition", r.synthetic_for_final, sp, pool)
    recognition = timed("final_recognition", r.final, sp, syn)
    metrics = None
    if cfg.evaluation.enabled:
        from .evaluation import evaluate_run

        metrics = timed("evaluation", evaluate_run, folder, sp, cfg, r.device, progress)
    wall = time.perf_counter() - t_start
    folder.log(f"done in {wall:.1f} s")
    timing["sessions"].append(wall)
    folder.write_json("timing.json", timing)
    return {"run_dir": str(folder.root), "recognition": recognition, "generation": metrics, "wall_seconds": wall}
