"""Data-parallel recognizer training (infagenc.train.distributed): the 1-process no-op path,
the batch split, precision choice, and a tiny 2-process CPU run (gloo) against the 1-process run.

What is exact and what is not (measured here, ST-GCN slim, 8 samples, global batch 3, so every
epoch ends on an uneven batch of 2):

* the union of the ranks' slices is the 1-process batch (same seeded order, contiguous slices);
* the gradient of a step is the 1-process one up to float summation order (fp32: within
  1e-5 relative of the largest gradient of a tensor), with ``sync_bn`` and augmentation;
* in float64 the weights after 6 Adam steps agree to 1e-9;
* in fp32 they agree only to a few 1e-3 after 6 steps: the biases right before a batch
  norm have a true gradient of 0, Adam normalises their rounding-noise gradients into steps
  of about ``lr`` in either direction, and the rest follows; the training losses agree to 1e-3;
* the ranks' weights are bit-identical (one all-reduced gradient, one optimizer);
* without ``sync_bn`` batch-norm statistics are per rank (a different function of the batch);
  dropout masks are drawn per rank (the dropout-free model is compared).
"""
from __future__ import annotations

import json
import os

import pytest
import torch
from torch import distributed as dist

from infagenc.data.demo import make_demo
from infagenc.data.preprocess import fixed_length, root_relative
from infagenc.train import distributed as D
from infagenc.train.augment import AugmentConfig
from infagenc.train.batching import TensorSet, to_tensors
from infagenc.train.device import resolve_precision
from infagenc.train.recognizer import RecognizerConfig, RecognizerTrainer, new_recognizer
from ranks import spawn_ranks

WORLD = 2
TIMEOUT_S = 240


def _data():
    ms = make_demo(num_subjects=2, per_class=1, seed=0, rep="xyz", min_len=20, max_len=30)
    return fixed_length(root_relative(ms), 12)


def _trainer(ms, **kw) -> RecognizerTrainer:
    cfg = RecognizerConfig(**{"model": "stgcn", "size": "slim", "batch_size": 3, "seed": 0, "device": "cpu",
                              "epochs": 2, "model_options": {"dropout": 0.0}, **kw})
    return RecognizerTrainer(new_recognizer(cfg, ms.layout, ms.channels, ms.num_classes), cfg)


def _first_grads(ms) -> dict:
    """The gradients of the first step (lr 0, one global batch of all 8 samples)."""
    t = _trainer(ms, lr=0.0, batch_size=8, epochs=1, sync_bn=True)
    t.data_info = {"rep": ms.rep}
    t.train_epoch(to_tensors(ms))
    return {k: p.grad.clone() for k, p in t.model.named_parameters()}


def _float64_weights(ms) -> dict:
    """Weights after 2 epochs (6 steps) of a float64 copy of the model on float64 data."""
    t = _trainer(ms, sync_bn=True)
    t.model.double()
    t.data_info = {"rep": ms.rep}
    ts = to_tensors(ms)
    ts = TensorSet(ts.x.double(), ts.lengths, ts.labels)
    for _ in range(2):
        t.train_epoch(ts)
    return {k: v.clone() for k, v in t.model.state_dict().items()}


def _runs(ms) -> dict:
    """Everything compared, computed the same way in one process and on each rank."""
    out = {"grads": _first_grads(ms), "float64": _float64_weights(ms)}
    for name, kw in {"sync_aug": {"sync_bn": True, "augment": AugmentConfig.moderate(jitter=0.02)},
                     "per_rank_bn": {}}.items():
        t = _trainer(ms, **kw)
        t.fit(ms, progress=False)
        out[name] = ({k: v.clone() for k, v in t.model.state_dict().items()}, t.history)
    return out


def _worker(rank: int, folder: str) -> dict:
    from infagenc.workflows.recognizer import train_run

    ms = _data()
    res = {"info": D.info().to_dict(), "shard": D.shard(torch.arange(5)).tolist(), **_runs(ms)}
    cfg = RecognizerConfig(model="stgcn", size="slim", epochs=1, batch_size=4, seed=0, device="cpu", sync_bn=True)
    res["summary"] = train_run(ms, cfg, os.path.join(folder, "run"), progress=False)
    try:
        _trainer(ms, batch_size=1).fit(ms, progress=False)
    except ValueError as e:
        res["refused"] = str(e)
    return res


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """Results of the 2-process run (spawned, gloo on CPU) and of the same in this process."""
    folder = tmp_path_factory.mktemp("ddp")
    return spawn_ranks(_worker, folder, WORLD, TIMEOUT_S), _runs(_data()), folder


def _timeless(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


def _max_diff(a: dict, b: dict, keys=None) -> float:
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in (keys or a))


# ------------------------------------------------------------------ one process
def test_part_of_splits_a_batch_into_contiguous_slices_in_rank_order():
    for n in range(0, 12):
        for w in range(1, 5):
            parts = [list(range(n))[D.part_of(n, w, r)] for r in range(w)]
            assert sum(parts, []) == list(range(n))
            assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_without_torchrun_everything_is_a_no_op(monkeypatch):
    for v in D.ENV_VARS:
        monkeypatch.delenv(v, raising=False)
    assert D.init_from_env("cpu") == D.DistInfo() and not dist.is_initialized()
    idx = torch.arange(7)
    assert D.is_main() and D.world_size() == 1 and D.rank() == 0 and D.shard(idx) is idx
    assert D.shard_slice(7) == slice(0, 7) and D.all_sum([1.0, 2.0]) == [1.0, 2.0]
    D.barrier()
    D.cleanup()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert D.init_from_env("cpu") == D.DistInfo() and not dist.is_initialized()  # torchrun with 1 process
    assert D.rank_device("cpu") == torch.device("cpu")


def test_precision_and_execution_record_on_cpu():
    cpu = torch.device("cpu")
    assert resolve_precision(cpu, "auto") == "fp32" and resolve_precision(cpu, "bf16") == "bf16"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision(cpu, "fp16")
    assert D.execution_info("cpu", "auto") == {"world_size": 1, "backend": None, "device": "cpu",
                                               "precision": "fp32", "tf32": False, "sync_bn": False}
    assert RecognizerConfig(precision="auto").precision == "auto"


def test_the_inference_batch_is_chosen_for_the_device_unless_given():
    from infagenc.train.device import inference_batch_size

    assert inference_batch_size(None, "cpu") == 16 and inference_batch_size(None, torch.device("cpu")) == 16
    assert inference_batch_size(None, torch.device("cuda", 0)) == 64  # a device name; no GPU needed
    assert inference_batch_size(7, "cpu") == 7 and inference_batch_size(128, "cuda") == 128
    with pytest.raises(ValueError, match="inference batch must be >= 1"):
        inference_batch_size(0, "cpu")
    assert RecognizerConfig().eval_batch_size is None and RecognizerConfig(eval_batch_size=8).eval_batch_size == 8
    with pytest.raises(ValueError, match="eval_batch_size >= 1"):
        RecognizerConfig(eval_batch_size=0)


def test_predictions_do_not_depend_on_the_inference_batch():
    import numpy as np

    from infagenc.skeleton.layouts import get_layout
    from infagenc.models.registry import build_recognizer
    from infagenc.train.inference import predict
    from infagenc.train.batching import TensorSet

    torch.manual_seed(0)
    layout = get_layout("kinect20")
    model = build_recognizer("stgcn", layout, 3, 4, size="slim")
    x = torch.randn(37, 12, layout.num_joints, 3)
    ts = TensorSet(x, torch.full((37,), 12), torch.zeros(37, dtype=torch.long))
    a, b, c = (predict(model, ts, batch_size=bs) for bs in (None, 5, 64))
    np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)
    np.testing.assert_allclose(a.probs, c.probs, atol=1e-5)
    assert (a.pred == c.pred).all()


def test_cpu_sync_batchnorm_is_batchnorm_in_one_process():
    ms = _data()
    a, b = _trainer(ms).model, _trainer(ms).model
    D.convert_sync_batchnorm(b, torch.device("cpu"))
    assert any(isinstance(m, D.CpuSyncBatchNorm) for m in b.modules())
    assert list(a.state_dict()) == list(b.state_dict())
    x = to_tensors(ms)
    a.train(), b.train()
    assert torch.equal(a(x.x, x.lengths), b(x.x, x.lengths))
    assert all(torch.equal(u, v) for u, v in zip(a.state_dict().values(), b.state_dict().values()))


def test_sync_bn_in_one_process_changes_nothing():
    ms = _data()
    a, b = _trainer(ms), _trainer(ms, sync_bn=True)
    a.fit(ms, progress=False), b.fit(ms, progress=False)
    assert _timeless(a.history) == _timeless(b.history) and _max_diff(a.model.state_dict(), b.model.state_dict()) == 0


# ---------------------------------------------------------------- two processes
def test_two_ranks_split_every_batch_and_agree_bit_for_bit(two_ranks):
    ranks, _, _ = two_ranks
    assert [r["info"]["world_size"] for r in ranks] == [2, 2] and ranks[0]["info"]["backend"] == "gloo"
    assert ranks[0]["shard"] + ranks[1]["shard"] == [0, 1, 2, 3, 4]
    for name in ("sync_aug", "per_rank_bn"):
        assert _max_diff(ranks[0][name][0], ranks[1][name][0]) == 0
        assert _timeless(ranks[0][name][1]) == _timeless(ranks[1][name][1])  # all-reduced epoch statistics


def test_two_ranks_compute_the_one_process_gradient(two_ranks):
    ranks, one, _ = two_ranks
    for k, g in one["grads"].items():
        scale = float(g.abs().max())
        assert float((ranks[0]["grads"][k] - g).abs().max()) <= 1e-5 * scale + 1e-6, k


def test_two_ranks_train_the_one_process_weights_within_tolerance(two_ranks):
    ranks, one, _ = two_ranks
    assert _max_diff(ranks[0]["float64"], one["float64"]) < 1e-9
    weights, hist = ranks[0]["sync_aug"]
    params = [k for k in weights if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert _max_diff(weights, one["sync_aug"][0], params) < 2e-2  # 6 Adam steps of lr 1e-3, see above
    assert [h["acc"] for h in hist] == [h["acc"] for h in one["sync_aug"][1]]
    for h, g in zip(hist, one["sync_aug"][1]):
        assert abs(h["loss"] - g["loss"]) < 1e-3


def test_rank_0_alone_writes_the_run_folder(two_ranks):
    ranks, _, folder = two_ranks
    assert all("smaller than the 2 ranks" in r.get("refused", "") for r in ranks)  # batch 1 over 2 ranks
    assert ranks[1]["summary"] == {"rank": 1, "epochs": 1}
    assert ranks[0]["summary"]["epochs"] == 1 and (folder / "run" / "recognizer.pt").is_file()
    ex = json.loads((folder / "run" / "config.json").read_text())["execution"]
    assert ex == {"world_size": 2, "backend": "gloo", "device": "cpu", "precision": "fp32", "tf32": False,
                  "sync_bn": True}
