"""A loop protocol with generated samples kept root-relative, paired with the committed runs
made before that fix.

    python benchmarks/studies/root_fix.py --table-only [--protocol syrip]   # the tables from the run folders

Frozen study: its committed results were made at commit 8a3fb2c (UTKinect) and acc1ba1 (SyRIP),
pairing runs made before the root fix with runs made with it. The protocols now run with the fix
(the ``keep_root = false`` pins are gone from their config files) and with the strong recipe, so
the runs before the fix cannot be made at this commit: only ``--table-only`` works (on the run
folders of that time, ``benchmarks/runs/<protocol>/`` and ``benchmarks/runs/root_fix*/``); to re-run
the study, check out commit 8a3fb2c.

Until ``GeneratorConfig.keep_root`` (default on) the generator's samples kept the root joint
slightly off the origin although the data are root-relative in every frame
(``benchmarks/studies/root_offset.py`` measures it). This study runs a loop protocol
(``utkinect_loop.py`` or ``syrip_loop.py`` of that commit: same config file and seeds, but
``generator.keep_root = true``) in ``benchmarks/runs/root_fix/<mode>_s<seed>/`` (UTKinect) or
``benchmarks/runs/root_fix_syrip/`` (SyRIP), and compares each run with the same (mode, seed)
in the protocol's own runs folder (made before the fix; the protocol file's
``keep_root = false`` gives that behaviour again). Pre-training does not sample, so both runs
of a pair share their pre-trained critic and generator exactly (the script checks the
generator's pre-training losses) and their Real recognizer; everything after the first
sampled epoch may differ. Writes ``results/root_fix.json`` and ``.md`` (UTKinect) or
``results/root_fix_syrip.*``: the pairs, the paired differences, and the protocol's summary
table over the runs with the fix alone.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infagenc.runfolder import environment
from infagenc.metrics.stats import Summary

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: benchmarks.* imports

from benchmarks.common import RUNS, write_results  # noqa: E402
from benchmarks.protocols.loop_bench import (LABEL, MODES, Protocol, mode_differences,  # noqa: E402
                                             pretraining_history, run_row, table as protocol_table)
from benchmarks.protocols.syrip_loop import PROTOCOL as SYRIP  # noqa: E402
from benchmarks.protocols.utkinect_loop import PROTOCOL as UTKINECT  # noqa: E402

PROTOCOLS = {"utkinect": UTKINECT, "syrip": SYRIP}


def results_name(p: Protocol) -> str:
    """``root_fix`` for UTKinect (the study's first protocol), ``root_fix_<name>`` for the others:
    the name of its runs folder and of its results."""
    return "root_fix" if p is UTKINECT else f"root_fix_{p.name}"


def runs_dir(p: Protocol) -> Path:
    return RUNS / results_name(p)


def before_dir(p: Protocol) -> Path:
    """The protocol's runs made before the fix."""
    return RUNS / p.name


def command(p: Protocol) -> str:
    return "python benchmarks/studies/root_fix.py" + ("" if p is UTKINECT else f" --protocol {p.name}")




def collect(p: Protocol) -> dict:
    pairs = []
    for rd in sorted(runs_dir(p).glob("*_s*"), key=lambda d: d.name):
        mode, _, seed = rd.name.rpartition("_s")
        if mode not in MODES or not seed.isdigit():
            continue
        after, before = run_row(rd), run_row(before_dir(p) / rd.name)
        if after is None or before is None:
            continue
        la, lb = pretraining_history(rd), pretraining_history(before_dir(p) / rd.name)
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


def after_summary(res: dict) -> str:
    """The protocol's own summary table (mean ± interval per mode, every seed) over the runs with the fix."""
    after = {"rows": [{"mode": p["mode"], "seed": p["seed"], **p["after"]} for p in res["pairs"]]}
    diffs = mode_differences(after)
    return protocol_table(after) + (f"\n\n{diffs}" if diffs else "")


def markdown(p: Protocol, res: dict) -> str:
    cmd = command(p)
    if not res["pairs"]:
        return f"Command: `{cmd}`. No finished pair yet.\n"
    return "\n\n".join([
        (f"Command: `{cmd}`; {p.title}: config `benchmarks/configs/{p.config.name}` with `generator.keep_root = true`, "
        f"each run paired with the same mode and seed made before the fix (`benchmarks/runs/{p.name}/`, the runs "
        f"of results/{p.name}_loop.md). Cells: before -> after. {p.intro} Generation "
        "metrics against the real test set with the run's Real recognizer as evaluator (R = 20), for samples of "
        "the final generator and for the recycled pool (baseline: -). Root (spec): the root constraint the "
        "run's generator restores on its samples. Same pre-training: the generator's pre-training losses "
        "are identical epoch by epoch (so the pair differs only from the loop on)."),
        table(res), "After - before, paired by seed (Real is the same recognizer in both runs of a pair):\n\n"
        + differences(res),
        "The protocol with the fix, the runs above alone (the same table as results/"
        f"{p.name}_loop.md; mean ± 95% interval over run seeds, in brackets Student's t interval, every seed "
        "in parentheses; the Real recognizer is shared by the modes of a seed):\n\n" + after_summary(res)]) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protocol", choices=sorted(PROTOCOLS), default="utkinect")
    ap.add_argument("--table-only", action="store_true", help="rebuild the results from the run folders")
    a = ap.parse_args(argv)
    p = PROTOCOLS[a.protocol]
    if not a.table_only:
        print("root_fix.py is a frozen study: the runs before the fix are not made at this commit; "
              "--table-only rebuilds its tables, `git checkout 8a3fb2c` re-runs it", file=sys.stderr)
        return 2
    res = collect(p)
    if not res["pairs"]:
        print(f"no finished pair under {runs_dir(p)} and {before_dir(p)}: the committed results are left as they are", file=sys.stderr)
        return 1
    res["command"] = command(p)
    res["environment"] = environment()
    write_results(results_name(p), res, markdown(p, res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
