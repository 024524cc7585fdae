"""Subject-disjoint splits: no subject is ever in both parts.

* :func:`split_by_subjects` - explicit test subjects (e.g. UTKinect even subjects);
* :func:`holdout_subjects` - a seeded random fraction of subjects (e.g. validation
  subjects carved out of the training subjects, for choosing settings);
* :func:`subject_kfold` - k folds over subjects, seeded;
* :func:`per_class_subset` - k samples of every class (one- and few-shot training sets).
"""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from .motionset import MotionSet

__all__ = ["split_by_subjects", "holdout_subjects", "subject_kfold", "per_class_subset", "assert_disjoint"]


def assert_disjoint(a: MotionSet, b: MotionSet) -> None:
    common = set(a.subjects.tolist()) & set(b.subjects.tolist())
    if common:
        raise ValueError(f"subjects {sorted(common)} appear in both parts of a split")


def split_by_subjects(ms: MotionSet, test_subjects: Iterable) -> tuple[MotionSet, MotionSet]:
    """(train, test) with the given subjects in test."""
    test = {str(s) for s in test_subjects}
    unknown = test - set(ms.subjects.tolist())
    if unknown:
        raise ValueError(f"test subjects {sorted(unknown)} are not in the set "
                         f"(subjects: {sorted(set(ms.subjects.tolist()))})")
    mask = np.isin(ms.subjects, sorted(test))
    return ms.subset(~mask), ms.subset(mask)


def holdout_subjects(ms: MotionSet, fraction: float, *, seed: int, min_subjects: int = 1
                     ) -> tuple[MotionSet, MotionSet]:
    """(rest, held_out) with ``round(fraction * S)`` (at least ``min_subjects``) random subjects held out."""
    subjects = np.array(sorted(set(ms.subjects.tolist())))
    if len(subjects) < 2:
        raise ValueError("a subject split needs at least two subjects")
    k = max(min_subjects, int(round(fraction * len(subjects))))
    k = min(k, len(subjects) - 1)
    rng = np.random.default_rng(seed)
    held = rng.choice(subjects, size=k, replace=False)
    return split_by_subjects(ms, held)


def subject_kfold(ms: MotionSet, k: int, *, seed: int) -> Iterator[tuple[MotionSet, MotionSet]]:
    """k (train, test) pairs; each subject is in exactly one test fold."""
    subjects = np.array(sorted(set(ms.subjects.tolist())))
    if not 2 <= k <= len(subjects):
        raise ValueError(f"k must lie in 2..{len(subjects)} (the number of subjects), got {k}")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(subjects)
    for fold in np.array_split(perm, k):
        yield split_by_subjects(ms, fold)


def per_class_subset(ms: MotionSet, k: int, *, seed: int) -> MotionSet:
    """``k`` samples of every class drawn without replacement (seeded), in the set's order:
    a one-shot (k = 1) or few-shot training set. A class with fewer than ``k`` samples
    raises, naming it (nothing is silently short)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if not ms.labelled:
        raise ValueError("a per-class subset needs labelled data")
    rng = np.random.default_rng(seed)
    keep = []
    for c, name in enumerate(ms.class_names):
        idx = np.flatnonzero(ms.labels == c)
        if len(idx) < k:
            raise ValueError(f"class {name!r} has {len(idx)} samples, fewer than k = {k}")
        keep.append(rng.choice(idx, size=k, replace=False))
    return ms.subset(np.sort(np.concatenate(keep)))
