"""The classical floor (``linear`` logistic regression, ``knn``): accuracy where it must be
perfect and where it must be chance, probabilities, the no-pickle checkpoint and its errors."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from infagenc.cli import main
from infagenc.data.motionset import MotionSet
from infagenc.metrics.recognition import accuracy
from infagenc.train.checkpoint import CheckpointError
from infagenc.train.classical import (CHECKPOINT_FORMAT, CLASSICAL, RECOGNIZER_NAMES, ClassicalRecognizer,
                                      load_classical_with_meta)
from infagenc.train.recognizer import Predictions, RecognizerConfig

T, LAYOUT = 3, "coco17"  # 3 frames x 17 joints x 3 channels = 153 features


def blobs(n_per_class: int, k: int, seed: int, spread: float = 0.1, subjects=("s1",)) -> MotionSet:
    """k well separated clusters: class c = a fixed random direction times c, plus small noise."""
    rng = np.random.default_rng(seed)
    centre = np.random.default_rng(123).normal(size=(k, T, 17, 3)) * 3.0
    labels = np.repeat(np.arange(k), n_per_class)
    data = centre[labels] + spread * rng.normal(size=(len(labels), T, 17, 3))
    subj = [subjects[i % len(subjects)] for i in range(len(labels))]
    return MotionSet(data, T, labels, [f"c{c}" for c in range(k)], subj, [f"x{i}" for i in range(len(labels))],
                     LAYOUT)


@pytest.mark.parametrize("model", CLASSICAL)
def test_perfect_on_separable_data_and_chance_on_shuffled_labels(model):
    train, test = blobs(10, 3, seed=0), blobs(10, 3, seed=1)
    r = ClassicalRecognizer(model).fit(train)
    assert r.evaluate(test).overall == 1.0
    assert r.evaluate(train, "train").overall == 1.0
    # the same points with the training labels shuffled: nothing to learn, test accuracy ~ 1/2
    train, test = blobs(100, 2, seed=2, spread=1.0), blobs(100, 2, seed=3, spread=1.0)
    shuffled = MotionSet(train.data, T, np.random.default_rng(4).permutation(train.labels), train.class_names,
                         train.subjects, train.names, LAYOUT)
    acc = ClassicalRecognizer(model).fit(shuffled).evaluate(test).overall
    assert abs(acc - 0.5) < 0.12, acc


@pytest.mark.parametrize("model, options", [("linear", {}), ("linear", {"C": 0.01}), ("knn", {"k": 5}),
                                            ("knn", {})])
def test_predictions_probs_features_and_missing_classes(model, options):
    train, test = blobs(6, 4, seed=0, spread=2.0), blobs(3, 4, seed=1, spread=2.0)
    train = train.subset(train.labels != 2)  # class c2 never seen in training
    r = ClassicalRecognizer(model, options).fit(train)
    p = r.predict(test)
    assert isinstance(p, Predictions)
    assert p.probs.shape == (len(test), 4) and p.features.shape == (len(test), T * 17 * 3)
    np.testing.assert_allclose(p.probs.sum(axis=1), 1.0, rtol=1e-6)
    assert (p.probs[:, 2] == 0).all() and (p.pred != 2).all()
    np.testing.assert_array_equal(p.labels, test.labels)
    if model == "linear":
        np.testing.assert_array_equal(p.pred, p.probs.argmax(axis=1))
    # the features are the training set's standardisation
    f = r.predict(train).features
    np.testing.assert_allclose(f.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(f.std(axis=0), 1, atol=1e-4)
    if model == "knn":
        assert set(np.round(p.probs.ravel() * r.options["k"], 5)) <= set(range(r.options["k"] + 1))
    else:
        assert r.fit_info["converged"] and r.fit_info["fit"] == "lbfgs"


def test_knn_tie_goes_to_the_nearest_neighbours_class():
    x = np.zeros((2, 1, 17, 3))
    x[0, 0, 0, 0], x[1, 0, 0, 0] = 1.0, 3.0
    train = MotionSet(x, 1, [1, 0], ["a", "b"], ["s", "s"], ["p", "q"], LAYOUT)
    q = np.zeros((2, 1, 17, 3))
    q[0, 0, 0, 0], q[1, 0, 0, 0] = 1.5, 2.9  # nearer to class 1, then nearer to class 0
    test = MotionSet(q, 1, [1, 0], ["a", "b"], ["s", "s"], ["m", "n"], LAYOUT)
    p = ClassicalRecognizer("knn", {"k": 2}).fit(train).predict(test)
    np.testing.assert_allclose(p.probs, 0.5)
    assert p.pred.tolist() == [1, 0]


def test_save_load_round_trip_without_pickle(tmp_path):
    train, test = blobs(5, 3, seed=0, spread=1.5), blobs(4, 3, seed=1, spread=1.5)
    for model in CLASSICAL:
        r = ClassicalRecognizer(model).fit(train)
        path = r.save(tmp_path / f"{model}.npz", meta={"preprocess": {"frames": T}})
        with np.load(path, allow_pickle=False) as z:  # no object arrays anywhere
            arrays = {k: z[k] for k in z.files}
        assert all(a.dtype != object for a in arrays.values())
        meta = json.loads(str(arrays["meta_json"]))
        assert meta["format"] == CHECKPOINT_FORMAT and meta["recognizer"]["model"] == model
        assert meta["recognizer"]["class_names"] == ["c0", "c1", "c2"] and meta["preprocess"] == {"frames": T}
        loaded, meta2 = load_classical_with_meta(path)
        assert meta2 == meta
        a, b = r.predict(test), loaded.predict(test)
        for field in ("probs", "features", "pred", "labels"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_not_a_checkpoint_is_a_one_line_error_naming_the_file(tmp_path):
    r = ClassicalRecognizer("linear").fit(blobs(3, 2, seed=0))
    good = r.save(tmp_path / "good.npz")
    bad = {"garbage.npz": b"\x00\x01 not a zip or npy file at all\n" * 3,
           "truncated.npz": good.read_bytes()[: len(good.read_bytes()) // 2]}
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with zipfile.ZipFile(tmp_path / "nozip.npz", "w") as z:
        z.writestr("meta_json.npy", b"junk")
    for name in [*bad, "plain.npz", "nozip.npz"]:
        with pytest.raises(CheckpointError) as e:
            load_classical_with_meta(tmp_path / name)
        msg = str(e.value)
        assert str(tmp_path / name) in msg and "\n" not in msg and "allow_pickle" not in msg, msg
    with pytest.raises(FileNotFoundError):
        load_classical_with_meta(tmp_path / "absent.npz")


def test_cli_eval_of_a_corrupt_checkpoint_says_so_in_one_line(tmp_path, capsys):
    data = blobs(2, 2, seed=0).save(tmp_path / "d.npz")
    (tmp_path / "x.npz").write_bytes(b"PK\x03\x04broken")
    assert main(["recognizer", "eval", "--checkpoint", str(tmp_path / "x.npz"), "--data", str(data),
                 "--out", str(tmp_path / "ev"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path / "x.npz") in err and "classical" in err


def test_refuses_variable_lengths_other_shapes_and_unknown_options():
    ms = blobs(3, 2, seed=0)
    varying = MotionSet(ms.data, np.array([3, 2] * 3), ms.labels, ms.class_names, ms.subjects, ms.names, LAYOUT)
    with pytest.raises(ValueError, match="fixed-length"):
        ClassicalRecognizer("linear").fit(varying)
    r = ClassicalRecognizer("knn").fit(ms)
    with pytest.raises(ValueError, match="does not match"):
        r.predict(MotionSet(ms.data[:, :2], 2, ms.labels, ms.class_names, ms.subjects, ms.names, LAYOUT))
    with pytest.raises(ValueError, match="unknown options"):
        ClassicalRecognizer("linear", {"k": 3})
    with pytest.raises(ValueError, match="one class"):
        ClassicalRecognizer("linear").fit(ms.subset(ms.labels == 0))
    assert ClassicalRecognizer.from_config(RecognizerConfig(model="knn", model_options={"k": 3})).options == {"k": 3}
    assert set(CLASSICAL) < set(RECOGNIZER_NAMES) and "stgcn" in RECOGNIZER_NAMES
    assert accuracy(ms.labels, r.predict(ms).pred) == 1.0
