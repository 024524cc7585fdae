"""Whole-pipeline wall time and peak memory of ``infagenc demo`` (issue 7, speed suite).

    python benchmarks/speed/pipeline_speed.py               # the demo as a user runs it, 1x data
    python benchmarks/speed/pipeline_speed.py --scale 1 4   # with 4x the demo data
    python benchmarks/speed/pipeline_speed.py --threads 1   # one torch thread
    python benchmarks/speed/pipeline_speed.py --device cuda # on a GPU (the device is recorded)

Each measurement runs the command a user types, ``infagenc demo`` (data, critic and
generator pre-training, the loop, the Real / Syn / Real+Syn recognizers, the generation
metrics and the report), in a fresh child process with a temporary run folder. Wall time is
measured around the child; peak memory is the child's largest resident set (``wait4``
rusage), CPU time its user + system time; the phase split comes from the run's
``timing.json``. Data scale ``k`` multiplies the demo's subjects (``demo.subjects``):
the made-up data generator then draws k times as many sequences (train and test), the
config is otherwise the demo's. Rows are merged into ``results/pipeline_speed.json`` (a row
replaces an earlier one of the same scale, threads, precision and device) and shown by
``benchmarks/tables.py`` in ``results/speed.md``. Each row records the machine's load
averages just before and just after the child (``os.getloadavg``: a wall time measured
beside other jobs is not an idle machine's), and what the demo is for: the accuracy of the
generated samples by the Real-trained evaluator and the recycled pool's samples per class.
Targets: the demo within 10 minutes on 2 CPU cores (issue 7); within 5 minutes on an
idle 2-core machine (the newcomer's first hour).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from infagenc.loop.config import demo_config
from infagenc.runfolder import RunFolder, environment

HERE = Path(__file__).resolve().parents[1]  # benchmarks/
RESULTS = HERE / "results" / "pipeline_speed.json"


def _rss_mb(maxrss: int) -> float:
    """``ru_maxrss`` in MB (kilobytes on Linux, bytes on macOS)."""
    return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024


def measure(scale: int, threads: int | None, precision: str, device: str | None, seed: int,
            progress: bool) -> dict:
    subjects = demo_config()["demo"]["subjects"] * scale
    with tempfile.TemporaryDirectory() as tmp:
        override = Path(tmp) / "scale.json"
        override.write_text(json.dumps({"demo": {"subjects": subjects}}))
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "infagenc", "demo", "--out", str(out), "--config", str(override),
               "--seed", str(seed), "--precision", precision]
        if threads:
            cmd += ["--threads", str(threads)]
        if device:
            cmd += ["--device", device]
        if not progress:
            cmd += ["--no-progress"]
        load_before = os.getloadavg()
        t0 = time.perf_counter()
        pid = os.spawnv(os.P_NOWAIT, sys.executable, cmd)
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - t0
        load_after = os.getloadavg()
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise RuntimeError(f"`{' '.join(cmd)}` exited with {code}")
        f = RunFolder(out, create=False)
        timing = json.loads(f.timing_path.read_text())
        cfg = json.loads(f.config_path.read_text())
        env = json.loads(f.environment_path.read_text())
        rec = json.loads(f.recognition_summary_path().read_text())
        data = json.loads(f.data_summary_path.read_text())
        metrics = json.loads(f.metrics_path.read_text()) if f.metrics_path.exists() else {}
        pool = _pool_counts(f, data)
    return {
        "config": "demo", "scale": scale, "demo_subjects": subjects,
        "train_sequences": data["train"]["samples"], "test_sequences": data["test"]["samples"],
        "precision": precision, "threads": threads, "device": env.get("device"), "gpu": env.get("gpu"),
        "torch_threads": env.get("torch_threads"), "seed": seed,
        "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": _rss_mb(usage.ru_maxrss),
        "phases_s": timing["phases"],
        "report_and_startup_s": wall - sum(timing["phases"].values()),
        "test_accuracy": {k: v["overall"]["mean"] for k, v in rec.items() if "overall" in v},
        "generated_accuracy": ((metrics.get("vs_test") or {}).get("generated") or {}).get("accuracy", {}).get("mean"),
        "pool_per_class": pool,
        "load_average_before": list(load_before), "load_average_after": list(load_after),
        "resolved_config": cfg, "command": _shown(cmd, subjects),
    }


def _pool_counts(f: RunFolder, data: dict) -> dict | None:
    """Samples per class of the run's synthetic set (the recycled pool), by class name."""
    if not f.synthetic_path.exists():
        return None
    from infagenc.data.motionset import MotionSet

    got = MotionSet.load(f.synthetic_path).class_counts()
    names = list(data["train"].get("class_counts") or sorted(got))
    return {c: int(got.get(c, 0)) for c in names}


def _shown(cmd: list[str], subjects: int) -> str:
    """The child's command as a user would type it (temporary paths replaced by what they hold)."""
    shown = " ".join(["infagenc"] + cmd[3:])
    shown = re.sub(r"--out \S+", "--out RUN_DIR", shown)
    return re.sub(r"--config \S+", f"--config <file: demo.subjects = {subjects}>", shown)


def _key(r: dict) -> tuple:
    return (r["config"], r["scale"], r["threads"], r["precision"], r["device"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, nargs="+", default=[1], help="data scale(s): demo subjects x k")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: one per core)")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--device", default=None, help="auto (default), cpu, cuda, ...")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    command = "python benchmarks/speed/pipeline_speed.py " + " ".join(sys.argv[1:] if argv is None else argv)
    rows = []
    for s in a.scale:
        r = measure(s, a.threads, a.precision, a.device, a.seed, not a.no_progress)
        r["benchmark_command"] = command
        rows.append(r)
        print(f"scale {s}: {r['train_sequences']} training sequences, wall {r['wall_s'] / 60:.1f} min, "
              f"CPU {r['cpu_s'] / 60:.1f} min, peak RSS {r['peak_rss_mb']:.0f} MB "
              f"({', '.join(f'{k} {v:.0f} s' for k, v in r['phases_s'].items())}); load average "
              f"{r['load_average_before'][0]:.2f} before, {r['load_average_after'][0]:.2f} after; generated "
              f"accuracy {r['generated_accuracy']}, pool {r['pool_per_class']}", flush=True)
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"rows": []}
    keep = [r for r in old["rows"] if _key(r) not in {_key(x) for x in rows}]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"command": command, "environment": environment(), "rows": keep + rows},
                                  indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
