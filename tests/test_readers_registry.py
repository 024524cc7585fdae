"""The format registry: detection, discovery, read/write dispatch and option checks."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import need
from reader_fixtures import (coco_doc, infact_clips, motion, pyskl_doc, write_json, write_minirgbd, write_msr,
                                   write_ntu, write_pickle, write_syrip3d, write_utkinect)

from infagenc.data import DataError
from infagenc.data.demo import make_demo
from infagenc.data.readers import FORMATS, discover, locate, read, reader_options, write


@pytest.fixture()
def tree(tmp_path):
    rng = np.random.default_rng(0)
    write_utkinect(tmp_path / "utk", {"s01_e01": [("walk", "10", "20")]})
    write_ntu(tmp_path / "ntu" / "S001C001P001R001A001.skeleton", [motion(rng, 5, 25)])
    write_ntu(tmp_path / "ntu" / "S001C001P002R001A002.skeleton", [motion(rng, 5, 25)])
    write_msr(tmp_path / "msr" / "a01_s01_e01_skeleton3D.txt", motion(rng, 4, 20))
    write_minirgbd(tmp_path / "mini" / "result_pz001.csv", np.round(rng.uniform(1, 99, size=(6, 14, 2))))
    write_json(tmp_path / "syrip" / "2d" / "train.json", coco_doc(["Prone", "Supine"]))
    write_syrip3d(tmp_path / "syrip" / "3d", rng.normal(size=(3, 14, 3)))
    write_pickle(tmp_path / "pk" / "primitive_train.pkl", infact_clips(3))
    write_pickle(tmp_path / "pk" / "ntu60.pkl", pyskl_doc(4))
    make_demo(num_subjects=1, per_class=1, seed=0, min_len=5, max_len=6).save(tmp_path / "demo.npz")
    (tmp_path / "README.txt").write_text("not data")
    (tmp_path / "ntu" / "notes.json").write_text("{}")
    return tmp_path


def test_discover_finds_every_dataset(tree):
    found = {(f, str(p.relative_to(tree))) for f, p in discover(tree)}
    assert found == {
        ("npz", "demo.npz"), ("minirgbd", "mini"), ("msr", "msr"), ("ntu", "ntu"),
        ("infact", "pk/primitive_train.pkl"), ("pyskl", "pk/ntu60.pkl"), ("coco", "syrip/2d/train.json"),
        ("syrip3d", "syrip/3d/correct_3D.npy"), ("utkinect", "utk"),
    }


def test_read_detects_each_format(tree):
    for fmt, path in discover(tree):
        assert locate(path) == (fmt, path)
        opts = {"progress": False} if "progress" in reader_options(fmt) else {}
        ms = read(path, **opts)
        assert len(ms) > 0, fmt
    assert len(read(tree / "ntu", progress=False)) == 2  # folder of one dataset (a stray .json is ignored)
    assert read(tree / "mini" / "result_pz001.csv", progress=False).subjects.tolist() == ["pz001"]


def test_read_refuses_ambiguous_folders_and_unknown_options(tree):
    with pytest.raises(DataError, match="holds 2 datasets.*pyskl.*ntu60.pkl.*infact.*primitive_train.pkl"):
        read(tree / "pk")
    with pytest.raises(ValueError, match="no option.*'bodys'.*bodies"):
        read(tree / "ntu", bodys="all")
    with pytest.raises(DataError, match="cannot tell the format"):
        read(tree / "README.txt")
    with pytest.raises(DataError, match="no such file"):
        read(tree / "missing")
    with pytest.raises(DataError, match="looks like an InfActPrimitive"):
        read(write_pickle(tree / "renamed.pkl", infact_clips(2)), progress=False)


def test_write_dispatch(tree, tmp_path):
    ms = make_demo(num_subjects=1, per_class=1, seed=0, rep="xyz", min_len=5, max_len=6)
    assert read(write(ms, tmp_path / "a.npz")).names.tolist() == ms.names.tolist()
    assert len(read(write(ms, tmp_path / "a.pkl"), progress=False)) == len(ms)
    assert write(ms, tmp_path / "b.data", format="pyskl").exists()
    with pytest.raises(ValueError, match="cannot tell the output format"):
        write(ms, tmp_path / "c.txt")
    with pytest.raises(ValueError, match="read-only"):
        write(ms, tmp_path / "c.json", format="coco")
    with pytest.raises(ValueError, match="no option"):
        write(ms, tmp_path / "d.npz", subject_split={"a": ["demo01"]})
    assert {f.name for f in FORMATS.values() if f.write} == {"npz", "pyskl"}


def test_discover_real_data(shared_data):
    found = {(f, str(p.relative_to(shared_data))) for f, p in discover(need(shared_data))}
    assert {("utkinect", "utkinect/joints"), ("ntu", "ntu_samples"), ("minirgbd", "minirgbd_2d/annotations"),
            ("coco", "syrip/2d_gt/train200.json"), ("coco", "syrip/2d_gt/validate500.json"),
            ("syrip3d", "syrip/3d/correct_3D.npy"), ("syrip3d", "syrip/3d/output_pose_3D.npy")} <= found
