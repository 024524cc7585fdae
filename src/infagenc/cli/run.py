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
                    "command again resumes an interrupted run. Prints a short summary: the test accuracy per "
                    "training set beside the floor, the generated samples' metrics, warnings, where the run "
                    "folder is, the wall time (--json: the results as JSON instead). --pretrained-from RUN_DIR "
                    "starts from another run's pre-trained critic and generator (the ablations need one "
                    "pre-training).")
    p.add_argument("--data", required=True, help="dataset path (any format `infagenc data inspect` reads)")
    p.add_argument("--format", help="dataset format (default: detected)")
    p.add_argument("--config", help="TOML or JSON file with config overrides (see README: configuration)")
    p.add_argument("--out", required=True, help="run folder")
    add_run_overrides(p)
    add_json_flag(p)
    p.set_defaults(func=_run)


def add_json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print the results as JSON instead of the short summary (the full results are in the run "
                        "folder: recognition/summary.json, evaluation/metrics.json)")


def _run(args: argparse.Namespace) -> int:
    """Under ``torchrun`` every process runs this; they join one process group here, and rank 0
    alone writes the run folder and prints the summary."""
    from ..loop.runner import run
    from ..train import distributed

    overrides = {"data": {"path": args.data}}
    if args.format:
        overrides["data"]["format"] = args.format
    cfg, note = resolve_run_config(args, overrides)
    t0 = time.perf_counter()
    distributed.init_from_env(cfg.execution.device)
    main = distributed.is_main()
    try:
        summary = run(cfg, Path(args.out), progress=not args.no_progress, pretrained_from=args.pretrained_from,
                      note=note)
    except BaseException:
        distributed.cleanup(wait=False)  # torchrun then stops the other ranks
        raise
    distributed.cleanup()
    if main:
        print_summary(summary, args.json, wall=time.perf_counter() - t0)
    return 0


def print_summary(summary: dict, as_json: bool, *, wall: float, report: str | None = None) -> None:
    """The short human summary on stdout (:func:`infagenc.viz.summary.format_run_summary`), or
    with ``as_json`` the results as JSON (the samples left out then named on stderr)."""
    from ..viz.summary import format_run_summary, run_facts

    if as_json:
        if summary.get("excluded"):
            print(f"left out {len(summary['excluded'])} sample(s) of the input (listed in run.log)", file=sys.stderr)
        print(json.dumps({**short_results(summary), "wall_seconds": wall,
                          **({"report": report} if report else {})}, indent=2))
        return
    facts = run_facts(summary["run_dir"]) if summary.get("run_dir") else {}
    print(format_run_summary({**summary, **facts, "wall_time": wall, "report": report}))


def short_results(summary: dict) -> dict:
    """The results of a run's summary as plain JSON: accuracy per training set and of the
    floor, Real+Syn minus Real paired by seed, the generated samples' metrics against the real
    test set."""
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
    from ..viz.summary import paired_gain

    gain = paired_gain(rec.get("real"), rec.get("real_syn"))
    if gain is not None:  # mean of the per-seed differences, Student's t 95% interval, n seeds
        out["real_syn_minus_real"] = gain
    gen = summary.get("generation")
    if gen:
        g = gen["vs_test"]["generated"]
        out["generation_vs_test"] = {k: g[k] for k in ("fid", "accuracy", "diversity", "multimodality") if k in g}
    return out
