"""A kill at any moment, then the same command, gives the same results.

The reference run records a copy of its folder just before each of its writes (every
artifact write goes through an atomic rename, ``os.replace``), which is exactly what a
crash at that moment leaves on disk, the temporary file of the write in progress included.
Each copy is then resumed, and every artifact is compared with the uninterrupted run's:
JSON files parsed and equal (timings left out), arrays and checkpoint tensors identical,
pictures and text byte-equal. One real ``kill -9`` of a run in a subprocess is resumed too.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from infagenc.loop.config import RunConfig
from infagenc.loop.runner import run

pytestmark = pytest.mark.slow

_TINY_STGCN = {"blocks": [[8, 1], [16, 2]], "temporal_kernel": 3}
MINI = {
    "data": {"frames": 6, "test_fraction": 0.34},
    "demo": {"subjects": 3, "per_class": 2},
    "critic": {"size": "slim", "epochs": 2, "batch_size": 8, "lr": 3e-3, "model_options": _TINY_STGCN},
    "generator": {"cvae": {"num_layers": 1, "d_model": 16, "num_heads": 2, "ff_size": 32}, "batch_size": 8},
    "pretrain_generator_epochs": 2,
    "loop": {"epochs": 2, "window": 1, "critic_update_epochs": 1, "theta": 0.0},
    "final": {"recognizer": {"size": "slim", "epochs": 1, "batch_size": 8, "model_options": _TINY_STGCN},
              "seeds": [0]},
    "evaluation": {"repeats": 2, "diversity_pairs": 4, "multimodality_pairs": 2},
}
# what may differ between two runs of the same config: wall times, the log, the machine record
_VOLATILE_FILES = {"timing.json", "run.log", "environment.json", ".lock"}


def _strip_times(obj):
    if isinstance(obj, dict):
        return {k: _strip_times(v) for k, v in obj.items() if k != "seconds" and not k.startswith("time_")}
    if isinstance(obj, list):
        return [_strip_times(v) for v in obj]
    return obj


def _artifacts(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in root.rglob("*")
            if p.is_file() and p.name not in _VOLATILE_FILES and not p.name.endswith(".tmp")}


def _same(a: Path, b: Path) -> bool:
    if a.suffix == ".json":
        return _strip_times(json.loads(a.read_text())) == _strip_times(json.loads(b.read_text()))
    if a.suffix == ".npz":
        with np.load(a, allow_pickle=False) as za, np.load(b, allow_pickle=False) as zb:
            return set(za.files) == set(zb.files) and all(np.array_equal(za[k], zb[k]) for k in za.files)
    if a.suffix == ".pt":
        ca, cb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
        sa, sb = ca["state_dict"], cb["state_dict"]
        return (sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
                and _strip_times(ca["meta"]) == _strip_times(cb["meta"]))
    return a.read_bytes() == b.read_bytes()


def _differences(ref: Path, other: Path) -> list[str]:
    ra, rb = _artifacts(ref), _artifacts(other)
    out = [f"only in one: {k}" for k in sorted(set(ra) ^ set(rb))]
    return out + [f"differs: {k}" for k in sorted(set(ra) & set(rb)) if not _same(ra[k], rb[k])]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, and a copy of its folder taken just before each of its writes."""
    base = tmp_path_factory.mktemp("faults")
    ref, snaps = base / "ref", base / "snaps"
    real_replace = os.replace
    taken: list[Path] = []

    def snapshot_then_replace(src, dst):
        if Path(dst).resolve().is_relative_to(ref.resolve()):
            snap = snaps / f"{len(taken):03d}"
            shutil.copytree(ref, snap)
            taken.append(snap)
        return real_replace(src, dst)

    os.replace = snapshot_then_replace
    try:
        run(RunConfig.from_dict(MINI), ref, progress=False)
    finally:
        os.replace = real_replace
    return ref, taken


def test_a_crash_before_any_write_resumes_to_the_same_results(reference, tmp_path):
    ref, snaps = reference
    assert len(snaps) > 40  # every artifact of every phase (about 60 writes)
    bad = {}
    for snap in snaps:
        resumed = tmp_path / snap.name
        shutil.copytree(snap, resumed)
        run(RunConfig.from_dict(MINI), resumed, progress=False)
        diff = _differences(ref, resumed)
        if diff:
            bad[snap.name] = diff[:3]
        shutil.rmtree(resumed)
    assert bad == {}


def test_a_real_kill_resumes_to_the_same_results(reference, tmp_path):
    ref, _ = reference
    out = tmp_path / "killed"
    script = ("import json, sys, torch; torch.set_num_threads(1)\n"
              "from infagenc.loop.config import RunConfig\nfrom infagenc.loop.runner import run\n"
              f"run(RunConfig.from_dict(json.loads({json.dumps(json.dumps(MINI))})), {str(out)!r}, progress=False)\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    state = out / "state.json"
    deadline = time.monotonic() + 120
    try:  # kill -9 once the loop has committed a round (mid-pipeline)
        while time.monotonic() < deadline and proc.poll() is None:
            if state.exists() and json.loads(state.read_text() or "{}").get("rounds_done", 0) >= 1:
                break
            time.sleep(0.02)
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed, "the run finished before it could be killed"
    assert not (state.exists() and "evaluation" in json.loads(state.read_text()).get("phases_done", []))
    run(RunConfig.from_dict(MINI), out, progress=False)
    assert _differences(ref, out) == []
