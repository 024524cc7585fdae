"""The loop with the diffusion generator (generator.model = "mdm"): pre-training, rounds (CAS,
per-class filter, selection, recycling), resume and the final phase on a tiny config, and the
options the diffusion generator does not have refused by key."""
from __future__ import annotations

import json

import numpy as np
import pytest

from infagenc.data import MotionSet
from infagenc.loop.config import RunConfig
from infagenc.loop.runner import run
from infagenc.runfolder import RunFolder
from infagenc.train.generative import load_trainer
from infagenc.workflows.generator import checkpoint_kind
from test_loop_run import TINY

MDM_TINY = {"model": "mdm", "diffusion": {"mdm": {"num_layers": 1, "d_model": 32, "num_heads": 2, "ff_size": 64},
                                          "sampling_steps": 2}}


def mdm_config(**loop) -> RunConfig:
    d = json.loads(json.dumps(TINY))
    d["generator"].update(MDM_TINY)
    d["loop"].update({"filter": "per_class", **loop})  # every class gets samples, whatever the tiny critic says
    return RunConfig.from_dict(d)


@pytest.fixture(scope="module")
def mdm_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mdm") / "run"
    return out, run(mdm_config(), out, progress=False)


@pytest.mark.slow
def test_the_loop_runs_the_diffusion_generator_end_to_end(mdm_run):
    out, summary = mdm_run
    f = RunFolder(out, create=False)
    assert checkpoint_kind(f.checkpoint("generator")) == "mdm"
    assert checkpoint_kind(f.checkpoint("generator_pretrained")) == "mdm"
    gen = load_trainer(f.checkpoint("generator"), "cpu")
    assert gen.MODEL == "mdm" and gen.epoch == 2 + 4  # pre-training + the loop's epochs
    assert gen.cfg.sampling_steps == 2 and gen.cfg.mdm.d_model == 32
    pool = MotionSet.load(f.synthetic_path)
    rounds = json.loads(f.rounds_path.read_text())
    assert len(rounds) == 2 and all(r["pool_size"] > 0 for r in rounds)
    for r in (1, 2):  # every class recycled in every round (per-class filter)
        sel = MotionSet.load(f.round_selected_path(r))
        assert set(np.unique(sel.labels)) == set(range(pool.num_classes))
        assert all(n.startswith("syn-") and f"-r{r}-" in n for n in sel.names)
    assert len(pool) == rounds[-1]["pool_size"] and pool.is_synthetic.all()
    assert set(summary["recognition"]) >= {"real", "syn", "real_syn"}
    metrics = json.loads(f.metrics_path.read_text())  # the evaluation phase samples the diffusion generator
    assert metrics["generator_checkpoint"] == "generator.pt" and np.isfinite(metrics["fid_real_train_vs_real_test"])
    assert "vs_test" in metrics and f.samples_path.exists()
    stored = json.loads(f.config_path.read_text())["generator"]
    assert stored["model"] == "mdm" and stored["diffusion"]["sampling_steps"] == 2


@pytest.mark.slow
def test_an_interrupted_diffusion_run_resumes_to_the_same_pool(mdm_run, tmp_path):
    out, _ = mdm_run
    part = tmp_path / "part"
    assert run(mdm_config(), part, progress=False, stop_after_rounds=1)["stopped_after_rounds"] == 1
    run(mdm_config(), part, progress=False)
    a = MotionSet.load(RunFolder(out, create=False).synthetic_path)
    b = MotionSet.load(RunFolder(part, create=False).synthetic_path)
    assert list(a.names) == list(b.names)
    np.testing.assert_allclose(a.data, b.data, rtol=0, atol=1e-5)


@pytest.mark.parametrize("loop, key", [({"sampling": "exemplar"}, "loop.sampling"),
                                       ({"sample_dropout": 0.1}, "loop.sample_dropout")])
def test_cvae_only_loop_options_are_refused_by_key(tmp_path, loop, key):
    cfg = mdm_config(**loop)
    with pytest.raises(ValueError, match=key):
        run(cfg, tmp_path / "x", progress=False)
    assert not (tmp_path / "x" / "config.json").exists()  # refused before any work


def test_a_cvae_checkpoint_is_refused_by_an_mdm_run(mdm_run, tmp_path):
    from infagenc.loop.pretrain import checked_generator
    from infagenc.loop.data import stored_splits

    out, _ = mdm_run
    f = RunFolder(out, create=False)
    d = json.loads(json.dumps(TINY))
    cvae = RunConfig.from_dict(d)
    with pytest.raises(ValueError, match="generator.model"):
        checked_generator(load_trainer(f.checkpoint("generator"), "cpu"), cvae, stored_splits(f), "gen.pt")
