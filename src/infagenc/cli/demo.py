"""``infagenc demo``: the whole pipeline on the built-in made-up demo data, CPU-friendly."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from ._common import add_run_overrides, resolve_run_config
from .run import add_json_flag, print_summary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="the whole pipeline on built-in made-up data (a few minutes on a laptop CPU)",
        description="Run the InfAGenC pipeline on the built-in demo data set (procedurally generated, made-up "
                    "infant-like actions: a smoke test and a tour, never evidence of quality) with a "
                    "CPU-friendly config, then write the run report. Prints a short summary (the results, where "
                    "the report is, the wall time); --json prints the results as JSON instead.")
    p.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo)")
    p.add_argument("--config", help="TOML or JSON file with config overrides on top of the demo config")
    add_run_overrides(p)
    add_json_flag(p)
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from ..loop.config import demo_config
    from ..loop.runner import run

    cfg, note = resolve_run_config(args, {}, base=demo_config())
    t0 = time.perf_counter()
    summary = run(cfg, Path(args.out), progress=not args.no_progress, pretrained_from=args.pretrained_from,
                  note=note)
    from ..viz.report import build_report

    report = str(build_report(Path(args.out), progress=not args.no_progress))
    print_summary(summary, args.json, wall=time.perf_counter() - t0, report=report)
    return 0
