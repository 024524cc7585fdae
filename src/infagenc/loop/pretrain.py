"""The pre-training phases of a run: the critic M (an ST-GCN, stopped at a target accuracy
so that it stays a fair judge) and the generator G (the CVAE), both on the real training
subjects. Each phase resumes: the critic from its finished checkpoint, the generator from a
checkpoint written every ``chunk`` epochs. The generator is whichever ``generator.model`` names
(the CVAE or the diffusion model, :func:`~infagenc.train.generative.new_trainer`); the rest of
the run does not care which."""
from __future__ import annotations

import sys
import time

import torch
from tqdm.auto import tqdm

from ..data.preprocess import root_constraint
from ..runfolder import RunFolder
from ..train.generative import GenerativeTrainer, load_trainer, new_trainer
from ..train.recognizer import RecognizerTrainer, new_recognizer
from .config import RunConfig
from .data import Splits

__all__ = ["pretrain_critic", "pretrain_generator", "checked_generator", "critic_stop_line"]


def pretrain_critic(f: RunFolder, cfg: RunConfig, sp: Splits, device: torch.device,
                    progress: bool) -> RecognizerTrainer:
    """The critic trained on the real training subjects (validated on ``sp.val`` if any)."""
    path = f.checkpoint("critic_pretrained")
    if f.phase_done("pretrain_critic"):
        return RecognizerTrainer.load(path, device)
    t0 = time.perf_counter()
    model = new_recognizer(cfg.critic, sp.train.layout, sp.train.channels, sp.train.num_classes)
    trainer = RecognizerTrainer(model, cfg.critic, device)
    hist = trainer.fit(sp.train, sp.val, progress=progress)
    trainer.save(path, meta={"preprocess": cfg.data.preprocess().to_dict()})
    f.write_json(f.pretrain_log_path("critic"), {"history": hist, "seconds": time.perf_counter() - t0})
    line = critic_stop_line(hist, cfg.critic.epochs, cfg.critic.target_accuracy)
    if progress:
        tqdm.write(line, file=sys.stderr)  # beside the bars, never in the summary on stdout
    f.log(f"{line}; last epoch {hist[-1]}" if hist else line)
    f.mark_done("pretrain_critic")
    return trainer


def critic_stop_line(hist: list[dict], epochs: int, target: float | None) -> str:
    """Why the critic's pre-training ended where it did (its bar stops short of ``epochs`` when
    the target accuracy is reached: a fair judge, not a perfect one)."""
    if not hist:
        return "critic pre-trained: 0 epochs"
    last = hist[-1]
    if "stopped" in last:  # e.g. "acc 0.863 >= target 0.85"
        on = "validation" if "val_acc" in last["stopped"] else "training"
        return (f"critic pre-training stopped after {len(hist)} of {epochs} epochs: target accuracy reached on the "
                f"{on} set ({last['stopped']})")
    if target is None:
        return f"critic pre-trained: {len(hist)} of {epochs} epochs (no target accuracy set)"
    return (f"critic pre-trained: {len(hist)} of {epochs} epochs, target accuracy {target} not reached "
            f"(the last epoch is kept)")


def checked_generator(trainer: GenerativeTrainer, cfg: RunConfig, sp: Splits, path) -> GenerativeTrainer:
    """A generator loaded from the run folder must be the model the config names
    (``generator.model``) and restore the root constraint it asks for (``generator.keep_root``);
    a checkpoint copied from another run may not."""
    if trainer.MODEL != cfg.generator.model:
        raise ValueError(f"{path}: the checkpoint holds a {trainer.MODEL} generator, the config "
                         f"(generator.model) asks for {cfg.generator.model}; was it copied from another run?")
    want = root_constraint(sp.train) if cfg.generator.keep_root else "none"
    if trainer.spec.root != want:
        raise ValueError(f"{path}: the generator restores root constraint {trainer.spec.root!r} on its "
                         f"samples, the config (generator.keep_root = {cfg.generator.keep_root}) asks for "
                         f"{want!r}; was the checkpoint copied from another run?")
    return trainer


def pretrain_generator(f: RunFolder, cfg: RunConfig, sp: Splits, device: torch.device, progress: bool,
                       chunk: int = 50) -> GenerativeTrainer:
    """The generator trained ``pretrain_generator_epochs`` epochs (= ``cfg.generator.epochs``
    in the effective config), checkpointed every ``chunk`` epochs so a kill loses little."""
    path = f.checkpoint("generator_pretrained")
    if f.phase_done("pretrain_generator"):
        return checked_generator(load_trainer(path, device), cfg, sp, path)
    partial = f.checkpoint("generator_pretraining")
    if partial.exists():
        trainer = checked_generator(load_trainer(partial, device), cfg, sp, partial)
    else:
        trainer = new_trainer(sp.train, cfg.generator, device=device)
        trainer.preprocess = cfg.data.preprocess()  # stored with every generator checkpoint
    total = cfg.pretrain_generator_epochs
    t0 = time.perf_counter()
    ts = trainer.tensors(sp.train)
    bar = tqdm(total=total, initial=trainer.epoch, desc="generator pre-training", disable=not progress)
    while trainer.epoch < total:
        for _ in range(min(chunk, total - trainer.epoch)):
            rec = trainer.train_epoch(ts)
            bar.update(1)
            bar.set_postfix(loss=f"{rec['total']:.4f}")
        trainer.save(partial)
    bar.close()
    trainer.save(path)
    f.write_json(f.pretrain_log_path("generator"), {"history": trainer.history, "seconds": time.perf_counter() - t0})
    f.log(f"generator pre-trained: {trainer.epoch} epochs")
    f.mark_done("pretrain_generator")
    partial.unlink(missing_ok=True)
    return trainer
