"""Accuracy tables and the confusion-matrix picture, on hand-computed examples."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from infagenc.metrics.recognition import (
    RecognitionReport,
    accuracy,
    confusion_matrix,
    per_class_accuracy,
    per_group_accuracy,
)
from infagenc.viz.confusion import plot_confusion

LABELS = [0, 0, 1, 1, 2, 0]
PRED = [0, 1, 1, 1, 0, 0]
SUBJECTS = ["s2", "s1", "s1", "s2", "s2", "s1"]
CLASSES = ("a", "b", "c", "d")  # class d has no samples


def test_accuracy_and_confusion_by_hand():
    assert accuracy(LABELS, PRED) == pytest.approx(4 / 6)
    cm = confusion_matrix(LABELS, PRED, 4)
    assert cm.tolist() == [[2, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    pc = per_class_accuracy(LABELS, PRED, 4)
    assert pc[:3].tolist() == pytest.approx([2 / 3, 1.0, 0.0]) and math.isnan(pc[3])
    assert per_group_accuracy(LABELS, PRED, SUBJECTS) == {"s1": (pytest.approx(2 / 3), 3),
                                                          "s2": (pytest.approx(2 / 3), 3)}


def test_errors():
    with pytest.raises(ValueError, match="differ in length"):
        accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="labelled"):
        accuracy([-1], [0])
    assert math.isnan(accuracy([], []))


def test_report_tables_json_and_markdown(tmp_path):
    rep = RecognitionReport.from_arrays(LABELS, PRED, CLASSES, SUBJECTS, split="test")
    assert rep.num_samples == 6 and rep.overall == pytest.approx(4 / 6)
    assert rep.mean_class_accuracy == pytest.approx((2 / 3 + 1 + 0) / 3)  # class d is left out
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["per_class"][3] == {"class": "d", "samples": 0, "accuracy": None}
    assert d["per_subject"][0]["subject"] == "s1"
    back = RecognitionReport.from_dict(d)
    assert np.array_equal(back.confusion, rep.confusion) and back.per_subject == rep.per_subject
    md = rep.to_markdown()
    assert "overall accuracy 66.7%" in md and "| d | 0 | - |" in md and "| s2 | 3 | 66.7 |" in md
    path = rep.save_json(tmp_path / "r" / "report.json")
    assert json.loads(path.read_text())["split"] == "test"


def test_confusion_png(tmp_path):
    cm = confusion_matrix(LABELS, PRED, 4)
    path = plot_confusion(cm, CLASSES, tmp_path / "c.png", title="t")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    with pytest.raises(ValueError, match="3 classes"):
        plot_confusion(cm, CLASSES[:3], tmp_path / "x.png")
