"""Data-parallel generator training and sharded generation / scoring (torchrun, gloo on CPU), and a
tiny `infagenc run` on 2 processes; compared with the 1-process computation.

What is exact and what is not (measured here: 8 rot6d sequences of 12 frames, slim-shaped tiny
models with dropout 0, global batch 3, so every epoch ends on an uneven batch of 2):

* every random number of a step (the CVAE's reparameterisation noise; the diffusion steps, noise
  and class drop) is drawn for the global batch on every rank, so the step's gradient is the
  1-process one up to float summation order (within 1e-5 relative of the largest gradient of a
  tensor); the ranks' weights are bit-identical (one all-reduced gradient, one optimizer);
* in float64 the weights after 6 Adam steps agree to 1e-9; in fp32 only to a few 1e-3 (measured
  2.2e-3 for the CVAE): rounding differences of near-zero gradients are normalised by Adam into
  steps of about ``lr`` either way; the epoch losses agree to 1e-4 relative;
* sampling from a seed gives the 1-process samples (each rank decodes its part of the same
  latents / initial noise; the parts are gathered) to 1e-5; the critic's scores of a sharded set
  are the 1-process scores to 1e-5 and its predicted classes exactly;
* not compared: dropout masks (drawn per rank, so with dropout on the 2-process run is another
  draw) and per-frame means with sequences of unequal lengths (weighted per sample over ranks).
"""
from __future__ import annotations

import json
import os
import types

import pytest
import torch

from infagenc.data.demo import make_demo
from infagenc.data.preprocess import fixed_length
from infagenc.models.cvae import CVAEConfig
from infagenc.models.mdm import MDMConfig
from infagenc.runfolder import RunFolder
from infagenc.train import distributed as D
from infagenc.train.batching import TensorSet
from infagenc.train.diffusion import DiffusionConfig
from infagenc.train.generative import new_trainer
from infagenc.train.generator import GeneratorConfig
from infagenc.train.recognizer import RecognizerConfig, new_recognizer
from ranks import spawn_ranks
from test_loop_run import TINY

WORLD = 2
TIMEOUT_S = 400
pytestmark = pytest.mark.slow  # two processes and a tiny pipeline run (about a minute on 2 busy cores)


def _data():
    return fixed_length(make_demo(num_subjects=2, per_class=1, seed=0, min_len=20, max_len=30), 12)


def _config(model: str, **kw):
    kw = {"batch_size": 3, "lr": 1e-3, "device": "cpu", **kw}
    if model == "mdm":
        return DiffusionConfig(mdm=MDMConfig(num_layers=1, d_model=16, num_heads=2, ff_size=32, dropout=0.0,
                                             diffusion_steps=50), sampling_steps=3, **kw)
    return GeneratorConfig(cvae=CVAEConfig(num_layers=1, d_model=16, num_heads=2, ff_size=32, dropout=0.0), **kw)


def _runs(ms) -> dict:
    """Everything compared, computed the same way in one process and on each rank."""
    out = {}
    for model in ("cvae", "mdm"):
        first = new_trainer(ms, _config(model, epochs=1, batch_size=8))
        first.optimizer.param_groups[0]["lr"] = 0.0
        first.train_epoch(first.tensors(ms))
        grads = {k: p.grad.clone() for k, p in first.model.named_parameters() if p.grad is not None}
        t = new_trainer(ms, _config(model, epochs=2))
        t.fit(ms, progress=False)
        t64 = new_trainer(ms, _config(model))  # a float64 copy on float64 data: rounding out of the way
        t64.model.double()
        t64.optimizer = torch.optim.Adam(t64.model.parameters(), lr=t64.cfg.lr)
        ts = t64.tensors(ms)
        ts = TensorSet(ts.x.double(), ts.lengths, ts.labels)
        for _ in range(2):
            t64.train_epoch(ts)
        syn = new_trainer(ms, _config(model)).sample(per_class=3, length=10, seed=5, provenance={"run": "x"})
        out[model] = {"grads": grads, "weights": {k: v.clone() for k, v in t.model.state_dict().items()},
                      "float64": {k: v.clone() for k, v in t64.model.state_dict().items()},
                      "history": t.history, "samples": (syn.data.copy(), list(syn.names))}
    critic = new_recognizer(RecognizerConfig(model="stgcn", size="slim", seed=0), ms.layout, ms.channels,
                            ms.num_classes)
    from infagenc.loop.rounds import LoopState

    holder = types.SimpleNamespace(cfg=types.SimpleNamespace(critic=RecognizerConfig(eval_batch_size=3),
                                                             execution=types.SimpleNamespace(precision="fp32")),
                                   critic=types.SimpleNamespace(model=critic))
    pr = LoopState.score(holder, ms)
    out["scores"] = (pr.probs, pr.features, pr.pred, pr.labels)
    return out


def _worker(rank: int, folder: str) -> dict:
    res = {"info": D.info().to_dict(), **_runs(_data())}
    from infagenc.cli import main
    from infagenc.loop.config import RunConfig
    from infagenc.loop.runner import run

    cfg = RunConfig.from_dict({**TINY, "data": {**TINY["data"], "path": os.path.join(folder, "data.npz")},
                               "execution": {"threads": 1}})
    res["stopped"] = run(cfg, os.path.join(folder, "run"), progress=False, stop_after_rounds=1)
    # the command resumes it to the end, and leaves the process group at its end
    res["rc"] = main(["run", "--data", os.path.join(folder, "data.npz"), "--config", os.path.join(folder, "c.json"),
                      "--out", os.path.join(folder, "run"), "--no-progress", "--threads", "1", "--json"])
    return res


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp_gen")
    make_demo(num_subjects=3, per_class=3, seed=0).save(folder / "data.npz")
    (folder / "c.json").write_text(json.dumps(TINY))
    return spawn_ranks(_worker, folder, WORLD, TIMEOUT_S), _runs(_data()), folder


def _max_diff(a: dict, b: dict) -> float:
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


@pytest.mark.parametrize("model", ["cvae", "mdm"])
def test_two_ranks_compute_the_one_process_generator_training(two_ranks, model):
    ranks, one, _ = two_ranks
    assert [r["info"]["world_size"] for r in ranks] == [2, 2] and ranks[0]["info"]["backend"] == "gloo"
    a, b, ref = ranks[0][model], ranks[1][model], one[model]
    assert _max_diff(a["weights"], b["weights"]) == 0 and a["history"] == b["history"]
    assert set(a["grads"]) == set(ref["grads"])
    for k, g in ref["grads"].items():
        assert float((a["grads"][k] - g).abs().max()) <= 1e-5 * float(g.abs().max()) + 1e-7, k
    assert _max_diff(a["float64"], ref["float64"]) < 1e-9
    assert _max_diff(a["weights"], ref["weights"]) < 5e-3  # 6 Adam steps of lr 1e-3, see above
    for h, g in zip(a["history"], ref["history"]):
        assert h.keys() == g.keys() and all(abs(h[k] - g[k]) <= 1e-4 * max(1.0, abs(g[k])) for k in g)


@pytest.mark.parametrize("model", ["cvae", "mdm"])
def test_sharded_sampling_gives_the_one_process_samples(two_ranks, model):
    ranks, one, _ = two_ranks
    ref, names = one[model]["samples"]
    for r in ranks:  # 12 requests over 2 ranks: each rank decodes 6 and gathers all 12
        data, got = r[model]["samples"]
        assert got == names and data.shape == ref.shape and abs(data - ref).max() < 1e-5


def test_sharded_scoring_gives_the_one_process_scores(two_ranks):
    ranks, one, _ = two_ranks
    for r in ranks:
        probs, feats, pred, labels = r["scores"]
        assert (pred == one["scores"][2]).all() and (labels == one["scores"][3]).all()
        assert abs(probs - one["scores"][0]).max() < 1e-5 and abs(feats - one["scores"][1]).max() < 1e-5


def test_a_two_process_run_resumes_and_completes_with_one_run_folder_written_by_rank_0(two_ranks):
    ranks, _, folder = two_ranks
    assert [r["stopped"]["stopped_after_rounds"] for r in ranks] == [1, 1]
    assert ranks[1]["stopped"]["run_dir"] == ranks[0]["stopped"]["run_dir"] == str(folder / "run")
    assert [r["rc"] for r in ranks] == [0, 0]
    f = RunFolder(folder / "run", create=False)
    assert all(f.phase_done(p) for p in ("pretrain_critic", "pretrain_generator", "loop", "final", "evaluation"))
    assert f.state()["rounds_done"] == 2 and len(json.loads(f.rounds_path.read_text())) == 2
    env = json.loads(f.environment_path.read_text())
    assert env["distributed"]["world_size"] == 2 and env["distributed"]["backend"] == "gloo"
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["run"]  # no second folder beside it
    log = (folder / "run" / "run.log").read_text()
    # one writer; the resumed session neither pre-trained again nor redid round 1
    assert log.count("done in") == 1 and log.count("generator pre-trained") == 1 and log.count("round 1:") == 1
    assert "stopped after round 1" in log
