"""The synthetic-data guard: does Syn help *this* recognizer on *these* data? Decided on
validation subjects carved from the training subjects, never on a test set.

:func:`choose_synthetic` trains every candidate of :func:`candidate_configs` - Real alone (the
given recognizer config, its recipe included) and Real+Syn with each declared technique of
:class:`~infagenc.train.realsyn.RealSynConfig` - on ``k`` subject folds of the real training
set (each fold: the other subjects' real samples, plus every synthetic sample, train; the
fold's real samples validate), and compares mean validation accuracies.

The rule (:func:`decide`): the candidate with the best mean validation accuracy is kept only
when it beats Real by a margin validation can see: its mean paired fold difference to Real
must be positive and at least ``max(one standard error of those differences, one validation
sample)``; otherwise Real is kept and the result says that validation could not tell them
apart. So the guard can only cost a user synthetic data's gain, not add its loss (up to the
noise of the folds).

Caveat, written into every result given one synthetic set: its samples come from a generator
trained on all training subjects, the validation folds' subjects included, so validation sees
its own subjects through them and is optimistic for Real+Syn; the margin absorbs a little of
that, and the test subjects stay unseen by both. With few samples a class the optimism is not
little (UTKinect at 5 real a class: Real+Syn +6.7 on validation, -5.1 on test): pass ``syn`` as
a function of the fold instead, ``syn(fold, fit_real) -> MotionSet``, whose set comes from a
generator trained on ``fit_real`` only (the fold's training part), and validation is honest.

Cost: ``len(candidates) x folds`` trainings (the first one timed and the total estimated in
the progress bar's description).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from ..config import config_from_dict
from ..data.motionset import MotionSet
from ..data.splits import subject_kfold
from .batching import to_tensors
from .realsyn import RealSynConfig
from .recognizer import RecognizerConfig, RecognizerTrainer, new_recognizer

__all__ = ["GuardConfig", "GuardResult", "TECHNIQUES", "candidate_configs", "choose_synthetic", "decide"]

# technique name -> the RealSynConfig fields it sets (``weight`` takes each of GuardConfig.syn_weights)
TECHNIQUES: dict[str, dict] = {
    "plain": {},
    "weight": {},
    "ratio": {"syn_ratio": 0.25},
    "dann": {"dann_weight": 0.1},
    "lmmd": {"lmmd_weight": 0.5},
    "two_stage": {"syn_epochs": None},  # None: as many Syn epochs as the recognizer's epochs // 2
}


@dataclass
class GuardConfig:
    """Which Real+Syn candidates the guard compares with Real, on how many subject folds."""

    techniques: tuple[str, ...] = ("plain", "weight", "ratio", "dann", "lmmd", "two_stage")
    syn_weights: tuple[float, ...] = (0.5,)
    folds: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        self.techniques = tuple(self.techniques)
        self.syn_weights = tuple(float(w) for w in self.syn_weights)
        bad = set(self.techniques) - set(TECHNIQUES)
        if bad:
            raise ValueError(f"guard.techniques: unknown {sorted(bad)}; known: {sorted(TECHNIQUES)}")
        if self.folds < 2:
            raise ValueError(f"guard.folds must be >= 2, got {self.folds}")
        if any(w < 0 for w in self.syn_weights):
            raise ValueError("guard.syn_weights must be >= 0")

    @classmethod
    def from_dict(cls, d: dict) -> "GuardConfig":
        return config_from_dict(cls, d, "guard config")


@dataclass
class GuardResult:
    """The guard's table (candidate -> per-fold validation accuracies), the choice and why."""

    folds: dict[str, list[float]]
    chosen: str
    reason: str
    configs: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0
    fold_synthetic: bool = False  # each fold's synthetic set from a generator that never saw its validation

    @property
    def uses_synthetic(self) -> bool:
        return self.chosen != "real"

    def table(self) -> list[dict]:
        real = np.asarray(self.folds["real"])
        rows = []
        for name, accs in self.folds.items():
            a = np.asarray(accs)
            d = a - real
            rows.append({"candidate": name, "mean": float(a.mean()), "folds": [float(v) for v in a],
                         "diff_vs_real": float(d.mean()),
                         "se": float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else float("nan"),
                         "chosen": name == self.chosen})
        return rows

    def to_dict(self) -> dict:
        caveat = ("each fold's synthetic samples come from a generator trained on that fold's training part only"
                  if self.fold_synthetic else "synthetic samples come from a generator trained on every training "
                  "subject, validation folds included: validation is optimistic for Real+Syn")
        return {"chosen": self.chosen, "reason": self.reason, "table": self.table(), "configs": self.configs,
                "seconds": self.seconds, "fold_synthetic": self.fold_synthetic, "caveat": caveat}


def candidate_configs(base: RecognizerConfig, guard: GuardConfig) -> dict[str, RecognizerConfig]:
    """``real`` (the base config; synthetic samples are not given to it) and one config per
    Real+Syn technique (names like ``real_syn``, ``real_syn:weight=0.5``, ``real_syn:dann``)."""
    out = {"real": base}
    for t in guard.techniques:
        if t == "weight":
            for w in guard.syn_weights:
                out[f"real_syn:weight={w:g}"] = replace(base, realsyn=replace(base.realsyn, syn_weight=w))
            continue
        fields = dict(TECHNIQUES[t])
        if "syn_epochs" in fields:
            fields["syn_epochs"] = max(1, base.epochs // 2)
        name = "real_syn" if t == "plain" else f"real_syn:{t}"
        out[name] = replace(base, realsyn=RealSynConfig(**fields))
    return out


def decide(folds: dict[str, list[float]], val_sizes: list[int]) -> tuple[str, str]:
    """(chosen candidate, reason) by the module's rule from per-fold validation accuracies."""
    real = np.asarray(folds["real"], dtype=float)
    best = max(folds, key=lambda n: (float(np.mean(folds[n])), n == "real"))
    if best == "real":
        return "real", "Real has the best validation accuracy"
    d = np.asarray(folds[best], dtype=float) - real
    se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else float("inf")
    margin = max(se, 1.0 / max(1, int(np.mean(val_sizes))))
    if d.mean() >= margin:
        return best, (f"{best} beats Real on validation by {100 * d.mean():+.1f} points "
                      f"(margin {100 * margin:.1f}: one standard error of the fold differences or one sample)")
    return "real", (f"validation cannot tell {best} ({100 * d.mean():+.1f} points vs Real) from Real "
                    f"(margin {100 * margin:.1f}); Real is kept")


def _synthetic(syn: MotionSet, real: MotionSet) -> MotionSet:
    if not len(syn) or not syn.is_synthetic.all():
        raise ValueError("the guard needs a non-empty set of synthetic samples (source 'synthetic')")
    return syn.relabel(real.class_names)


def choose_synthetic(base: RecognizerConfig, real: MotionSet,
                     syn: MotionSet | Callable[[int, MotionSet], MotionSet], guard: GuardConfig | None = None,
                     progress: bool = True, log: Callable[[str], None] | None = None) -> GuardResult:
    """Compare Real with the Real+Syn candidates on ``guard.folds`` subject folds of ``real``
    (see the module docstring); ``syn`` holds the synthetic samples (source ``synthetic``), or is
    ``syn(fold, fit_real)``: fold ``fold``'s synthetic set, made from ``fit_real`` alone (called
    once per fold, in fold order, before that fold's trainings)."""
    guard = guard or GuardConfig()
    per_fold = callable(syn)
    if not per_fold:
        syn = _synthetic(syn, real)
    n_subjects = len(set(real.subjects.tolist()))
    k = min(guard.folds, n_subjects)
    if k < 2:
        raise ValueError("the guard needs at least 2 training subjects to validate on")
    cands = candidate_configs(base, guard)
    splits = list(subject_kfold(real, k, seed=guard.seed))
    folds: dict[str, list[float]] = {name: [] for name in cands}
    t0, total = time.perf_counter(), len(cands) * k
    syns = [_synthetic(syn(i, fit_real), real) for i, (fit_real, _) in enumerate(splits)] if per_fold \
        else [syn] * len(splits)
    t1 = time.perf_counter()
    bar = tqdm(total=total, desc=f"synthetic guard: {len(cands)} candidates x {k} folds", disable=not progress)
    for name, cfg in cands.items():
        for (fit_real, val), fold_syn in zip(splits, syns):
            train = fit_real if name == "real" else MotionSet.concat([fit_real, fold_syn])
            trainer = RecognizerTrainer(new_recognizer(cfg, real.layout, real.channels, real.num_classes), cfg)
            trainer.fit(train, None, progress=False)
            folds[name].append(trainer.validate(to_tensors(val, trainer.device))["val_acc"])
            bar.update(1)
            if bar.n == 1:
                each = time.perf_counter() - t1
                bar.set_description(f"synthetic guard: {total} trainings, ~{each * total / 60:.0f} min (est.)")
    bar.close()
    chosen, reason = decide(folds, [len(v) for _, v in splits])
    if log is not None:
        log(f"synthetic guard: {reason}")
    return GuardResult(folds, chosen, reason, {n: c.realsyn.__dict__ | {"technique": c.realsyn.technique}
                                               for n, c in cands.items()}, time.perf_counter() - t0, per_fold)
