"""The files the PYSKL writer makes, pushed through MMAction2's own PoseDataset, stock skeleton
pipelines and ST-GCN backbone (the extra ``interop``: ``pip install -e ".[interop]"``).

Skipped with the reason when MMAction2 is absent. MMAction2 1.2.0's ``PoseDataset`` and pose
transforms import without torchvision (checked below). Its ``mmaction.models`` package does
not import from the registry's wheel (``mmaction/models/localizers/drn`` is missing from it),
so the ST-GCN checks import the backbone module after that failed package import (its
submodules stay importable), and skip with the reason if even that fails. Transforms are
given as objects: ``register_all_modules()`` imports ``mmaction.models`` too.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
from test_interop import NTU_NAMES, _kinect20_set, _sized_coco, ntu_folder

from infagenc.data import MotionSet
from infagenc.data.readers.coco import read_coco
from infagenc.data.readers.ntu import read_ntu
from infagenc.data.readers.pyskl import write_pyskl
from infagenc.data.safe_pickle import safe_load

pytest.importorskip("mmaction", reason="MMAction2 is not installed (pip install -e '.[interop]')")
tf = pytest.importorskip("mmaction.datasets.transforms", reason="mmaction.datasets.transforms does not import")
from mmaction.datasets import PoseDataset  # noqa: E402

CLIP = 12


def _stgcn():
    try:
        import mmaction.models  # noqa: F401
    except ImportError:
        pass  # 1.2.0's wheel: mmaction.models.localizers.drn is missing; the backbones are imported by then
    try:
        from mmaction.models.backbones.stgcn import STGCN
    except ImportError as e:
        pytest.skip(f"MMAction2's ST-GCN backbone does not import here: {e}")
    return STGCN


def _pipeline(dataset: str, feats=("j",), two_d: bool = False, prenorm: bool = True) -> list:
    """MMAction2's stock skeleton pipeline (configs/skeleton/stgcn), test mode."""
    first = ([tf.PreNormalize2D()] if two_d else [tf.PreNormalize3D()]) if prenorm else []
    return first + [tf.GenSkeFeat(dataset=dataset, feats=list(feats)),
                    tf.UniformSampleFrames(clip_len=CLIP, num_clips=1, test_mode=True), tf.PoseDecode(),
                    tf.FormatGCNInput(num_person=2), tf.PackActionInputs()]


def _items(path, split: str, pipeline: list) -> list[dict]:
    ds = PoseDataset(str(path), pipeline, split=split, test_mode=True)
    return [ds[i] for i in range(len(ds))]


def _forward(graph, x) -> tuple:
    """ST-GCN (the stock ``stgcn_spatial`` mode) on a batch (N, M, T, V, C)."""
    import torch

    net = _stgcn()(graph_cfg=dict(layout=graph, mode="stgcn_spatial"), in_channels=x.shape[-1],
                   base_channels=8, num_stages=2, inflate_stages=[], down_stages=[])
    with torch.no_grad():
        return tuple(net(torch.as_tensor(x, dtype=torch.float32)).shape)


def test_poseDataset_imports_without_torchvision():
    assert "torchvision" not in sys.modules


def test_ntu_3d_file_through_the_stock_3d_pipelines(tmp_path):
    ms = read_ntu(ntu_folder(tmp_path)[0], progress=False)
    path = write_pyskl(ms, tmp_path / "ntu.pkl")
    for feats in (["j"], ["b"], ["j", "b"]):
        items = _items(path, "xsub_train", _pipeline("nturgb+d", feats))
        assert [it["data_samples"].gt_label.item() for it in items] == [57, 57]  # A058, as PYSKL's own files
        for it in items:
            x = it["inputs"].numpy()
            assert x.shape == (1, 2, CLIP, 25, 3 * len(feats)) and np.isfinite(x).all()
    two = _items(path, "xview_val", _pipeline("nturgb+d"))[0]["inputs"].numpy()
    assert np.abs(two[0, 1]).sum() > 0  # the second person of the two-person action is there
    one = _items(path, "xsub_val", _pipeline("nturgb+d"))[0]["inputs"].numpy()
    assert not one[0, 1].any()  # a one-person sample: the second slot is FormatGCNInput's padding
    scored = write_pyskl(ms, tmp_path / "scored.pkl", scores=True)  # why 3D scores are off by default:
    with pytest.raises(AssertionError):
        _items(scored, "xsub_train", _pipeline("nturgb+d"))  # GenSkeFeat refuses them for nturgb+d
    batch = np.stack([_items(path, "xsub_train", _pipeline("nturgb+d"))[0]["inputs"].numpy()[0]] * 2)
    assert _forward(safe_load(path)["graph"], batch)[:2] == (2, 2)


def test_coco_2d_file_is_normalised_by_its_own_image_shape(tmp_path):
    path, sizes = _sized_coco(tmp_path)
    ms = read_coco(path)
    kp = ms.data[:, 0].copy()
    out = write_pyskl(ms, tmp_path / "syrip.pkl")
    items = _items(out, "all", _pipeline("coco", two_d=True))
    for i, (it, (w, h)) in enumerate(zip(items, sizes)):
        x = it["inputs"].numpy()
        assert x.shape == (1, 2, CLIP, 17, 3)
        labelled = ms.conf[i, 0] > 0
        np.testing.assert_allclose(x[0, 0, 0, labelled, 0], kp[i, labelled, 0] / (w / 2) - 1, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(x[0, 0, 0, labelled, 1], kp[i, labelled, 1] / (h / 2) - 1, rtol=1e-5, atol=1e-5)
        assert (x[0, 0, :, labelled, :2] >= -1).all() and (x[0, 0, :, labelled, :2] <= 1).all()
        assert x[..., 2].min() >= 0 and x[..., 2].max() <= 1  # the score channel
    for feats in (["b"], ["j", "b"]):
        x = _items(out, "all", _pipeline("coco", feats, two_d=True))[0]["inputs"].numpy()
        assert x.shape == (1, 2, CLIP, 17, 3 * len(feats))
    assert _forward(safe_load(out)["graph"], np.stack([items[0]["inputs"].numpy()[0]] * 2))[:2] == (2, 2)


def test_kinect20_export_takes_the_ntu_graph_and_bones(tmp_path):
    path = write_pyskl(_kinect20_set(persons=2), tmp_path / "utk.pkl", to_layout="ntu25")
    items = _items(path, "all", _pipeline("nturgb+d", ["j", "b"]))
    x = items[0]["inputs"].numpy()
    assert x.shape == (1, 2, CLIP, 25, 6) and np.isfinite(x).all()
    assert _forward("nturgb+d", np.stack([it["inputs"].numpy()[0, ..., :3] for it in items]))[:2] == (2, 2)


@pytest.mark.parametrize("layout", ["smpl24", "infant14", "kinect20", "minirgbd14"])
def test_other_layouts_train_with_the_graph_description(tmp_path, layout):
    from infagenc.skeleton.layouts import get_layout

    v = get_layout(layout).num_joints
    rng = np.random.default_rng(1)
    ms = MotionSet(rng.normal(0, 0.2, (2, 9, v, 3)).astype(np.float32) + 1, [9, 7], [0, 1], ["a", "b"], ["s1", "s2"],
                   ["n1", "n2"], layout, "xyz")
    path = write_pyskl(ms, tmp_path / f"{layout}.pkl")
    graph = safe_load(path)["graph"]
    assert isinstance(graph, dict) and graph["num_node"] == v
    items = _items(path, "all", _pipeline("nturgb+d", prenorm=False))  # joints only: no stock bone pairs for it
    x = np.stack([it["inputs"].numpy()[0] for it in items])
    assert x.shape == (2, 2, CLIP, v, 3)
    assert _forward(graph, x)[:2] == (2, 2)


def test_the_stock_graphs_are_our_layouts():
    _stgcn()
    from mmaction.models.utils.graph import Graph

    from infagenc.skeleton.layouts import get_layout

    for name, stock in (("ntu25", "nturgb+d"), ("coco17", "coco")):
        lay, g = get_layout(name), Graph(layout=stock)
        assert g.num_node == lay.num_joints and g.center == lay.center
        assert sorted(map(sorted, g.inward)) == sorted(map(sorted, lay.edges))


def test_real_ntu_and_syrip_through_the_stock_pipelines(shared_data, tmp_path):
    from conftest import need

    ntu = write_pyskl(read_ntu(need(shared_data / "ntu_samples"), progress=False), tmp_path / "ntu.pkl")
    items = _items(ntu, "xview_train", _pipeline("nturgb+d", ["j", "b"])) + _items(ntu, "xview_val", _pipeline(
        "nturgb+d", ["j", "b"]))
    assert len(items) == 6 and all(it["inputs"].shape == (1, 2, CLIP, 25, 6) for it in items)
    assert sorted(it["data_samples"].gt_label.item() for it in items) == [0, 2, 10, 16, 33, 57]
    ms = read_coco(need(shared_data / "syrip" / "2d_gt" / "validate500.json"))
    items = _items(write_pyskl(ms, tmp_path / "syrip.pkl"), "all", _pipeline("coco", two_d=True))
    x = np.stack([it["inputs"].numpy()[0, 0, 0] for it in items])  # (N, V, 3): x, y, score
    labelled = x[..., 2] > 0
    assert x[..., 2].max() <= 1 and np.abs(x[labelled][:, :2]).max() <= 1.0  # inside each image: [-1, 1]
