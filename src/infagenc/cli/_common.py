"""Options shared by the run-like commands (run, demo), and config resolution:
defaults < base (e.g. the demo config) < --config file < explicit flags."""
from __future__ import annotations

import argparse

from ..config import merge_dicts, read_config_file


def add_run_overrides(p: argparse.ArgumentParser) -> None:
    from ..loop.config import SELECTION_MODES
    from ..train.device import PRECISIONS

    p.add_argument("--selection", choices=SELECTION_MODES,
                   help="loop ablation: distance selection (the paper), random selection, or none (baseline VAE)")
    p.add_argument("--seed", type=int, help="run seed (default 0)")
    p.add_argument("--test-subjects", help="comma-separated test subjects (default: a seeded random fraction)")
    p.add_argument("--device", help="auto (default: CUDA when present), cpu, cuda, cuda:1, ...")
    p.add_argument("--precision", choices=PRECISIONS,
                   help="fp32 (default) or bf16 autocast (fast on GPUs and on CPUs with native bf16; "
                        "much slower on CPUs without it: see benchmarks/README.md)")
    p.add_argument("--name", help="run name recorded in the provenance of synthetic samples")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: one per core); 1 is faster "
                                              "when other jobs share the cores")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def resolve_run_config(args: argparse.Namespace, overrides: dict, base: dict | None = None):
    from ..loop.config import RunConfig, migrate

    d = dict(base or {})
    if getattr(args, "config", None):
        d = merge_dicts(d, read_config_file(args.config))
    flags: dict = {}
    if args.selection:
        flags.setdefault("loop", {})["selection"] = args.selection
    if args.seed is not None:
        flags["seed"] = args.seed
    if args.test_subjects:
        flags.setdefault("data", {})["test_subjects"] = [s for s in args.test_subjects.split(",") if s]
    if args.device:
        flags.setdefault("execution", {})["device"] = args.device
    if args.precision:
        flags.setdefault("execution", {})["precision"] = args.precision
    if args.name:
        flags["name"] = args.name
    if args.threads:
        flags.setdefault("execution", {})["threads"] = args.threads
    d = merge_dicts(merge_dicts(migrate(d), migrate(overrides)), flags)
    return RunConfig.from_dict(d)
