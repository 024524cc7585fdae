"""Classical recognizers: the floor every deep recognizer is measured against.

* ``linear`` - multinomial logistic regression (scikit-learn ``LogisticRegression``: lbfgs,
  L2 penalty, ``C = 1``, ``max_iter = 5000`` so that it converges on skeleton data; the
  library's other defaults) on the flattened (T, V, C) positions of a preprocessed,
  fixed-length set, each feature standardised with the training set's mean and standard
  deviation (a feature constant on the training set, e.g. the root joint of root-centred
  data, gets std 1, as in scikit-learn's ``StandardScaler``).
* ``knn`` - k nearest neighbours, Euclidean distance on the same standardised features,
  ``k = 1`` by default; its probabilities are the class vote fractions among the k
  neighbours; neighbours at equal distance are taken in training order, and a tie between
  classes goes to the class of the nearest tied neighbour.

Options come from ``RecognizerConfig.model_options`` (``{"C": 0.1}``, ``{"max_iter": 10000}``,
``{"k": 5}``; see :data:`DEFAULT_OPTIONS`); the other training fields of the config (epochs,
lr, size, ...) do not apply (:data:`CLASSICAL_FIELDS` names the ones a classical fit reads).

Seeds: neither fit draws random numbers (lbfgs is a deterministic optimiser, kNN stores the
training set), so the same data give the same model; with a multi-threaded BLAS the last
bits of the lbfgs iterates may depend on the thread count.

The interface is that of the deep recognizers where the rest of the package meets it:
:meth:`ClassicalRecognizer.predict` gives :class:`~infagenc.train.recognizer.Predictions`
(``features`` are the standardised vectors), :meth:`~ClassicalRecognizer.evaluate` a
:class:`~infagenc.metrics.recognition.RecognitionReport`.

Checkpoints hold no pickle: one ``.npz`` written and read with ``allow_pickle=False``, with the
fitted arrays (``mean``, ``std``, ``classes``; ``coef`` and ``intercept`` for ``linear``;
``train_features`` and ``train_labels`` for ``knn``) and ``meta_json``, a JSON string (0-d
unicode array) with ``format`` (:data:`CHECKPOINT_FORMAT`), ``version``, ``recognizer`` (model,
options, layout, frames, channels, rep, class names) and whatever the caller adds (the
preprocessing record, the config).
"""
from __future__ import annotations

import io
import json
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..data.motionset import MotionSet
from ..jsonio import atomic_write_bytes, to_jsonable
from ..metrics.recognition import RecognitionReport
from ..models.registry import RECOGNIZERS
from ..skeleton.layouts import Layout
from .checkpoint import CheckpointError
from .recognizer import Predictions, RecognizerConfig

__all__ = ["CLASSICAL", "RECOGNIZER_NAMES", "CLASSICAL_FIELDS", "DEFAULT_OPTIONS", "CHECKPOINT_FORMAT",
           "ClassicalRecognizer", "is_classical", "is_classical_checkpoint", "load_classical_with_meta",
           "load_for_evaluation"]

CLASSICAL = ("linear", "knn")
# every recognizer a command can train: the deep ones of the registry, then the classical ones
RECOGNIZER_NAMES = (*RECOGNIZERS, *CLASSICAL)
# the RecognizerConfig fields a classical fit reads (the others are deep-training settings)
CLASSICAL_FIELDS = ("model", "model_options")
DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {"linear": {"C": 1.0, "max_iter": 5000}, "knn": {"k": 1}}
CHECKPOINT_FORMAT = "infagenc-classical-recognizer"
_VERSION = 1
_ARRAYS = {"linear": ("mean", "std", "classes", "coef", "intercept"),
           "knn": ("mean", "std", "classes", "train_features", "train_labels")}


def is_classical(model: str) -> bool:
    return model in CLASSICAL


def is_classical_checkpoint(path: str | Path) -> bool:
    """Classical checkpoints are ``.npz`` files (deep ones are torch files, e.g. ``.pt``)."""
    return Path(path).suffix.lower() == ".npz"


def _options(model: str, given: dict | None) -> dict[str, Any]:
    if model not in CLASSICAL:
        raise ValueError(f"unknown classical recognizer {model!r}; known: {', '.join(CLASSICAL)}")
    d = DEFAULT_OPTIONS[model]
    unknown = sorted(set(given or {}) - set(d))
    if unknown:
        raise ValueError(f"{model}: unknown options {unknown}; known: {sorted(d)}")
    out = {**d, **(given or {})}
    if model == "linear" and not (float(out["C"]) > 0 and int(out["max_iter"]) >= 1):
        raise ValueError(f"linear: need C > 0 and max_iter >= 1, got {out}")
    if model == "knn" and int(out["k"]) < 1:
        raise ValueError(f"knn: k must be at least 1, got {out['k']}")
    return out


def _flat(ms: MotionSet) -> np.ndarray:
    """(N, T*V*C) float64 of a fixed-length set (every sequence as long as the array)."""
    if len(ms) and not (ms.lengths == ms.num_frames).all():
        raise ValueError(f"classical recognizers need fixed-length sequences (every length {ms.num_frames}); "
                         f"lengths range {int(ms.lengths.min())}..{int(ms.lengths.max())}: preprocess with "
                         f"a fixed number of frames (--frames N)")
    return ms.data.reshape(len(ms), -1).astype(np.float64)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class ClassicalRecognizer:
    """A ``linear`` or ``knn`` recognizer (see the module docstring); :meth:`fit` first."""

    size = "-"  # no architecture size; for report titles shared with the deep models

    def __init__(self, model: str = "linear", options: dict | None = None) -> None:
        self.name = model
        self.options = _options(model, options)
        self.arrays: dict[str, np.ndarray] = {}
        self.info: dict[str, Any] = {}
        self.fit_info: dict[str, Any] = {}

    @classmethod
    def from_config(cls, cfg: RecognizerConfig) -> "ClassicalRecognizer":
        return cls(cfg.model, cfg.model_options)

    # ---------------------------------------------------------------- shape
    @property
    def fitted(self) -> bool:
        return bool(self.arrays)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.info.get("class_names", ()))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def feature_dim(self) -> int:
        return int(self.arrays["mean"].shape[0]) if self.fitted else 0

    def _describe(self, ms: MotionSet) -> dict[str, Any]:
        return {"layout": ms.layout.to_dict(), "frames": ms.num_frames, "joints": ms.num_joints,
                "channels": ms.channels, "rep": ms.rep, "class_names": list(ms.class_names)}

    def _check(self, ms: MotionSet) -> None:
        if not self.fitted:
            raise ValueError(f"the {self.name} recognizer is not fitted")
        want, got = self.info, self._describe(ms)
        for key in ("frames", "joints", "channels", "rep"):
            if want[key] != got[key] or want["layout"]["name"] != got["layout"]["name"]:
                raise ValueError(f"data ({got['layout']['name']}, {got['frames']} frames, {got['joints']} joints, "
                                 f"{got['channels']} channels, {got['rep']}) does not match the {self.name} "
                                 f"recognizer ({want['layout']['name']}, {want['frames']} frames, {want['joints']} "
                                 f"joints, {want['channels']} channels, {want['rep']})")

    def features(self, ms: MotionSet) -> np.ndarray:
        """(N, D) standardised feature vectors (float64)."""
        self._check(ms)
        return (_flat(ms) - self.arrays["mean"]) / self.arrays["std"]

    # ------------------------------------------------------------------ fit
    def fit(self, ms: MotionSet) -> "ClassicalRecognizer":
        """Fit on a labelled, fixed-length set; ``fit_info`` records iterations / convergence."""
        if not ms.labelled or not len(ms):
            raise ValueError("a classical recognizer needs a non-empty labelled training set")
        x = _flat(ms)
        t0 = time.perf_counter()
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        std = np.where(std > 1e-12 * max(1.0, float(np.abs(x).max())), std, 1.0)
        z = (x - mean) / std
        y = ms.labels.astype(np.int64)
        classes = np.unique(y)
        arrays = {"mean": mean, "std": std, "classes": classes}
        if self.name == "linear":
            arrays.update(self._fit_linear(z, y, classes))
        else:
            arrays.update(train_features=z, train_labels=y)
            self.fit_info = {"fit": "stored training set", "k": int(self.options["k"])}
        self.fit_info["seconds"] = round(time.perf_counter() - t0, 3)
        self.arrays = arrays
        self.info = self._describe(ms)
        return self

    def _fit_linear(self, z: np.ndarray, y: np.ndarray, classes: np.ndarray) -> dict[str, np.ndarray]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        if len(classes) < 2:
            raise ValueError(f"linear: the training set has one class only ({int(classes[0])}); need two or more")
        max_iter = int(self.options["max_iter"])
        lr = LogisticRegression(C=float(self.options["C"]), max_iter=max_iter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            lr.fit(z, y)
        iters = int(np.max(lr.n_iter_))
        self.fit_info = {"fit": "lbfgs", "iterations": iters, "converged": iters < max_iter}
        return {"coef": lr.coef_.astype(np.float64), "intercept": lr.intercept_.astype(np.float64)}

    # -------------------------------------------------------------- predict
    def _class_probs(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, K) probabilities over all classes (0 for classes absent from training) and, for
        kNN, the (N, k) neighbours' labels, nearest first."""
        a, k = self.arrays, self.num_classes
        out = np.zeros((len(z), k))
        if self.name == "knn":
            return self._knn_votes(z, out)
        s = z @ a["coef"].T + a["intercept"]
        if a["coef"].shape[0] == 1:  # two classes: scikit-learn's binary form
            p1 = 1.0 / (1.0 + np.exp(-s[:, 0]))
            out[:, a["classes"][0]], out[:, a["classes"][1]] = 1.0 - p1, p1
        else:
            out[:, a["classes"]] = _softmax(s)
        return out, None

    def _knn_votes(self, z: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ref, lab = self.arrays["train_features"], self.arrays["train_labels"]
        k = min(int(self.options["k"]), len(ref))
        ref_sq = (ref ** 2).sum(axis=1)
        votes = np.zeros((len(z), k), np.int64)
        for s in range(0, len(z), 1024):
            q = z[s:s + 1024]
            d2 = np.maximum((q ** 2).sum(axis=1, keepdims=True) + ref_sq[None] - 2.0 * (q @ ref.T), 0.0)
            votes[s:s + len(q)] = lab[np.argsort(d2, axis=1, kind="stable")[:, :k]]
        for i, row in enumerate(votes):
            out[i] = np.bincount(row, minlength=out.shape[1]) / k
        return out, votes

    def predict(self, ms: MotionSet) -> Predictions:
        """Probabilities (N, K) (kNN: vote fractions), standardised features (N, D), predicted
        classes and the set's labels, as :func:`infagenc.train.recognizer.predict` gives them."""
        z = self.features(ms)
        probs, votes = self._class_probs(z)
        pred = probs.argmax(axis=1).astype(np.int64)
        if votes is not None and len(z):
            best = probs == probs.max(axis=1, keepdims=True)
            for i in np.flatnonzero(best.sum(axis=1) > 1):
                pred[i] = next(int(c) for c in votes[i] if best[i, c])  # the nearest tied neighbour's class
        return Predictions(probs.astype(np.float32), z.astype(np.float32), pred, ms.labels.copy())

    def evaluate(self, ms: MotionSet, split: str = "test") -> RecognitionReport:
        """Accuracy tables on a labelled set (``split`` names it in the report)."""
        if not ms.labelled:
            raise ValueError("evaluation needs a labelled set")
        if ms.num_classes != self.num_classes:
            raise ValueError(f"the set has {ms.num_classes} classes, the model {self.num_classes}")
        p = self.predict(ms)
        return RecognitionReport.from_arrays(ms.labels, p.pred, ms.class_names, ms.subjects, split=split)

    # ---------------------------------------------------------- checkpoints
    def spec(self) -> dict[str, Any]:
        return {"model": self.name, "options": dict(self.options), **self.info}

    def save(self, path: str | Path, meta: dict | None = None) -> Path:
        """One ``.npz`` (no pickle): the fitted arrays and ``meta_json`` (see the module docstring)."""
        if not self.fitted:
            raise ValueError(f"the {self.name} recognizer is not fitted")
        full = {"format": CHECKPOINT_FORMAT, "version": _VERSION, "recognizer": self.spec(),
                "fit": dict(self.fit_info), **(meta or {})}
        buf = io.BytesIO()
        np.savez(buf, meta_json=np.array(json.dumps(full, default=to_jsonable)), **self.arrays)
        return atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> "ClassicalRecognizer":
        return load_classical_with_meta(path)[0]


def _read_npz(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            if not isinstance(z, np.lib.npyio.NpzFile) or "meta_json" not in z.files:
                raise CheckpointError(f"{path}: not a classical recognizer checkpoint (no meta_json)")
            meta = json.loads(str(z["meta_json"]))
            arrays = {k: z[k] for k in z.files if k != "meta_json"}
    except (FileNotFoundError, CheckpointError):
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as e:
        why = " ".join(str(e).split()) or type(e).__name__
        if "pickle" in why:  # numpy's advice to unpickle is not ours to give
            why = "not an .npz archive, and pickled data is never loaded"
        raise CheckpointError(f"{path}: not a classical recognizer checkpoint ({why})") from None
    return meta, arrays


def load_classical_with_meta(path: str | Path) -> tuple[ClassicalRecognizer, dict]:
    """A fitted recognizer from :meth:`ClassicalRecognizer.save`'s file (read with
    ``allow_pickle=False``) and the file's metadata; anything else is a one-line
    :class:`~infagenc.train.checkpoint.CheckpointError` naming the file."""
    path = Path(path)
    meta, arrays = _read_npz(path)
    spec = meta.get("recognizer") if isinstance(meta, dict) else None
    if meta.get("format") != CHECKPOINT_FORMAT or not isinstance(spec, dict) or spec.get("model") not in CLASSICAL:
        raise CheckpointError(f"{path}: not a classical recognizer checkpoint (format {meta.get('format')!r})")
    missing = [k for k in _ARRAYS[spec["model"]] if k not in arrays]
    if missing:
        raise CheckpointError(f"{path}: classical recognizer checkpoint lacks arrays {missing}")
    try:
        model = ClassicalRecognizer(spec["model"], spec.get("options"))
        Layout.from_dict(spec["layout"])
        model.info = {k: spec[k] for k in ("layout", "frames", "joints", "channels", "rep", "class_names")}
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad classical recognizer description ({' '.join(str(e).split())})") from None
    model.arrays = arrays
    model.fit_info = dict(meta.get("fit", {}))
    return model, meta


def load_for_evaluation(checkpoint: str | Path, ms: MotionSet, subjects=None, device: str | None = "cpu"):
    """``(model, meta, ms)``: a saved recognizer (a deep ``.pt`` or a classical ``.npz``), its
    metadata (``meta["data"]["class_names"]`` filled in for a classical one), and ``ms`` as the
    model expects it: relabelled to its classes, the given subjects selected (none left is a
    one-line error), the checkpoint's recorded preprocessing re-applied."""
    from ..data.preprocess import Preprocess
    from .recognizer import load_recognizer_with_meta

    if is_classical_checkpoint(checkpoint):
        model, meta = load_classical_with_meta(checkpoint)
        meta = {**meta, "data": {"class_names": list(model.class_names)}}
    else:
        model, meta = load_recognizer_with_meta(checkpoint, device)
    names = meta.get("data", {}).get("class_names")
    if names:
        ms = ms.relabel(names)
    if subjects:
        ms = ms.select(subjects=list(subjects))
        if not len(ms):
            raise ValueError(f"no samples of subjects {list(subjects)}")
    return model, meta, Preprocess.from_dict(meta.get("preprocess"))(ms)
