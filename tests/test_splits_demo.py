import numpy as np
import pytest

from infagenc.data.demo import DEMO_CLASSES, make_demo
from infagenc.data.preprocess import root_relative
from infagenc.data.splits import holdout_subjects, per_class_subset, split_by_subjects, subject_kfold


def test_demo_is_seeded_and_labelled():
    a = make_demo(num_subjects=2, per_class=2, seed=5)
    b = make_demo(num_subjects=2, per_class=2, seed=5)
    c = make_demo(num_subjects=2, per_class=2, seed=6)
    assert np.array_equal(a.data, b.data) and not np.array_equal(a.data, c.data)
    assert a.class_names == DEMO_CLASSES and len(a) == 2 * 2 * 4
    assert "made-up" in a.notes[0]


def test_demo_classes_differ_in_motion():
    ms = root_relative(make_demo(num_subjects=2, per_class=3, rep="xyz", seed=0, noise=0.0))
    J = ms.layout.index
    # kicks move the ankles far more than arm waves do, and vice versa for the wrists
    def motion(cls, joint):
        sub = ms.select(classes=[cls])
        return np.mean([np.ptp(sub.sequence(i)[:, J(joint)], axis=0).sum() for i in range(len(sub))])
    assert motion("kick", "left_ankle") > 2 * motion("wave_arms", "left_ankle")
    assert motion("wave_arms", "left_wrist") > 2 * motion("kick", "left_wrist")


def test_subject_splits_are_disjoint():
    ms = make_demo(num_subjects=5, per_class=1, seed=0)
    tr, te = split_by_subjects(ms, ["demo01", "demo03"])
    assert set(te.subjects) == {"demo01", "demo03"} and not set(tr.subjects) & set(te.subjects)
    assert len(tr) + len(te) == len(ms)
    with pytest.raises(ValueError, match="not in the set"):
        split_by_subjects(ms, ["nobody"])
    r, h = holdout_subjects(ms, 0.4, seed=1)
    assert len(set(h.subjects)) == 2 and not set(r.subjects) & set(h.subjects)
    seen = []
    for a, b in subject_kfold(ms, 3, seed=0):
        assert not set(a.subjects) & set(b.subjects)
        seen += sorted(set(b.subjects))
    assert sorted(seen) == sorted(set(ms.subjects))


def test_per_class_subset_draws_k_of_every_class():
    ms = make_demo(num_subjects=3, per_class=2, seed=0, rep="xyz")  # 6 samples per class
    one = per_class_subset(ms, 1, seed=0)
    assert len(one) == len(ms.class_names) and sorted(one.labels.tolist()) == list(range(len(ms.class_names)))
    five = per_class_subset(ms, 5, seed=0)
    assert all(n == 5 for n in five.class_counts().values())
    assert set(five.names) <= set(ms.names) and len(set(five.names)) == len(five)
    assert list(per_class_subset(ms, 5, seed=0).names) == list(five.names)
    draws = {tuple(per_class_subset(ms, 1, seed=s).names) for s in range(6)}
    assert len(draws) > 1  # the seed chooses
    with pytest.raises(ValueError, match="fewer than k = 7"):
        per_class_subset(ms, 7, seed=0)
