"""ST-GCN and MS-G3D modules: shapes for every layout and channel count, padding, T = 1,
sizes, options, rebuild from the description."""
from __future__ import annotations

import json

import pytest
import torch

from infagenc.models.registry import build_from_spec, build_recognizer, recognizer_config
from infagenc.skeleton.layouts import get_layout, list_layouts
from infagenc.train.device import autocast

MODELS = ("stgcn", "msg3d")


def make(name, layout="ntu25", c=3, k=5, size="slim", seed=0, **kw):
    torch.manual_seed(seed)
    return build_recognizer(name, layout, c, k, size=size, **kw)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("layout", list_layouts())
def test_shapes_every_layout_and_channel_count(name, layout):
    v = get_layout(layout).num_joints
    for c in (2, 3, 6):
        m = make(name, layout, c, k=4).eval()
        x = torch.randn(2, 5, v, c)
        with torch.no_grad():
            f = m.features(x)
            logits = m(x)
        assert f.shape == (2, m.feature_dim)
        assert logits.shape == (2, 4)
        torch.testing.assert_close(m.head(f), logits)


@pytest.mark.parametrize("name,dim", [("stgcn", 256), ("msg3d", 384)])
def test_paper_size_feature_dim(name, dim):
    m = make(name, "kinect20", 3, 10, size="paper").eval()
    assert m.feature_dim == dim
    with torch.no_grad():
        assert m.features(torch.randn(1, 4, 20, 3)).shape == (1, dim)


def test_paper_stgcn_architecture():
    m = make("stgcn", size="paper")
    assert [(b.tcn.out_channels, b.stride) for b in m.blocks] == \
        [(64, 1)] * 4 + [(128, 2), (128, 1), (128, 1), (256, 2), (256, 1), (256, 1)]
    assert all(b.tcn.kernel_size == (9, 1) for b in m.blocks)
    assert m.blocks[0].residual is None and m.blocks[1].residual is not None
    assert m.A.shape == (3, 25, 25)
    assert all(p.requires_grad and p.shape == (3, 25, 25) for p in m.edge_importance)
    assert isinstance(m.data_bn, torch.nn.BatchNorm1d) and m.data_bn.num_features == 25 * 3


def test_slim_is_smaller():
    for name in MODELS:
        paper = sum(p.numel() for p in make(name, size="paper").parameters())
        slim = sum(p.numel() for p in make(name, size="slim").parameters())
        assert slim < paper / 4


@pytest.mark.parametrize("name", MODELS)
def test_padding_frames_do_not_change_features(name):
    m = make(name, "ntu25", 3).eval()
    torch.manual_seed(1)
    lengths = torch.tensor([13, 7, 20, 1])
    x = torch.randn(4, 20, 25, 3) * 5  # padding frames hold garbage, not zeros
    with torch.no_grad():
        padded = m.features(x, lengths)
        for i, n in enumerate(lengths.tolist()):
            alone = m.features(x[i:i + 1, :n])
            torch.testing.assert_close(padded[i:i + 1], alone, rtol=1e-4, atol=1e-5)
        # and the padding content is irrelevant
        y = x.clone()
        y[0, 13:] = 0
        torch.testing.assert_close(m.features(y, lengths), padded)


@pytest.mark.parametrize("name", MODELS)
def test_single_frame_inputs_train_and_infer(name):
    m = make(name, "coco17", 2, 4)
    x = torch.randn(3, 1, 17, 2)
    loss = torch.nn.functional.cross_entropy(m(x), torch.tensor([0, 1, 2]))
    loss.backward()
    assert all(p.grad is not None for p in m.head.parameters())
    m.eval()
    with torch.no_grad():
        assert m(x[:1]).shape == (1, 4)


@pytest.mark.parametrize("name", MODELS)
def test_bf16_autocast_forward(name):
    m = make(name).eval()
    with torch.no_grad(), autocast(torch.device("cpu"), "bf16"):
        out = m(torch.randn(2, 6, 25, 3))
    assert out.shape == (2, 5) and torch.isfinite(out.float()).all()


def test_wrong_input_shapes_refused():
    m = make("stgcn", "ntu25", 3)
    with pytest.raises(ValueError, match="25 joints"):
        m(torch.randn(1, 4, 20, 3))
    with pytest.raises(ValueError, match="3 channels"):
        m(torch.randn(1, 4, 25, 6))
    with pytest.raises(ValueError, match="lengths"):
        m(torch.randn(2, 4, 25, 3), torch.tensor([5, 2]))


def test_options_and_errors():
    orig = make("stgcn", partition="spatial_original")
    assert orig.config.partition == "spatial_original"
    assert not torch.equal(orig.A, make("stgcn").A)
    assert recognizer_config("msg3d", "paper").windows == ((3, 1), (3, 2))
    assert recognizer_config("msg3d", "paper", windows=((3, 1), (5, 1))).windows == ((3, 1), (5, 1))
    with pytest.raises(ValueError, match="unknown options"):
        make("stgcn", kernel=3)
    with pytest.raises(ValueError, match="unknown recognizer"):
        make("resnet")
    with pytest.raises(ValueError, match="size"):
        make("stgcn", size="huge")
    with pytest.raises(ValueError, match="divisible"):
        make("msg3d", channels=(50, 96, 192))


@pytest.mark.parametrize("name", MODELS)
def test_rebuild_from_spec(name):
    m = make(name, "h36m17", 6, 3, dropout=0.1) if name == "stgcn" else make(name, "h36m17", 6, 3)
    spec = json.loads(json.dumps(m.spec()))  # it is what checkpoints store
    m2 = build_from_spec(spec)
    m2.load_state_dict(m.state_dict())
    m.eval(), m2.eval()
    x = torch.randn(2, 5, 17, 6)
    with torch.no_grad():
        torch.testing.assert_close(m(x), m2(x))
    assert m2.config == m.config


@pytest.mark.parametrize("name", MODELS)
def test_head_dropout_acts_in_training_only(name):
    kw = {"dropout": 0.0} if name == "stgcn" else {}
    m = make(name, "ntu25", 3, head_dropout=0.5, **kw)
    plain = make(name, "ntu25", 3, **kw)
    assert m.config.head_dropout == 0.5 and plain.config.head_dropout == 0.0
    assert m.state_dict().keys() == plain.state_dict().keys()  # no weights: older checkpoints load
    x = torch.randn(4, 6, 25, 3)
    m.eval()
    with torch.no_grad():
        torch.testing.assert_close(m(x), m.head(m.features(x)))  # identity in eval mode
    m.train()
    torch.manual_seed(0)
    with torch.no_grad():
        f = m.features(x)
        assert not torch.allclose(m(x), m.head(f))  # dropped in train mode
    # a description written before the option rebuilds a model without head dropout
    spec = plain.spec()
    del spec["config"]["head_dropout"]
    assert build_from_spec(spec).config.head_dropout == 0.0
    assert build_from_spec(m.spec()).config.head_dropout == 0.5
    with pytest.raises(ValueError, match="head_dropout"):
        make(name, head_dropout=1.0)
