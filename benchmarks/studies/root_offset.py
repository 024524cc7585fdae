"""Diagnostic: how far the generated samples' root joint sits from the origin, and what that
does to the generation metrics. The UTKinect protocols make every frame root-relative, so in
real data the root joint is exactly 0; the generator's decoder does not enforce it (runs made
before ``GeneratorConfig.keep_root``; since then sampling re-centres it, and the runs of
``studies/root_fix.py`` are listed as a check that their offset is 0). A recognizer trained
on real data normalises its input per coordinate (ST-GCN's input batch norm), and the root's
variance there is ~0, so a small root offset in a generated sample is magnified into features
far outside the real ones.

    python benchmarks/studies/root_offset.py               # every finished run of the three studies
    python benchmarks/studies/root_offset.py --runs utkinect/distance_s0 schedule/f0.25_lr0.001_s0

For each finished run (folders under ``benchmarks/runs/``) the synthetic set the final
recognizers were trained on (the recycled pool; for the baseline its fresh samples) is measured against the real
test set with the run's own evaluator (its Real recognizer), as generated and with the root
re-centred per frame (``preprocess.root_relative``, the real data's own preprocessing), R = 20
repeats, seed 0. Nothing is retrained; the runs' results are not changed. Writes
``results/root_offset.json`` and ``.md``.

Frozen study: its committed results were made at commit c59f198, on run folders made before the
root fix (``benchmarks/runs/utkinect/``, ``schedule/``, ``root_fix/``); it still measures any run
folder given with ``--runs``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from infagenc.data.motionset import MotionSet
from infagenc.data.preprocess import root_relative
from infagenc.loop.evaluation import evaluate_generation
from infagenc.runfolder import RunFolder, environment
from infagenc.train.recognizer import load_recognizer

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: benchmarks.* imports

from benchmarks.common import RUNS, write_results  # noqa: E402

COMMAND = "python benchmarks/studies/root_offset.py"


def _default_runs() -> list[str]:
    out = []
    for study in ("utkinect", "schedule", "root_fix"):
        for rd in sorted((RUNS / study).glob("*_s*")):
            f = RunFolder(rd, create=False)
            cfg = f.config_path
            # checkpoint() makes checkpoints/: asked only once synthetic.npz exists (a run writes it later)
            if not f.synthetic_path.exists() or not f.checkpoint("evaluator").exists() \
                    or not cfg.exists():
                continue
            c = json.loads(cfg.read_text())
            if c["data"].get("root") == "per_frame":
                out.append(f"{study}/{rd.name}")
    return out


def measure(run: str) -> dict:
    f = RunFolder(RUNS / run, create=False)
    test = MotionSet.load(f.split_path("test"))
    pool = MotionSet.load(f.synthetic_path)
    # loaded last: checkpoint() makes checkpoints/, which a folder with synthetic.npz has already
    ev = load_recognizer(f.checkpoint("evaluator"), "cpu")
    c = pool.layout.center  # the joint root_relative puts at the origin
    bn = getattr(ev, "data_bn", None)  # ST-GCN / MS-G3D input normalisation (per joint and channel)
    row = {"run": run, "pool": len(pool), "root_abs_mean": float(np.abs(np.asarray(pool.data)[:, :, c]).mean()),
           "real_root_abs_mean": float(np.abs(np.asarray(test.data)[:, :, c]).mean()),
           "evaluator_input_var_min": None if bn is None else float(bn.running_var.min()),
           "evaluator_input_eps": None if bn is None else float(bn.eps)}
    for name, ms in (("as_generated", pool), ("root_recentred", root_relative(pool, "per_frame"))):
        g = evaluate_generation(ev, test, ms, reference="test", R=20, seed=0)["generated"]
        row[name] = {k: g[k]["mean"] for k in ("accuracy", "fid", "diversity")}
    return row


def markdown(res: dict) -> str:
    lines = ["# Root offset of generated samples (diagnostic)", "",
             f"Command: `{res['command']}`; protocol in the script's docstring. Each run's synthetic training set "
             "(recycled pool; baseline: its fresh samples) against "
             "the real test set, the run's Real recognizer as evaluator (R = 20). Root: mean |coordinate| of the "
             "root joint (real data: exactly 0 after the per-frame root-relative preprocessing). Input variance: "
             "the smallest running variance of the evaluator's input batch norm (it divides by sqrt(variance + "
             f"eps), eps {res['rows'][0]['evaluator_input_eps'] if res['rows'] else '-'}).", "",
             "| run | pool | root, mean abs | input variance | accuracy as generated | accuracy, root re-centred "
             "| FID as generated "
             "| FID, root re-centred | diversity as generated | diversity, root re-centred |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["rows"]:
        a, b = r["as_generated"], r["root_recentred"]
        lines.append(f"| {r['run']} | {r['pool']} | {r['root_abs_mean']:.3f} | {_var(r['evaluator_input_var_min'])} | "
                     f"{100 * a['accuracy']:.1f} | {100 * b['accuracy']:.1f} | "
                     f"{a['fid']:.1f} | {b['fid']:.1f} | {a['diversity']:.2f} | {b['diversity']:.2f} |")
    return "\n".join(lines) + "\n"


def _var(v: float | None) -> str:
    return "-" if v is None else f"{v:.1e}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", nargs="+", help="run folders relative to benchmarks/runs (default: all that apply)")
    a = ap.parse_args(argv)
    runs = a.runs or _default_runs()
    rows = []
    for run in runs:
        rows.append(measure(run))
        print(f"{run}: done", file=sys.stderr)
    res = {"command": COMMAND, "rows": rows, "environment": environment()}
    if not rows:
        print(f"no finished run to measure under {RUNS}: the committed results are left as they are", file=sys.stderr)
        return 1
    write_results("root_offset", res, markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
