"""Hand-computed cases for the loop's selection maths (loop/selection.py)."""
import numpy as np
import pytest

from infagenc.loop import selection as S


def test_cas_and_best_epoch():
    assert S.cas(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])) == 0.75
    assert S.best_epoch({10: 0.5, 11: 0.8, 12: 0.8, 13: 0.1}) == 11  # earliest of the tie
    with pytest.raises(ValueError):
        S.cas(np.array([]), np.array([]))


def test_confidence_filter_needs_correct_and_strictly_confident():
    probs = np.array([[0.80, 0.20],   # correct, confident -> keep
                      [0.75, 0.25],   # p == theta -> not strictly greater -> drop
                      [0.10, 0.90],   # confident but wrong class -> drop
                      [0.30, 0.70]])  # correct, not confident -> drop
    cond = np.array([0, 0, 0, 1])
    assert S.confidence_filter(probs, cond, 0.75).tolist() == [True, False, False, False]
    assert S.confidence_filter(probs, cond, 0.6).tolist() == [True, True, False, True]


def test_distances_to_real_samples_by_hand():
    real = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0]])
    real_y = np.array([0, 0, 1])
    syn = np.array([[1.0, 0.0], [10.0, 0.0], [0.0, 3.0]])
    syn_y = np.array([0, 1, 0])
    dw, db = S.class_distances(syn, syn_y, real, real_y)
    # (1,0): to (0,0),(2,0) -> 1,1 ; to (10,0) -> 9
    # (10,0) class 1: to (10,0) -> 0 ; to (0,0),(2,0) -> 10, 8
    # (0,3): to (0,0) -> 3, to (2,0) -> sqrt(13) ; to (10,0) -> sqrt(109)
    assert np.allclose(dw, [1.0, 0.0, (3 + np.sqrt(13)) / 2])
    assert np.allclose(db, [9.0, 9.0, np.sqrt(109)])
    score = S.selection_scores(dw, db)
    assert np.allclose(score, 0.6 * dw / (0.4 * db))
    assert np.isclose(score[0], 1 / 6)
    # weights in a ratio only rescale: ranking identical to d_within / d_between
    assert (np.argsort(S.selection_scores(dw, db, 0.1, 0.9)) == np.argsort(dw / db)).all()
    # the difference form: weights matter
    assert np.allclose(S.selection_scores(dw, db, form="difference"), 0.6 * dw - 0.4 * db)


def test_distances_need_real_references():
    with pytest.raises(ValueError, match="no real training samples"):
        S.class_distances(np.zeros((1, 2)), np.array([2]), np.zeros((2, 2)), np.array([0, 1]))
    with pytest.raises(ValueError, match="at least one other class"):
        S.class_distances(np.zeros((1, 2)), np.array([0]), np.zeros((2, 2)), np.array([0, 0]))


@pytest.mark.parametrize("n,drop_low,keep", [(0, 0, 0), (1, 0, 1), (2, 0, 1), (3, 0, 2), (4, 1, 2), (5, 1, 3),
                                             (6, 1, 3), (7, 1, 4), (8, 2, 4), (9, 2, 5)])
def test_central_count_rounding(n, drop_low, keep):
    assert S.central_count(n, 0.5) == (drop_low, keep)


def test_central_selection_small_classes():
    # class 0: one sample; class 1: two; class 2: three (scores chosen out of order)
    labels = np.array([0, 1, 1, 2, 2, 2])
    scores = np.array([5.0, 2.0, 1.0, 3.0, 1.0, 2.0])
    kept = S.central_selection(scores, labels, 0.5)
    # class 0 keeps its only sample (0); class 1 keeps the lower score (index 2);
    # class 2 ranks 4 (1.0), 5 (2.0), 3 (3.0) -> keeps the two lowest: 4, 5
    assert kept.tolist() == [0, 2, 4, 5]


def test_central_selection_odd_count_and_ties():
    labels = np.zeros(5, dtype=int)
    scores = np.array([0.5, 0.1, 0.9, 0.3, 0.7])  # ranks: 1, 3, 0, 4, 2
    assert S.central_selection(scores, labels, 0.5).tolist() == [0, 3, 4]  # drop lowest (1) and highest (2)
    tied = S.central_selection(np.ones(4), np.zeros(4, dtype=int), 0.5)
    assert tied.tolist() == [1, 2]  # stable: ties ordered by index
    with pytest.raises(ValueError, match="NaN"):
        S.central_selection(np.array([np.nan]), np.array([0]))


def _round(probs, cond, mode="distance", rng=None):
    # features: 1-D positions in 2-D; real class 0 around 0, class 1 around 10, class 2 around 20
    real = np.array([[0.0, 0], [1, 0], [10, 0], [11, 0], [20, 0], [21, 0]])
    real_y = np.array([0, 0, 1, 1, 2, 2])
    syn = np.array([[0.5 + i, 0.0] for i in range(len(cond))])
    return S.select(probs, cond, syn, real, real_y, mode=mode, rng=rng)


def test_every_sample_filtered_out():
    probs = np.full((4, 3), 1 / 3)
    res = _round(probs, np.array([0, 1, 2, 0]))
    assert not res.passed_filter.any() and not res.selected.any()
    assert np.isnan(res.score).all()
    assert res.per_class_counts(np.array([0, 1, 2, 0]), 3)["selected"] == [0, 0, 0]


def test_class_absent_from_a_round():
    cond = np.array([0, 0, 0, 0, 2])
    probs = np.zeros((5, 3))
    probs[np.arange(5), cond] = 0.9
    probs[np.arange(5), (cond + 1) % 3] = 0.1
    res = _round(probs, cond)
    counts = res.per_class_counts(cond, 3)
    assert counts == {"generated": [4, 0, 1], "passed_filter": [4, 0, 1], "passed_threshold": [4, 0, 1],
                      "passed_fallback": [0, 0, 0], "selected": [2, 0, 1]}
    # class 0 samples at x = 0.5, 1.5, 2.5, 3.5: d_within grows and d_between shrinks with x,
    # so the score increases with x; the central two are indices 1 and 2
    assert res.selected_index.tolist() == [1, 2, 4]


def test_random_ablation_keeps_the_same_counts_from_the_filtered_pool():
    cond = np.array([0] * 8 + [1] * 4)
    probs = np.zeros((12, 3))
    probs[np.arange(12), cond] = 0.9
    probs[np.arange(12), 2] = 0.1
    probs[3, :] = [0.5, 0.4, 0.1]  # not confident: never selectable
    dist = _round(probs, cond)
    r1 = _round(probs, cond, "random", np.random.default_rng(0))
    r2 = _round(probs, cond, "random", np.random.default_rng(0))
    assert np.array_equal(r1.selected, r2.selected)  # seeded
    assert np.bincount(cond[r1.selected], minlength=2).tolist() == np.bincount(cond[dist.selected], minlength=2).tolist()
    assert not r1.selected[3]
    with pytest.raises(ValueError, match="seeded rng"):
        _round(probs, cond, "random")


def _starved():
    """Class 0: two samples above theta 0.75; class 1: five samples, none above (two of them
    even predicted as class 0); class 2: never generated."""
    cond = np.array([0, 1, 1, 0, 1, 1, 1])
    p1 = np.array([0.0, 0.30, 0.60, 0.0, 0.50, 0.60, 0.10])  # p(class 1) of the class-1 samples
    probs = np.zeros((7, 3))
    probs[[0, 3], 0] = [0.90, 0.80]
    probs[[0, 3], 1] = [0.10, 0.20]
    for i in (1, 2, 4, 5, 6):
        probs[i, 1] = p1[i]
        probs[i, 0] = 1.0 - p1[i]  # samples 1 and 6: argmax class 0
    return probs, cond


def test_per_class_filter_feeds_a_class_below_theta():
    probs, cond = _starved()
    assert S.confidence_filter(probs, cond, 0.75).tolist() == [True, False, False, True, False, False, False]
    # fraction 0.1 of 5 -> ceil(0.5) = 1: the highest p(cond) of class 1 is 0.60, at 2 and 5: the lower index
    ok, fb = S.per_class_filter(probs, cond, 0.75, 0.1)
    assert ok.tolist() == [True, False, True, True, False, False, False]
    assert fb.tolist() == [False, False, True, False, False, False, False]
    # fraction 0.5 of 5 -> ceil(2.5) = 3: 2 and 5 (0.60), then 4 (0.50)
    ok, fb = S.per_class_filter(probs, cond, 0.75, 0.5)
    assert np.flatnonzero(fb).tolist() == [2, 4, 5] and np.flatnonzero(ok).tolist() == [0, 2, 3, 4, 5]
    # the whole class, even its samples the critic gives to another class
    _, fb = S.per_class_filter(probs, cond, 0.75, 1.0)
    assert np.flatnonzero(fb).tolist() == [1, 2, 4, 5, 6]
    # a class with a sample above theta gets no fallback: theta 0.55 passes 2 and 5 of class 1
    ok, fb = S.per_class_filter(probs, cond, 0.55, 0.5)
    assert not fb.any() and np.array_equal(ok, S.confidence_filter(probs, cond, 0.55))
    with pytest.raises(ValueError, match="fallback_fraction"):
        S.per_class_filter(probs, cond, 0.75, 0.0)


def test_select_per_class_records_threshold_and_fallback_counts():
    probs, cond = _starved()
    glob = _round(probs, cond)
    assert glob.per_class_counts(cond, 3)["passed_filter"] == [2, 0, 0]
    assert glob.per_class_counts(cond, 3)["selected"][1] == 0  # the global filter starves class 1
    real = np.array([[0.0, 0], [1, 0], [10, 0], [11, 0], [20, 0], [21, 0]])
    syn = np.array([[0.5 + i, 0.0] for i in range(len(cond))])
    res = S.select(probs, cond, syn, real, np.array([0, 0, 1, 1, 2, 2]), filter_mode="per_class",
                   fallback_fraction=0.5)
    counts = res.per_class_counts(cond, 3)
    assert counts["passed_threshold"] == [2, 0, 0] and counts["passed_fallback"] == [0, 3, 0]
    assert counts["passed_filter"] == [2, 3, 0]
    # the fallback candidates go through the distance selection like the others: ceil(3 * 0.5) = 2
    assert counts["selected"] == [1, 2, 0] and res.selected[res.by_fallback].sum() == 2
    assert res.selected[~res.passed_filter].sum() == 0
    with pytest.raises(ValueError, match="filter_mode"):
        S.select(probs, cond, syn, real, np.array([0, 0, 1, 1, 2, 2]), filter_mode="class")


def test_pool_class_cap_by_hand():
    assert S.pool_class_cap(200, 4, 1.0) == 50  # the mean class size
    assert S.pool_class_cap(10, 3, 1.0) == 4  # ceil(3.33)
    assert S.pool_class_cap(6, 3, 0.1) == 1  # ceil(0.2), at least 1
    assert S.pool_class_cap(9, 3, 2.0) == 6  # exact: no rounding up
    for bad in ((10, 3, 0.0), (0, 3, 1.0), (10, 0, 1.0)):
        with pytest.raises(ValueError):
            S.pool_class_cap(*bad)


def test_newest_per_class_keeps_each_class_last_entries():
    labels = np.array([0, 1, 0, 2, 0, 1, 0])
    assert S.newest_per_class(labels, 2).tolist() == [1, 3, 4, 5, 6]  # 0: its last two (4, 6); 1 and 2: all
    assert S.newest_per_class(labels, 1).tolist() == [3, 5, 6]
    assert S.newest_per_class(labels, 9).tolist() == list(range(7))  # under the cap: everything
    assert S.newest_per_class(np.zeros(0, dtype=int), 3).tolist() == []
    with pytest.raises(ValueError):
        S.newest_per_class(labels, 0)
