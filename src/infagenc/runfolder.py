"""The run folder: everything a run makes, in one place, readable without the code that made it.

```
RUN_DIR/
  config.json                 the effective RunConfig (what ran, see docs/design.md)
  state.json                  progress: which phases are done, rounds done (for resume)
  run.log                     a line per event (phases, epochs, rounds, timings)
  environment.json            machine, torch version, device, precision, threads, git commit
  timing.json                 wall seconds per phase and per session
  data/train.npz val.npz test.npz     the real splits used (subject-disjoint)
  data/summary.json           counts per class and subject of each split
  pretrain_critic.json  pretrain_generator.json   pre-training histories
  checkpoints/critic_pretrained.pt  generator_pretrained.pt  critic.pt  generator.pt  evaluator.pt
  checkpoints/generator_round_XXX.pt  critic_round_XXX.pt   the last committed loop round (while it runs)
  epochs.json                 per loop epoch: CAS, generator losses, timings
  rounds/round_XXX/selected.npz     the samples recycled in that round (MotionSet, provenance)
  rounds/round_XXX/scores.json      every candidate of the round's best epoch: class,
                                    confidence, filter verdict, d_within, d_between, score, kept
  rounds.json                 per round: best epoch, CAS, counts per class, timings
  synthetic.npz               all recycled samples so far (the baseline: its final samples)
  recognition/<set>/seed_<s>/ report.json, report.md, confusion.png (set = real, syn, real_syn,
                              and auto: the guard's choice, with recognition/guard.json)
  recognition/floor_<model>/<set>/  the trivial floor (linear / kNN) on the same sets and test subjects
  recognition/summary.json    mean and 95% interval over seeds per training set, and the floor
  evaluation/metrics.json     generation metrics (reference = real test, real train)
  evaluation/features.npz     evaluator features of real and generated samples (t-SNE)
  evaluation/samples.npz      a few generated samples per class (the report's pictures)
  report.md + figures/        built by `infagenc report RUN_DIR`
```
Every path is named once, here (:class:`RunFolder`); checkpoints are plain state dicts
(loaded with ``weights_only=True``); everything else is JSON or ``.npz`` without pickles.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Iterator

from .jsonio import read_json, write_json

__all__ = ["RunFolder", "RunFolderBusy", "environment", "TRAIN_SETS"]


class RunFolderBusy(RuntimeError):
    """Another process holds the run folder's lock."""

# The final experiment's training sets: the real training subjects, the synthetic set alone,
# and both together.
TRAIN_SETS = ("real", "syn", "real_syn")


def _git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model() -> str | None:
    """The CPU's model name (Linux: ``/proc/cpuinfo``; None where it cannot be read): the same
    seed gives other floats on another CPU, so a result names the one it ran on."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def environment(device=None, **execution) -> dict:
    """Machine and library facts of a run, plus the execution settings that were chosen
    (``execution``: e.g. precision, threads)."""
    import numpy as np
    import torch

    from . import __version__

    env = {
        "infagenc": __version__,
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "device": str(device) if device is not None else None,
        **execution,
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


class RunFolder:
    """The named paths and small I/O helpers of one run folder (layout in the module docstring)."""

    def __init__(self, root: str | Path, *, create: bool = True):
        self.root = Path(root)
        if create:
            self.root.mkdir(parents=True, exist_ok=True)

    # generic ------------------------------------------------------------------
    def path(self, *parts: str) -> Path:
        """``root/parts...``, its parent folder created."""
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def _abs(self, where: str | Path) -> Path:
        where = Path(where)
        return where if where.is_absolute() else self.root / where

    # named paths ----------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / "config.json"

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    @property
    def log_path(self) -> Path:
        return self.root / "run.log"

    @property
    def environment_path(self) -> Path:
        return self.root / "environment.json"

    @property
    def timing_path(self) -> Path:
        return self.root / "timing.json"

    def split_path(self, name: str) -> Path:
        """``data/<name>.npz`` for name in train / val / test."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {name!r}")
        return self.root / "data" / f"{name}.npz"

    @property
    def data_summary_path(self) -> Path:
        return self.root / "data" / "summary.json"

    def pretrain_log_path(self, what: str) -> Path:
        """``pretrain_critic.json`` / ``pretrain_generator.json``."""
        return self.root / f"pretrain_{what}.json"

    def checkpoint(self, name: str) -> Path:
        return self.path("checkpoints", f"{name}.pt")

    def round_checkpoint(self, name: str, r: int) -> Path:
        """``checkpoints/<name>_round_XXX.pt``: the state after loop round ``r`` (the loop's
        commit; only the last committed round's are kept)."""
        return self.checkpoint(f"{name}_round_{r:03d}")

    def round_checkpoints(self, name: str) -> list[Path]:
        return sorted((self.root / "checkpoints").glob(f"{name}_round_*.pt"))

    @property
    def epochs_path(self) -> Path:
        return self.root / "epochs.json"

    @property
    def rounds_path(self) -> Path:
        return self.root / "rounds.json"

    @property
    def rounds_root(self) -> Path:
        return self.root / "rounds"

    def round_dir(self, r: int) -> Path:
        d = self.rounds_root / f"round_{r:03d}"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def round_selected_path(self, r: int) -> Path:
        return self.round_dir(r) / "selected.npz"

    def round_scores_path(self, r: int) -> Path:
        return self.round_dir(r) / "scores.json"

    @property
    def synthetic_path(self) -> Path:
        return self.root / "synthetic.npz"

    def recognition_dir(self, out: str = "recognition") -> Path:
        return self.root / out

    def recognition_report_path(self, train_set: str, seed: int, out: str = "recognition") -> Path:
        return self.root / out / train_set / f"seed_{seed}" / "report.json"

    def floor_report_path(self, model: str, train_set: str, out: str = "recognition") -> Path:
        """The trivial floor's report (a classical recognizer, one deterministic fit per set)."""
        return self.root / out / f"floor_{model}" / train_set / "report.json"

    def guard_path(self, out: str = "recognition") -> Path:
        """The synthetic-data guard's validation table and choice (``final.synthetic = "auto"``)."""
        return self.root / out / "guard.json"

    def recognition_summary_path(self, out: str = "recognition") -> Path:
        return self.root / out / "summary.json"

    @property
    def evaluation_dir(self) -> Path:
        return self.root / "evaluation"

    @property
    def metrics_path(self) -> Path:
        return self.evaluation_dir / "metrics.json"

    @property
    def features_path(self) -> Path:
        return self.evaluation_dir / "features.npz"

    @property
    def samples_path(self) -> Path:
        return self.evaluation_dir / "samples.npz"

    @property
    def figures_dir(self) -> Path:
        return self.root / "figures"

    def report_path(self, suffix: str = ".md") -> Path:
        return self.root / f"report{suffix}"

    @property
    def lock_path(self) -> Path:
        return self.root / ".lock"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's lock (one process per run folder); a second process is refused
        at once with :class:`RunFolderBusy`. The OS releases the lock when the process ends,
        however it ends, so a killed run never leaves a stale lock."""
        with open(self.lock_path, "a+", encoding="utf-8") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                who = fh.read().strip() or "another process"
                raise RunFolderBusy(f"{self.root} is in use by {who}: wait for it to finish, or use another "
                                    f"run folder") from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"infagenc process {os.getpid()}\n")
            fh.flush()
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    # state ------------------------------------------------------------------------
    def state(self) -> dict:
        return read_json(self.state_path, {"phases_done": [], "rounds_done": 0})

    def set_state(self, **updates) -> dict:
        st = self.state()
        st.update(updates)
        write_json(self.state_path, st)
        return st

    def phase_done(self, phase: str) -> bool:
        return phase in self.state()["phases_done"]

    def mark_done(self, phase: str) -> None:
        st = self.state()
        if phase not in st["phases_done"]:
            st["phases_done"].append(phase)
        write_json(self.state_path, st)

    # logging and JSON -------------------------------------------------------------
    def log(self, message: str) -> None:
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {message}\n")

    def write_json(self, where: str | Path, obj) -> Path:
        """Atomic JSON write of ``where`` (a named path, or a path relative to the root)."""
        return write_json(self._abs(where), obj)

    def read_json(self, where: str | Path, default=None):
        return read_json(self._abs(where), default)
