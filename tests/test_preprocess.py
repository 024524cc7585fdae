import numpy as np
import pytest

from infagenc.data import DataError
from infagenc.data.demo import make_demo
from infagenc.data.preprocess import (align_view, check_samples, fill_unlabelled, fixed_length, normalize_scale,
                                      resample_sequence, root_constraint, root_relative)


def test_resample_sequence_is_linear_and_keeps_endpoints():
    x = np.arange(5, dtype=float)[:, None]
    y = resample_sequence(x, 9)
    assert np.allclose(y[:, 0], np.arange(9) / 2)
    assert np.allclose(resample_sequence(x, 3)[:, 0], [0, 2, 4])


def test_fixed_length_resample_and_crop():
    ms = make_demo(num_subjects=1, per_class=2, seed=0, min_len=50, max_len=80)
    r = fixed_length(ms, 60)
    assert r.num_frames == 60 and (r.lengths == 60).all()
    c = fixed_length(ms, 40, mode="crop")
    i = 0
    L = ms.lengths[i]
    start = (L - 40) // 2
    assert np.array_equal(c.data[i], ms.data[i, start:start + 40])
    with pytest.raises(ValueError, match="seed"):
        fixed_length(ms, 40, mode="crop", crop="random")
    a = fixed_length(ms, 40, mode="crop", crop="random", seed=1)
    b = fixed_length(ms, 40, mode="crop", crop="random", seed=1)
    assert np.array_equal(a.data, b.data)


def test_rotation_resampling_stays_on_rotations():
    ms = make_demo(num_subjects=1, per_class=1, rep="rot6d", seed=1)
    r = fixed_length(ms, 33)
    a1, a2 = r.data[..., :3], r.data[..., 3:]
    assert np.allclose(np.linalg.norm(a1, axis=-1), 1, atol=1e-5)
    assert np.allclose((a1 * a2).sum(-1), 0, atol=1e-5)


def test_root_relative_and_scale():
    ms = make_demo(num_subjects=1, per_class=1, rep="xyz", seed=0)
    r = root_relative(ms)
    c = ms.layout.center
    assert np.allclose(r.data[:, :, c][r.frame_mask()], 0)
    f = root_relative(ms, "first_frame")
    assert np.allclose(f.data[:, 0, c], 0)
    assert not np.allclose(f.data[:, 1:, c][f.frame_mask()[:, 1:]], 0)
    s = normalize_scale(ms, target=2.0)
    e = np.array(ms.layout.tree_edges)
    x = s.sequence(0)
    assert np.isclose(np.linalg.norm(x[:, e[:, 0]] - x[:, e[:, 1]], axis=-1).mean(), 2.0, atol=1e-4)
    rr = root_relative(make_demo(num_subjects=1, per_class=1, seed=0))
    assert rr.trans is None


def test_root_constraint_names_what_root_relative_did():
    xyz = make_demo(num_subjects=1, per_class=2, rep="xyz", seed=0, min_len=10, max_len=14)
    assert root_constraint(xyz) == "none"
    assert root_constraint(root_relative(xyz)) == "per_frame"
    assert root_constraint(root_relative(xyz, "first_frame")) == "first_frame"
    # scaling keeps the constraint; one sample off the origin in one real frame breaks it
    assert root_constraint(normalize_scale(root_relative(xyz))) == "per_frame"
    data = root_relative(xyz).data.copy()
    data[1, 3, xyz.layout.center, 0] = 1e-3
    assert root_constraint(xyz.with_data(data)) == "first_frame"
    data[1, 0, xyz.layout.center, 2] = 1e-3
    assert root_constraint(xyz.with_data(data)) == "none"
    # padding frames (beyond a sample's length) do not count
    padded = root_relative(xyz).data.copy()
    i = int(np.argmin(xyz.lengths))
    padded[i, xyz.lengths[i]:, xyz.layout.center] = 5.0
    assert root_constraint(xyz.with_data(padded)) == "per_frame"
    rot = make_demo(num_subjects=1, per_class=1, seed=0)  # rot6d with trans
    assert root_constraint(rot) == "none"
    assert root_constraint(root_relative(rot, "first_frame")) == "first_frame"
    assert root_constraint(root_relative(rot)) == "none"  # no trans left: nothing to constrain


def test_align_view_puts_hips_on_x():
    ms = make_demo(num_subjects=1, per_class=1, rep="xyz", seed=0)
    rot = np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]], float)  # 90 degrees about y
    turned = ms.with_data((ms.data @ rot.T).astype(np.float32))
    a = align_view(turned)
    lh, rh = ms.layout.index("left_hip"), ms.layout.index("right_hip")
    hip = a.data[:, 0, lh] - a.data[:, 0, rh]
    assert np.allclose(hip[:, 1:], 0, atol=1e-5) and (hip[:, 0] > 0).all()
    # alignment removes the turn: both give the same aligned sequence
    assert np.allclose(align_view(ms).data, a.data, atol=1e-4)


def _with_bad(kind):
    ms = make_demo(num_subjects=1, per_class=1, rep="xyz", seed=0)
    d = ms.data.copy()
    if kind == "nan":
        d[1, 3, 2, 0] = np.nan
    elif kind == "inf":
        d[1, 3, 2, 0] = np.inf
    elif kind == "zero":
        d[1, 5] = 0
    return ms.with_data(d)


@pytest.mark.parametrize("kind,msg", [("nan", "NaN/Inf"), ("inf", "NaN/Inf"), ("zero", "all-zero frame")])
def test_check_samples_names_the_sample(kind, msg):
    ms = _with_bad(kind)
    with pytest.raises(DataError, match=f"data.npz: sample '{ms.names[1]}': {msg}"):
        check_samples(ms, file="data.npz")
    kept = check_samples(ms, on_bad="skip", file="data.npz")
    assert len(kept) == len(ms) - 1 and ms.names[1] not in kept.names
    assert kept.exclusions[-1].sample == ms.names[1] and msg.split("/")[0] in kept.exclusions[-1].reason


def test_check_samples_too_short():
    ms = make_demo(num_subjects=1, per_class=1, seed=0, min_len=10, max_len=20)
    out = check_samples(ms, on_bad="skip", min_length=15)
    assert all("too short" in e.reason for e in out.exclusions)
    assert len(out) + len(out.exclusions) == len(ms)
    assert (out.lengths >= 15).all()


def test_fill_unlabelled_uses_the_frames_labelled_keypoints():
    from dataclasses import replace

    from infagenc.data.motionset import MotionSet

    v = 17  # coco17, 2D, one frame per sample
    a = np.arange(v * 2, dtype=np.float32).reshape(1, v, 2)
    conf = np.full((1, v), 2.0, np.float32)
    conf[0, [3, 5]] = 0  # not labelled: placeholders -45
    a[0, [3, 5]] = -45
    b = np.ones((1, v, 2), np.float32)
    ms = MotionSet.from_sequences([a, b], [0, 1], ["x", "y"], ["p", "q"], ["img1", "img2"], "coco17", rep="xy",
                                  conf=[conf, np.full((1, v), 1.0, np.float32)])
    out, n = fill_unlabelled(ms)
    assert n == 2
    labelled = np.delete(a[0], [3, 5], axis=0)
    assert np.allclose(out.data[0, 0, 3], labelled.mean(axis=0)) and np.allclose(out.data[0, 0, 5], out.data[0, 0, 3])
    assert np.array_equal(np.delete(out.data[0, 0], [3, 5], axis=0), labelled) and np.array_equal(out.data[1], b)
    assert fill_unlabelled(replace(out, conf=None))[1] == 0
    blind = replace(ms, conf=np.zeros_like(ms.conf))
    with pytest.raises(ValueError, match="img1"):
        fill_unlabelled(blind)


def _coco_with_hidden():
    from infagenc.data.motionset import MotionSet

    v = 17
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(1, v, 2)).astype(np.float32), rng.normal(size=(1, v, 2)).astype(np.float32)
    ca, cb = np.full((1, v), 2.0, np.float32), np.full((1, v), 1.0, np.float32)
    ca[0, 4] = 0  # one keypoint of img1 not labelled
    return MotionSet.from_sequences([a, b], [0, 1], ["x", "y"], ["p", "q"], ["img1", "img2"], "coco17", rep="xy",
                                    conf=[ca, cb])


def test_preprocess_applies_length_root_scale_in_that_order():
    from infagenc.data.preprocess import Preprocess

    ms = make_demo(num_subjects=2, per_class=1, seed=1, rep="xyz")
    prep = Preprocess(frames=20, root="first_frame", normalize_scale=True)
    by_hand = normalize_scale(root_relative(fixed_length(ms, 20), "first_frame"))
    out, notes = prep.apply(ms)
    assert np.array_equal(out.data, by_hand.data) and notes == []
    # the chain is idempotent: applied to its own output it changes nothing (up to the scale's rounding)
    again = prep(out)
    assert np.allclose(again.data, out.data, atol=1e-6)
    assert np.array_equal(Preprocess(frames=20)(out).data, out.data)  # same length: kept exactly
    rot = make_demo(num_subjects=2, per_class=1, seed=1)  # rot6d
    r20 = Preprocess(frames=20)(rot)
    assert np.array_equal(Preprocess(frames=20)(r20).data, r20.data)


def test_preprocess_unlabelled_keypoints_and_notes():
    from infagenc.data.preprocess import Preprocess

    ms = _coco_with_hidden()
    with pytest.raises(ValueError, match=r"train.json: 1 keypoints have confidence 0 .* img1; set data.unlabelled"):
        Preprocess(unlabelled="error").apply(ms, "train.json", unlabelled_hint="set data.unlabelled = 'fill'")
    filled, notes = Preprocess(unlabelled="fill").apply(ms)
    assert filled.conf is None and notes == ["1 keypoints with confidence 0 filled with the mean of their frame's "
                                             "labelled keypoints"]
    assert np.allclose(filled.data[0, 0, 4], np.delete(ms.data[0, 0], 4, axis=0).mean(axis=0))
    kept, notes = Preprocess().apply(ms)
    assert np.array_equal(kept.data, ms.data) and "kept as the file gives them" in notes[0]
    assert ms.conf is not None and ms.notes == []  # the input is left untouched


def test_preprocess_record_round_trip_and_old_records():
    from infagenc.data.preprocess import Preprocess

    p = Preprocess(frames=32, root="per_frame", normalize_scale=True, unlabelled="fill")
    assert Preprocess.from_dict(p.to_dict()) == p
    assert Preprocess.from_dict({"frames": 30, "root": None}) == Preprocess(frames=30, root="none")
    assert Preprocess.from_dict(None) == Preprocess()
    with pytest.raises(ValueError, match="unknown keys"):
        Preprocess.from_dict({"frame": 30})
    with pytest.raises(ValueError, match="root must be one of"):
        Preprocess(root="keep")
    with pytest.raises(ValueError, match="frames must be >= 1"):
        Preprocess(frames=0)


def _kinect_frame(seed=0):
    """One kinect20 sequence of 3 frames: hips on x, the spine leaning forward (towards +z)."""
    from infagenc.data.motionset import MotionSet
    from infagenc.skeleton.layouts import get_layout

    lay = get_layout("kinect20")
    rng = np.random.default_rng(seed)
    f = rng.normal(scale=0.3, size=(3, lay.num_joints, 3))
    f[:, lay.index("hip_center")] = 0
    f[:, lay.index("left_hip")], f[:, lay.index("right_hip")] = [0.1, 0, 0], [-0.1, 0, 0]
    f[:, lay.index("shoulder_center")] = [0.0, 0.5, 0.2]
    return MotionSet.from_sequences([f.astype(np.float32)], [0], ["a"], ["s"], ["k"], lay, rep="xyz")


def test_align_view_spine_runs_from_the_hips():
    ms = _kinect_frame()
    lay = ms.layout
    a = align_view(ms)
    spine = a.data[0, 0, lay.index("shoulder_center")] - (a.data[0, 0, lay.index("left_hip")]
                                                          + a.data[0, 0, lay.index("right_hip")]) / 2
    assert np.allclose(spine, [0, np.hypot(0.5, 0.2), 0], atol=1e-5)  # the lean is removed
    assert np.allclose(a.data[0, 0, lay.center], 0, atol=1e-6)  # first frame's centre at the origin
    # any turn of the input gives the same aligned sequence
    c, s = np.cos(1.1), np.sin(1.1)
    turn = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]) @ np.array([[1, 0, 0], [0, np.cos(.4), -np.sin(.4)],
                                                                    [0, np.sin(.4), np.cos(.4)]])
    turned = ms.with_data((ms.data @ turn.T + 3.0).astype(np.float32))
    assert np.allclose(align_view(turned).data, a.data, atol=1e-4)


def test_preprocess_align_runs_after_the_length_and_before_the_root():
    from infagenc.data.preprocess import Preprocess

    ms = make_demo(num_subjects=2, per_class=1, seed=1, rep="xyz")
    prep = Preprocess(frames=20, align=True, root="per_frame", normalize_scale=True)
    by_hand = normalize_scale(root_relative(align_view(fixed_length(ms, 20)), "per_frame"))
    assert np.array_equal(prep(ms).data, by_hand.data)
    assert np.array_equal(Preprocess(frames=20, align=True)(ms).data, align_view(fixed_length(ms, 20)).data)
    # the record: align only when on; older records read as off
    assert Preprocess.from_dict(prep.to_dict()) == prep and prep.to_dict()["align"] is True
    assert "align" not in Preprocess(frames=20).to_dict()
    assert Preprocess.from_dict({"frames": 20, "root": "none", "normalize_scale": False}).align is False


def test_preprocess_align_refuses_what_it_cannot_align():
    from infagenc.data.motionset import MotionSet
    from infagenc.data.preprocess import Preprocess
    from infagenc.skeleton.layouts import Layout

    rot = make_demo(num_subjects=1, per_class=1, seed=0)  # rot6d
    with pytest.raises(ValueError, match="train.npz: preprocess align: view alignment applies to xyz"):
        Preprocess(align=True).apply(rot, "train.npz")
    chain = Layout("chain3", ("a", "b", "c"), (-1, 0, 1), center=0)
    ms = MotionSet.from_sequences([np.random.default_rng(0).normal(size=(4, 3, 3)).astype(np.float32)], [0], ["x"],
                                  ["s"], ["n"], chain, rep="xyz")
    with pytest.raises(ValueError, match="data: preprocess align: layout 'chain3' has no hip or shoulder"):
        Preprocess(align=True)(ms)
