"""loop.steps_per_epoch: a bounded per-round training cost. Every generator epoch and critic-update
epoch of the loop is that many batches of X_train, every real sample included, so the step count
stays constant while the recycled pool grows (the plain loop's grows with it)."""
from __future__ import annotations

import json
import math
import types

import numpy as np
import pytest
import torch

from infagenc.loop.config import ConfigError, RunConfig
from infagenc.loop.rounds import LoopState
from infagenc.loop.runner import run
from infagenc.runfolder import RunFolder
from infagenc.train.batching import TensorSet
from test_loop_run import TINY


def _config(**loop) -> RunConfig:
    d = json.loads(json.dumps(TINY))
    d["loop"].update({"epochs": 6, "window": 2, "filter": "per_class", **loop})  # 3 rounds, every class recycled
    d["evaluation"] = {"enabled": False}
    d["final"]["train_sets"] = ["real"]
    return RunConfig.from_dict(d)


def test_an_epoch_holds_every_real_sample_and_a_seeded_draw_of_the_pool():
    n_real, n_pool = 10, 30
    ts = TensorSet(torch.arange(n_real + n_pool, dtype=torch.float32)[:, None, None, None],
                   torch.ones(n_real + n_pool, dtype=torch.long), torch.zeros(n_real + n_pool, dtype=torch.long))
    st = types.SimpleNamespace(cfg=_config(steps_per_epoch=4), real=[0] * n_real)
    a = LoopState.epoch_set(st, ts, 4, "generator", 1)
    ids = a.x[:, 0, 0, 0].long().tolist()
    assert len(ids) == 16 and ids[:n_real] == list(range(n_real))  # all real, then 6 of the pool
    assert len(set(ids)) == 16 and all(i >= n_real for i in ids[n_real:])
    assert LoopState.epoch_set(st, ts, 4, "generator", 1).x.equal(a.x)  # seeded: a resume draws the same
    assert not LoopState.epoch_set(st, ts, 4, "generator", 2).x.equal(a.x)  # another epoch, another draw
    small = TensorSet(ts.x[:14], ts.lengths[:14], ts.labels[:14])
    assert LoopState.epoch_set(st, small, 4, "generator", 1) is small  # fewer than 4 batches: all of X_train
    st.cfg = _config()
    assert LoopState.epoch_set(st, ts, 4, "generator", 1) is ts  # the option off: a full pass


def test_bad_steps_per_epoch_is_refused_by_key(tmp_path):
    with pytest.raises(ConfigError, match="loop.steps_per_epoch"):
        _config(steps_per_epoch=0)
    with pytest.raises(ValueError, match="loop.steps_per_epoch = 1 .* real training samples"):
        run(_config(steps_per_epoch=1), tmp_path / "r", progress=False)  # 24 real samples, batches of 8


@pytest.mark.slow  # two tiny runs (seconds each)
def test_the_per_round_step_count_stays_constant_while_the_pool_grows(tmp_path):
    runs = {}
    for name, loop in (("plain", {}), ("bounded", {"steps_per_epoch": 4})):
        run(_config(**loop), tmp_path / name, progress=False)
        f = RunFolder(tmp_path / name, create=False)
        runs[name] = (json.loads(f.epochs_path.read_text()), json.loads(f.rounds_path.read_text()))
    epochs, rounds = runs["bounded"]
    pools = [0] + [r["pool_size"] for r in rounds]  # pools[r - 1]: what round r's generator epochs see
    assert 24 + pools[2] > 4 * 8 and 24 + pools[3] > 4 * 8  # X_train outgrows 4 batches of 8
    # 24 real samples = 3 batches of 8; at most 4 batches from then on, however large X_train grows
    assert [e["gen_steps"] for e in epochs] == [min(4, math.ceil((24 + pools[(e["epoch"] - 1) // 2]) / 8))
                                                for e in epochs]
    assert [e["gen_steps"] for e in epochs][-2:] == [4, 4]
    assert [r["critic_steps"] for r in rounds] == [[min(4, math.ceil((24 + p) / 8))] for p in pools[1:]]
    assert [r["critic_steps"] for r in rounds][-2:] == [[4], [4]]
    plain_epochs, plain_rounds = runs["plain"]
    plain_pools = [0] + [r["pool_size"] for r in plain_rounds]
    want = [math.ceil((24 + plain_pools[(e["epoch"] - 1) // 2]) / 8) for e in plain_epochs]
    assert [e["gen_steps"] for e in plain_epochs] == want and want[-1] > want[0]  # a full pass: it grows
    assert [r["critic_steps"][0] for r in plain_rounds] == [math.ceil((24 + p) / 8) for p in plain_pools[1:]]
    assert np.isfinite([e["gen_total"] for e in epochs]).all()
