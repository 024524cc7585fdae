"""Speed of the InfAGenC loop: each epoch's time split into generator training, generation,
scoring, selection and critic update; loop overhead relative to generator training.

    python benchmarks/speed/loop_speed.py                # paper-size config, 1x data, fp32
    python benchmarks/speed/loop_speed.py --config demo  # the demo's CPU-friendly config
    python benchmarks/speed/loop_speed.py --scale 1 4 16 # cost growth with data size
    python benchmarks/speed/loop_speed.py --precision bf16
    python benchmarks/speed/loop_speed.py --score-fraction 0.25 --eval-batch-size 16   # the cheaper scoring
    python benchmarks/speed/loop_speed.py --config demo --generator cvae mdm --threads 1  # CVAE vs diffusion

Data: the demo generator's made-up infant actions (smpl24, rot6d, 60 frames), enough
subjects for 310 training sequences at scale 1 (the paper's InfActPrimitive size),
replicated ``scale`` times for the growth study. Pre-training is skipped (speed does not
depend on how trained the models are); the loop runs ``--windows`` windows.

Overhead = (generation + scoring + selection + critic update) / generator training, over
the whole measured loop (selection and critic update happen once per window, so they are
spread over its epochs). Writes ``results/loop_speed.json`` (merged with earlier rows of
other configs) and prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from infagenc.config import merge_dicts
from infagenc.loop.config import RunConfig, demo_config
from infagenc.runfolder import environment
from infagenc.loop.data import data_phase
from infagenc.loop.pretrain import pretrain_critic, pretrain_generator
from infagenc.loop.rounds import loop_phase
from infagenc.runfolder import RunFolder
from infagenc.train.device import inference_batch_size, resolve_device
from infagenc.data.motionset import MotionSet

HERE = Path(__file__).resolve().parents[1]  # benchmarks/
RESULTS = HERE / "results" / "loop_speed.json"

PAPER = {  # the paper's setting: 310 sequences, 60 frames, 24 joints rot6d, 8-layer CVAE d 256, batch 16, ST-GCN critic
    "name": "speed-paper",
    "data": {"frames": 60, "test_fraction": 0.2}, "demo": {"subjects": 20, "per_class": 5},  # 320 train -> 310
    "critic": {"size": "paper", "epochs": 1},
    "generator": {"batch_size": 16},
    "loop": {"epochs": 10, "window": 10, "theta": 0.0},
}


def _config(name: str, windows: int, precision: str, score_fraction: float = 1.0,
            eval_batch_size: int | None = None, critic_size: str | None = None, generator: str = "cvae") -> RunConfig:
    base = PAPER if name == "paper" else merge_dicts(demo_config(), {"name": "speed-demo"})
    critic = {"epochs": 1, "target_accuracy": None}
    if eval_batch_size:
        critic["eval_batch_size"] = eval_batch_size
    if critic_size:
        critic["size"] = critic_size
    d = merge_dicts(base, {"pretrain_generator_epochs": 0, "execution": {"precision": precision}, "critic": critic,
                           "loop": {"score_fraction": score_fraction,
                                    # sampling-time dropout is a CVAE option (the demo's 0.1)
                                    **({"sample_dropout": 0.0} if generator == "mdm" else {})},
                           "generator": {"model": generator},
                           "evaluation": {"enabled": False}})
    w = d["loop"]["window"] if "window" in d.get("loop", {}) else 10
    d = merge_dicts(d, {"loop": {"epochs": w * windows, "window": w}})
    return RunConfig.from_dict(d)


def _sized(ms: MotionSet, n: int | None, scale: int) -> MotionSet:
    """The first ``n`` training sequences (the paper's 310), replicated ``scale`` times."""
    if n is not None:
        ms = ms.subset(range(min(n, len(ms))))
    return ms if scale == 1 else MotionSet.concat([ms] * scale)


def measure(name: str, scale: int, windows: int, precision: str, progress: bool,
            score_fraction: float = 1.0, eval_batch_size: int | None = None, critic_size: str | None = None,
            generator: str = "cvae") -> dict:
    cfg = _config(name, windows, precision, score_fraction, eval_batch_size, critic_size, generator)
    with tempfile.TemporaryDirectory() as tmp:
        device = resolve_device(cfg.execution.device)
        cfg = cfg.effective(str(device))
        f = RunFolder(tmp)
        sp = data_phase(f, cfg, progress)
        sp.train = _sized(sp.train, 310 if name == "paper" else None, scale)
        critic = pretrain_critic(f, cfg, sp, device, progress)
        gen = pretrain_generator(f, cfg, sp, device, progress)
        t0 = time.perf_counter()
        loop_phase(f, cfg, sp, gen, critic, device, progress)
        wall = time.perf_counter() - t0
        epochs = json.loads(f.epochs_path.read_text())
        rounds = json.loads(f.rounds_path.read_text())
    n = len(epochs)
    tot = {k: sum(e[k] for e in epochs) for k in ("time_gen_train", "time_generate", "time_score")}
    tot.update({k: sum(rd.get(k, 0.0) for rd in rounds)
                for k in ("time_rescore", "time_select", "time_critic_update")})
    overhead = (tot["time_generate"] + tot["time_score"] + tot["time_rescore"] + tot["time_select"]
                + tot["time_critic_update"])
    return {
        "config": name, "scale": scale, "precision": precision, "train_samples": len(sp.train),
        "score_fraction": cfg.loop.score_fraction,
        "eval_batch_size": inference_batch_size(cfg.critic.eval_batch_size, device), "generator": generator,
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "critic_size": cfg.critic.size,
        "device": str(device), "torch_threads": torch.get_num_threads(),
        "frames": cfg.data.frames, "epochs": n, "windows": windows,
        "per_epoch_s": {k.replace("time_", ""): v / n for k, v in tot.items()},
        "loop_wall_s": wall, "loop_wall_per_epoch_s": wall / n,
        "overhead_ratio": overhead / tot["time_gen_train"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "resolved_config": cfg.to_dict(),
    }


def _key(r: dict) -> tuple:
    """Rows of the same setting replace each other (rows written before an option existed have its default)."""
    return (r["config"], r["scale"], r["precision"], r.get("score_fraction", 1.0), r.get("eval_batch_size", 64),
            r.get("critic_size") or r["resolved_config"]["critic"]["size"], r.get("generator", "cvae"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=["paper", "demo"], default="paper")
    ap.add_argument("--scale", type=int, nargs="+", default=[1])
    ap.add_argument("--windows", type=int, default=1)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--score-fraction", type=float, default=1.0,
                    help="loop.score_fraction: share of each epoch's samples scored (1 = the paper)")
    ap.add_argument("--eval-batch-size", type=int, default=None, help="the critic's inference batch size")
    ap.add_argument("--critic-size", choices=["paper", "slim"], default=None,
                    help="the critic's size (default: the config's)")
    ap.add_argument("--generator", nargs="+", choices=["cvae", "mdm"], default=["cvae"],
                    help="generator.model, one row each (default cvae); the diffusion generator's epoch "
                         "trains one noise level a sample and samples with its DDIM steps")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    rows = [measure(a.config, s, a.windows, a.precision, not a.no_progress, a.score_fraction, a.eval_batch_size,
                    a.critic_size, g) for g in a.generator for s in a.scale]
    for r in rows:
        r["command"] = "python benchmarks/speed/loop_speed.py " + " ".join(sys.argv[1:] if argv is None else argv)
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"rows": []}
    keep = [r for r in old["rows"] if _key(r) not in {_key(x) for x in rows}]
    out = {"command": "python benchmarks/speed/loop_speed.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "environment": environment(), "rows": keep + rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'config':6} {'scale':>5} {'prec':5} {'N':>5} {'frac':>5}  {'gen_train':>9} {'generate':>8} "
          f"{'score':>7} {'rescore':>7} {'select':>7} {'critic':>7}  {'overhead':>8}  {'peak MB':>7}")
    for r in rows:
        p = r["per_epoch_s"]
        print(f"{r['config']:6} {r['scale']:>5} {r['precision']:5} {r['train_samples']:>5} {r['score_fraction']:5.2f}  "
              f"{p['gen_train']:9.2f} {p['generate']:8.2f} {p['score']:7.2f} {p['rescore']:7.2f} {p['select']:7.2f} "
              f"{p['critic_update']:7.2f}  "
              f"{100 * r['overhead_ratio']:7.1f}%  {r['peak_rss_mb']:7.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
