"""The shared trainer base: the ``rng`` attribute, seeded RNG forks, and checkpoints written
with the old key names (recognizer: ``adam`` / ``generator``) still loading."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from infagenc.data.demo import make_demo
from infagenc.data.preprocess import fixed_length, root_relative
from infagenc.models.cvae import CVAEConfig
from infagenc.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from infagenc.train.generator import GeneratorConfig, GeneratorTrainer
from infagenc.train.recognizer import RecognizerConfig, RecognizerTrainer, new_recognizer
from infagenc.train.trainer import Trainer, seeded_rng

SRC = Path(__file__).resolve().parents[1] / "src" / "infagenc"


@pytest.fixture(scope="module")
def tiny():
    ms = make_demo(num_subjects=2, per_class=1, seed=0, rep="xyz", min_len=20, max_len=30)
    return fixed_length(root_relative(ms), 12)


def recognizer_trainer(ms, seed=0):
    cfg = RecognizerConfig(model="stgcn", size="slim", batch_size=4, seed=seed, device="cpu")
    return RecognizerTrainer(new_recognizer(cfg, ms.layout, ms.channels, ms.num_classes), cfg)


def params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_both_trainers_share_the_base_and_name_their_rng(tiny):
    rt = recognizer_trainer(tiny)
    gt = GeneratorTrainer.from_motionset(tiny, GeneratorConfig(cvae=CVAEConfig.of_size("slim"), device="cpu"))
    for t in (rt, gt):
        assert isinstance(t, Trainer) and isinstance(t.rng, torch.Generator)
        assert not hasattr(t, "generator")
        assert t.epoch == 0 and t.history == []
        assert set(t.state_dict()) >= {"model", "optimizer", "epoch", "rng", "history"}
    assert rt.rng.initial_seed() == 0


def test_seeded_rng_repeats_and_restores_the_global_state():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    with seeded_rng(7):
        a = torch.rand(3)
    assert torch.equal(torch.get_rng_state(), before)
    with seeded_rng(7):
        b = torch.rand(3)
    assert torch.equal(a, b)


def test_old_recognizer_checkpoint_keys_still_load(tiny, tmp_path):
    straight = recognizer_trainer(tiny)
    straight.fit(tiny, epochs=3, progress=False)
    first = recognizer_trainer(tiny)
    first.fit(tiny, epochs=2, progress=False)
    new = load_checkpoint(first.save(tmp_path / "new.pt"))
    assert set(new["optimizer"]) == {"optimizer", "rng"}
    # the layout recognizer checkpoints had before the trainers shared their state code
    st = first.state_dict()
    save_checkpoint(tmp_path / "old.pt", st["model"], new["meta"],
                    optimizer={"adam": st["optimizer"], "generator": st["rng"]})
    resumed = RecognizerTrainer.load(tmp_path / "old.pt", device="cpu")
    assert resumed.epoch == 2 and resumed.history == first.history
    assert torch.equal(resumed.rng.get_state(), first.rng.get_state())
    resumed.fit(tiny, epochs=1, progress=False)
    assert torch.equal(params(resumed.model), params(straight.model))
    # an old trainer state dict (RNG state under "generator") loads too
    old_state = {**{k: v for k, v in st.items() if k != "rng"}, "generator": st["rng"]}
    other = recognizer_trainer(tiny, seed=9)
    other.load_state_dict(old_state)
    assert torch.equal(other.rng.get_state(), st["rng"]) and other.epoch == 2


def test_generator_checkpoint_without_training_state_is_refused(tiny, tmp_path):
    cfg = GeneratorConfig(cvae=CVAEConfig(num_layers=1, d_model=16, num_heads=2, ff_size=32), device="cpu",
                          batch_size=4)
    tr = GeneratorTrainer.from_motionset(tiny, cfg)
    tr.fit(tiny, epochs=1, progress=False)
    ck = load_checkpoint(tr.save(tmp_path / "g.pt"))
    save_checkpoint(tmp_path / "weights.pt", ck["state_dict"], ck["meta"])
    with pytest.raises(CheckpointError, match="cannot resume"):
        GeneratorTrainer.load(tmp_path / "weights.pt", device="cpu")
    # a state dict with the old RNG key name loads
    st = tr.state_dict()
    other = GeneratorTrainer.from_motionset(tiny, cfg)
    other.load_state_dict({**{k: v for k, v in st.items() if k != "rng"}, "generator": st["rng"]})
    assert torch.equal(other.rng.get_state(), tr.rng.get_state()) and other.epoch == 1


def _imports(path: Path) -> set[str]:
    mods = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module:
            mods.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            mods.update(a.name.split(".")[1] for a in node.names if a.name.startswith("infagenc."))
    return mods


def test_train_and_models_import_no_higher_layer():
    for pkg, banned in (("train", {"viz", "loop", "workflows", "cli"}),
                        ("models", {"train", "viz", "loop", "workflows", "cli"})):
        for f in sorted((SRC / pkg).glob("*.py")):
            assert not _imports(f) & banned, f"{f.name} imports {sorted(_imports(f) & banned)}"
