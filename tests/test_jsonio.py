"""Results files are strict JSON: NaN and infinite values are written as null."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from infagenc.jsonio import read_json, write_json
from infagenc.metrics.stats import Summary


def _strict(text: str):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_nan_and_inf_are_written_as_null(tmp_path):
    obj = {
        "nan": math.nan, "inf": math.inf, "ninf": -math.inf, "ok": 0.5,
        "nested": [1.0, {"deep": [math.nan, (2.0, math.inf)]}],
        "numpy": {"f32": np.float32("nan"), "f64": np.float64(-np.inf), "i": np.int64(3), "b": np.bool_(True),
                  "arr": np.array([[1.0, np.nan], [np.inf, 2.0]]), "iarr": np.arange(3)},
    }
    path = write_json(tmp_path / "r.json", obj)
    back = _strict(path.read_text())
    assert back == {
        "nan": None, "inf": None, "ninf": None, "ok": 0.5,
        "nested": [1.0, {"deep": [None, [2.0, None]]}],
        "numpy": {"f32": None, "f64": None, "i": 3, "b": True, "arr": [[1.0, None], [None, 2.0]], "iarr": [0, 1, 2]},
    }
    assert read_json(path) == back
    with pytest.raises(ValueError, match="non-standard JSON constant NaN"):
        _strict(json.dumps({"x": math.nan}))  # the check itself: what the old files held


def test_summary_of_one_seed_has_null_spread(tmp_path):
    s = Summary.from_values([0.8]).to_dict()
    assert math.isnan(s["std"]) and math.isnan(s["ci95"])
    back = _strict(write_json(tmp_path / "s.json", {"overall": s}).read_text())
    assert back["overall"] == {"mean": 0.8, "ci95": None, "ci95_t": None, "std": None, "R": 1, "values": [0.8]}
