"""Generation metrics on hand-made features."""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from scipy.linalg import sqrtm

from infagenc.metrics.generation import (diversity, fid, frechet_distance, gaussian_stats,
                                         generation_metrics, multimodality)
from infagenc.metrics.stats import Summary, jsonable, repeat, repeat_rngs


def _random_spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


# ---------------------------------------------------------------------- FID
def test_fid_of_a_set_with_itself_is_zero():
    f = np.random.default_rng(0).normal(size=(300, 16)) * 3 + 5
    assert fid(f, f) == pytest.approx(0.0, abs=1e-6)


def test_fid_diagonal_gaussians_match_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_fid_commuting_covariances_match_closed_form():
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))  # shared eigenvectors -> commuting covariances
    a, b = rng.uniform(0.1, 3, 5), rng.uniform(0.1, 3, 5)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_fid_general_covariances_match_scipy_sqrtm():
    rng = np.random.default_rng(2)
    s1, s2 = _random_spd(rng, 8), _random_spd(rng, 8)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    ref = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(sqrtm(s1 @ s2)).real
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-8)


def test_fid_is_symmetric():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(50, 6)), rng.normal(size=(70, 6)) @ rng.normal(size=(6, 6)) + 1
    assert fid(a, b) == pytest.approx(fid(b, a), rel=1e-9)
    assert fid(a, b) > 0.1


def test_fid_near_singular_small_sets_finite_and_nonnegative():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(5, 64)), rng.normal(size=(6, 64)) + 0.5  # N < D: rank-deficient covariances
    d_ab = fid(a, b)
    assert math.isfinite(d_ab) and d_ab > 0
    assert fid(a, b) == pytest.approx(fid(b, a), rel=1e-8)
    assert fid(a, a) == pytest.approx(0.0, abs=1e-6)
    # a set whose covariance is exactly zero (all samples equal) against a shifted copy
    c = np.ones((4, 10))
    assert fid(c, c + 2.0) == pytest.approx(4.0 * 10, rel=1e-12)


def test_gaussian_stats_and_errors():
    f = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
    mu, s = gaussian_stats(f)
    np.testing.assert_allclose(mu, [2.0, 4.0])
    np.testing.assert_allclose(s, np.cov(f.T))
    with pytest.raises(ValueError, match="at least 2 samples"):
        gaussian_stats(f[:1])
    bad = f.copy()
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"sample\(s\) \[1\]"):
        fid(f, bad)
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(mu, s, np.zeros(3), np.eye(3))


# ------------------------------------------------- diversity, multimodality
def test_diversity_two_points_is_their_distance():
    f = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert diversity(f, num_pairs=7, rng=0) == pytest.approx(5.0)


def test_diversity_equidistant_set():
    f = 2.0 * np.eye(6)  # every pair of different points is 2*sqrt(2) apart
    assert diversity(f, num_pairs=50, rng=1) == pytest.approx(2 * math.sqrt(2))


def test_diversity_points_on_a_line_estimates_mean_pairwise_distance():
    n = 10
    f = np.arange(n, dtype=float)[:, None]
    exact = (n + 1) / 3  # mean |i - j| over ordered pairs i != j of 0..n-1
    est = diversity(f, num_pairs=20000, rng=2)
    assert est == pytest.approx(exact, rel=0.02)


def test_diversity_seeded_and_needs_two_samples():
    f = np.random.default_rng(0).normal(size=(30, 4))
    assert diversity(f, rng=5) == diversity(f, rng=5)
    assert diversity(f, rng=5) != diversity(f, rng=6)
    with pytest.raises(ValueError, match="at least 2"):
        diversity(f[:1])


def test_multimodality_known_classes():
    f = np.array([[0.0], [3.0], [10.0], [15.0]])
    y = np.array([0, 0, 1, 1])
    assert multimodality(f, y, pairs_per_class=5, rng=0) == pytest.approx((3.0 + 5.0) / 2)


def test_multimodality_equal_class_weights():
    # class 0: 2 points 1 apart; class 1: 5 equidistant points (sqrt(2) apart)
    f = np.vstack([[[0.0] * 5, [1.0] + [0.0] * 4], np.eye(5) + 10])
    y = np.array([0, 0, 1, 1, 1, 1, 1])
    assert multimodality(f, y, pairs_per_class=3, rng=0) == pytest.approx((1.0 + math.sqrt(2)) / 2)


def test_multimodality_leaves_out_single_sample_classes_with_warning():
    f = np.array([[0.0], [3.0], [10.0], [15.0], [100.0]])
    y = np.array([0, 0, 1, 1, 7])
    with pytest.warns(UserWarning, match=r"classes \[7\]"):
        assert multimodality(f, y, rng=0) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="at least 2 samples"):
        multimodality(f[[0, 2, 4]], y[[0, 2, 4]])


def test_generation_accuracy_is_the_recognition_accuracy():
    # one accuracy function in the package: labels first, predictions second
    import infagenc.metrics.generation as gen
    from infagenc.metrics.recognition import accuracy as rec_accuracy

    assert gen.accuracy is rec_accuracy
    assert rec_accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75


# --------------------------------------------------------------- intervals
def test_summary_interval_formula():
    v = [1.0, 2.0, 3.0, 4.0]
    s = Summary.from_values(v)
    std = math.sqrt(sum((x - 2.5) ** 2 for x in v) / 3)  # sample std, ddof=1
    assert s.mean == 2.5 and s.R == 4
    assert s.std == pytest.approx(std)
    assert s.ci95 == pytest.approx(1.96 * std / 2.0)
    assert s.format(2) == f"2.50 ± {1.96 * std / 2:.2f}"
    assert s.ci95_t == pytest.approx(3.182446 * std / 2.0)  # t(0.975, 3 dof) from a printed table
    assert s.to_dict()["ci95_t"] == s.ci95_t
    one = Summary.from_values([3.0])
    assert one.mean == 3.0 and math.isnan(one.std) and math.isnan(one.ci95) and math.isnan(one.ci95_t)


def test_repeat_uses_independent_seeded_streams():
    s = repeat(lambda rng: rng.normal(), R=20, seed=3)
    assert s.R == 20 and len(set(s.values)) == 20
    assert repeat(lambda rng: rng.normal(), R=20, seed=3).values == s.values
    assert repeat(lambda rng: rng.normal(), R=5, seed=3).values == s.values[:5]
    with pytest.raises(ValueError):
        next(repeat_rngs(0, 0))


# ------------------------------------------------------------- the table
def _blobs(rng, n_per, k, d, shift=0.0, spread=1.0):
    centres = np.arange(k)[:, None] * 4.0 * np.ones((1, d))
    f = np.concatenate([centres[c] + shift + spread * rng.normal(size=(n_per, d)) for c in range(k)])
    return f, np.repeat(np.arange(k), n_per)


def test_generation_metrics_table():
    rng = np.random.default_rng(0)
    fr, yr = _blobs(rng, 20, 3, 4)
    fg, yg = _blobs(rng, 30, 3, 4, shift=1.0, spread=0.5)
    pred = yg.copy()
    pred[:9] = (pred[:9] + 1) % 3  # 9 of 90 wrong
    out = generation_metrics(fr, yr, fg, yg, pred, real_pred=yr, R=8, seed=1, reference="train")
    assert out["reference"] == "train" and out["sample_size"] == 60 and out["R"] == 8
    assert set(out["real"]) == {"accuracy", "diversity", "multimodality"}
    assert set(out["generated"]) == {"fid", "accuracy", "diversity", "multimodality"}
    for row in ("real", "generated"):
        assert all(isinstance(s, Summary) and s.R == 8 for s in out[row].values())
    assert out["real"]["accuracy"].mean == 1.0
    assert out["generated"]["accuracy"].mean == pytest.approx(0.9, abs=0.06)
    assert out["generated"]["fid"].mean > 3.0  # the generated blobs are shifted by 1 in each of 4 dims
    assert out["generated"]["multimodality"].mean < out["real"]["multimodality"].mean  # narrower blobs
    assert out["fid_full"] == pytest.approx(fid(fr, fg))
    assert out["multimodality_left_out"] == {"real": [], "generated": []}
    assert len(set(out["generated"]["fid"].values)) == 8  # 60 of 90 generated samples, a new draw each time
    again = generation_metrics(fr, yr, fg, yg, pred, real_pred=yr, R=8, seed=1, reference="train")
    assert again["generated"]["fid"].values == out["generated"]["fid"].values
    json.dumps(jsonable(out))


def test_generation_metrics_without_real_pred_and_small_class():
    rng = np.random.default_rng(1)
    fr, yr = _blobs(rng, 5, 2, 3)
    fg, yg = _blobs(rng, 5, 2, 3)
    fg, yg = np.vstack([fg, [[0.0, 0.0, 0.0]]]), np.append(yg, 2)  # class 2: one generated sample
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = generation_metrics(fr, yr, fg, yg, yg, R=3, seed=0, reference="test")
    assert "accuracy" not in out["real"] and out["generated"]["accuracy"].mean == 1.0
    assert out["multimodality_left_out"] == {"real": [], "generated": [2]}
    with pytest.raises(ValueError, match="feature sizes differ"):
        generation_metrics(fr, yr, fg[:, :2], yg, yg)
    with pytest.raises(ValueError, match="gen_pred: expected 11"):
        generation_metrics(fr, yr, fg, yg, yg[:3])


def test_generation_metrics_equal_sizes_use_whole_sets():
    rng = np.random.default_rng(2)
    fr, yr = _blobs(rng, 10, 2, 3)
    fg, yg = _blobs(rng, 10, 2, 3, shift=2.0)
    out = generation_metrics(fr, yr, fg, yg, yg, R=4, seed=0)
    gen_fid = out["generated"]["fid"]
    assert gen_fid.std == pytest.approx(0.0, abs=1e-9)  # no more randomness to draw from
    assert gen_fid.mean == pytest.approx(out["fid_full"], rel=1e-9)
    assert out["generated"]["diversity"].std > 0  # fresh pairs in every repeat
    with pytest.raises(ValueError, match="at least 2 real"):
        generation_metrics(fr[:1], yr[:1], fg, yg, yg)
