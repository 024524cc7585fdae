"""Size limits: a file's declared sizes are checked before anything is allocated, and a size
over the limit is refused with a DataError naming the file and saying how to raise it."""
from __future__ import annotations

import pickle
import tracemalloc
import zipfile

import numpy as np
import pytest
from reader_fixtures import motion, ntu_text, pyskl_doc, write_msr, write_pickle

from infagenc.data import DataError, limits
from infagenc.data.demo import make_demo
from infagenc.data.motionset import MotionSet
from infagenc.data.readers import read
from infagenc.data.readers.msr import read_msr
from infagenc.data.readers.ntu import read_ntu
from infagenc.data.readers.pyskl import read_pyskl
from infagenc.data.safe_pickle import safe_load, safe_loads


@pytest.fixture
def no_limit_settings(monkeypatch):
    monkeypatch.setattr(limits, "MAX_ARRAY_BYTES", None)
    monkeypatch.delenv(limits.ENV_VAR, raising=False)
    return monkeypatch


def _peak_mib(fn) -> tuple[object, float]:
    """fn()'s result (or the exception it raised) and the peak of traced allocations, MiB
    (numpy reports its array buffers to tracemalloc)."""
    tracemalloc.start()
    try:
        try:
            out = fn()
        except Exception as e:  # noqa: BLE001 - returned for the caller to check
            out = e
        return out, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


# ------------------------------------------------------------------ the limit
def test_limit_from_setting_environment_or_memory(no_limit_settings):
    mp = no_limit_settings
    avail = limits.available_memory()
    assert avail is None or limits.max_array_bytes() == int(avail * limits.DEFAULT_FRACTION)
    mp.setenv(limits.ENV_VAR, "3G")
    assert limits.max_array_bytes() == 3 * 2**30
    mp.setenv(limits.ENV_VAR, "123456")
    assert limits.max_array_bytes() == 123456
    mp.setattr(limits, "MAX_ARRAY_BYTES", 1000)  # the module setting comes first
    assert limits.max_array_bytes() == 1000
    mp.setattr(limits, "MAX_ARRAY_BYTES", None)
    mp.setenv(limits.ENV_VAR, "lots")
    with pytest.raises(ValueError, match="INFAGENC_MAX_ARRAY_BYTES"):
        limits.max_array_bytes()


def test_pickled_array_over_the_limit_is_refused(tmp_path, no_limit_settings):
    data = pickle.dumps({"a": np.zeros(300_000)}, protocol=4)  # 2.4 MB of array data
    path = tmp_path / "big.pkl"
    path.write_bytes(data)
    no_limit_settings.setenv(limits.ENV_VAR, "1M")
    expected = (r"array of shape \(300000,\) and dtype float64 needs 2\.3 MiB .*over the limit of 1\.0 MiB "
                r"\(\$INFAGENC_MAX_ARRAY_BYTES\).*INFAGENC_MAX_ARRAY_BYTES=")
    with pytest.raises(DataError, match=expected) as err:
        safe_loads(data, "big.pkl")
    assert err.value.file == "big.pkl"
    with pytest.raises(DataError, match="reading the pickle whole needs 2.3 MiB") as err:  # a file: checked first
        safe_load(path)
    assert err.value.file == str(path)
    no_limit_settings.setenv(limits.ENV_VAR, "4M")
    no_limit_settings.setattr(limits, "MAX_ARRAY_BYTES", 2**20)
    with pytest.raises(DataError, match=r"array of shape \(300000,\).*limits.MAX_ARRAY_BYTES\)"):
        safe_loads(data)
    no_limit_settings.setattr(limits, "MAX_ARRAY_BYTES", None)
    assert safe_load(path)["a"].shape == (300_000,)  # raised by the environment variable


def test_pyskl_reader_refuses_an_array_over_the_limit(tmp_path, no_limit_settings):
    doc = pyskl_doc(2, t=15)
    doc["annotations"][1]["keypoint"] = np.ones((1, 4000, 25, 3), np.float32)  # 1.2 MB
    doc["annotations"][1]["total_frames"] = 4000
    path = write_pickle(tmp_path / "p.pkl", doc)
    no_limit_settings.setattr(limits, "MAX_ARRAY_BYTES", 10**6)
    for on_bad in ("error", "skip"):
        with pytest.raises(DataError, match="over the limit") as err:
            read_pyskl(path, on_bad=on_bad, progress=False)
        assert err.value.file == str(path)
    no_limit_settings.setattr(limits, "MAX_ARRAY_BYTES", 10**8)
    assert read_pyskl(path, progress=False).lengths.tolist() == [15, 4000]


def test_padding_a_set_over_the_limit_is_refused(tmp_path, no_limit_settings):
    """One long sequence among short ones: padding them all would pass the limit."""
    rng = np.random.default_rng(0)
    for i in range(20):
        write_msr(tmp_path / f"a01_s{i + 1:02d}_e01_skeleton3D.txt", motion(rng, 3000 if i == 7 else 5, 20))
    no_limit_settings.setattr(limits, "MAX_ARRAY_BYTES", 2 * 10**6)  # 20 x 3000 x 20 x 4 x 4 bytes = 19 MB
    with pytest.raises(DataError, match=r"padding 20 sequences to the longest \(3000 frames\)") as err:
        read_msr(tmp_path, progress=False)
    assert err.value.file == str(tmp_path) and err.value.sample == "a01_s08_e01_skeleton3D"
    no_limit_settings.setattr(limits, "MAX_ARRAY_BYTES", None)
    assert len(read_msr(tmp_path, progress=False)) == 20


# ---------------------------------------------------------------- NTU text
def _empty_frames_file(path, frames: int) -> None:
    """A body in the first and the last frame, no body in the frames between (2 bytes each)."""
    rng = np.random.default_rng(1)
    body = ntu_text([[("72057594037944738", motion(rng, 1, 25)[0], np.full(25, 2))]]).split("\r\n")[1:-1]
    lines = [str(frames)] + body + ["0"] * (frames - 2) + body
    path.write_text("\n".join(lines) + "\n")


def test_ntu_frames_without_bodies_allocate_nothing_per_frame(tmp_path):
    """Old behaviour: every body got a (frames, 25, 4) float64 array: 80 MB for this 200 kB file."""
    f = tmp_path / "S001C001P001R001A001.skeleton"
    _empty_frames_file(f, 100_000)
    ms, peak = _peak_mib(lambda: read_ntu(f, progress=False))
    assert isinstance(ms, MotionSet) and ms.lengths.tolist() == [2], ms
    assert peak < 25, f"{peak:.0f} MiB traced"
    assert any("frames without any body (missing frames), dropped: 99998" in n for n in ms.notes)
    # the gap is planned on the frame indices: refused before the sequence is allocated
    ms, peak = _peak_mib(lambda: read_ntu(f, gaps="interpolate", on_bad="skip", progress=False))
    assert len(ms) == 0 and "longer than max_gap=15" in ms.exclusions[0].reason
    assert peak < 25, f"{peak:.0f} MiB traced"


def test_ntu_counts_beyond_the_file_are_corrupt(tmp_path):
    f = tmp_path / "S001C001P001R001A001.skeleton"
    f.write_text("2300000000\n0\n0\n")
    with pytest.raises(DataError, match="number of frames is 2300000000, impossible in a file of 15 bytes") as err:
        read_ntu(f, progress=False)
    assert err.value.file == str(f) and err.value.sample == f.stem
    f.write_text("1\n99999\n")
    with pytest.raises(DataError, match="number of bodies of frame 0 is 99999, impossible"):
        read_ntu(f, progress=False)


# ---------------------------------------------------------------------- npz
def test_npz_declaring_more_than_it_holds_is_refused_before_reading(tmp_path):
    ms = make_demo(num_subjects=1, per_class=1, seed=0, rep="xyz", min_len=4, max_len=5)
    good = ms.save(tmp_path / "good.npz")
    bad = tmp_path / "bad.npz"
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1, 24, 3), np.float32))
    header["shape"] = (100_000, 50, 24, 3)  # 1.4 GB declared
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "data.npy":
                import io

                buf = io.BytesIO()
                np.lib.format.write_array_header_1_0(buf, header)
                data = buf.getvalue() + b"\0" * 64
            zout.writestr(info.filename, data)
    out, peak = _peak_mib(lambda: read(bad))
    assert isinstance(out, DataError) and out.file == str(bad), out
    assert "declares 1440000000 bytes" in str(out)
    assert peak < 100, f"{peak:.0f} MiB traced"


def test_the_limit_message_says_how_to_raise_it():
    with pytest.raises(DataError) as err:
        limits.check_bytes(5 * 2**30, "an array", file="x.pkl", limit=2**30)
    msg = str(err.value)
    assert msg.startswith("x.pkl: an array needs 5.0 GiB") and "over the limit of 1.0 GiB" in msg
    assert "INFAGENC_MAX_ARRAY_BYTES=<bytes>" in msg and "infagenc.data.limits.MAX_ARRAY_BYTES" in msg
