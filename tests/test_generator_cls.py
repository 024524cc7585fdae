"""The generator's auxiliary classification head and loss (refinement option, off by default)."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from infagenc.data.demo import make_demo
from infagenc.models.cvae import CVAE, CVAEConfig, SequenceClassifier
from infagenc.train.checkpoint import load_checkpoint, save_checkpoint
from infagenc.train.generator import GeneratorConfig, GeneratorTrainer, build_generator, load_generator

TINY = CVAEConfig(num_layers=1, d_model=32, num_heads=2, ff_size=64, dropout=0.1)


@pytest.fixture(scope="module")
def demo():
    return make_demo(num_subjects=1, per_class=2, seed=0, min_len=10, max_len=14)


def cfg(**kw) -> GeneratorConfig:
    return GeneratorConfig(**{"cvae": TINY, "batch_size": 4, "epochs": 2, "device": "cpu", "lr": 1e-3, **kw})


def test_defaults_off_and_the_head_leaves_the_other_weights_alone(demo):
    d = GeneratorConfig()
    assert (d.lambda_cls, d.cls_label_smoothing) == (0.0, 0.1)
    with pytest.raises(ValueError, match="cls_label_smoothing"):
        GeneratorConfig(cls_label_smoothing=1.0)
    with pytest.raises(ValueError, match="loss weights"):
        GeneratorConfig(lambda_cls=-1.0)
    plain = GeneratorTrainer.from_motionset(demo, cfg())
    head = GeneratorTrainer.from_motionset(demo, cfg(lambda_cls=1.0))
    assert plain.model.cls_head is None and isinstance(head.model.cls_head, SequenceClassifier)
    ps, hs = plain.model.state_dict(), head.model.state_dict()
    assert set(hs) - set(ps) == {k for k in hs if k.startswith("cls_head.")} != set()
    for k, v in ps.items():
        torch.testing.assert_close(hs[k], v, rtol=0, atol=0, msg=k)
    with pytest.raises(ValueError, match="needs a model with the classification head"):
        GeneratorTrainer(plain.model, cfg(lambda_cls=1.0), plain.spec)


def test_logits_ignore_padding():
    torch.manual_seed(0)
    m = CVAE(3, 4, 6, TINY, cls_head=True).eval()
    x = torch.randn(2, 5, 4, 6)
    a = m.cls_head(x, torch.tensor([3, 5]))
    x2 = x.clone()
    x2[0, 3:] = 100.0
    torch.testing.assert_close(m.cls_head(x2, torch.tensor([3, 5])), a)
    out = m(x, torch.tensor([0, 2]), torch.tensor([3, 5]), use_mean=True)
    torch.testing.assert_close(out["logits"], m.cls_head(out["output"], torch.tensor([3, 5])))


def test_the_loss_is_in_the_history_and_changes_training(demo):
    plain = GeneratorTrainer.from_motionset(demo, cfg())
    aux = GeneratorTrainer.from_motionset(demo, cfg(lambda_cls=2.0))
    rp, ra = plain.train_epoch(plain.tensors(demo)), aux.train_epoch(aux.tensors(demo))
    assert "cls" not in rp and ra["cls"] > 0
    # the total is the weighted sum, the classification term included
    assert ra["total"] == pytest.approx(ra["rec"] + ra["pos"] + 0.001 * ra["vel"] + ra["kl"] + 2.0 * ra["cls"],
                                        rel=1e-5)
    # its gradient reaches the decoder: the same seed trains different decoder weights
    dp, da = plain.model.state_dict(), aux.model.state_dict()
    assert not torch.allclose(dp["final.weight"], da["final.weight"])
    # and training lowers it
    ts = aux.tensors(demo)
    before = aux.evaluate(ts)["cls"]
    for _ in range(25):
        aux.train_epoch(ts)
    assert aux.evaluate(ts)["cls"] < before


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_label_smoothing_is_the_configured_one(demo, smoothing):
    tr = GeneratorTrainer.from_motionset(demo, cfg(lambda_cls=1.0, cls_label_smoothing=smoothing))
    ts = tr.tensors(demo)
    got = tr.evaluate(ts, batch_size=len(ts))["cls"]
    tr.model.eval()
    with torch.no_grad():
        logits = tr.model(ts.x, ts.labels, ts.lengths, use_mean=True)["logits"]
    logp = F.log_softmax(logits, -1)
    nll = -logp.gather(1, ts.labels[:, None])[:, 0]
    want = ((1 - smoothing) * nll - smoothing * logp.mean(-1)).mean()  # smoothing spread over all K classes
    assert got == pytest.approx(float(want), rel=1e-5)


def test_checkpoints_with_and_without_the_head_load(demo, tmp_path):
    aux = GeneratorTrainer.from_motionset(demo, cfg(lambda_cls=1.0))
    aux.fit(demo, epochs=1, progress=False)
    model, _, meta = load_generator(aux.save(tmp_path / "aux.pt"), device="cpu")
    assert model.cls_head is not None and meta["config"]["lambda_cls"] == 1.0
    ts = aux.tensors(demo)
    aux.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(ts.x, ts.labels, ts.lengths, use_mean=True)["logits"],
                                   aux.model(ts.x, ts.labels, ts.lengths, use_mean=True)["logits"])
    assert GeneratorTrainer.load(tmp_path / "aux.pt", device="cpu").history == aux.history
    # a checkpoint of an older version: no head, no lambda_cls / cls_label_smoothing in its config
    plain = GeneratorTrainer.from_motionset(demo, cfg())
    obj = load_checkpoint(plain.save(tmp_path / "plain.pt"))
    for k in ("lambda_cls", "cls_label_smoothing"):
        del obj["meta"]["config"][k]
    save_checkpoint(tmp_path / "old.pt", obj["state_dict"], obj["meta"], obj.get("optimizer"))
    old, _, _ = load_generator(tmp_path / "old.pt", device="cpu")
    assert old.cls_head is None
    resumed = GeneratorTrainer.load(tmp_path / "old.pt", device="cpu")
    assert resumed.cfg.lambda_cls == 0 and "cls" not in resumed.train_epoch(resumed.tensors(demo))
    assert build_generator(plain.spec, TINY, 0).cls_head is None


def test_cli_cls_weight(demo, tmp_path, capsys):
    from infagenc.cli import main

    data = demo.save(tmp_path / "train.npz")
    assert main(["generator", "train", "--data", str(data), "--size", "slim", "--epochs", "1", "--batch-size", "4",
                 "--out", str(tmp_path / "run"), "--no-progress", "--cls-weight", "0.5",
                 "--cls-label-smoothing", "0.2"]) == 0
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    conf = json.loads((tmp_path / "run" / "config.json").read_text())["generator"]
    assert "cls" in hist[0] and (conf["lambda_cls"], conf["cls_label_smoothing"]) == (0.5, 0.2)
