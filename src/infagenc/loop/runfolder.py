"""The run folder: everything a run makes, in one place, readable without the code that made it.

```
RUN_DIR/
  config.json                 the fully resolved RunConfig
  state.json                  progress: which phases are done, rounds done (for resume)
  run.log                     a line per event (phases, epochs, rounds, timings)
  environment.json            machine, torch version, device, git commit
  data/train.npz val.npz test.npz     the real splits used (subject-disjoint)
  checkpoints/critic_pretrained.pt  generator_pretrained.pt  critic.pt  generator.pt
  epochs.json                 per loop epoch: CAS, generator losses, timings
  rounds/round_XXX/selected.npz     the samples recycled in that round (MotionSet, provenance)
  rounds/round_XXX/scores.json      every candidate of the round's best epoch: class,
                                    confidence, filter verdict, d_within, d_between, score, kept
  rounds.json                 per round: best epoch, CAS, counts per class, timings
  synthetic.npz               all recycled samples so far
  recognition/<set>/seed_<s>/ report.json, confusion.png (set = real, syn, real_syn)
  recognition/summary.json    mean and 95% interval over seeds per training set
  evaluation/metrics.json     generation metrics (reference = real test, real train)
  report.md + figures/        built by `infagenc report RUN_DIR`
```
Checkpoints are plain state dicts (loaded with ``weights_only=True``); everything else is
JSON or ``.npz`` without pickles.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path

__all__ = ["RunFolder", "write_json", "read_json", "environment"]


def write_json(path: Path, obj) -> Path:
    """Atomic JSON write (a crash never leaves a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=_default) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def read_json(path: Path, default=None):
    path = Path(path)
    if not path.exists():
        return default
    return json.loads(path.read_text(encoding="utf-8"))


def _git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device=None) -> dict:
    import numpy as np
    import torch

    from .. import __version__

    env = {
        "infagenc": __version__,
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "device": str(device) if device is not None else None,
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


class RunFolder:
    """Paths and small I/O helpers of one run folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    # paths ------------------------------------------------------------------
    def path(self, *parts: str) -> Path:
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    @property
    def config_path(self) -> Path:
        return self.root / "config.json"

    def checkpoint(self, name: str) -> Path:
        return self.path("checkpoints", f"{name}.pt")

    def round_dir(self, r: int) -> Path:
        d = self.root / "rounds" / f"round_{r:03d}"
        d.mkdir(parents=True, exist_ok=True)
        return d

    # state ------------------------------------------------------------------
    def state(self) -> dict:
        return read_json(self.root / "state.json", {"phases_done": [], "rounds_done": 0})

    def set_state(self, **updates) -> dict:
        st = self.state()
        st.update(updates)
        write_json(self.root / "state.json", st)
        return st

    def phase_done(self, phase: str) -> bool:
        return phase in self.state()["phases_done"]

    def mark_done(self, phase: str) -> None:
        st = self.state()
        if phase not in st["phases_done"]:
            st["phases_done"].append(phase)
        write_json(self.root / "state.json", st)

    # logging ----------------------------------------------------------------
    def log(self, message: str) -> None:
        with open(self.root / "run.log", "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {message}\n")

    def write_json(self, name: str, obj) -> Path:
        return write_json(self.path(name), obj)

    def read_json(self, name: str, default=None):
        return read_json(self.root / name, default)
