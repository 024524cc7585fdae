"""The restricted unpickler: plain data and numpy arrays load; anything that could run code is
refused before it is called."""
from __future__ import annotations

import builtins
import collections
import os
import pickle

import numpy as np
import pytest
from reader_fixtures import pyskl_doc, write_pickle

from infagenc.data import DataError
from infagenc.data.readers import read
from infagenc.data.safe_pickle import UnsafePickleError, safe_load, safe_loads


class _Call:
    """Pickles as a call of ``fn(*args)``: what a malicious dataset file would carry."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def test_payload_is_live_under_plain_pickle(tmp_path):
    """Control: the payload used below really runs under pickle.load (so the refusals mean something)."""
    marker = tmp_path / "plain_ran"
    pickle.loads(pickle.dumps(_Call(builtins.open, str(marker), "w")))
    assert marker.exists()


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_open_payload_refused_and_nothing_runs(tmp_path, protocol):
    marker = tmp_path / "marker"
    path = write_pickle(tmp_path / "evil.pkl", None)
    path.write_bytes(pickle.dumps({"annotations": [_Call(builtins.open, str(marker), "w")]}, protocol=protocol))
    with pytest.raises(UnsafePickleError, match=r"refers to (io|_io|builtins)\.open.*nothing was run") as err:
        safe_load(path)
    assert err.value.file == str(path)
    assert not marker.exists()


def test_os_system_payload_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "system_ran"
    data = pickle.dumps([{"frame_dir": "x", "pose": _Call(os.system, f"touch {marker}")}])
    with pytest.raises(UnsafePickleError, match=r"refers to (posix|nt|os)\.system"):
        safe_loads(data, "evil.pkl")
    assert not marker.exists()


def test_eval_and_numpy_functions_refused(tmp_path):
    marker = tmp_path / "eval_ran"
    code = f"open({str(marker)!r}, 'w')"
    with pytest.raises(UnsafePickleError, match="builtins.eval"):
        safe_loads(pickle.dumps(_Call(eval, code)))
    with pytest.raises(UnsafePickleError, match="numpy.*load"):
        safe_loads(pickle.dumps(_Call(np.load, str(marker))))
    assert not marker.exists()


def test_readers_refuse_a_poisoned_dataset(tmp_path):
    """A genuine-looking PYSKL file with one poisoned entry: the reader stops, naming the file."""
    marker = tmp_path / "reader_ran"
    doc = pyskl_doc(3)
    doc["annotations"][1]["img_shape"] = _Call(builtins.open, str(marker), "w")
    path = write_pickle(tmp_path / "ntu60_poisoned.pkl", doc)
    for on_bad in ("error", "skip"):
        with pytest.raises(DataError, match="refused to load") as err:
            read(path, on_bad=on_bad, progress=False)
        assert err.value.file == str(path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_data_and_numpy_load(tmp_path, protocol):
    obj = {
        "split": {"train": ["a", "b"]},
        "arrays": [np.arange(6, dtype=np.float32).reshape(2, 3), np.array(["x", "yz"]), np.zeros((0, 2), np.int64),
                   np.array([True, False]), np.arange(4.0)[::2]],
        "scalars": (np.float32(1.5), np.int64(7), 3, 2.5, None, b"bytes", complex(1, 2)),
        "containers": collections.OrderedDict(a={1, 2}, b=frozenset({3})),
        "dtype": np.dtype("float16"),
    }
    back = safe_loads(pickle.dumps(obj, protocol=protocol))
    for a, b in zip(obj["arrays"], back["arrays"]):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    assert back["scalars"] == obj["scalars"] and back["containers"] == obj["containers"]
    assert back["dtype"] == np.dtype("float16")


def test_persistent_ids_and_truncation(tmp_path):
    class _P(pickle.Pickler):
        def persistent_id(self, obj):
            return "ext" if obj == "secret" else None

    import io

    buf = io.BytesIO()
    _P(buf).dump(["secret"])
    with pytest.raises(UnsafePickleError, match="persistent ids"):
        safe_loads(buf.getvalue())
    data = pickle.dumps({"a": np.arange(10)})
    with pytest.raises(DataError, match="truncated/corrupt") as err:
        safe_loads(data[: len(data) // 2], "half.pkl")
    assert not isinstance(err.value, UnsafePickleError) and err.value.file == "half.pkl"
