"""``infagenc recognizer train|eval`` as library functions.

* :func:`train_run` - preprocess (one :class:`~infagenc.data.preprocess.Preprocess`), split
  by subject, train, save and report into a run folder;
* :func:`eval_run` - evaluate a saved recognizer on (some subjects of) a labelled set,
  re-applying the preprocessing stored in its checkpoint;
* :func:`config_with_overrides` - a :class:`RecognizerConfig` from a config file (e.g. the
  ``chosen.toml`` of ``recognizer tune``) with command-line values over it.

The classical recognizers (``linear``, ``knn``: :mod:`infagenc.train.classical`) go through the
same two functions: ``train_run`` fits them instead of training epochs and saves
``recognizer.npz`` (no pickle) instead of ``recognizer.pt``; ``eval_run`` takes either file
(a ``.npz`` is read as a classical checkpoint).

Several processes (``torchrun --nproc_per_node N -m infagenc recognizer train ...``, the
process group joined by the command: :func:`infagenc.train.distributed.init_from_env`): every
rank reads, preprocesses and splits the data alike and trains its slice of each global batch
(:class:`~infagenc.train.recognizer.RecognizerTrainer`); rank 0 alone writes the run folder
(config.json, guard.json, the checkpoint, history and report) and evaluates, the other ranks
wait at a barrier. A classical recognizer is fitted by rank 0 alone. ``config.json`` records
what ran under ``execution`` (world size, backend, rank 0's device, the resolved precision,
TF32, synchronised batch norm); on CUDA, TF32 matmuls are switched on for the run.

The checkpoint's metadata holds ``Preprocess.to_dict()`` under ``"preprocess"``; checkpoints
written before that held ``{"frames": F, "root": None | str}`` there, which
:meth:`Preprocess.from_dict` reads too (its old order, root before length, gives the same
result as the new one for linear resampling), and a checkpoint without the key gets the
identity ``Preprocess()``.
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..config import ConfigError, read_config_file
from ..data.motionset import MotionSet
from ..data.preprocess import Preprocess
from ..data.splits import split_by_subjects
from ..jsonio import write_json
from ..train.guard import GuardConfig, choose_synthetic
from ..train.device import enable_tf32
from ..train.distributed import barrier, execution_info, is_main, rank, rank_device
from ..train.generative import checkpoint_settings, new_trainer
from ..train.realsyn import RealSynConfig
from ..train.classical import ClassicalRecognizer, is_classical, load_for_evaluation
from ..train.recognizer import RecognizerConfig, RecognizerTrainer, evaluate, new_recognizer
from ..viz.confusion import write_report

__all__ = ["train_run", "eval_run", "stored_preprocess", "config_with_overrides", "CHECKPOINT_NAME",
           "CLASSICAL_CHECKPOINT_NAME"]

CHECKPOINT_NAME = "recognizer.pt"
CLASSICAL_CHECKPOINT_NAME = "recognizer.npz"


def config_with_overrides(path: str | Path | None, overrides: dict | None = None) -> RecognizerConfig:
    """RecognizerConfig fields from a TOML / JSON file (or none), then ``overrides`` over them
    (keys with value None are not given and leave the file's value or the default)."""
    d = read_config_file(path) if path is not None else {}
    d = {**d, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    try:
        return RecognizerConfig.from_dict(d)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path is not None else str(e)) from None


def _subjects(ms: MotionSet | None) -> list[str]:
    return sorted(set(ms.subjects.tolist())) if ms is not None else []


def train_run(ms: MotionSet, cfg: RecognizerConfig, out_dir: str | Path, *,
              test_subjects: Sequence[str] | None = None, val_subjects: Sequence[str] | None = None,
              preprocess: Preprocess | None = None, data_source: str = "", progress: bool = True,
              synthetic: MotionSet | None = None, synthetic_mode: str = "given",
              guard: GuardConfig | None = None, guard_generator: str | Path | None = None) -> dict:
    """Preprocess, split by subject, train, save and report into ``out_dir``.

    ``synthetic`` (generated samples, source ``synthetic``; preprocessed like the real set) joins
    the training split: with ``synthetic_mode = "given"`` as ``cfg.realsyn`` says, with
    ``"auto"`` as the synthetic-data guard chooses on subject folds of the training split
    (:func:`~infagenc.train.guard.choose_synthetic`; its table in ``guard.json``), which may be
    Real alone. ``guard_generator`` (auto only): the checkpoint of the generator that made
    ``synthetic``; the guard then trains, on each fold, a new generator of that checkpoint's
    settings (its config, epochs and preprocessing) on the fold's training part alone and draws
    that fold's synthetic set from it (the classes and lengths of ``synthetic``; kept as
    ``guard_fold<i>.npz``), so validation never sees its own subjects through the generator.
    Without it every fold uses ``synthetic`` itself: cheaper, optimistic for Real+Syn when real
    samples are few (``guard.json`` carries the caveat).

    Writes ``config.json`` (the resolved settings, the preprocessing included),
    ``recognizer.pt`` (trainer checkpoint, the preprocessing in its metadata),
    ``history.json`` and the report of the test subjects (or, without test subjects, of the
    training set, named ``train`` in the report). Returns a summary dict.
    """
    out = Path(out_dir)
    main = is_main()
    if not is_classical(cfg.model):
        enable_tf32(rank_device(cfg.device))
    prep = preprocess if preprocess is not None else Preprocess()
    if guard_generator is not None and (synthetic is None or synthetic_mode != "auto"):
        raise ValueError("a guard generator is used by the synthetic guard only: give it with a synthetic set and "
                         "synthetic mode 'auto' (--synthetic SET.npz --synthetic-mode auto)")
    fold_gen = _guard_generator_settings(guard_generator) if guard_generator is not None else None  # refused early
    raw = ms
    ms, notes = prep.apply(ms, data_source or None)
    train, test = split_by_subjects(ms, list(test_subjects)) if test_subjects else (ms, None)
    val = None
    if val_subjects:
        train, val = split_by_subjects(train, list(val_subjects))
    resolved = {"recognizer": cfg.to_dict(), "data": data_source, "preprocess": prep.to_dict(),
                "preprocess_notes": notes, "test_subjects": _subjects(test), "val_subjects": _subjects(val),
                "train_subjects": _subjects(train),
                "samples": {"train": len(train), "val": 0 if val is None else len(val),
                            "test": 0 if test is None else len(test)},
                "execution": execution_info(cfg.device, cfg.precision, cfg.sync_bn)}
    if synthetic is not None:
        source = None
        if fold_gen is not None:
            source = _fold_generators(fold_gen, raw, prep, synthetic, cfg.device, out, progress)
            resolved["guard_generator"] = {"checkpoint": str(guard_generator), "config": fold_gen[0].to_dict()}
        train, cfg = _with_synthetic(train, prep(synthetic), cfg, synthetic_mode, guard, out, progress, source)
        resolved.update(recognizer=cfg.to_dict(), synthetic_mode=synthetic_mode,
                        samples={**resolved["samples"], "train": len(train),
                                 "synthetic": int(train.is_synthetic.sum())})
    if main:
        write_json(out / "config.json", resolved)
    if is_classical(cfg.model):
        summary = _train_classical(cfg, train, val, test, out, prep) if main else {"rank": rank()}
        barrier()
        return summary
    trainer = RecognizerTrainer(new_recognizer(cfg, ms.layout, ms.channels, ms.num_classes), cfg)
    trainer.fit(train, val, progress=progress and main)
    if not main:
        barrier()  # rank 0 saves, evaluates and reports
        return {"rank": rank(), "epochs": trainer.epoch}
    summary = _save_and_report(trainer, cfg, out, prep, train, test)
    barrier()
    return summary


def _save_and_report(trainer: RecognizerTrainer, cfg: RecognizerConfig, out: Path, prep: Preprocess,
                     train: MotionSet, test: MotionSet | None) -> dict:
    """Checkpoint, history and the report of the test set (else of the training set)."""
    ckpt = trainer.save(out / CHECKPOINT_NAME, meta={"preprocess": prep.to_dict()})
    write_json(out / "history.json", trainer.history)
    split, eval_set = ("test", test) if test is not None else ("train", train)
    report = evaluate(trainer.model, eval_set, cfg.eval_batch_size, precision=cfg.precision, split=split)
    files = write_report(report, out, f"{cfg.model} ({cfg.size}) on {split}")
    return {"checkpoint": str(ckpt), "epochs": trainer.epoch, "split": split,
            "accuracy": report.overall, **files}


def _guard_generator_settings(path: str | Path) -> tuple:
    """The checkpoint's (config, preprocessing, rest skeleton), or a one-line error that names
    the file as the wrong kind (never advice to delete it: the user passed it)."""
    if not Path(path).is_file():
        raise ValueError(f"guard generator {path}: no such file; give the generator.pt that made the synthetic set")
    try:
        return checkpoint_settings(path)
    except (ValueError, KeyError):  # unreadable (CheckpointError), another kind, or no generator metadata
        raise ValueError(f"guard generator {path}: not a generator checkpoint; give the generator.pt that made the "
                         f"synthetic set ('infagenc generator train' or a run writes it)") from None


def _fold_generators(settings: tuple, raw: MotionSet, prep: Preprocess, synthetic: MotionSet, device: str,
                     out: Path, progress: bool) -> Callable[[int, MotionSet], MotionSet]:
    """The guard's ``syn(fold, fit_real)``: a new generator of ``settings`` (config,
    preprocessing, rest skeleton of a checkpoint) trained on the raw samples of the fold's
    training part (preprocessed as the generator's were), sampled with the classes and lengths
    of ``synthetic``, then preprocessed like the recognizer's data; seeded by the generator's
    seed and the fold; rank 0 keeps each set as ``out/guard_fold<i>.npz``."""
    gen_cfg, gen_prep, rest = settings
    gen_prep = gen_prep or Preprocess()
    names = list(synthetic.class_names)

    def make(fold: int, fit_real: MotionSet) -> MotionSet:
        part = gen_prep(raw.subset(np.isin(raw.subjects, np.unique(fit_real.subjects))))  # folds are by subject
        index = {c: i for i, c in enumerate(part.class_names)}
        requests = [(index[names[c]], int(n)) for c, n in zip(synthetic.labels, synthetic.lengths)]
        counts = np.bincount(part.labels, minlength=len(index))
        missing = sorted({part.class_names[c] for c, _ in requests if counts[c] == 0})
        if missing:
            raise ValueError(f"synthetic guard, fold {fold}: its training part has no sample of {missing}, so its "
                             f"generator cannot learn them; use fewer guard folds, or no guard generator")
        seed = int(np.random.SeedSequence((gen_cfg.seed, fold)).generate_state(1)[0])
        gen = new_trainer(part, replace(gen_cfg, seed=seed, device=device), rest, device=rank_device(device))
        gen.preprocess = gen_prep
        gen.fit(part, progress=progress and is_main())
        fold_syn = prep(gen.sample(requests, seed=seed, precision=gen_cfg.precision,
                                   provenance={"run": f"guard-fold{fold}"}))
        if is_main():
            fold_syn.save(out / f"guard_fold{fold}.npz")
            print(f"synthetic guard: fold {fold}'s generator trained on {len(part)} samples "
                  f"({gen.epoch} epochs), {len(fold_syn)} drawn", file=sys.stderr)
        return fold_syn

    return make


def _with_synthetic(train: MotionSet, syn: MotionSet, cfg: RecognizerConfig, mode: str,
                    guard: GuardConfig | None, out: Path, progress: bool,
                    source: Callable[[int, MotionSet], MotionSet] | None = None
                    ) -> tuple[MotionSet, RecognizerConfig]:
    """(training set, config) with the synthetic samples as ``mode`` says; ``source``: the
    guard's per-fold synthetic sets (default: ``syn`` on every fold)."""
    if mode not in ("given", "auto"):
        raise ValueError(f"synthetic_mode must be 'given' or 'auto', got {mode!r}")
    n_real = int((~syn.is_synthetic).sum())
    if n_real:
        raise ValueError(f"the synthetic set has {n_real} samples marked real (source); give generated samples "
                         f"(e.g. from 'infagenc generator sample')")
    if is_classical(cfg.model) and mode == "auto":
        raise ValueError("the synthetic guard (auto) trains deep recognizers; use --synthetic-mode given with "
                         f"{cfg.model}")
    syn = syn.relabel(train.class_names)
    if mode == "given":
        return MotionSet.concat([train, syn]), cfg
    res = choose_synthetic(cfg, train, syn if source is None else source, guard, progress=progress and is_main())
    if is_main():
        write_json(out / "guard.json", res.to_dict())
        print(f"synthetic guard: {res.reason}")
    if not res.uses_synthetic:
        return train, cfg
    fields = {k: v for k, v in res.configs[res.chosen].items() if k != "technique"}
    return MotionSet.concat([train, syn]), RecognizerConfig.from_dict({**cfg.to_dict(), "realsyn": fields})


def _train_classical(cfg: RecognizerConfig, train: MotionSet, val: MotionSet | None, test: MotionSet | None,
                     out: Path, prep: Preprocess) -> dict:
    """Fit a ``linear`` / ``knn`` recognizer; the history is one record of the fit."""
    model = ClassicalRecognizer.from_config(cfg).fit(train)
    rec = {**model.fit_info, "acc": model.evaluate(train, "train").overall}
    if val is not None:
        rec["val_acc"] = model.evaluate(val, "val").overall
    ckpt = model.save(out / CLASSICAL_CHECKPOINT_NAME, meta={"config": cfg.to_dict(), "history": [rec],
                                                           "preprocess": prep.to_dict()})
    write_json(out / "history.json", [rec])
    split, eval_set = ("test", test) if test is not None else ("train", train)
    report = model.evaluate(eval_set, split)
    files = write_report(report, out, f"{cfg.model} on {split}")
    return {"checkpoint": str(ckpt), "epochs": 0, "split": split, "accuracy": report.overall, **files}


def stored_preprocess(meta: dict) -> Preprocess:
    """The preprocessing a recognizer checkpoint's metadata records (identity when none)."""
    return Preprocess.from_dict(meta.get("preprocess"))


def eval_run(checkpoint: str | Path, ms: MotionSet, out_dir: str | Path, *, subjects: Sequence[str] | None = None,
             split: str = "test", batch_size: int | None = None, device: str | None = "auto", precision: str = "fp32",
             progress: bool = True) -> dict:
    """Evaluate a saved recognizer on (the given subjects of) a labelled set, re-applying the
    preprocessing recorded in the checkpoint; writes the report files into ``out_dir``.
    A ``.npz`` checkpoint is a classical recognizer's (``batch_size``, ``device`` and
    ``precision`` do not apply to it)."""
    model, _, ms = load_for_evaluation(checkpoint, ms, subjects, device)
    if isinstance(model, ClassicalRecognizer):
        report = model.evaluate(ms, split)
        title = f"{model.name} on {split}"
    else:
        report = evaluate(model, ms, batch_size, precision=precision, split=split, progress=progress)
        title = f"{model.name} ({model.size}) on {split}"
    files = write_report(report, out_dir, title)
    return {"split": split, "accuracy": report.overall, **files}
