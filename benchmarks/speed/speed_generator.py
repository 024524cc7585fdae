"""Generator speed: ms per training batch of 16 (forward + backward + Adam step), T 60,
smpl24 rot6d (6 channels) with the forward-kinematics position loss, at paper and slim
size (``infagenc.models.sizes.SIZES``), fp32 and bf16; plus ms to sample a batch of 16 (no gradients).

Not a test. Writes benchmarks/results/speed_generator.json (or --out).

    python benchmarks/speed/speed_generator.py            # this CPU
    python benchmarks/speed/speed_generator.py --device cuda --out benchmarks/results/speed_generator_gpu.json

Reference (issue 4): the released code takes ~4.3 s per batch (it skins a full
6890-vertex mesh per frame); a previous measurement of the paper-size model on this kind
of 2-core machine: ~0.94 s per batch fp32, ~0.61 s bf16.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from infagenc.data.demo import make_demo
from infagenc.data.preprocess import Preprocess
from infagenc.models.cvae import CVAEConfig
from infagenc.models.sizes import SIZES, canonical_size
from infagenc.skeleton.kinematics import fk_from_representation, infant_rest_skeleton
from infagenc.train.device import resolve_device
from infagenc.train.generator import GeneratorConfig, GeneratorTrainer, sample_motionset


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def bench(size: str, precision: str, batches: int, device: str, frames: int) -> dict:
    ms = Preprocess(frames=frames)(make_demo(num_subjects=4, per_class=4, seed=0))  # 64 sequences, rot6d
    cfg = GeneratorConfig(cvae=CVAEConfig.of_size(size), batch_size=16, precision=precision, device=device)
    tr = GeneratorTrainer.from_motionset(ms, cfg)
    ts = tr.tensors(ms.subset(list(range(16))))  # one batch of 16 per epoch
    tr.train_epoch(ts)  # warm-up
    _sync(tr.device)
    times = []
    for _ in range(batches):
        t = time.perf_counter()
        tr.train_epoch(ts)
        _sync(tr.device)
        times.append(time.perf_counter() - t)
    sample_motionset(tr.model, tr.spec, per_class=4, length=frames, seed=0, precision=precision)  # warm-up
    st = []
    for i in range(max(2, batches // 2)):
        t = time.perf_counter()
        sample_motionset(tr.model, tr.spec, per_class=4, length=frames, seed=i, precision=precision)
        _sync(tr.device)
        st.append(time.perf_counter() - t)
    times.sort(), st.sort()
    return {"size": size, "precision": precision, "train_ms_per_batch_median": 1000 * times[len(times) // 2],
            "train_ms_per_batch_min": 1000 * times[0], "sample_ms_per_batch16_median": 1000 * st[len(st) // 2],
            "batches_timed": batches, "parameters": sum(p.numel() for p in tr.model.parameters()),
            "loss_terms": sorted(k for k in tr.history[-1] if k != "epoch")}


def bench_fk(frames: int, device: str, repeats: int = 5) -> float:
    """ms for forward + backward of joints-only FK on one batch (16 x frames frames, 24 joints)."""
    dev = resolve_device(device)
    rest = infant_rest_skeleton()
    x = torch.randn(16 * frames, 24, 6, device=dev, requires_grad=True)
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        fk_from_representation(x, "rot6d", rest).sum().backward()
        _sync(dev)
        times.append(time.perf_counter() - t)
    return 1000 * sorted(times[1:])[repeats // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", type=canonical_size, default=list(SIZES),
                    help="CVAE sizes (default: all; the legacy 'small' means slim)")
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--batches", type=int, default=8, help="timed batches per setting (median reported)")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "results" / "speed_generator.json")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = resolve_device(a.device)
    fk_ms = bench_fk(a.frames, str(dev))
    print(f"forward kinematics (joints only), forward + backward, one batch: {fk_ms:.1f} ms", flush=True)
    rows = []
    for size in a.sizes:
        for prec in a.precisions:
            r = bench(size, prec, a.batches, str(dev), a.frames)
            rows.append(r)
            print(f"{size:6s} {prec:5s} train {r['train_ms_per_batch_median']:8.1f} ms/batch "
                  f"(min {r['train_ms_per_batch_min']:.1f})  sample {r['sample_ms_per_batch16_median']:7.1f} ms/16",
                  flush=True)
    out = {"benchmark": "generator speed, batch 16, T %d, smpl24 rot6d + FK position loss" % a.frames,
           "device": str(dev), "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else
           platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
           "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
           "load_average_at_end": os.getloadavg(), "fk_forward_backward_ms_per_batch": fk_ms, "reference": {"released_code_s_per_batch": 4.3,
                                                                "paper_size_fp32_s_per_batch": 0.94,
                                                                "paper_size_bf16_s_per_batch": 0.61},
           "results": rows}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=2))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
