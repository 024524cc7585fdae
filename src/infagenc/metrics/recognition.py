"""Recognition accuracy tables from arrays: overall, per class, per subject, confusion matrix.

Pure functions of label / prediction arrays (no models, no training). A
:class:`RecognitionReport` bundles the tables of one evaluation with the name of the
split it was measured on (``test`` for held-out subjects; a report on training data says
``train``), and renders them as a JSON-ready dict or Markdown tables (the paper's
Tables 3-6 layout: one row per class / subject).

Conventions: ``confusion[i, j]`` counts samples of true class ``i`` predicted as ``j``;
the accuracy of a class or subject without samples is NaN in arrays and ``null`` in JSON;
``mean_class_accuracy`` averages the classes that have samples.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["accuracy", "confusion_matrix", "per_class_accuracy", "per_group_accuracy", "per_group_class_accuracy",
           "RecognitionReport"]


def _check(labels, pred) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    pred = np.asarray(pred, dtype=np.int64).reshape(-1)
    if labels.shape != pred.shape:
        raise ValueError(f"labels and predictions differ in length: {labels.shape[0]} vs {pred.shape[0]}")
    if labels.size and labels.min() < 0:
        raise ValueError("accuracy needs labelled samples (labels >= 0)")
    return labels, pred


def accuracy(labels, pred) -> float:
    """Fraction of correct predictions (NaN for no samples)."""
    labels, pred = _check(labels, pred)
    return float((labels == pred).mean()) if labels.size else math.nan


def confusion_matrix(labels, pred, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts, rows = true class, columns = predicted class."""
    labels, pred = _check(labels, pred)
    if labels.size and (max(labels.max(), pred.max()) >= num_classes or pred.min() < 0):
        raise ValueError(f"labels / predictions outside 0..{num_classes - 1}")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (labels, pred), 1)
    return cm


def per_class_accuracy(labels, pred, num_classes: int) -> np.ndarray:
    """(K,) accuracy of each true class (recall); NaN where a class has no samples."""
    cm = confusion_matrix(labels, pred, num_classes)
    n = cm.sum(axis=1)
    return np.divide(np.diag(cm), n, out=np.full(num_classes, np.nan), where=n > 0)


def _groups(labels, pred, groups):
    """(labels, pred, [(group, mask), ...] sorted by group) for a per-sample group array."""
    labels, pred = _check(labels, pred)
    groups = np.asarray(groups).astype(str).reshape(-1)
    if groups.shape != labels.shape:
        raise ValueError(f"{groups.shape[0]} groups for {labels.shape[0]} samples")
    return labels, pred, [(g, groups == g) for g in sorted(set(groups.tolist()))]


def per_group_accuracy(labels, pred, groups) -> dict[str, tuple[float, int]]:
    """{group: (accuracy, number of samples)} for a per-sample group array (e.g. subjects), sorted by group."""
    labels, pred, masks = _groups(labels, pred, groups)
    return {g: (float((labels[m] == pred[m]).mean()), int(m.sum())) for g, m in masks}


def per_group_class_accuracy(labels, pred, groups, num_classes: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{group: ((K,) accuracy per true class, (K,) samples per class)} for a per-sample
    group array (e.g. subjects: the paper's per-subject x class Tables 5/6), sorted by
    group; NaN where a group has no sample of a class."""
    labels, pred, masks = _groups(labels, pred, groups)
    out = {}
    for g, m in masks:
        cm = confusion_matrix(labels[m], pred[m], num_classes)
        n = cm.sum(axis=1)
        out[g] = (np.divide(np.diag(cm), n, out=np.full(num_classes, np.nan), where=n > 0), n)
    return out


def _nan_to_none(x: float) -> float | None:
    return None if isinstance(x, float) and math.isnan(x) else x


def _fmt(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


@dataclass
class RecognitionReport:
    """Accuracy tables of one evaluation (accuracies in 0..1)."""

    split: str
    class_names: tuple[str, ...]
    overall: float
    mean_class_accuracy: float
    per_class: np.ndarray  # (K,) NaN where no samples
    class_counts: np.ndarray  # (K,) samples per true class
    per_subject: dict[str, tuple[float, int]]
    confusion: np.ndarray  # (K, K)
    # subject -> ((K,) accuracy, NaN where none; (K,) samples); None when not recorded (older reports)
    per_subject_class: dict[str, tuple[np.ndarray, np.ndarray]] | None = None

    @property
    def num_samples(self) -> int:
        return int(self.confusion.sum())

    @classmethod
    def from_arrays(cls, labels, pred, class_names: Sequence[str], subjects=None,
                    split: str = "test") -> "RecognitionReport":
        labels, pred = _check(labels, pred)
        k = len(class_names)
        cm = confusion_matrix(labels, pred, k)
        pc = per_class_accuracy(labels, pred, k)
        present = ~np.isnan(pc)
        subjects = np.full(labels.shape, "", dtype=str) if subjects is None else subjects
        return cls(split, tuple(str(c) for c in class_names), accuracy(labels, pred),
                   float(pc[present].mean()) if present.any() else math.nan, pc, cm.sum(axis=1),
                   per_group_accuracy(labels, pred, subjects), cm,
                   per_group_class_accuracy(labels, pred, subjects, k))

    # -------------------------------------------------------------------- output
    def to_dict(self) -> dict:
        return {
            "split": self.split,
            "samples": self.num_samples,
            "overall_accuracy": _nan_to_none(self.overall),
            "mean_class_accuracy": _nan_to_none(self.mean_class_accuracy),
            "class_names": list(self.class_names),
            "per_class": [{"class": c, "samples": int(n), "accuracy": _nan_to_none(float(a))}
                          for c, n, a in zip(self.class_names, self.class_counts, self.per_class)],
            "per_subject": [{"subject": s, "samples": n, "accuracy": a} for s, (a, n) in self.per_subject.items()],
            "confusion": self.confusion.tolist(),
            **({} if self.per_subject_class is None else {"per_subject_class": [
                {"subject": s, "samples": n.tolist(), "accuracy": [_nan_to_none(float(a)) for a in acc]}
                for s, (acc, n) in self.per_subject_class.items()]}),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "RecognitionReport":
        nan = lambda v: math.nan if v is None else float(v)  # noqa: E731
        return cls(d["split"], tuple(d["class_names"]), nan(d["overall_accuracy"]), nan(d["mean_class_accuracy"]),
                   np.array([nan(r["accuracy"]) for r in d["per_class"]]),
                   np.array([r["samples"] for r in d["per_class"]], dtype=np.int64),
                   {r["subject"]: (float(r["accuracy"]), int(r["samples"])) for r in d["per_subject"]},
                   np.asarray(d["confusion"], dtype=np.int64),
                   None if "per_subject_class" not in d else
                   {r["subject"]: (np.array([nan(a) for a in r["accuracy"]]), np.asarray(r["samples"], dtype=np.int64))
                    for r in d["per_subject_class"]})

    def save_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    def to_markdown(self) -> str:
        """Overall line, then per-class, per-subject and confusion tables (accuracies in %)."""
        lines = [f"**{self.split}**: {self.num_samples} samples, overall accuracy {_fmt(self.overall)}%, "
                 f"mean class accuracy {_fmt(self.mean_class_accuracy)}%", "",
                 "| class | samples | accuracy (%) |", "|---|---:|---:|"]
        lines += [f"| {c} | {n} | {_fmt(float(a))} |"
                  for c, n, a in zip(self.class_names, self.class_counts, self.per_class)]
        lines += ["", "| subject | samples | accuracy (%) |", "|---|---:|---:|"]
        lines += [f"| {s} | {n} | {_fmt(a)} |" for s, (a, n) in self.per_subject.items()]
        lines += ["", "Confusion (rows: true class, columns: predicted)", "",
                  "| true \\ pred | " + " | ".join(self.class_names) + " |",
                  "|---|" + "---:|" * len(self.class_names)]
        lines += [f"| {c} | " + " | ".join(str(int(v)) for v in row) + " |"
                  for c, row in zip(self.class_names, self.confusion)]
        return "\n".join(lines) + "\n"
