"""The InfAGenC pipeline: data -> pre-training -> the loop -> final recognition -> metrics.

:func:`run` executes every phase of a :class:`~infagenc.loop.config.RunConfig` in a run
folder (:class:`infagenc.runfolder.RunFolder`), skipping phases already done, so an
interrupted run resumes where it stopped. The phases live in their own modules:
:mod:`~infagenc.loop.data`, :mod:`~infagenc.loop.pretrain`, :mod:`~infagenc.loop.rounds`
(the loop), :mod:`~infagenc.loop.final` and :mod:`~infagenc.loop.evaluation`. Every random
draw comes from seeds derived from the run seed (:mod:`~infagenc.loop.seeds`) or from
checkpointed generators, so a resumed run reaches the same results as an uninterrupted one.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from ..runfolder import RunFolder, environment
from ..train.device import resolve_device
from .config import RunConfig
from .data import data_phase, load_real, prepare_data
from .evaluation import evaluate_run
from .final import final_phase, recognize_run, synthetic_for_final
from .pretrain import pretrain_critic, pretrain_generator
from .rounds import Stopped, loop_phase

__all__ = ["run", "recognize_run", "prepare_data", "load_real"]


# Options added since runs were first written whose default changed what a run does: a stored
# config without them gets the value that reproduces the old behaviour, not the new default.
_LEGACY = {("generator", "keep_root"): False}

# Settings that change how fast a run goes or where it computes, not what it computes (up to
# floating-point reduction order): a run may resume with others; the change is logged.
# ("section", "key"); section None is the top level. generator.trans is not compared: the
# data decide it (see RunConfig.effective).
_EXECUTION_ONLY = (("execution", "threads"), ("execution", "device"), ("critic", "device"),
                   ("generator", "device"), ("generator", "trans"))


def _comparable(d: dict | None) -> dict | None:
    if d is None:
        return None
    d = json.loads(json.dumps(d))
    for section, key in _EXECUTION_ONLY:
        d.get(section, {}).pop(key, None)
    d.get("final", {}).get("recognizer", {}).pop("device", None)
    return d


def _differing_keys(a, b, prefix: str = "") -> list[str]:
    """Dotted names of the keys whose values differ between two nested dicts."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [k for key in sorted(set(a) | set(b), key=str)
                for k in _differing_keys(a.get(key), b.get(key), f"{prefix}{key}.")]
    return [] if a == b else [prefix.rstrip(".")]


def _resolved_again(stored: dict, device: str) -> dict | None:
    """A stored config resolved by this version (options added since get their defaults, or
    for behaviour-changing ones (``_LEGACY``) the old behaviour's value, so a run started by
    an older version resumes only with a config that means what it meant), made effective;
    None if it no longer resolves."""
    stored = json.loads(json.dumps(stored))
    for (section, key), old in _LEGACY.items():
        if isinstance(stored.get(section), dict):
            stored[section].setdefault(key, old)
    try:
        return RunConfig.from_dict(stored).effective(device).to_dict()
    except (ValueError, TypeError):
        return None


def _check_resume(folder: RunFolder, eff: RunConfig) -> dict | None:
    """Refuse a config that differs from the one the folder's run was started with (beyond
    execution settings, which are logged); the stored config (or None for a new run)."""
    existing = folder.read_json(folder.config_path)
    if existing is None:
        return None
    before = _resolved_again(existing, eff.execution.device)
    if before is None:
        raise ValueError(f"{folder.config_path} holds a different config (one this version cannot resolve): "
                         f"use a new run folder")
    keys = _differing_keys(_comparable(before), _comparable(eff.to_dict()))
    if keys:
        shown = ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
        raise ValueError(f"{folder.config_path} holds a different config ({shown} differ): resume with the same "
                         f"config, or use a new run folder")
    for key in ("threads", "device"):
        was, now = existing.get("execution", existing).get(key), getattr(eff.execution, key)
        if was != now:
            folder.log(f"resumed with execution.{key} = {now} (the run so far: {was})")
    return existing


class _Timing:
    """Wall seconds per phase and per session, in ``timing.json``."""

    def __init__(self, folder: RunFolder):
        self.folder = folder
        self.data = folder.read_json(folder.timing_path, {"phases": {}, "sessions": []})

    def __call__(self, phase: str, fn, *a):
        t0 = time.perf_counter()
        try:
            return fn(*a)
        finally:
            self.data["phases"][phase] = self.data["phases"].get(phase, 0.0) + time.perf_counter() - t0
            self.folder.write_json(self.folder.timing_path, self.data)

    def session(self, seconds: float) -> None:
        self.data["sessions"].append(seconds)
        self.folder.write_json(self.folder.timing_path, self.data)


def run(cfg: RunConfig, run_dir: str | Path, *, progress: bool = True,
        stop_after_rounds: int | None = None) -> dict:
    """Run (or resume) the whole pipeline in ``run_dir``; returns a summary dict.

    ``stop_after_rounds`` stops the loop after that many rounds (as an interruption
    would); calling :func:`run` again on the same folder resumes it. One process per run
    folder: a second one is refused (:class:`~infagenc.runfolder.RunFolderBusy`).
    """
    if cfg.execution.threads is not None:
        torch.set_num_threads(cfg.execution.threads)
    device = resolve_device(cfg.execution.device)
    folder = RunFolder(run_dir)
    with folder.locked():
        return _phases(cfg.effective(str(device)), folder, device, progress, stop_after_rounds)


def _phases(cfg: RunConfig, folder: RunFolder, device, progress: bool, stop_after_rounds: int | None) -> dict:
    _check_resume(folder, cfg)
    folder.write_json(folder.environment_path, environment(device, precision=cfg.execution.precision,
                                                           threads_requested=cfg.execution.threads))
    t_start = time.perf_counter()
    folder.log(f"run {cfg.name!r} in {folder.root} on {device}")
    timed = _Timing(folder)

    sp = timed("data", data_phase, folder, cfg, progress)
    cfg = cfg.effective(str(device), trans=sp.train.trans is not None)  # the generator models trans iff the data keep it
    folder.write_json(folder.config_path, cfg.to_dict())
    critic = timed("pretrain_critic", pretrain_critic, folder, cfg, sp, device, progress)
    gen = timed("pretrain_generator", pretrain_generator, folder, cfg, sp, device, progress)
    summary = {"run_dir": str(folder.root), "excluded": [str(e) for e in sp.exclusions]}
    try:
        pool = timed("loop", loop_phase, folder, cfg, sp, gen, critic, device, progress, stop_after_rounds)
    except Stopped as s:
        folder.log(f"stopped after round {s.rounds} (resume by running again)")
        timed.session(time.perf_counter() - t_start)
        return {**summary, "stopped_after_rounds": s.rounds}
    syn = timed("final_recognition", synthetic_for_final, folder, cfg, sp, pool, device)
    recognition = timed("final_recognition", final_phase, folder, cfg, sp, syn, device, progress)
    metrics = None
    if cfg.evaluation.enabled:
        metrics = timed("evaluation", evaluate_run, folder, sp, cfg, device, progress)
    wall = time.perf_counter() - t_start
    folder.log(f"done in {wall:.1f} s")
    timed.session(wall)
    return {**summary, "recognition": recognition, "generation": metrics, "wall_seconds": wall}
