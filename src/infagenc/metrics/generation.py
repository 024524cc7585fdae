"""Generation-quality metrics (the paper's Table 2): FID, accuracy, diversity, multimodality.

Pure functions of numpy arrays (no torch, no I/O). The features are those of an
*evaluation* recognizer trained on real data only (e.g. the pooled 256-d ST-GCN
vector); running that recognizer is the caller's job.

Definitions (ACTOR / action2motion, with the choices below where they are silent):

* FID: Fréchet distance between the Gaussians (mean, covariance) fitted to two feature
  sets, ``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2})``.
* diversity: mean Euclidean distance of ``num_pairs`` (200) random pairs of samples.
* multimodality: for each class, the mean distance of ``pairs_per_class`` (20) random
  pairs of samples of that class; then the mean over classes.
* accuracy: fraction of samples the evaluator assigns to their (conditioning) class.

Pairs are always two *different* samples. ACTOR draws the two indices independently, so
a pair can be a sample with itself (distance 0) and its mean is low by a factor
``1 - 1/N`` (below 1% for the paper's set sizes); excluding self-pairs makes the
estimate unbiased for the mean pairwise distance (and classes of a single sample have
no pair at all: see :func:`multimodality`).
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from .recognition import accuracy
from .stats import Summary, repeat_rngs

__all__ = [
    "diversity",
    "fid",
    "frechet_distance",
    "gaussian_stats",
    "generation_metrics",
    "multimodality",
]

RngLike = np.random.Generator | int | None


# ----------------------------------------------------------------- checks
def _features(x, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{what}: expected features of shape (N, D), got {a.shape}")
    bad = ~np.isfinite(a).all(axis=1)
    if bad.any():
        raise ValueError(f"{what}: non-finite values in sample(s) {np.flatnonzero(bad)[:10].tolist()}")
    return a


def _labels(y, n: int, what: str) -> np.ndarray:
    a = np.asarray(y).reshape(-1)
    if a.shape != (n,):
        raise ValueError(f"{what}: expected {n} entries, got {a.shape[0]}")
    return a


def _rng(rng: RngLike) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


# -------------------------------------------------------------------- FID
def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of (N, D) features (sample covariance, ``ddof=1``).

    Needs N >= 2. With N <= D the covariance is singular (rank <= N - 1);
    :func:`frechet_distance` accepts that as it is (no added ridge).
    """
    f = _features(features, "features")
    if f.shape[0] < 2:
        raise ValueError(f"need at least 2 samples to fit a Gaussian, got {f.shape[0]}")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def _sqrtm_psd(s: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (eigenvalues clipped at 0)."""
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    The cross term ``tr((S1 S2)^{1/2})`` is computed in the symmetric form
    ``tr((S1^{1/2} S2 S1^{1/2})^{1/2})`` (the same eigenvalues as S1 S2), with both
    square roots taken by ``eigh`` of a symmetric matrix and eigenvalues below zero
    (rounding; exactly zero in theory for positive semi-definite inputs) clipped to 0.
    This needs no matrix inverse, so the singular covariances of small sets (fewer
    samples than feature dimensions) give a finite value without adding a diagonal
    offset that would change the number; a result a rounding error below zero is
    returned as 0. Computed in float64, with BLAS held to one thread: for matrices of
    a few hundred rows threads gain little, and on a busy 2-core machine they made the
    eigendecompositions 10-20 times slower.
    """
    mu1, mu2 = np.asarray(mu1, np.float64).reshape(-1), np.asarray(mu2, np.float64).reshape(-1)
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"shape mismatch: mu1 {mu1.shape}, sigma1 {s1.shape}, mu2 {mu2.shape}, sigma2 {s2.shape}")
    for name, a in (("mu1", mu1), ("sigma1", s1), ("mu2", mu2), ("sigma2", s2)):
        if not np.isfinite(a).all():
            raise ValueError(f"{name} has non-finite values")
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    with threadpool_limits(limits=1, user_api="blas"):
        return _frechet(mu1, s1, mu2, s2)


def _frechet(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """:func:`frechet_distance` of checked, symmetric inputs."""
    r1 = _sqrtm_psd(s1)
    m = r1 @ s2 @ r1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum()
    diff = mu1 - mu2
    return max(float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean), 0.0)


def fid(feat_a, feat_b) -> float:
    """FID between two (N, D) feature sets (see :func:`frechet_distance`)."""
    return frechet_distance(*gaussian_stats(feat_a), *gaussian_stats(feat_b))


# ------------------------------------------------------ pairwise distances
def _distinct_pairs(n: int, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """k random ordered pairs (i, j) of indices in 0..n-1 with i != j."""
    i = rng.integers(0, n, size=k)
    j = (i + rng.integers(1, n, size=k)) % n
    return i, j


def diversity(features, num_pairs: int = 200, rng: RngLike = None) -> float:
    """Mean Euclidean distance of ``num_pairs`` random pairs of different samples.

    Both indices of a pair are drawn uniformly (with replacement across pairs), the
    second among the samples other than the first.
    """
    f = _features(features, "features")
    if f.shape[0] < 2:
        raise ValueError(f"diversity needs at least 2 samples, got {f.shape[0]}")
    if num_pairs < 1:
        raise ValueError(f"num_pairs must be at least 1, got {num_pairs}")
    i, j = _distinct_pairs(f.shape[0], num_pairs, _rng(rng))
    return float(np.linalg.norm(f[i] - f[j], axis=1).mean())


def _small_classes(labels: np.ndarray) -> list:
    """Classes present with fewer than 2 samples (no same-class pair exists)."""
    cls, cnt = np.unique(labels, return_counts=True)
    return [c.item() for c, n in zip(cls, cnt) if n < 2]


def multimodality(features, labels, pairs_per_class: int = 20, rng: RngLike = None) -> float:
    """Mean over classes of the mean distance of ``pairs_per_class`` same-class pairs.

    The classes are those present in ``labels``; each counts equally. A class with fewer
    than 2 samples has no pair of different samples: it is left out of the mean and a
    ``UserWarning`` names it (ACTOR would score such a class 0 with one sample, and loop
    forever with none). If no class has 2 samples, ``ValueError``.
    """
    f = _features(features, "features")
    y = _labels(labels, f.shape[0], "labels")
    if pairs_per_class < 1:
        raise ValueError(f"pairs_per_class must be at least 1, got {pairs_per_class}")
    g = _rng(rng)
    small = set(_small_classes(y))
    per_class = []
    for c in np.unique(y):
        if c.item() in small:
            continue
        idx = np.flatnonzero(y == c)
        i, j = _distinct_pairs(len(idx), pairs_per_class, g)
        per_class.append(np.linalg.norm(f[idx[i]] - f[idx[j]], axis=1).mean())
    if not per_class:
        raise ValueError("multimodality needs a class with at least 2 samples; every class has fewer")
    if small:
        warnings.warn(f"multimodality: classes {sorted(small)} have fewer than 2 samples and are left out",
                      UserWarning, stacklevel=2)
    return float(np.mean(per_class))


# ------------------------------------------------------------ the table
def _repeats(fr, yr, pr, fg, yg, pg, m: int, R: int, seed: int, num_pairs: int,
             pairs_per_class: int) -> dict[str, dict[str, list[float]]]:
    """Every repeat's values per row ("real", "generated") and metric (see
    :func:`generation_metrics` for the protocol)."""
    rows: dict[str, dict[str, list[float]]] = {"real": {}, "generated": {}}

    def put(row: str, key: str, value: float) -> None:
        rows[row].setdefault(key, []).append(value)

    n_r, n_g = fr.shape[0], fg.shape[0]
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):  # see frechet_distance
        warnings.simplefilter("ignore", UserWarning)  # left-out classes are reported by the caller
        for rng in repeat_rngs(seed, R):
            ia, ig = rng.choice(n_r, size=m, replace=False), rng.choice(n_g, size=m, replace=False)
            put("generated", "fid", _frechet(*gaussian_stats(fr[ia]), *gaussian_stats(fg[ig])))
            if pr is not None:
                put("real", "accuracy", accuracy(yr[ia], pr[ia]))
            put("generated", "accuracy", accuracy(yg[ig], pg[ig]))
            for row, f, y in (("real", fr, yr), ("generated", fg, yg)):
                put(row, "diversity", diversity(f, num_pairs, rng))
                put(row, "multimodality", multimodality(f, y, pairs_per_class, rng))
    return rows


def generation_metrics(real_features, real_labels, gen_features, gen_labels, gen_pred, *,
                       real_pred=None, R: int = 20, seed: int = 0, reference: str = "test",
                       num_pairs: int = 200, pairs_per_class: int = 20) -> dict[str, Any]:
    """FID, accuracy, diversity and multimodality of real and generated sets (paper Table 2).

    Args:
        real_features, real_labels: (N_r, D) evaluator features and class indices of the
            real reference set (the real test set, or the real train set).
        gen_features, gen_labels, gen_pred: (N_g, D) features, conditioning classes and
            the evaluator's predicted classes of the generated samples.
        real_pred: the evaluator's predictions on the real set, for the real row's
            accuracy (left out of the result when None).
        R, seed: number of repeats and the seed of their random streams
            (:func:`infagenc.metrics.stats.repeat_rngs`).
        reference: name of the real set (``"test"`` or ``"train"``), stored in the result.

    Protocol of one repeat. ACTOR generates a fresh set per repeat; here the inputs are
    fixed arrays, so each repeat draws from them, and the interval reflects only the
    variation between those draws:

    * FID and accuracy: m = min(N_r, N_g) samples drawn *without* replacement from each
      set (a set of exactly m samples is used whole every time); the generated row's FID
      is FID(real draw, generated draw). For ACTOR's protocol pass at least R x N_r
      generated samples: every repeat then sees mostly different generated samples. With
      N_g = N_r the FID is the same in every repeat (std 0). Drawing without
      replacement keeps the FID comparable with the FID of full sets, which a bootstrap
      (duplicated samples) would inflate.
    * the real row has no FID: the real set's FID with itself is 0, and a split of it
      (halves, bootstrap) measures the small-set bias of FID at another size, which is
      not comparable with the generated row (it can exceed it). For a real floor, the
      FID between the real train and real test sets (:func:`fid`) is a natural one.
    * diversity and multimodality: fresh random pairs on the full sets.

    ``fid_full`` is the FID of the full real and generated arrays (no interval).

    Returns a dict: ``reference``, ``n_real``, ``n_generated``, ``sample_size`` (m),
    ``R``, ``seed``, ``num_pairs``, ``pairs_per_class``, ``fid_full``, ``real``
    (``accuracy`` when ``real_pred`` is given, ``diversity``, ``multimodality``) and
    ``generated`` (``fid``, ``accuracy``, ``diversity``, ``multimodality``), each a
    :class:`~infagenc.metrics.stats.Summary`, and ``multimodality_left_out``
    (classes with fewer than 2 samples, per set). Use
    :func:`~infagenc.metrics.stats.jsonable` to write it as JSON.
    """
    if not isinstance(reference, str) or not reference:
        raise ValueError(f"reference must name the real set ('test' or 'train'), got {reference!r}")
    fr = _features(real_features, "real_features")
    fg = _features(gen_features, "gen_features")
    if fr.shape[1] != fg.shape[1]:
        raise ValueError(f"feature sizes differ: real {fr.shape[1]}, generated {fg.shape[1]}")
    yr = _labels(real_labels, fr.shape[0], "real_labels")
    yg = _labels(gen_labels, fg.shape[0], "gen_labels")
    pg = _labels(gen_pred, fg.shape[0], "gen_pred")
    pr = None if real_pred is None else _labels(real_pred, fr.shape[0], "real_pred")
    n_r, n_g = fr.shape[0], fg.shape[0]
    m = min(n_r, n_g)
    if m < 2:
        raise ValueError(f"need at least 2 real and 2 generated samples, got {n_r} and {n_g}")

    rows = _repeats(fr, yr, pr, fg, yg, pg, m, R, seed, num_pairs, pairs_per_class)
    return {
        "reference": reference,
        "n_real": int(n_r),
        "n_generated": int(n_g),
        "sample_size": int(m),
        "R": int(R),
        "seed": int(seed),
        "num_pairs": int(num_pairs),
        "pairs_per_class": int(pairs_per_class),
        "fid_full": fid(fr, fg),
        "real": {k: Summary.from_values(v) for k, v in rows["real"].items()},
        "generated": {k: Summary.from_values(v) for k, v in rows["generated"].items()},
        "multimodality_left_out": {"real": _small_classes(yr), "generated": _small_classes(yg)},
    }
