"""The InfAGenC pipeline: data -> pre-training -> the loop -> final recognition -> metrics.

:func:`run` executes every phase of a :class:`~infagenc.loop.config.RunConfig` in a run
folder (:class:`infagenc.runfolder.RunFolder`), skipping phases already done, so an
interrupted run resumes where it stopped. The phases live in their own modules:
:mod:`~infagenc.loop.data`, :mod:`~infagenc.loop.pretrain`, :mod:`~infagenc.loop.rounds`
(the loop), :mod:`~infagenc.loop.final` and :mod:`~infagenc.loop.evaluation`. Every random
draw comes from seeds derived from the run seed (:mod:`~infagenc.loop.seeds`) or from
checkpointed generators, so a resumed run reaches the same results as an uninterrupted one.

With ``progress`` each phase starts with one line on stderr: phase k of n, the time elapsed in
this session and an estimate of the time left (:class:`_Progress`: a cost model of the config,
scaled by the speed the finished phases showed). ``pretrained_from`` starts a run from
another run's pre-trained critic and generator (:func:`adopt_pretrained`): the ablations
(selection distance / random / none) then pre-train once.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..jsonio import atomic_write_bytes
from ..models.sizes import canonical_size
from ..runfolder import RunFolder, environment
from ..train.classical import CLASSICAL
from ..train.device import resolve_device
from ..train.distributed import barrier, execution_info, is_main, rank, rank_device, world_size
from .config import RunConfig
from .data import data_phase, load_real, prepare_data
from .evaluation import evaluate_run
from .final import final_phase, recognize_run, synthetic_for_final
from .pretrain import pretrain_critic, pretrain_generator
from .rounds import Stopped, check_generator_options, loop_phase

__all__ = ["run", "recognize_run", "prepare_data", "load_real", "adopt_pretrained", "phase_costs"]


# Settings that change how fast a run goes or where it computes, not what it computes (up to
# floating-point reduction order): a run may resume with others; the change is logged.
# ("section", "key"); section None is the top level. generator.trans is not compared: the
# data decide it (see RunConfig.effective).
_EXECUTION_ONLY = (("execution", "threads"), ("execution", "device"), ("critic", "device"),
                   ("critic", "eval_batch_size"), ("generator", "device"), ("generator", "trans"))


def _comparable(d: dict | None) -> dict | None:
    if d is None:
        return None
    d = json.loads(json.dumps(d))
    for section, key in _EXECUTION_ONLY:
        d.get(section, {}).pop(key, None)
    for key in ("device", "eval_batch_size"):
        d.get("final", {}).get("recognizer", {}).pop(key, None)
    return d


def _differing_keys(a, b, prefix: str = "") -> list[str]:
    """Dotted names of the keys whose values differ between two nested dicts."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [k for key in sorted(set(a) | set(b), key=str)
                for k in _differing_keys(a.get(key), b.get(key), f"{prefix}{key}.")]
    return [] if a == b else [prefix.rstrip(".")]


def _resolved_again(stored: dict, device: str) -> dict | None:
    """A stored config resolved by this version (options added since get their defaults),
    made effective; None if it no longer resolves."""
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


# --------------------------------------------------------------------- progress
PHASES = (("data", "data"), ("pretrain_critic", "critic pre-training"),
          ("pretrain_generator", "generator pre-training"), ("loop", "the loop"),
          ("final_recognition", "final recognition (Real / Syn / Real+Syn)"), ("evaluation", "generation metrics"))
# Reference speed of the cost model: seconds of one training sample-epoch of the slim ST-GCN
# at 60 frames on one CPU thread (benchmarks/results/speed.md: 800 ms a batch of 16); the
# other weights are relative to it (paper ST-GCN 4.7x, slim MS-G3D 1.8x, paper 12.9x;
# inference 0.26x of training; the CVAE about 0.19x per 2 layers x d 64).
_UNIT_S = 0.05
_INFER = 0.26


def _rec_weight(rc) -> float:
    if rc.model in CLASSICAL:
        return 0.0
    paper = canonical_size(rc.size) == "paper"
    return (12.9 if paper else 1.8) if rc.model == "msg3d" else (4.7 if paper else 1.0)


def phase_costs(cfg: RunConfig, n_train: int, n_test: int) -> dict[str, float]:
    """Rough seconds of each phase on one CPU thread of the reference machine (a model of the
    config's work, not a measurement: :class:`_Progress` rescales it by the measured speed)."""
    t = cfg.data.frames / 60
    crit, fin = _rec_weight(cfg.critic) * t, _rec_weight(cfg.final.recognizer) * t
    g = cfg.generator
    # the MDM denoiser: about 0.65x the CVAE's epoch at the same layers x width (train/diffusion.py)
    cv, per = (g.diffusion.mdm, 0.19 * 0.65) if g.model == "mdm" else (g.cvae, 0.19)
    gen = per * cv.num_layers * cv.d_model / 128 * t
    lp, grown = cfg.loop, 1.5 * n_train  # X_train grows by the recycled samples
    n_t = lp.samples_per_epoch or n_train
    loop = lp.epochs * (grown * gen + n_t * lp.score_fraction * _INFER * crit) + \
        lp.rounds * lp.critic_update_epochs * grown * crit
    sizes = {"real": n_train, "syn": n_train, "real_syn": 2 * n_train}
    final = len(cfg.final.seeds) * sum(sizes.get(s, n_train) for s in cfg.final.train_sets) * \
        cfg.final.recognizer.epochs * cfg.final.recognizer.augment.repeat * fin
    ev = cfg.evaluation
    evaluation = (2 * ev.repeats * max(n_train, n_test) + n_train + n_test) * _INFER * fin if ev.enabled else 0.0
    units = {"data": 0.0, "pretrain_critic": cfg.critic.epochs * n_train * crit,
             "pretrain_generator": cfg.pretrain_generator_epochs * n_train * gen, "loop": loop,
             "final_recognition": final, "evaluation": evaluation}
    return {k: v * _UNIT_S for k, v in units.items()}


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


class _Progress:
    """The overall progress line printed (stderr) when a phase starts: phase k of n, the time
    elapsed, and the time left: the cost model of the phases left, times the ratio of measured
    to modelled seconds of the phases run so far in this session (1 before any).

    Nothing is printed before the data are read (phase 1): a run refused for its input ends
    with the one line of its error. ``note`` (e.g. the torch threads the command chose) is
    printed then too, with or without progress lines."""

    def __init__(self, enabled: bool, phases: tuple[str, ...], note: str | None = None):
        self.enabled, self.phases, self.note = enabled, phases, note
        self.t0, self.costs = time.perf_counter(), {}
        self.spent_model = self.spent_real = 0.0
        self.current: tuple[str, float, bool] | None = None

    def start(self, phase: str, folder: RunFolder) -> None:
        """Print the line of ``phase``; the phase before it joins the speed measurement unless
        it was done before it started (resumed or copied: no work to measure)."""
        now = time.perf_counter()
        if self.current is not None:
            name, began, skipped = self.current
            if self.costs.get(name, 0.0) > 0 and not skipped:
                self.spent_model += self.costs[name]
                self.spent_real += now - began
        self.current = (phase, now, _done(folder, phase))
        if phase == self.phases[0]:
            return
        if self.note:  # shown with or without progress lines
            print(f"infagenc: {self.note}", file=sys.stderr, flush=True)
            self.note = None
        if not self.enabled:
            return
        k = self.phases.index(phase) + 1
        left = ""
        if self.costs:
            todo = [p for p in self.phases[k - 1:] if not _done(folder, p)]
            scale = self.spent_real / self.spent_model if self.spent_model > 0 else 1.0
            rest = scale * sum(self.costs.get(p, 0.0) for p in todo)
            left = f", about {_clock(rest)} left (estimate{'' if self.spent_model > 0 else ', rough'})"
        print(f"infagenc: phase {k} of {len(self.phases)}: {dict(PHASES)[phase]}; {_clock(now - self.t0)} elapsed"
              f"{left}", file=sys.stderr, flush=True)


def _done(folder: RunFolder, phase: str) -> bool:
    return folder.phase_done({"final_recognition": "final"}.get(phase, phase))


# --------------------------------------------------------------------- pre-trained models
# the config sections that decide what pre-training produces (execution-only keys aside)
_PRETRAIN_KEYS = ("data", "demo", "critic", "generator", "pretrain_generator_epochs")


def adopt_pretrained(folder: RunFolder, cfg: RunConfig, sp, source: str | Path) -> None:
    """Start ``folder``'s run from the pre-trained critic and generator of the run in ``source``:
    the same data and pre-training config are required (a one-line error names the keys that
    differ), and the same prepared training data; the two checkpoints and their logs are copied
    (atomically) and both pre-training phases marked done. Nothing happens when they are done."""
    if folder.phase_done("pretrain_critic") and folder.phase_done("pretrain_generator"):
        return
    src = RunFolder(source, create=False)
    if not src.config_path.exists():
        raise ValueError(f"--pretrained-from {source}: not a run folder (no config.json)")
    missing = [p for p in ("pretrain_critic", "pretrain_generator") if not src.phase_done(p)]
    if missing:
        raise ValueError(f"--pretrained-from {source}: that run has not finished {' and '.join(missing)}")
    theirs = _comparable(_resolved_again(src.read_json(src.config_path), cfg.execution.device))
    mine = _comparable(cfg.to_dict())
    if theirs is None:
        raise ValueError(f"--pretrained-from {source}: its config.json cannot be resolved by this version")
    keys = _differing_keys({k: theirs.get(k) for k in _PRETRAIN_KEYS}, {k: mine.get(k) for k in _PRETRAIN_KEYS})
    if keys:
        shown = ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
        raise ValueError(f"--pretrained-from {source}: its data or pre-training config differs ({shown}); "
                         f"pre-train in this run, or use a run with the same config")
    _same_training_data(src, sp, source)
    for name, what in (("critic_pretrained", "critic"), ("generator_pretrained", "generator")):
        atomic_write_bytes(folder.checkpoint(name), src.checkpoint(name).read_bytes())
        log = src.read_json(src.pretrain_log_path(what))
        if log is not None:
            folder.write_json(folder.pretrain_log_path(what), {**log, "copied_from": str(src.root)})
    folder.log(f"pre-trained critic and generator copied from {src.root}")
    folder.mark_done("pretrain_critic")
    folder.mark_done("pretrain_generator")


def _same_training_data(src: RunFolder, sp, source) -> None:
    from ..data.motionset import MotionSet

    theirs = MotionSet.load(src.split_path("train"))
    if list(theirs.names) != list(sp.train.names) or not np.array_equal(theirs.data, sp.train.data):
        raise ValueError(f"--pretrained-from {source}: its prepared training data differ from this run's "
                         f"(same config, other data: was the data file changed?)")


# --------------------------------------------------------------------- the run
def run(cfg: RunConfig, run_dir: str | Path, *, progress: bool = True,
        stop_after_rounds: int | None = None, pretrained_from: str | Path | None = None,
        note: str | None = None) -> dict:
    """Run (or resume) the whole pipeline in ``run_dir``; returns a summary dict.

    ``stop_after_rounds`` stops the loop after that many rounds (as an interruption
    would); calling :func:`run` again on the same folder resumes it. ``pretrained_from``:
    a run folder whose pre-trained critic and generator this run starts from
    (:func:`adopt_pretrained`). One process per run folder: a second one is refused
    (:class:`~infagenc.runfolder.RunFolderBusy`). ``execution.threads`` sets torch's CPU
    threads for the run; the caller's setting is restored afterwards. ``note``: a line shown
    once the data are read (with ``progress``, before the first progress line), e.g. how the
    command chose the threads.

    Under ``torchrun`` (a process group joined by the caller, :mod:`infagenc.train.distributed`)
    every rank runs every phase in step (training data-parallel, generation and scoring
    sharded and gathered), rank 0 in ``run_dir``, the only writer of it; each other rank works
    in a private copy of the folder as it was at the start (:func:`_rank_folder`), removed at
    the end, so a resumed run resumes the same way on every rank.
    """
    before = torch.get_num_threads()
    if cfg.execution.threads is not None:
        torch.set_num_threads(cfg.execution.threads)
    try:
        device = rank_device(cfg.execution.device)
        with _rank_folder(Path(run_dir)) as where:
            folder = RunFolder(where)
            with folder.locked():
                summary = _phases(cfg.effective(str(resolve_device(cfg.execution.device))), folder, device,
                                  _Progress(progress and is_main(), _phase_names(cfg), note if is_main() else None),
                                  stop_after_rounds, pretrained_from)
        return {**summary, "run_dir": str(Path(run_dir))} if not is_main() else summary
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def _rank_folder(run_dir: Path) -> Iterator[Path]:
    """The folder this rank runs in: ``run_dir`` on rank 0 (or a single process); on the other
    ranks a temporary copy of ``run_dir`` as it is before rank 0 starts writing (all ranks wait
    for the copies), deleted afterwards."""
    if world_size() == 1:
        yield run_dir
        return
    if is_main():
        barrier()  # the other ranks copy the folder first
        yield run_dir
        return
    tmp = Path(tempfile.mkdtemp(prefix=f"infagenc-rank{rank()}-"))
    try:
        shadow = tmp / "run"
        if run_dir.is_dir():
            shutil.copytree(run_dir, shadow, ignore=shutil.ignore_patterns(RunFolder(run_dir, create=False)
                                                                          .lock_path.name))
        barrier()
        yield shadow
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _phase_names(cfg: RunConfig) -> tuple[str, ...]:
    return tuple(p for p, _ in PHASES if p != "evaluation" or cfg.evaluation.enabled)


def _phases(cfg: RunConfig, folder: RunFolder, device, bar: _Progress, stop_after_rounds: int | None,
            pretrained_from) -> dict:
    progress = bar.enabled
    check_generator_options(cfg)
    _check_resume(folder, cfg)
    folder.write_json(folder.environment_path, {
        **environment(device, precision=cfg.execution.precision, threads_requested=cfg.execution.threads),
        "distributed": execution_info(device, cfg.execution.precision)})
    t_start = time.perf_counter()
    folder.log(f"run {cfg.name!r} in {folder.root} on {device}")
    timed = _Timing(folder)

    bar.start("data", folder)
    sp = timed("data", data_phase, folder, cfg, progress)
    cfg = cfg.effective(str(device), trans=sp.train.trans is not None)  # the generator models trans iff the data keep it
    folder.write_json(folder.config_path, cfg.to_dict())
    bar.costs = phase_costs(cfg, len(sp.train), len(sp.test))
    if pretrained_from is not None:
        adopt_pretrained(folder, cfg, sp, pretrained_from)
    bar.start("pretrain_critic", folder)
    critic = timed("pretrain_critic", pretrain_critic, folder, cfg, sp, device, progress)
    # the critic stops at its target accuracy: the model's cost of the epochs it ran
    bar.costs["pretrain_critic"] *= min(1.0, len(critic.history) / max(1, cfg.critic.epochs))
    bar.start("pretrain_generator", folder)
    gen = timed("pretrain_generator", pretrain_generator, folder, cfg, sp, device, progress)
    summary = {"run_dir": str(folder.root), "excluded": [str(e) for e in sp.exclusions]}
    try:
        bar.start("loop", folder)
        pool = timed("loop", loop_phase, folder, cfg, sp, gen, critic, device, progress, stop_after_rounds)
    except Stopped as s:
        folder.log(f"stopped after round {s.rounds} (resume by running again)")
        timed.session(time.perf_counter() - t_start)
        return {**summary, "stopped_after_rounds": s.rounds}
    bar.start("final_recognition", folder)
    syn = timed("final_recognition", synthetic_for_final, folder, cfg, sp, pool, device)
    recognition = timed("final_recognition", final_phase, folder, cfg, sp, syn, device, progress)
    metrics = None
    if cfg.evaluation.enabled:
        bar.start("evaluation", folder)
        metrics = timed("evaluation", evaluate_run, folder, sp, cfg, device, progress)
    wall = time.perf_counter() - t_start
    folder.log(f"done in {wall:.1f} s")
    timed.session(wall)
    return {**summary, "recognition": recognition, "generation": metrics, "wall_seconds": wall}
