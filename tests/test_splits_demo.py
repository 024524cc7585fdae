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


def _seen_from_above(ms, cls):
    """Per sample of a class, in the report's view (x, y: looking down on the mat), metres or
    fractions: the largest range of any joint, how far an ankle travels along the body, how
    far a wrist rises above its shoulder, how much of the way to the midline a wrist comes,
    how much the hips' width shrinks (the body turned on its side)."""
    J = ms.layout.index
    sub = ms.select(classes=[cls])
    rows = []
    for i in range(len(sub)):
        x = sub.sequence(i)
        hips = np.abs(x[:, J("left_hip"), 0] - x[:, J("right_hip"), 0])
        rows.append({
            "range": max(np.ptp(x[:, j, :2], axis=0).max() for j in range(x.shape[1])),
            "ankle": max(np.ptp(x[:, J(f"{s}_ankle"), 1]) for s in ("left", "right")),
            "wrist_up": max((x[:, J(f"{s}_wrist"), 1] - x[:, J(f"{s}_shoulder"), 1]).max() for s in ("left", "right")),
            "midline": max(1 - np.abs(x[:, J(f"{s}_wrist"), 0]).min() / abs(x[0, J(f"{s}_wrist"), 0])
                           for s in ("left", "right")),
            "turned": 1 - hips.min() / hips[0]})
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def test_demo_classes_move_visibly_and_distinctly_from_above():
    """Every class moves the body in the mat's plane (the older data's kick and reach hardly
    did: 5 and 8 cm at most, against 15 cm and more now), and each has a movement of its own."""
    ms = root_relative(make_demo(num_subjects=3, per_class=3, rep="xyz", seed=0, noise=0.0))
    m = {c: _seen_from_above(ms, c) for c in DEMO_CLASSES}
    assert all(m[c]["range"].min() > 0.12 for c in DEMO_CLASSES), {c: m[c]["range"].min() for c in DEMO_CLASSES}

    def only(key, cls, at_least, others=DEMO_CLASSES, factor=2.0):
        assert m[cls][key].min() > at_least, (key, cls, m[cls][key])
        assert all(m[cls][key].mean() > factor * max(m[c][key].mean(), 0.0) for c in others if c != cls), key

    only("ankle", "kick", 0.12)  # the feet pulled up towards the hips
    only("wrist_up", "wave_arms", 0.08)  # the hands above the shoulders, towards the head
    only("turned", "roll", 0.5)  # on its side: the hips seen one above the other
    only("midline", "reach", 0.7, others=("kick", "wave_arms"), factor=1.5)  # the hands meet over the belly
    assert m["reach"]["turned"].max() < 0.1  # ... without turning (the roll's arm crosses too)


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
