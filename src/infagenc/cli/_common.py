"""Options shared by the run-like commands (run, demo), and config resolution:
defaults < base (e.g. the demo config) < --config file < explicit flags.

Threads: when neither ``--threads`` nor the config sets ``execution.threads``, the run takes
as many torch threads as cores are free now (:func:`free_cores`: the cores this process may
use minus the tasks runnable now besides it, at least 1; the 1-minute load average where the
system does not say what runs now), and says so on stderr (with the
run's first progress line, once the data are read) with how to change it: torch's own default (one thread per core) is slower when other jobs hold
cores (benchmarks/speed/README.md, "Whole pipeline")."""
from __future__ import annotations

import argparse
import os

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
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: the cores free at the start, i.e. "
                                              "the usable cores minus the tasks running now, at least 1)")
    p.add_argument("--pretrained-from", metavar="RUN_DIR",
                   help="start from the pre-trained critic and generator of another run folder with the same data "
                        "and pre-training config (copied; e.g. for the --selection random / none ablations)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars and no per-phase progress lines (the summary still ends the run)")


LOADAVG = "/proc/loadavg"  # Linux: its 4th field is "runnable/total" scheduling entities now


def runnable_others(path: str | None = None, reads: int = 5, interval: float = 0.02) -> float | None:
    """Tasks runnable right now besides this process: the median over ``reads`` reads of
    ``path`` (default :data:`LOADAVG`: ``/proc/loadavg``'s runnable count, which counts the reader itself, minus one);
    None where the file is missing or unreadable (not Linux)."""
    import statistics
    import time

    path = LOADAVG if path is None else path
    counts = []
    for i in range(reads):
        try:
            with open(path) as fh:
                counts.append(int(fh.read().split()[3].split("/")[0]) - 1)
        except (OSError, ValueError, IndexError):
            return None
        if i + 1 < reads:
            time.sleep(interval)
    return float(max(0.0, statistics.median(counts)))


def free_cores() -> tuple[int, int, str]:
    """(cores this process may use, cores free now, how the busy cores were seen): free =
    usable cores minus the tasks runnable now besides this process (:func:`runnable_others`),
    rounded, in [1, usable]; where that count is missing, minus the 1-minute load average (which
    lags: right after other jobs end it still counts them); neither: every usable core."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    busy = runnable_others()
    if busy is not None:
        seen = f"{busy:g} other runnable task{'s' if busy != 1 else ''} now"
    else:
        try:
            busy = os.getloadavg()[0]
        except (AttributeError, OSError):
            return usable, usable, "no load information"
        seen = f"1-minute load {busy:.1f}"
    return usable, max(1, min(usable, int(usable - busy + 0.5))), seen


def _auto_threads(d: dict) -> tuple[dict, str | None]:
    """``execution.threads`` set to the free cores when the config leaves it unset (see the
    module notes), and the line that says what was chosen (None when the config chose)."""
    ex = d.get("execution") if isinstance(d.get("execution"), dict) else {}
    if ex.get("threads") is not None:
        return d, None
    usable, free, how = free_cores()
    seen = f"{free} of {usable} cores free ({how})"
    return {**d, "execution": {**ex, "threads": free}}, f"{free} torch thread(s): {seen}; set --threads N to change"


def resolve_run_config(args: argparse.Namespace, overrides: dict, base: dict | None = None):
    """The run's config, and the line saying how its threads were chosen (None when given)."""
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
    if args.threads is not None:
        flags.setdefault("execution", {})["threads"] = args.threads
    d = merge_dicts(merge_dicts(migrate(d), migrate(overrides)), flags)
    d, note = _auto_threads(d)
    return RunConfig.from_dict(d), note
