"""The UTKinect loop protocol with generated samples kept root-relative, paired with the
committed runs made before that fix.

    python benchmarks/root_fix.py                          # distance seed 0 first, then the other modes and seeds
    python benchmarks/root_fix.py --modes distance --seeds 0 1
    python benchmarks/root_fix.py --table-only

Until ``GeneratorConfig.keep_root`` (default on) the generator's samples kept the root joint
slightly off the origin although the UTKinect data are root-relative in every frame
(``benchmarks/root_offset.py`` measures it). This study runs the protocol of
``utkinect_loop.py`` (same config file and seeds, but ``generator.keep_root = true``), in
``benchmarks/runs/root_fix/<mode>_s<seed>/``, and compares each run with the same (mode, seed)
in ``benchmarks/runs/utkinect/`` (made before the fix; the protocol file's
``keep_root = false`` gives that behaviour again). Pre-training does not sample, so both runs of a pair share their
pre-trained critic and generator exactly (the script checks the generator's pre-training
losses) and their Real recognizer; everything after the first sampled epoch may differ.
Writes ``results/root_fix.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from infagenc.loop.config import RunConfig
from infagenc.loop.runfolder import environment
from infagenc.loop.runner import run
from infagenc.metrics.stats import Summary

from loop_bench import DATA, HERE, LABEL, MODES, config, pretraining_history, run_row, write_results
from utkinect_loop import PROTOCOL

RUNS = HERE / "runs" / "root_fix"
BEFORE = PROTOCOL.runs
COMMAND = "python benchmarks/root_fix.py"
ORDER = [("distance", 0), ("none", 0), ("random", 0)] + [(m, s) for s in (1, 2, 3, 4) for m in MODES]


def collect() -> dict:
    pairs = []
    for rd in sorted(RUNS.glob("*_s*"), key=lambda d: d.name):
        mode, _, seed = rd.name.rpartition("_s")
        if mode not in MODES or not seed.isdigit():
            continue
        after, before = run_row(rd), run_row(BEFORE / rd.name)
        if after is None or before is None:
            continue
        la, lb = pretraining_history(rd), pretraining_history(BEFORE / rd.name)
        pairs.append({"mode": mode, "seed": int(seed), "after": after, "before": before,
                      "same_pretraining": la is not None and la == lb})
    pairs.sort(key=lambda p: (MODES.index(p["mode"]), p["seed"]))
    return {"pairs": pairs}


def _acc(row: dict, key: str) -> float | None:
    v = row["test_accuracy"].get(key)
    return None if v is None else 100 * v


def _gen(row: dict, part: str, key: str) -> float | None:
    d = row.get(part)
    if d is None or d.get(key) is None:
        return None
    return 100 * d[key] if key == "accuracy" else d[key]


def _cell(a, b, fmt=".1f") -> str:
    f = lambda x: "-" if x is None else format(x, fmt)  # noqa: E731
    return f"{f(b)} -> {f(a)}"


def table(res: dict) -> str:
    head = ("| mode | seed | root (spec) | same pre-training | Real | Syn | Real+Syn | pool | generated: accuracy "
            "| generated: FID | pool: accuracy | pool: FID |")
    lines = [head, "|" + "---|" * 12]
    for p in res["pairs"]:
        a, b = p["after"], p["before"]
        lines.append(" | ".join([
            f"| {LABEL[p['mode']]}", str(p["seed"]), f"{b['generator_root']} -> {a['generator_root']}",
            "yes" if p["same_pretraining"] else "NO",
            _cell(_acc(a, "real"), _acc(b, "real")), _cell(_acc(a, "syn"), _acc(b, "syn")),
            _cell(_acc(a, "real_syn"), _acc(b, "real_syn")),
            _cell(a["synthetic_samples"], b["synthetic_samples"], "d") if p["mode"] != "none" else "-",
            _cell(_gen(a, "generation_vs_test", "accuracy"), _gen(b, "generation_vs_test", "accuracy")),
            _cell(_gen(a, "generation_vs_test", "fid"), _gen(b, "generation_vs_test", "fid")),
            _cell(_gen(a, "pool_vs_test", "accuracy"), _gen(b, "pool_vs_test", "accuracy")),
            _cell(_gen(a, "pool_vs_test", "fid"), _gen(b, "pool_vs_test", "fid")) + " |"]))
    return "\n".join(lines)


def differences(res: dict) -> str:
    """After - before per mode, paired by seed (mean ± 95% interval once there are 2 seeds)."""
    out = []
    for mode in MODES:
        ps = [p for p in res["pairs"] if p["mode"] == mode]
        if not ps:
            continue
        parts = []
        for label, get in (("Syn", lambda r: _acc(r, "syn")), ("Real+Syn", lambda r: _acc(r, "real_syn")),
                           ("generated FID", lambda r: _gen(r, "generation_vs_test", "fid"))):
            d = [get(p["after"]) - get(p["before"]) for p in ps
                 if get(p["after"]) is not None and get(p["before"]) is not None]
            if not d:
                continue
            each = ", ".join(f"{x:+.1f}" for x in d)
            if len(d) >= 2:
                s = Summary.from_values(d)
                parts.append(f"{label} {s.mean:+.1f} ± {s.ci95:.1f} ({each})")
            else:
                parts.append(f"{label} {each} (one seed)")
        out.append(f"- {LABEL[mode]}: " + "; ".join(parts))
    return "\n".join(out)


def markdown(res: dict) -> str:
    if not res["pairs"]:
        return f"Command: `{COMMAND}`. No finished pair yet.\n"
    return "\n\n".join([
        f"Command: `{COMMAND}`; the UTKinect loop protocol (`benchmarks/configs/utkinect.toml`), each run "
        "paired with the same mode and seed made before the fix (`benchmarks/runs/utkinect/`, the runs of "
        "results/utkinect_loop.md). Cells: before -> after. Test accuracy (%) on the even subjects; generation "
        "metrics against the real test set with the run's Real recognizer as evaluator (R = 20), for samples of "
        "the final generator and for the recycled pool (baseline: -). Root (spec): the root constraint the "
        "run's generator restores on its samples. Same pre-training: the generator's pre-training losses "
        "are identical epoch by epoch (so the pair differs only from the loop on).",
        table(res), "After - before, paired by seed (Real is the same recognizer in both runs of a pair):\n\n"
        + differences(res)]) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", nargs="+", choices=MODES, default=None, help="default: all, distance seed 0 first")
    ap.add_argument("--seeds", nargs="+", type=int, default=None, help="default: 0-4")
    ap.add_argument("--data-root", type=Path, default=DATA, help=f"folder holding the data (default {DATA})")
    ap.add_argument("--table-only", action="store_true", help="rebuild the results from finished runs")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    if not a.table_only:
        todo = [(m, s) for m, s in ORDER if (a.modes is None or m in a.modes) and (a.seeds is None or s in a.seeds)]
        todo += [(m, s) for s in (a.seeds or []) for m in (a.modes or MODES) if (m, s) not in todo]
        for mode, seed in todo:
            if run_row(BEFORE / f"{mode}_s{seed}") is None:
                print(f"{mode} seed {seed}: no finished run before the fix in {BEFORE}; skipped", file=sys.stderr)
                continue
            t0 = time.perf_counter()
            d = config(PROTOCOL, mode, seed, a.data_root).to_dict()
            d["generator"]["keep_root"] = True  # the protocol file keeps its committed runs' setting (false)
            run(RunConfig.from_dict(d), RUNS / f"{mode}_s{seed}", progress=not a.no_progress)
            print(f"{mode} seed {seed}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    res = collect()
    res["command"] = COMMAND
    res["environment"] = environment()
    write_results("root_fix", res, markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
