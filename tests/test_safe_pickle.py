"""The restricted unpickler: plain data and numpy arrays load; anything that could run code is
refused before it is called."""
from __future__ import annotations

import builtins
import collections
import os
import pickle

import numpy as np
import pytest
from reader_fixtures import child_env, pyskl_doc, write_pickle
from timeouts import scaled

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


# ------------------------------------------------------------ crafted numpy state
def _dtype(spec, state):
    return _Build(np.dtype, (spec, False, True), state)


def _array(shape, dt, raw):
    from numpy._core.multiarray import _reconstruct

    return _Build(_reconstruct, (np.ndarray, (0,), b"b"), (1, shape, dt, False, raw))


class _Build:
    """Pickles as ``fn(*args)`` followed by ``BUILD`` with ``state``: numpy's form of arrays and dtypes."""

    def __init__(self, fn, args, state=None):
        self.fn, self.args, self.state = fn, args, state

    def __reduce__(self):
        return (self.fn, self.args) if self.state is None else (self.fn, self.args, self.state)


def _crafted() -> dict[str, bytes]:
    import codecs

    from numpy._core.multiarray import scalar

    plain = (3, "|", None, None, None, -1, -1, 0)
    payloads = {
        # an object dtype whose flags the state clears: numpy then reads pointers from the file
        "object_dtype_flags_cleared": _array((2,), _dtype("O8", plain), b"A" * 16),
        "object_scalar": _Build(scalar, (_dtype("O8", plain), b"A" * 8)),
        # a float dtype whose state sets the object flags
        "float_dtype_object_flags": _array((2,), _dtype("f8", (3, "<", None, None, None, -1, -1, 63)), b"A" * 16),
        "structured_dtype_state": _array((1,), _dtype("V8", (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)},
                                                             8, 1, 63)), b"A" * 8),
        "subarray_spec": _array((1,), _dtype("(2,)f8", plain), b"A" * 16),
        "object_array_from_list": _Build(_array((2,), np.dtype("f8"), b"").fn, (np.ndarray, (0,), b"b"),
                                         (1, (2,), np.dtype("O"), False, [1, 2])),
        "bad_codec": _Build(codecs.encode, ("abc", "no-such-codec")),
        "zlib_codec": _Build(codecs.encode, ("abc", "zlib")),
    }
    out = {k: pickle.dumps(v, protocol=4) for k, v in payloads.items()}
    out["bad_codec_protocol2"] = pickle.dumps(_Build(codecs.encode, ("abc", "rot13")), protocol=2)
    # a dtype whose state is set again after an array was made with it (the array's item size would change)
    out["dtype_rebuilt_after_use"] = (
        b"(cnumpy\ndtype\n(VU2\nI00\nI01\ntRp0\n(I3\nV<\nNNNI8\nI4\nI8\ntb"
        b"cnumpy._core.multiarray\n_reconstruct\n(cnumpy\nndarray\n(I0\ntVb\ntR(I1\n(I2\ntg0\nI00\n"
        b"Vxxxxxxxxxxxxxxxx\ntbg0\n(I3\nV<\nNNNI400000\nI4\nI8\ntbt.")
    return out


_RUN_EACH = """
import sys
from pathlib import Path
from infagenc.data import DataError
from infagenc.data.safe_pickle import safe_load
for p in sorted(Path(sys.argv[1]).glob("*.pkl")):
    try:
        safe_load(p)
        print(p.stem, "loaded")
    except DataError as e:
        print(p.stem, type(e).__name__, e.file == str(p), e.reason.replace(chr(10), " "))
    except Exception as e:
        print(p.stem, "OTHER", type(e).__name__, e)
    sys.stdout.flush()
"""


def _load_each_in_subprocess(folder) -> dict[str, str]:
    """safe_load every pickle of ``folder`` in a child process, so that a crash fails the test."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", _RUN_EACH, str(folder)], capture_output=True, text=True, timeout=scaled(120),
                       env=child_env())
    assert r.returncode == 0, f"the unpickler crashed (returncode {r.returncode}):\n{r.stdout}\n{r.stderr[-2000:]}"
    return dict(line.split(" ", 1) for line in r.stdout.splitlines())


def test_crafted_numpy_state_is_refused_without_crash(tmp_path):
    for name, data in _crafted().items():
        (tmp_path / f"{name}.pkl").write_bytes(data)
    got = _load_each_in_subprocess(tmp_path)
    assert set(got) == set(_crafted())
    for name, line in got.items():
        assert line.startswith("UnsafePickleError True refused to load"), (name, line)
    assert "codec 'no-such-codec'" in got["bad_codec"] and "codec 'rot13'" in got["bad_codec_protocol2"]
    assert "numpy.dtype('O8')" in got["object_dtype_flags_cleared"]
    assert "sets the state of a" in got["dtype_rebuilt_after_use"]


def test_numpy_pickles_of_plain_arrays_still_load(tmp_path):
    """What numpy writes for plain arrays (every plain kind, both byte orders, C and Fortran
    order, empty, protocols 0-5) loads unchanged."""
    arrays = [np.arange(6).astype(dt).reshape(2, 3) for dt in ("<i2", ">i4", "u1", "<u8", "<f2", ">f4", "<f8",
                                                                   "<c8", ">c16", "?")]
    arrays += [np.array(["a", "bcd"]), np.array(["a", "bcd"], dtype=">U3"), np.array([b"x", b"yz"]),
               np.asfortranarray(np.arange(6.0).reshape(2, 3)), np.zeros((0, 3), np.float32),
               np.arange(10.0)[::3], np.longdouble(1.5) * np.ones(2)]
    scalars = [np.float32(1.5), np.int8(-3), np.bool_(True), np.str_("é"), np.bytes_(b"ab"), np.complex64(1j)]
    for protocol in range(6):
        data = pickle.dumps((arrays, scalars, [a.dtype for a in arrays]), protocol=protocol)
        back, plain = safe_loads(data), pickle.loads(data)  # exactly what numpy's own loading gives
        for a, b, c in zip(arrays, back[0], plain[0]):
            np.testing.assert_array_equal(a, b)
            assert b.dtype.str == c.dtype.str and b.flags.writeable == c.flags.writeable
            assert b.flags.f_contiguous == c.flags.f_contiguous
        assert back[1] == scalars and [type(s) for s in back[1]] == [type(s) for s in scalars]
        assert [d.str for d in back[2]] == [a.dtype.str for a in arrays]


@pytest.mark.parametrize("case", ["reconstruct_shape", "ndarray_without_data", "bytes_of_size", "bytearray_of_size",
                                  "declared_bytearray8"])
def test_declared_sizes_without_data_are_refused(case):
    """A 100-byte pickle declaring a 2.3 GB array (or bytes) allocates nothing: numpy's forms
    are admitted only with the data in the file."""
    from numpy._core.multiarray import _reconstruct

    n = 2_300_000_000
    data = {
        "reconstruct_shape": lambda: pickle.dumps(_Build(_reconstruct, (np.ndarray, (n,), b"b")), protocol=4),
        "ndarray_without_data": lambda: pickle.dumps(_Build(np.ndarray, ((n,), "u1")), protocol=4),
        "bytes_of_size": lambda: pickle.dumps(_Build(bytes, (n,)), protocol=4),
        "bytearray_of_size": lambda: pickle.dumps(_Build(bytearray, (n,)), protocol=4),
        "declared_bytearray8": lambda: b"\x80\x05\x96" + n.to_bytes(8, "little") + b"xx.",
    }[case]()
    assert len(data) < 150
    with pytest.raises(DataError) as err:
        safe_loads(data, "big.pkl")
    assert err.value.file == "big.pkl"
