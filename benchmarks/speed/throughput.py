"""Throughput against this machine's own limit: generator training, generation, critic scoring
and critic training at the paper's sizes, each as a fraction of the fp32 matmul throughput
measured in the same process, at the same threads, just before it.

FLOPs are counted from the model shapes by torch's own counter
(``torch.utils.flop_counter.FlopCounterMode``: matmuls, convolutions and attention, forward
and backward; element-wise work is not counted, so a fraction is a lower bound of the
machine's use). The limit: the rate of a square fp32 matmul (``--matmul-n``, median of 3),
measured right before each timed call; the fraction reported is the median over the pairs. Data: fabricated paper-size sequences (smpl24 rot6d, T 60, the demo's generator
of made-up motions), batch 16 for training; critic scoring at inference batches 16 and 64.
Because both numbers of a fraction are measured back to back, a fraction is steadier under
other jobs' load than either time; the load average is recorded beside it.

    python benchmarks/speed/throughput.py --threads 1 2
    python benchmarks/speed/throughput.py --threads 1 --repeats 2 --frames 16 --out /tmp/t.json  # quick look

Writes benchmarks/results/speed_throughput.json (or --out).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from infagenc.data.demo import make_demo
from infagenc.data.preprocess import Preprocess
from infagenc.models.cvae import CVAEConfig
from infagenc.models.registry import build_recognizer
from infagenc.train.generator import GeneratorConfig, GeneratorTrainer, sample_motionset

OUT = Path(__file__).resolve().parents[1] / "results" / "speed_throughput.json"
TARGET = 0.70  # the fraction of the matmul limit aimed at, at 2 threads


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def counted_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call as torch's counter sees them (forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def matmul_rate(n: int, repeats: int) -> float:
    """fp32 FLOP/s of an n x n matmul: the machine's limit at the current threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2.0 * n ** 3 / timed(lambda: a @ b, repeats)


def components(frames: int, batch: int = 16) -> dict[str, Callable[[], object]]:
    """The loop's four costs at the paper's sizes, each a zero-argument call."""
    torch.manual_seed(0)
    ms = Preprocess(frames=frames)(make_demo(num_subjects=4, per_class=4, seed=0))  # smpl24 rot6d
    gen = GeneratorTrainer.from_motionset(ms, GeneratorConfig(cvae=CVAEConfig.of_size("paper"), batch_size=batch,
                                                              device="cpu"))
    one_batch = gen.tensors(ms.subset(list(range(batch))))
    per_class = max(1, batch // ms.num_classes)
    critic = build_recognizer("stgcn", ms.layout, ms.channels, ms.num_classes, size="paper")
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3)
    x16 = torch.as_tensor(ms.subset(list(range(batch))).data, dtype=torch.float32)
    x64 = torch.cat([x16] * 4)
    y16 = torch.as_tensor(ms.labels[:batch], dtype=torch.long)

    def critic_train() -> None:
        critic.train()
        loss = F.cross_entropy(critic(x16), y16)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def score(x: torch.Tensor) -> Callable[[], object]:
        def run() -> object:
            critic.eval()
            with torch.inference_mode():
                return critic(x)
        return run

    return {"generator training (batch 16)": lambda: gen.train_epoch(one_batch),
            f"generation ({per_class * ms.num_classes} samples)":
                lambda: sample_motionset(gen.model, gen.spec, per_class=per_class, length=frames, seed=0),
            "critic scoring (batch 16)": score(x16), "critic scoring (batch 64)": score(x64),
            "critic training (batch 16)": critic_train}


def measure(threads: int, frames: int, repeats: int, matmul_n: int) -> list[dict]:
    torch.set_num_threads(threads)
    rows = []
    for name, fn in components(frames).items():
        flops = counted_flops(fn)
        fn()  # warm-up
        pairs = []  # (limit, seconds) measured back to back: other jobs' load moves both alike
        for _ in range(repeats):
            limit = matmul_rate(matmul_n, 3)
            t0 = time.perf_counter()
            fn()
            pairs.append((limit, time.perf_counter() - t0))
        fractions = sorted(flops / sec / lim for lim, sec in pairs)
        limit = statistics.median(lim for lim, _ in pairs)
        seconds = statistics.median(sec for _, sec in pairs)
        rate = flops / seconds
        rows.append({"component": name, "threads": threads, "gflop_per_call": flops / 1e9, "seconds": seconds,
                     "gflop_per_s": rate / 1e9, "matmul_gflop_per_s": limit / 1e9,
                     "fraction": statistics.median(fractions), "fraction_range": [fractions[0], fractions[-1]],
                     "load_avg_1min": round(os.getloadavg()[0], 2)})
        r = rows[-1]
        print(f"{threads} thr  {name:32s} {r['gflop_per_call']:8.2f} GFLOP  {1000 * seconds:8.1f} ms  "
              f"{r['gflop_per_s']:7.1f} GFLOP/s  of {r['matmul_gflop_per_s']:6.1f} = {100 * r['fraction']:5.1f}%  "
              f"(load {r['load_avg_1min']})", flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per number (median)")
    ap.add_argument("--matmul-n", type=int, default=1024)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args(argv)
    before = torch.get_num_threads()
    try:
        rows = [r for t in a.threads for r in measure(t, a.frames, a.repeats, a.matmul_n)]
    finally:
        torch.set_num_threads(before)
    out = {"what": __doc__.splitlines()[0], "command": "python benchmarks/speed/throughput.py "
           + " ".join(["--threads", *map(str, a.threads), "--frames", str(a.frames), "--repeats", str(a.repeats)]),
           "target_fraction_at_2_threads": TARGET, "machine": {
               "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
               "torch": torch.__version__}, "rows": rows}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
