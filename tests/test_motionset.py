import numpy as np
import pytest

from infagenc.data import DataError, Exclusion, MotionSet
from infagenc.data.demo import make_demo


def _tiny(n=4, t=5, rep="xyz", source="real"):
    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(t - i % 2, 20, 3)).astype(np.float32) for i in range(n)]
    return MotionSet.from_sequences(seqs, [i % 2 for i in range(n)], ("a", "b"), [f"s{i // 2}" for i in range(n)],
                                    [f"x{i}" for i in range(n)], "kinect20", rep, source=[source] * n)


def test_from_sequences_pads_and_keeps_lengths():
    ms = _tiny()
    assert ms.data.shape == (4, 5, 20, 3)
    assert ms.lengths.tolist() == [5, 4, 5, 4]
    assert not ms.data[1, 4].any()  # padding
    assert ms.sequence(1).shape == (4, 20, 3)
    assert ms.frame_mask().sum() == 18


def test_validation_errors():
    ms = _tiny()
    with pytest.raises(ValueError, match="labels must lie in 0..1"):
        MotionSet(ms.data, ms.lengths, [0, 1, 2, 0], ("a", "b"), ms.subjects, ms.names, "kinect20")
    with pytest.raises(ValueError, match="data has 20 joints, layout 'smpl24' has 24"):
        MotionSet(ms.data, ms.lengths, ms.labels, ("a", "b"), ms.subjects, ms.names, "smpl24")
    with pytest.raises(ValueError, match="'rot6d' has 6 channels"):
        MotionSet(ms.data, ms.lengths, ms.labels, ("a", "b"), ms.subjects, ms.names, "kinect20", "rot6d")
    with pytest.raises(ValueError, match="source must be"):
        MotionSet(ms.data, ms.lengths, ms.labels, ("a", "b"), ms.subjects, ms.names, "kinect20",
                  source=["real", "fake", "real", "real"])


def test_npz_round_trip_is_lossless(tmp_path):
    ms = make_demo(num_subjects=2, per_class=1, seed=3)
    ms = MotionSet.concat([ms, ms.with_data(ms.data).subset([0, 1])])
    ms.source[-2:] = "synthetic"
    ms.run[-2:] = "run7"
    ms.epoch[-2:] = 12
    ms.round[-2:] = 1
    ms.seed[-2:] = 99
    ms.exclusions.append(Exclusion("f.txt", "bad", "NaN"))
    path = ms.save(tmp_path / "set.npz")
    back = MotionSet.load(path)
    for attr in ("data", "lengths", "labels", "subjects", "names", "source", "run", "epoch", "round", "seed", "trans"):
        assert np.array_equal(getattr(back, attr), getattr(ms, attr)), attr
    assert back.class_names == ms.class_names and back.layout == ms.layout and back.rep == ms.rep
    assert back.exclusions == ms.exclusions and back.notes == ms.notes and back.fps == ms.fps


def test_load_refuses_corrupt_files(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DataError, match="bad.npz"):
        MotionSet.load(bad)
    good = _tiny().save(tmp_path / "good.npz")
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DataError, match="trunc.npz"):
        MotionSet.load(trunc)
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(DataError, match="not an infagenc motion set"):
        MotionSet.load(tmp_path / "other.npz")


def test_select_and_subset():
    ms = make_demo(num_subjects=3, per_class=2, seed=0)
    kick = ms.select(classes=["kick"])
    assert len(kick) == 6 and set(kick.labels.tolist()) == {0}
    s1 = ms.select(subjects=["demo01"], classes=[1, 2])
    assert len(s1) == 4 and set(s1.subjects.tolist()) == {"demo01"}
    with pytest.raises(KeyError, match="no class 'jump'"):
        ms.select(classes=["jump"])
    mask = ms.labels == 3
    assert len(ms.subset(mask)) == int(mask.sum())


def test_concat_keeps_provenance_and_merges_classes_by_name():
    a = _tiny()
    b = MotionSet.from_sequences([np.ones((7, 20, 3), np.float32)], [0], ("c",), ["s9"], ["y0"], "kinect20",
                                 source=["synthetic"], run=["r1"], epoch=[5], round=[2], seed=[11])
    ab = a + b
    assert len(ab) == 5 and ab.num_frames == 7
    assert ab.class_names == ("a", "b", "c") and ab.labels[-1] == 2
    assert ab.is_synthetic.tolist() == [False] * 4 + [True]
    assert ab.run[-1] == "r1" and ab.epoch[-1] == 5 and ab.round[-1] == 2 and ab.seed[-1] == 11
    assert ab.epoch[0] == -1
    with pytest.raises(ValueError, match="layouts"):
        MotionSet.concat([a, make_demo(num_subjects=1, per_class=1, rep="xyz")])


def test_rotation_conversion_and_fk():
    ms = make_demo(num_subjects=1, per_class=1, rep="axis_angle", seed=2)
    r6 = ms.to_rep("rot6d")
    assert r6.channels == 6
    back = r6.to_rep("axis_angle")
    m = ms.frame_mask()
    assert np.allclose(back.data[m], ms.data[m], atol=1e-4)
    xyz = ms.to_xyz()
    assert xyz.rep == "xyz" and xyz.channels == 3 and xyz.trans is None
    assert np.allclose(xyz.data, r6.to_xyz().data, atol=1e-4)
    with pytest.raises(ValueError, match="only rotation representations"):
        xyz.to_rep("rot6d")


def test_summary_counts():
    s = make_demo(num_subjects=2, per_class=3, seed=0).summary()
    assert s["samples"] == 24 and s["classes"] == 4 and s["subjects"] == 2
    assert s["class_counts"] == {"kick": 6, "wave_arms": 6, "roll": 6, "reach": 6}
    assert s["subject_class_counts"]["demo01"]["roll"] == 3
