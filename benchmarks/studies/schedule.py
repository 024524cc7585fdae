"""Schedule study: the InfAGenC loop at the paper's model sizes on UTKinect-Action3D, with the
paper's schedule (1100 generator pre-training + 200 loop epochs) and with that schedule cut
to a fraction, to find a schedule that fits the CPU budget and to measure what it costs in
quality (FID, accuracy of the generated samples, Real+Syn test accuracy) against the full one.

    python benchmarks/studies/schedule.py --fractions 1 0.25 0.1 --seeds 0   # run (or resume), then the table
    python benchmarks/studies/schedule.py --fractions 0.25 --lr 1e-3             # a cut schedule at a higher rate
    python benchmarks/studies/schedule.py --fractions 0.25 --score-fraction 0.25 --eval-batch-size 16
    python benchmarks/studies/schedule.py --table-only

Protocol: ``benchmarks/configs/utkinect_paper.toml`` (the split, preprocessing and final
recognizer the UTKinect protocol had then; the paper's CVAE and ST-GCN critic) with distance
selection. A schedule fraction f keeps everything but the lengths: round(1100 f) pre-training
epochs and 10 x max(1, round(20 f)) loop epochs (windows of 10, as the paper). The generator's
learning rate stays the paper's 1e-4 unless ``--lr`` sets another (a variant of its own, fixed
in advance: 1e-3 is the rate the CVAE study chose on validation subjects for a 300-epoch
schedule). Adam runs at a constant rate, so a cut schedule is the full one stopped early: the
first 100 pre-training epochs of the full run and of the f = 0.1 run have identical losses.
So a run may start from a longer run's partial pre-training checkpoint at its own epoch count
(saved every 50 epochs) instead of repeating it; such a run folder holds a
``pretraining_from.json`` naming the source, and its table row says so in place of a time.
``--score-fraction`` and
``--eval-batch-size`` set ``loop.score_fraction`` and the critic's inference batch (the
loop-overhead settings of ``loop_speed.py``). For one seed every variant shares the split,
the pre-trained critic (same seed, same schedule) and the Real recognizer, so differences to
the full schedule are paired. Runs go to ``benchmarks/runs/schedule/<variant>_s<seed>/``
(not committed; an interrupted run resumes), results to ``results/schedule.json`` and ``.md``.
Nothing here reads the test subjects to choose a setting: the variants are fixed in advance.

Frozen study: its committed results were made at commit c59f198 (all but the ``_kr`` variant before
generated samples kept the root constraint; the study sets ``generator.keep_root`` itself, off
unless ``--keep-root``); the library has changed since, so a run made now is not that run.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from infagenc.config import merge_dicts, read_config_file
from infagenc.loop.config import RunConfig
from infagenc.runfolder import RunFolder, environment
from infagenc.loop.runner import run

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: benchmarks.* imports

from benchmarks.common import CONFIGS, DATA, RUNS as ALL_RUNS, write_results  # noqa: E402
from benchmarks.protocols.loop_bench import (num, pct, pretraining_history, reference_line,  # noqa: E402
                                             run_row)

CONFIG = CONFIGS / "utkinect_paper.toml"
RUNS = ALL_RUNS / "schedule"
PAPER_PRETRAIN, PAPER_LOOP, WINDOW = 1100, 200, 10
COMMAND = "python benchmarks/studies/schedule.py"


def schedule(fraction: float) -> tuple[int, int]:
    """(pre-training epochs, loop epochs) of the paper's schedule cut to ``fraction``."""
    if not 0 < fraction <= 1:
        raise ValueError(f"schedule fraction must lie in (0, 1], got {fraction}")
    return round(PAPER_PRETRAIN * fraction), WINDOW * max(1, round(PAPER_LOOP // WINDOW * fraction))


def variant(fraction: float, score_fraction: float = 1.0, eval_batch_size: int | None = None,
            lr: float | None = None, keep_root: bool = False) -> str:
    """Folder name of a variant, e.g. ``f0.25``, ``f0.25_lr0.001``, ``f0.25_sf0.25_eb16`` or
    ``f0.25_lr0.001_kr`` (samples re-centred on the root, ``generator.keep_root``)."""
    name = f"f{fraction:g}"
    if lr is not None:
        name += f"_lr{lr:g}"
    if score_fraction != 1:
        name += f"_sf{score_fraction:g}"
    if eval_batch_size:
        name += f"_eb{eval_batch_size}"
    if keep_root:
        name += "_kr"
    return name


def config(fraction: float, seed: int, data_root: Path, score_fraction: float = 1.0,
           eval_batch_size: int | None = None, lr: float | None = None, mode: str = "distance",
           keep_root: bool = False) -> RunConfig:
    pre, loop = schedule(fraction)
    path = (data_root / "utkinect" / "joints").resolve()
    if not path.is_dir():
        raise SystemExit(f"UTKinect not found at {path} (pass --data-root, the folder holding utkinect/)")
    over = {"name": f"schedule-{variant(fraction, score_fraction, eval_batch_size, lr, keep_root)}-s{seed}",
            "seed": seed,
            "data": {"path": str(path)}, "pretrain_generator_epochs": pre,
            "loop": {"selection": mode, "epochs": loop, "window": WINDOW, "score_fraction": score_fraction}}
    if eval_batch_size:
        over["critic"] = {"eval_batch_size": eval_batch_size}
    over["generator"] = {"keep_root": keep_root, **({"lr": lr} if lr is not None else {})}
    return RunConfig.from_dict(merge_dicts(read_config_file(CONFIG), over))


def collect(runs: Path = RUNS) -> dict:
    """Every finished run of the study, with the settings read back from its resolved config."""
    rows = []
    for rd in sorted(runs.glob("*_s*")):
        row = run_row(rd)
        if row is None:
            continue
        cfg = _config(rd)
        rows.append({"variant": rd.name.rpartition("_s")[0], "seed": cfg["seed"],
                     "pretrain_epochs": cfg["pretrain_generator_epochs"], "loop_epochs": cfg["loop"]["epochs"],
                     "score_fraction": cfg["loop"].get("score_fraction", 1.0),
                     "eval_batch_size": cfg["critic"]["eval_batch_size"], "generator_lr": cfg["generator"]["lr"],
                     "pretraining_from": _shared(rd), **row})
    rows.sort(key=lambda r: (r["seed"], -r["pretrain_epochs"] - r["loop_epochs"], r["generator_lr"],
                             -r["score_fraction"]))
    return {"rows": rows}


def equivalence(runs: Path = RUNS) -> list[dict]:
    """Is a cut schedule the full one stopped early? Each cut run's pre-training losses (epoch
    by epoch, exact) against the first epochs of the full run of the same seed and rate; runs
    whose pre-training was copied are left out (they would agree trivially)."""
    out = []
    for full in sorted(runs.glob(f"{variant(1.0)}_s*")):
        fh = pretraining_history(full)
        if fh is None:
            continue
        lr = _config(full)["generator"]["lr"]
        for rd in sorted(runs.glob(f"*_s{full.name.rpartition('_s')[2]}")):
            h = pretraining_history(rd)
            if rd == full or h is None or _shared(rd) or _config(rd)["generator"]["lr"] != lr:
                continue
            out.append({"run": rd.name, "full": full.name, "epochs": len(h), "identical": h == fh[:len(h)]})
    return out


def loop_growth(runs: Path = RUNS) -> list[dict]:
    """How the loop's cost grows as it runs (every run with loop rounds, finished or not): the
    generator trains each epoch on X_train = real + recycled samples, which grows every round,
    and the critic's update runs on X_train too. Per run, its first and last finished rounds:
    X_train size, mean generator-training seconds per epoch, critic-update seconds (wall
    time: other runs on the other core make it noisy)."""
    out = []
    for rd in sorted(runs.glob("*_s*")):
        f = RunFolder(rd, create=False)
        ep, ro = f.epochs_path, f.rounds_path
        if not ep.exists() or not ro.exists():
            continue
        epochs, rounds = json.loads(ep.read_text()), json.loads(ro.read_text())
        if not rounds:
            continue
        n_real = _config_train_size(rd)
        rows = []
        for i, r in enumerate(rounds):
            pool_before = rounds[i - 1].get("pool_size", 0) if i else 0
            secs = [e["time_gen_train"] for e in epochs if e["round"] == i + 1]
            rows.append({"round": i + 1, "x_train": n_real + pool_before,
                         "gen_s_per_epoch": sum(secs) / len(secs) if secs else None,
                         "critic_update_s": r.get("time_critic_update")})
        timing = json.loads(f.timing_path.read_text()) if f.timing_path.exists() else {}
        pre = timing.get("phases", {}).get("pretrain_generator")
        out.append({"run": rd.name, "rounds_done": len(rounds), "first": rows[0], "last": rows[-1],
                    "pretrain_generator_min": None if pre is None or _shared(rd) else pre / 60})
    return out


def _config_train_size(rd: Path) -> int:
    """Real training samples of a run (its stored split's summary)."""
    return int(json.loads(RunFolder(rd, create=False).data_summary_path.read_text())["train"]["samples"])


def growth_table(rows: list[dict]) -> str:
    if not rows:
        return ""
    lines = ["Loop cost as X_train grows (first and last finished round of each run; wall seconds, one thread):", "",
             "| run | generator pre-training (min) | rounds done | X_train, round 1 -> last | generator s / epoch "
             "| critic update s per round |",
             "|---|---:|---:|---|---|---|"]
    for g in rows:
        f, la = g["first"], g["last"]
        lines.append(f"| {g['run']} | {num(g.get('pretrain_generator_min'), '.0f')} | {g['rounds_done']} | {f['x_train']} -> {la['x_train']} | "
                     f"{num(f['gen_s_per_epoch'], '.1f')} -> {num(la['gen_s_per_epoch'], '.1f')} | "
                     f"{num(f['critic_update_s'], '.0f')} -> {num(la['critic_update_s'], '.0f')} |")
    return "\n".join(lines)


def _config(rd: Path) -> dict:
    return json.loads(RunFolder(rd, create=False).config_path.read_text())


def _shared(rd: Path) -> dict | None:
    """``pretraining_from.json``: the run's generator pre-training was not run in it but copied
    from a longer run of the same seed (its partial checkpoint at this run's epoch count), which
    the equivalence of cut schedules allows; the time column then says so instead of a time."""
    p = rd / "pretraining_from.json"
    return json.loads(p.read_text()) if p.exists() else None


def _minutes(r: dict, phase: str) -> float | None:
    t = r.get("timing")
    return None if not t or phase not in t["phases"] else t["phases"][phase] / 60


def table(res: dict) -> str:
    lines = ["| variant | seed | pre-training + loop epochs | generator lr | score fraction | eval batch "
             "| root re-centred | Real | Syn "
             "| Real+Syn "
             "| pool | CAS, last round | generated: accuracy | FID (± repeats) | diversity | multimodality "
             "| pool: accuracy | pool: FID "
             "| critic pre-training | generator pre-training | loop | final recognizers + evaluation "
             "| total (min) |",
             "|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
             "---:|---:|"]
    for r in res["rows"]:
        a, g, pool = r["test_accuracy"], r["generation_vs_test"] or {}, r.get("pool_vs_test") or {}
        tail = (_minutes(r, "final_recognition") or 0) + (_minutes(r, "evaluation") or 0)
        total = sum(r["timing"]["phases"].values()) / 60 if r.get("timing") else None
        pre = num(_minutes(r, "pretrain_generator"), ".0f")
        if r["pretraining_from"]:  # not timed here: copied from the longer run (total excludes it)
            pre, total = f"copied from {r['pretraining_from']['run']}", None
        fid = "-" if g.get("fid") is None else f"{g['fid']:.1f} ± {r['fid_ci95'] or 0:.1f}"
        lines.append(
            f"| {r['variant']} | {r['seed']} | {r['pretrain_epochs']} + {r['loop_epochs']} | "
            f"{r['generator_lr']:g} | {r['score_fraction']:g} | {r['eval_batch_size']} | "
            f"{'yes' if r.get('generator_root') not in (None, 'none') else 'no'} | {pct(a.get('real'))} | "
            f"{pct(a.get('syn'))} | "
            f"{pct(a.get('real_syn'))} | {r['synthetic_samples'] or '-'} | {num(r['cas_last_round'])} | "
            f"{pct(g.get('accuracy'))} | {fid} | {num(g.get('diversity'))} | {num(g.get('multimodality'))} | "
            f"{pct(pool.get('accuracy'))} | {num(pool.get('fid'), '.1f')} | "
            f"{num(_minutes(r, 'pretrain_critic'), '.1f')} | {pre} | "
            f"{num(_minutes(r, 'loop'), '.0f')} | {num(tail, '.0f')} | {num(total, '.0f')} |")
    return "\n".join(lines)


def differences(res: dict) -> str:
    """Each variant minus the full schedule of the same seed (paired)."""
    full = {r["seed"]: r for r in res["rows"] if r["variant"] == variant(1.0)}
    out = []
    for r in res["rows"]:
        f = full.get(r["seed"])
        if f is None or f is r:
            continue
        g, gf = r["generation_vs_test"] or {}, f["generation_vs_test"] or {}
        parts = []
        for key, label, scale in (("real_syn", "Real+Syn", 100), ("syn", "Syn", 100)):
            x, y = r["test_accuracy"].get(key), f["test_accuracy"].get(key)
            if x is not None and y is not None:
                parts.append(f"{label} {scale * (x - y):+.1f}")
        if g.get("accuracy") is not None and gf.get("accuracy") is not None:
            parts.append(f"generated accuracy {100 * (g['accuracy'] - gf['accuracy']):+.1f}")
        if g.get("fid") is not None and gf.get("fid") is not None:
            parts.append(f"FID {g['fid'] - gf['fid']:+.1f}")
        out.append(f"- {r['variant']}, seed {r['seed']}: " + ", ".join(parts))
    if not out:
        return "Differences to the full schedule: none yet (the full schedule's run has not finished)."
    return "Each variant minus the full schedule, same seed (points; FID lower is better):\n\n" + "\n".join(out)


def markdown(res: dict) -> str:
    env = res["environment"]
    return "\n\n".join([
        "# Schedule study: the loop at the paper's model sizes on UTKinect-Action3D",
        f"Command: `{res['command']}`; config `benchmarks/configs/utkinect_paper.toml`, distance selection; "
        f"protocol in the docstring of `benchmarks/studies/schedule.py`. Machine: {env.get('machine', '?')}, "
        f"{env.get('cpu_count', '?')} cores, torch {env.get('torch', '?')}, no GPU; each run on 1 thread with "
        "another run on the second core. Test accuracy (%) on the even subjects (99 segments). Generation "
        "metrics against the real test set with the run's Real recognizer as evaluator, for samples drawn from the "
        "final generator's prior and, in the pool columns, for the recycled pool (R = 20 repeats; the "
        "FID's ± is the interval over those repeats, i.e. sampling noise of one trained generator, not the "
        "spread between training seeds). Times: wall minutes per phase, summed over sessions.",
        table(res) + ("\n\n" + reference_line(res["rows"]) if res["rows"] else ""),
        differences(res),
        _equivalence_line(res.get("pretraining_equivalence") or []),
        growth_table(res.get("loop_growth") or []),
    ]) + "\n"


def _equivalence_line(eq: list[dict]) -> str:
    if not eq:
        return "Cut schedule = full schedule stopped early: not checked yet (needs the full run's pre-training)."
    return "Cut schedule = full schedule stopped early (pre-training losses, epoch by epoch, exact): " + "; ".join(
        f"{e['run']}: {'identical' if e['identical'] else 'DIFFERENT'} to the first {e['epochs']} epochs of {e['full']}"
        for e in eq) + "."


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fractions", nargs="+", type=float, default=[1.0, 0.25, 0.1],
                    help="schedule fractions of the paper's 1100 + 200 epochs (default 1 0.25 0.1)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--score-fraction", type=float, default=1.0, help="loop.score_fraction (default 1, the paper)")
    ap.add_argument("--eval-batch-size", type=int, default=None, help="the critic's inference batch")
    ap.add_argument("--lr", type=float, default=None, help="the generator's learning rate (default: the paper's 1e-4)")
    ap.add_argument("--keep-root", action="store_true",
                    help="re-centre generated samples on the root (generator.keep_root; folder suffix _kr)")
    ap.add_argument("--data-root", type=Path, default=DATA, help=f"folder holding the data (default {DATA})")
    ap.add_argument("--table-only", action="store_true", help="rebuild the results from finished runs")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    if not a.table_only:
        for seed in a.seeds:
            for f in a.fractions:
                name = variant(f, a.score_fraction, a.eval_batch_size, a.lr, a.keep_root)
                t0 = time.perf_counter()
                run(config(f, seed, a.data_root, a.score_fraction, a.eval_batch_size, a.lr, keep_root=a.keep_root),
                    RUNS / f"{name}_s{seed}", progress=not a.no_progress)
                print(f"{name} seed {seed}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    res = collect()
    if not res["rows"]:
        print(f"no finished run under {RUNS}: the committed results are left as they are", file=sys.stderr)
        return 1
    res["pretraining_equivalence"] = equivalence()
    res["loop_growth"] = loop_growth()
    res["command"] = COMMAND
    res["config"] = read_config_file(CONFIG)
    res["environment"] = environment()
    write_results("schedule", res, markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
