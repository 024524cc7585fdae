"""``infagenc run``: the whole InfAGenC pipeline on a labelled dataset (argument parsing only)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ._common import add_run_overrides, resolve_run_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="pre-train, run the InfAGenC loop, train Real/Syn/Real+Syn recognizers, evaluate",
        description="Run (or resume) the InfAGenC pipeline: pre-train the critic and the generator on the real "
                    "training subjects, run the generate / filter / select / recycle loop, train recognizers "
                    "on Real, Syn and Real+Syn and test them on the held-out subjects, and compute the "
                    "generation metrics. Everything goes into the run folder (--out); running the same "
                    "command again resumes an interrupted run.")
    p.add_argument("--data", required=True, help="dataset path (any format `infagenc data inspect` reads)")
    p.add_argument("--format", help="dataset format (default: detected)")
    p.add_argument("--config", help="TOML or JSON file with config overrides (see README: configuration)")
    p.add_argument("--out", required=True, help="run folder")
    add_run_overrides(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..loop.runner import run

    overrides = {"data": {"path": args.data}}
    if args.format:
        overrides["data"]["format"] = args.format
    cfg = resolve_run_config(args, overrides)
    t0 = time.perf_counter()
    summary = run(cfg, Path(args.out), progress=not args.no_progress)
    print_exclusions(summary)
    print(json.dumps(_short(summary), indent=2))
    print(f"wall time: {time.perf_counter() - t0:.1f} s; run folder: {args.out}", file=sys.stderr)
    return 0


def print_exclusions(summary: dict) -> None:
    """Every sample the readers left out, one line each (also in run.log and the report)."""
    excluded = summary.get("excluded") or []
    if excluded:
        print(f"left out {len(excluded)} sample(s) of the input (the reader's on_bad = 'skip'):")
        for line in excluded:
            print(f"  {line}")


def _short(summary: dict) -> dict:
    rec = summary.get("recognition") or {}
    out = {"run_dir": summary.get("run_dir"), "excluded_samples": len(summary.get("excluded") or [])}
    if "stopped_after_rounds" in summary:
        out["stopped_after_rounds"] = summary["stopped_after_rounds"]
        return out
    out["test_accuracy"] = {k: (v["overall"] if "overall" in v else v) for k, v in rec.items() if k != "floor"}
    floor = rec.get("floor")
    if floor:  # the trivial floor's accuracy per training set, not its per-class tables
        out["floor"] = {"model": floor["model"], **{k: v.get("overall", v.get("skipped"))
                                                    for k, v in floor.items() if k != "model"}}
    gen = summary.get("generation")
    if gen:
        g = gen["vs_test"]["generated"]
        out["generation_vs_test"] = {k: g[k] for k in ("fid", "accuracy", "diversity", "multimodality") if k in g}
    return out
