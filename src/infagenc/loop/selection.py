"""The selection maths of the InfAGenC loop: pure functions of arrays, no I/O, no torch.

Steps 3-6 of the loop (docs/design.md, "The loop"), as in the paper (not the released code):

* :func:`cas` - classification accuracy of synthetic samples: the fraction the critic
  assigns to their conditioning class.
* :func:`best_epoch` - the epoch of a window with the highest CAS (the earliest on ties).
* :func:`confidence_filter` - keep a sample only if the critic predicts its conditioning
  class AND the softmax probability of that class is strictly greater than ``theta``.
* :func:`per_class_filter` - the same threshold (``filter = "per_class"``, not in the
  paper), but a class none of whose samples passes keeps its top
  ``k = ceil(n * fallback_fraction)`` samples by p(cond) (at least one; ties by sample
  index), whatever the critic's argmax, so that no class is starved of recycled samples.
  The paper's filter (``filter = "global"``) keeps nothing of such a class.
* :func:`class_distances` - in the critic's feature space, for each synthetic sample of
  class c: ``d_within`` = mean Euclidean distance to the REAL training samples of class
  c, ``d_between`` = mean distance to the REAL training samples of all other classes
  (pooled: the mean over all those samples, not a mean of per-class means). Distances
  are raw Euclidean distances: no min-max normalisation (which the released code applies
  and which breaks for small classes), and no synthetic samples among the references.
* :func:`selection_scores` - ``score = (w_within * d_within) / (w_between * d_between)``
  (the paper's formula, ``form="ratio"``, weights 0.6 / 0.4). In a ratio the weights only
  multiply every score by the same constant, so the ranking, and therefore the selection,
  is that of ``d_within / d_between`` whatever the weights: this is the paper's ambiguity.
  ``form="difference"`` is offered as the documented alternative in which the weights do
  matter: ``w_within * d_within - w_between * d_between``.
* :func:`central_selection` - rank each class by score and keep its central part:
  ``k = ceil(n * keep_fraction)`` of the ``n`` candidates of a class survive; the
  ``n - k`` dropped are split between the two ends, and when ``n - k`` is odd the extra
  one is dropped from the HIGH end (the samples relatively farthest from their class).
  So with ``keep_fraction = 0.5``: n=1 keeps 1, n=2 keeps the lower-scored one, n=3
  keeps the two lowest, n=4 keeps ranks 2-3 of 4, n=5 keeps ranks 2-4. Ties are broken
  by sample index (a stable sort), so the result is deterministic.
* :func:`random_selection` - the ablation: per class, the same number of samples as
  :func:`central_selection` would keep, drawn uniformly (seeded) from the same
  filtered candidates, so that only the distance criterion differs.
* :func:`pool_class_cap` and :func:`newest_per_class` - a class-balanced recycled pool
  (``loop.pool_cap``, not in the paper): each class holds at most
  ``ceil(pool_cap * N_real / K)`` recycled samples (``N_real / K``: the real training set's
  mean class size), its newest ones (pool order: round by round, within a round the
  candidates' order); the paper's pool keeps everything and grows without bound.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..metrics.recognition import accuracy

__all__ = [
    "cas",
    "best_epoch",
    "confidence_filter",
    "per_class_filter",
    "FILTER_MODES",
    "class_distances",
    "selection_scores",
    "central_count",
    "central_selection",
    "random_selection",
    "pool_class_cap",
    "newest_per_class",
    "SelectionResult",
    "select",
]


def cas(pred: np.ndarray, cond: np.ndarray) -> float:
    """Fraction of samples whose predicted class equals their conditioning class."""
    pred, cond = np.asarray(pred), np.asarray(cond)
    if pred.shape != cond.shape:
        raise ValueError(f"pred {pred.shape} and cond {cond.shape} differ in shape")
    if pred.size == 0:
        raise ValueError("CAS of an empty set is undefined")
    return accuracy(cond, pred)


def best_epoch(cas_by_epoch: dict[int, float]) -> int:
    """The epoch with the highest CAS; the earliest such epoch on ties."""
    if not cas_by_epoch:
        raise ValueError("no epochs in the window")
    return min(cas_by_epoch, key=lambda e: (-cas_by_epoch[e], e))


def confidence_filter(probs: np.ndarray, cond: np.ndarray, theta: float = 0.75) -> np.ndarray:
    """Boolean mask: argmax == conditioning class AND p(cond) > theta."""
    probs, cond = np.asarray(probs, dtype=np.float64), np.asarray(cond, dtype=np.int64)
    if probs.ndim != 2 or probs.shape[0] != cond.shape[0]:
        raise ValueError(f"probs must be (N, K) with N = len(cond); got {probs.shape} and {cond.shape}")
    if not 0.0 <= theta < 1.0:
        raise ValueError(f"theta must lie in [0, 1), got {theta}")
    if len(cond) == 0:
        return np.zeros(0, dtype=bool)
    p_cond = probs[np.arange(len(cond)), cond]
    return (probs.argmax(axis=1) == cond) & (p_cond > theta)


# global: the paper's confidence filter; per_class: the same, with a fallback for starved classes
FILTER_MODES = ("global", "per_class")


def per_class_filter(probs: np.ndarray, cond: np.ndarray, theta: float = 0.75,
                     fallback_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(passed, by_fallback) boolean masks: ``passed`` is :func:`confidence_filter`'s mask
    plus, for every class of ``cond`` none of whose samples passes the threshold, its
    ``ceil(n_c * fallback_fraction)`` samples of highest p(cond) (ties: the lower index);
    ``by_fallback`` marks those."""
    if not 0.0 < fallback_fraction <= 1.0:
        raise ValueError(f"fallback_fraction must lie in (0, 1], got {fallback_fraction}")
    ok = confidence_filter(probs, cond, theta)
    probs, cond = np.asarray(probs, dtype=np.float64), np.asarray(cond, dtype=np.int64)
    fallback = np.zeros(len(cond), dtype=bool)
    p_cond = probs[np.arange(len(cond)), cond] if len(cond) else np.zeros(0)
    for c in np.unique(cond):
        idx = np.flatnonzero(cond == c)
        if ok[idx].any():
            continue
        k = min(len(idx), math.ceil(len(idx) * fallback_fraction - 1e-12))
        order = idx[np.argsort(-p_cond[idx], kind="stable")]
        fallback[order[:max(k, 1)]] = True
    return ok | fallback, fallback


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances (len(a), len(b)), computed in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.clip(d2, 0.0, None))


def class_distances(syn_features: np.ndarray, syn_labels: np.ndarray, real_features: np.ndarray,
                    real_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(d_within, d_between) for each synthetic sample, against REAL samples only."""
    syn_features = np.asarray(syn_features, np.float64)
    real_features = np.asarray(real_features, np.float64)
    syn_labels, real_labels = np.asarray(syn_labels), np.asarray(real_labels)
    if syn_features.ndim != 2 or real_features.ndim != 2 or syn_features.shape[1] != real_features.shape[1]:
        raise ValueError(f"features must be (N, D) with the same D; got {syn_features.shape} and {real_features.shape}")
    n = len(syn_labels)
    d_within, d_between = np.full(n, np.nan), np.full(n, np.nan)
    if n == 0:
        return d_within, d_between
    dist = _pairwise(syn_features, real_features)
    for c in np.unique(syn_labels):
        rows = syn_labels == c
        same = real_labels == c
        if not same.any():
            raise ValueError(f"class {int(c)} has no real training samples to measure d_within against")
        if same.all():
            raise ValueError("d_between needs real samples of at least one other class")
        d_within[rows] = dist[np.ix_(rows, same)].mean(axis=1)
        d_between[rows] = dist[np.ix_(rows, ~same)].mean(axis=1)
    return d_within, d_between


def selection_scores(d_within: np.ndarray, d_between: np.ndarray, w_within: float = 0.6,
                     w_between: float = 0.4, form: str = "ratio") -> np.ndarray:
    """Per-sample score (see module docstring for the two forms)."""
    d_within, d_between = np.asarray(d_within, np.float64), np.asarray(d_between, np.float64)
    if form == "ratio":
        if w_between <= 0:
            raise ValueError("w_between must be > 0 in the ratio form")
        with np.errstate(divide="ignore"):
            return (w_within * d_within) / (w_between * d_between)
    if form == "difference":
        return w_within * d_within - w_between * d_between
    raise ValueError(f"form must be 'ratio' or 'difference', got {form!r}")


def central_count(n: int, keep_fraction: float = 0.5) -> tuple[int, int]:
    """(drop_low, keep) for a class of n ranked candidates (see module docstring)."""
    if not 0.0 < keep_fraction <= 1.0:
        raise ValueError(f"keep_fraction must lie in (0, 1], got {keep_fraction}")
    if n <= 0:
        return 0, 0
    keep = min(n, math.ceil(n * keep_fraction - 1e-12))
    drop_low = (n - keep) // 2
    return drop_low, keep


def central_selection(scores: np.ndarray, labels: np.ndarray, keep_fraction: float = 0.5) -> np.ndarray:
    """Indices kept: per class, the central ``keep_fraction`` of the score ranking (sorted)."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels)
    if scores.shape != labels.shape:
        raise ValueError("scores and labels differ in shape")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    kept = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        order = idx[np.argsort(scores[idx], kind="stable")]
        lo, k = central_count(len(idx), keep_fraction)
        kept.append(order[lo:lo + k])
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)


def random_selection(labels: np.ndarray, counts: dict[int, int], rng: np.random.Generator) -> np.ndarray:
    """Per class c, ``counts[c]`` indices drawn uniformly without replacement (sorted)."""
    labels = np.asarray(labels)
    kept = []
    for c, k in sorted(counts.items()):
        idx = np.flatnonzero(labels == c)
        if k > len(idx):
            raise ValueError(f"class {c}: cannot draw {k} of {len(idx)} samples")
        if k:
            kept.append(rng.choice(idx, size=k, replace=False))
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)


def pool_class_cap(n_real: int, num_classes: int, pool_cap: float) -> int:
    """The most recycled samples a class may hold: ``ceil(pool_cap * n_real / num_classes)``,
    at least 1."""
    if not pool_cap > 0:
        raise ValueError(f"pool_cap must be > 0, got {pool_cap}")
    if n_real < 1 or num_classes < 1:
        raise ValueError(f"need n_real >= 1 and num_classes >= 1, got {n_real} and {num_classes}")
    return max(1, math.ceil(pool_cap * n_real / num_classes - 1e-9))


def newest_per_class(labels: np.ndarray, cap: int) -> np.ndarray:
    """Indices (sorted) of the entries kept when every class keeps only its last ``cap``
    entries in the given order (the pool's order: oldest first)."""
    labels = np.asarray(labels)
    if cap < 1:
        raise ValueError(f"cap must be >= 1, got {cap}")
    kept = [np.flatnonzero(labels == c)[-cap:] for c in np.unique(labels)]
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)


@dataclass
class SelectionResult:
    """Everything one round decided, per candidate sample (arrays of length N)."""

    passed_filter: np.ndarray  # bool
    confidence: np.ndarray  # p(cond)
    d_within: np.ndarray  # NaN where not computed (filtered out)
    d_between: np.ndarray
    score: np.ndarray
    selected: np.ndarray  # bool
    by_fallback: np.ndarray | None = None  # bool: passed by the per-class fallback (None: none did)

    def __post_init__(self):
        if self.by_fallback is None:
            self.by_fallback = np.zeros(len(self.passed_filter), dtype=bool)

    @property
    def selected_index(self) -> np.ndarray:
        return np.flatnonzero(self.selected)

    def per_class_counts(self, labels: np.ndarray, num_classes: int) -> dict[str, list[int]]:
        labels = np.asarray(labels)
        return {
            "generated": np.bincount(labels, minlength=num_classes).tolist(),
            "passed_filter": np.bincount(labels[self.passed_filter], minlength=num_classes).tolist(),
            "passed_threshold": np.bincount(labels[self.passed_filter & ~self.by_fallback],
                                            minlength=num_classes).tolist(),
            "passed_fallback": np.bincount(labels[self.by_fallback], minlength=num_classes).tolist(),
            "selected": np.bincount(labels[self.selected], minlength=num_classes).tolist(),
        }


def select(probs: np.ndarray, cond: np.ndarray, syn_features: np.ndarray, real_features: np.ndarray,
           real_labels: np.ndarray, *, mode: str = "distance", theta: float = 0.75, w_within: float = 0.6,
           w_between: float = 0.4, form: str = "ratio", keep_fraction: float = 0.5,
           rng: np.random.Generator | None = None, filter_mode: str = "global",
           fallback_fraction: float = 0.1) -> SelectionResult:
    """One round's selection (steps 4-6), for ``mode`` ``distance`` or ``random``; the
    confidence filter ``filter_mode`` ``global`` (:func:`confidence_filter`) or ``per_class``
    (:func:`per_class_filter` with ``fallback_fraction``)."""
    if mode not in ("distance", "random"):
        raise ValueError(f"mode must be 'distance' or 'random', got {mode!r}")
    if filter_mode not in FILTER_MODES:
        raise ValueError(f"filter_mode must be one of {FILTER_MODES}, got {filter_mode!r}")
    cond = np.asarray(cond, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    n = len(cond)
    if filter_mode == "per_class":
        ok, fallback = per_class_filter(probs, cond, theta, fallback_fraction)
    else:
        ok, fallback = confidence_filter(probs, cond, theta), np.zeros(n, dtype=bool)
    conf = probs[np.arange(n), cond] if n else np.zeros(0)
    d_w, d_b, score = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    selected = np.zeros(n, dtype=bool)
    cand = np.flatnonzero(ok)
    if len(cand):
        d_w[cand], d_b[cand] = class_distances(np.asarray(syn_features)[cand], cond[cand], real_features, real_labels)
        score[cand] = selection_scores(d_w[cand], d_b[cand], w_within, w_between, form)
        keep_local = central_selection(score[cand], cond[cand], keep_fraction)
        if mode == "distance":
            selected[cand[keep_local]] = True
        else:
            if rng is None:
                raise ValueError("random selection needs a seeded rng")
            counts = {int(c): int(k) for c, k in zip(*np.unique(cond[cand[keep_local]], return_counts=True))}
            selected[cand[random_selection(cond[cand], counts, rng)]] = True
    return SelectionResult(ok, conf, d_w, d_b, score, selected, fallback)
