"""Speed of the recognizers: milliseconds per batch of 16 sequences (T 60, V 25 = NTU layout,
xyz), for ST-GCN and MS-G3D at paper and slim size, fp32 and bf16 autocast.

Two numbers per setting, each the median of ``--repeats`` timed runs after one warm-up:
``train`` = forward + cross-entropy + backward + Adam step (train mode), ``infer`` = forward
under ``torch.inference_mode`` (eval mode). Runs on the CPU, and on CUDA too when present.

    python benchmarks/speed/speed_recognizers.py            # all settings
    python benchmarks/speed/speed_recognizers.py --models stgcn --sizes paper

Writes benchmarks/results/speed_recognizers.json (machine, torch version, devices, table).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from infagenc.models.registry import RECOGNIZERS, SIZES, build_recognizer
from infagenc.train.device import PRECISIONS, autocast

OUT = Path(__file__).resolve().parents[1] / "results" / "speed_recognizers.json"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def bench(name: str, size: str, precision: str, device: torch.device, repeats: int,
          batch: int = 16, frames: int = 60) -> dict:
    torch.manual_seed(0)
    model = build_recognizer(name, "ntu25", 3, 60, size=size).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, frames, 25, 3, device=device)
    y = torch.randint(0, 60, (batch,), device=device)

    def train_step() -> None:
        model.train()
        with autocast(device, precision):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def infer() -> None:
        model.eval()
        with torch.inference_mode(), autocast(device, precision):
            model(x)

    return {"model": name, "size": size, "precision": precision, "device": str(device),
            "params": sum(p.numel() for p in model.parameters()), "feature_dim": model.feature_dim,
            "train_ms": round(_timed(train_step, device, repeats), 1),
            "infer_ms": round(_timed(infer, device, repeats), 1)}


def machine() -> dict:
    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            # the 2 cores are shared with other jobs: the 1-minute load average says how busy they were
            "load_average_1min": round(os.getloadavg()[0], 2)}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", choices=sorted(RECOGNIZERS), default=["stgcn", "msg3d"])
    ap.add_argument("--sizes", nargs="+", choices=SIZES, default=list(SIZES))
    ap.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per number (median), default 3")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    print(f"{'device':6} {'model':6} {'size':5} {'prec':4} {'params':>9} {'train ms':>9} {'infer ms':>9}")
    for device in devices:
        for name in args.models:
            for size in args.sizes:
                for precision in args.precisions:
                    r = bench(name, size, precision, device, args.repeats)
                    rows.append(r)
                    print(f"{device.type:6} {name:6} {size:5} {precision:4} {r['params']:9d} "
                          f"{r['train_ms']:9.1f} {r['infer_ms']:9.1f}", flush=True)
    result = {"what": "ms per batch of 16 (T 60, V 25, xyz); train = fwd+bwd+Adam step, infer = forward; "
                      "median of repeats after a warm-up",
              "command": "python benchmarks/speed/speed_recognizers.py", "machine": machine(),
              "repeats": args.repeats, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
