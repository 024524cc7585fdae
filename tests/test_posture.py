"""The single-frame posture model (models/posture.py) and its hierarchical head, and the label
hierarchy file and reports (train/hierarchy.py)."""
from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from infagenc.config import ConfigError
from infagenc.data.motionset import MotionSet
from infagenc.models.posture import FrameEncoder, HierarchicalHead, PostureConfig
from infagenc.models.registry import RECOGNIZERS, build_from_spec, build_recognizer
from infagenc.skeleton.layouts import Layout
from infagenc.train.hierarchy import Hierarchy, hierarchy_report, load_hierarchy, reports_from_predictions
from infagenc.train.recognizer import RecognizerConfig, RecognizerTrainer, new_recognizer
from infagenc.train.batching import to_tensors

from conftest import REPO

SYRIP_TOML = REPO / "examples" / "hierarchies" / "syrip.toml"
POSTURES = ("Prone", "Supine", "Sitting", "Standing")


def make(layout="coco17", c=2, k=4, seed=0, **kw):
    torch.manual_seed(seed)
    return build_recognizer("posture", layout, c, k, size="slim", **kw)


# ---------------------------------------------------------------------------- model
@pytest.mark.parametrize("kind", ["mlp", "gcn"])
def test_shapes_and_head_of_features(kind):
    m = make(kind=kind, hidden=(32, 16)).eval()
    x = torch.randn(5, 1, 17, 2)
    with torch.no_grad():
        f = m.features(x)
        assert f.shape == (5, 16) and m.feature_dim == 16
        torch.testing.assert_close(m.head(f), m(x))
    assert "posture" in RECOGNIZERS and "posture_fusion" in RECOGNIZERS


def test_frames_are_encoded_alone_and_averaged():
    # not a sequence model: features of T frames = mean of each true frame's own features,
    # whatever the frame order and whatever the padding holds
    m = make(layout="infant14", c=3, kind="gcn").eval()
    torch.manual_seed(1)
    x = torch.randn(3, 4, 14, 3)
    lengths = torch.tensor([4, 2, 1])
    with torch.no_grad():
        f = m.features(x, lengths)
        for i, n in enumerate(lengths.tolist()):
            alone = torch.stack([m.features(x[i:i + 1, t:t + 1])[0] for t in range(n)]).mean(0)
            torch.testing.assert_close(f[i], alone, rtol=1e-5, atol=1e-6)
        y = x.clone()
        y[1, 2:] = 1e3
        y[0] = y[0, [3, 1, 0, 2]]
        torch.testing.assert_close(m.features(y, lengths), f, rtol=1e-5, atol=1e-6)


def test_gcn_adjacency_is_row_normalised_with_self_loops():
    chain = Layout("chain3", ("a", "b", "c"), (-1, 0, 1), 0)
    enc = FrameEncoder(chain, 2, PostureConfig(kind="gcn", gcn_channels=(4,), hidden=(8,)))
    expected = torch.tensor([[1 / 2, 1 / 2, 0], [1 / 3, 1 / 3, 1 / 3], [0, 1 / 2, 1 / 2]])
    torch.testing.assert_close(enc.A, expected)
    assert enc.mlp[0].in_features == 3 * 4  # joints flattened after the graph layers (identity kept)


def test_hierarchical_head_feeds_the_coarse_logits_to_the_fine_classifier():
    head = HierarchicalHead(3, 4, (0, 0, 1, 1))
    assert head.fine.weight.shape == (4, 3 + 2) and head.coarse.weight.shape == (2, 3)
    f = torch.randn(6, 3)
    c = f @ head.coarse.weight.T + head.coarse.bias
    fine = f @ head.fine.weight[:, :3].T + c @ head.fine.weight[:, 3:].T + head.fine.bias
    with torch.no_grad():
        torch.testing.assert_close(head(f), fine)
        head.fine.weight[:, 3:] += 1.0  # the coarse logits matter to the fine output
        assert not torch.allclose(head(f), fine)


def test_fine_head_input_includes_the_coarse_logits_by_gradient():
    # the fine logits depend on the coarse logits (not a detached copy): the fine loss alone puts a
    # gradient on the coarse layer, and d fine / d coarse logits is the fine layer's coarse block
    torch.manual_seed(0)
    head = HierarchicalHead(3, 4, (0, 0, 1, 1))
    f = torch.randn(6, 3)
    c, fine = head.both(f)
    (g,) = torch.autograd.grad(fine[:, 2].sum(), c, retain_graph=True)
    torch.testing.assert_close(g, head.fine.weight[2, 3:].detach().expand(6, 2))
    F.cross_entropy(fine, torch.tensor([0, 1, 2, 3, 0, 1])).backward()
    assert head.coarse.weight.grad is not None and float(head.coarse.weight.grad.abs().sum()) > 0
    # through the full model too: the fine output's gradient reaches the coarse head's weights
    m = make(coarse_of=(0, 0, 1, 1), coarse_names=("lying", "upright")).train()
    m(torch.randn(4, 1, 17, 2)).sum().backward()
    assert float(m.head.coarse.weight.grad.abs().sum()) > 0


def _known_coarse(model, coarse_bias):
    """Coarse logits = coarse_bias for every sample (weights zeroed)."""
    with torch.no_grad():
        model.head.coarse.weight.zero_()
        model.head.coarse.bias.copy_(torch.tensor(coarse_bias))


def test_auxiliary_loss_hand_computed():
    m = make(coarse_of=(0, 0, 1, 1), coarse_names=("lying", "upright"), coarse_weight=2.0).train()
    _known_coarse(m, [0.0, math.log(3.0)])  # softmax = (1/4, 3/4)
    y = torch.tensor([0, 1, 2, 3])  # coarse 0, 0, 1, 1
    m(torch.randn(4, 1, 17, 2))
    loss = m.auxiliary_loss(y)
    expected = 2.0 * (2 * -math.log(1 / 4) + 2 * -math.log(3 / 4)) / 4
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-6)
    m(torch.randn(4, 1, 17, 2))
    w = torch.tensor([1.0, 0.0, 0.0, 3.0])
    assert float(m.auxiliary_loss(y, w).detach()) == pytest.approx(2.0 * (-math.log(1 / 4) + 3 * -math.log(3 / 4)) / 4,
                                                         rel=1e-6)
    with pytest.raises(RuntimeError, match="forward on this batch first"):
        m.auxiliary_loss(y)  # taken once, then cleared
    m.eval()
    with torch.no_grad():
        m(torch.randn(4, 1, 17, 2))
    assert m.head.last_coarse is None  # inference keeps nothing


def test_a_model_mid_training_can_be_copied():
    # the kept coarse logits belong to an autograd graph (not deep-copyable): copies leave them out
    m = make(coarse_of=(0, 0, 1, 1), coarse_names=("lying", "upright")).train()
    m(torch.randn(4, 1, 17, 2))
    c = copy.deepcopy(m)
    assert c.head.last_coarse is None and m.head.last_coarse is not None
    torch.testing.assert_close(c.state_dict()["head.coarse.weight"], m.state_dict()["head.coarse.weight"])


def test_flat_model_adds_nothing():
    m = make().train()
    m(torch.randn(4, 1, 17, 2))
    assert float(m.auxiliary_loss(torch.tensor([0, 1, 2, 3]))) == 0.0
    with pytest.raises(ValueError, match="flat head has no coarse logits"):
        m.coarse_logits(torch.randn(2, m.feature_dim))


@pytest.mark.parametrize("kw, message", [
    ({"kind": "lstm"}, "kind must be one of"),
    ({"hidden": ()}, "hidden must be one or more"),
    ({"dropout": 1.0}, "dropout and head_dropout"),
    ({"coarse_names": ("a",)}, "coarse_names without coarse_of"),
    ({"coarse_of": (0, 2), "coarse_names": ("a", "b")}, "must index coarse_names"),
    ({"coarse_of": (0, 0), "coarse_names": ("a", "b")}, "without a fine class: \\['b'\\]"),
    ({"coarse_weight": -1.0}, "coarse_weight must be >= 0"),
])
def test_bad_options_are_one_line_errors(kw, message):
    with pytest.raises(ValueError, match=message) as e:
        make(k=2, **kw)
    assert "\n" not in str(e.value)


def test_coarse_of_must_cover_every_class():
    with pytest.raises(ValueError, match="coarse_of has 2 entries for 4 classes"):
        make(coarse_of=(0, 1), coarse_names=("a", "b"))


def test_rebuilt_from_its_json_description():
    m = make(kind="gcn", coarse_of=[0, 0, 1, 1], coarse_names=["lying", "upright"]).eval()
    spec = json.loads(json.dumps(m.spec()))
    r = build_from_spec(spec).eval()
    r.load_state_dict(m.state_dict())
    x = torch.randn(3, 1, 17, 2)
    with torch.no_grad():
        torch.testing.assert_close(r(x), m(x))
    assert isinstance(r.head, HierarchicalHead) and r.config == m.config


# ---------------------------------------------------------------- training through the hook
def toy_postures(n_per=12, seed=0, layout="coco17", c=2) -> MotionSet:
    """Four 'postures': the joints pushed along +x, -x, +y, -y, plus noise."""
    rng = np.random.default_rng(seed)
    v = 17 if layout == "coco17" else 14
    dirs = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]], np.float32)[:, :c]
    xs, ys = [], []
    for k in range(4):
        base = rng.normal(size=(v, c)).astype(np.float32) * 0.3
        for _ in range(n_per):
            xs.append(base + dirs[k] * np.linspace(0, 2, v)[:, None] + rng.normal(size=(v, c)) * 0.2)
            ys.append(k)
    n = len(xs)
    return MotionSet(np.stack(xs)[:, None], np.ones(n), ys, POSTURES, [f"s{i}" for i in range(n)],
                     [f"img{i}.jpg" for i in range(n)], layout, "xy" if c == 2 else "xyz")


def test_trainer_adds_exactly_the_coarse_term():
    # one batch of the whole set, lr 0, no dropout: the recorded loss is fine CE + w x coarse CE
    ms = toy_postures(4)
    opts = {"coarse_of": (0, 0, 1, 1), "coarse_names": ("lying", "upright"), "coarse_weight": 0.7, "dropout": 0.0}
    cfg = RecognizerConfig(model="posture", size="slim", epochs=1, batch_size=len(ms), lr=0.0, model_options=opts)
    model = new_recognizer(cfg, ms.layout, ms.channels, ms.num_classes)
    before = copy.deepcopy(model).train()
    rec = RecognizerTrainer(model, cfg).fit(ms, progress=False)[0]
    ts = to_tensors(ms)
    x, lengths, y = ts.batch(torch.arange(len(ms)))
    with torch.no_grad():
        coarse, fine = before.head.both(before.features(x, lengths))
    expected = F.cross_entropy(fine, y) + 0.7 * F.cross_entropy(coarse, torch.tensor([0, 0, 1, 1])[y])
    assert rec["loss"] == pytest.approx(float(expected), rel=1e-5)
    assert rec["loss"] > float(F.cross_entropy(fine, y)) + 0.1  # the term is there


def test_hierarchical_posture_model_learns_the_toy_postures():
    ms = toy_postures(12)
    opts = load_hierarchy(SYRIP_TOML).model_options(ms.class_names)
    cfg = RecognizerConfig(model="posture", size="slim", epochs=25, batch_size=16, model_options=opts)
    trainer = RecognizerTrainer(new_recognizer(cfg, ms.layout, ms.channels, ms.num_classes), cfg)
    trainer.fit(ms, progress=False)
    rep = hierarchy_report(trainer.model, toy_postures(6, seed=1), load_hierarchy(SYRIP_TOML))
    assert rep.fine.overall >= 0.9 and rep.coarse_head is not None and rep.coarse_head.overall >= 0.9
    assert rep.coarse.class_names == ("lying", "upright") and rep.agreement >= 0.9


# ------------------------------------------------------------------------ hierarchy file
def test_syrip_hierarchy_file():
    h = load_hierarchy(SYRIP_TOML)
    assert h.coarse_names == ("lying", "upright")
    assert h.for_classes(POSTURES) == ((0, 0, 1, 1), ("lying", "upright"))
    assert h.for_classes(("Standing", "Prone")) == ((1, 0), ("lying", "upright"))
    assert h.model_options(("Sitting", "Standing")) == {"coarse_of": [0, 0], "coarse_names": ["upright"],
                                                        "coarse_weight": 1.0}


def test_twelve_fine_classes_under_four(tmp_path):
    fine = {c: [f"{c.lower()}_{i}" for i in range(3)] for c in POSTURES}
    text = "[coarse]\n" + "".join(f"{c} = {json.dumps(v)}\n" for c, v in fine.items())
    (tmp_path / "aims.toml").write_text(text, encoding="utf-8")
    h = load_hierarchy(tmp_path / "aims.toml")
    names = [f for v in fine.values() for f in v]
    coarse_of, coarse = h.for_classes(names)
    assert coarse == POSTURES and coarse_of == (0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3)
    m = make(k=12, **h.model_options(names))
    assert m.head.coarse.out_features == 4 and m.head.fine.out_features == 12


@pytest.mark.parametrize("text, message", [
    ('[coarse]\na = ["x", "y"]\nb = ["y"]\n', "'y' is under both 'a' and 'b'"),
    ('[coarse]\na = []\n', "needs a name and one or more fine classes"),
    ('[coarse]\na = "x"\n', "must list its fine classes"),
    ('coarse = 3\n', "needs a \\[coarse\\] table"),
    ('[coarse]\na = ["x"]\n[loss]\nw = 1\n', "unknown key\\(s\\) \\['loss'\\]"),
    ('[coarse\n', "not a valid config file"),
])
def test_bad_hierarchy_files(tmp_path, text, message):
    p = tmp_path / "h.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as e:
        load_hierarchy(p)
    assert str(p) in str(e.value)


def test_a_data_class_without_a_coarse_class_is_named():
    with pytest.raises(ConfigError, match="data classes \\['Crawling'\\] have no coarse class"):
        load_hierarchy(SYRIP_TOML).for_classes(("Prone", "Crawling"))


def test_reports_hand_computed():
    ms = toy_postures(1)  # labels 0, 1, 2, 3
    ms = MotionSet.concat([ms, ms])  # labels 0 1 2 3 0 1 2 3
    pred = np.array([0, 0, 2, 2, 1, 3, 3, 0])  # fine right: 0, 2 -> 2 of 8
    coarse_head = np.array([0, 0, 1, 1, 1, 0, 1, 0])
    rep = reports_from_predictions(Hierarchy.from_dict({"coarse": {"lying": ["Prone", "Supine"],
                                                                   "upright": ["Sitting", "Standing"]}}),
                                   ms, pred, coarse_head)
    assert rep.fine.overall == pytest.approx(2 / 8)
    # true coarse 0 0 1 1 0 0 1 1; fine mapped 0 0 1 1 0 1 1 0 -> 6 of 8
    assert rep.coarse_from_fine.overall == pytest.approx(6 / 8)
    np.testing.assert_allclose(rep.coarse_from_fine.per_class, [3 / 4, 3 / 4])
    # coarse head wrong at 4 and 7 -> 6 of 8, one wrong per coarse class; it differs from the mapped
    # fine prediction at 4 and 5 -> agreement 6 of 8
    assert rep.coarse_head.overall == pytest.approx(6 / 8)
    np.testing.assert_allclose(rep.coarse_head.per_class, [3 / 4, 3 / 4])
    assert rep.agreement == pytest.approx(6 / 8) and rep.coarse is rep.coarse_head
    flat = reports_from_predictions(load_hierarchy(SYRIP_TOML), ms, pred)
    assert flat.coarse_head is None and flat.coarse is flat.coarse_from_fine
    assert "Coarse classes (fine prediction mapped)" in flat.to_markdown()
