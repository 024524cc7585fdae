"""The few lines ``infagenc run`` (and ``demo``) print when a run ends: the main result table,
the generated samples' metrics, warnings, where the run folder and report are, the wall time.

:func:`format_run_summary` is a pure function of the dict :func:`infagenc.loop.runner.run`
returns, with a few facts of the run folder added (:func:`run_facts`); the full results stay
in the run folder (``recognition/summary.json``, ``evaluation/metrics.json``).

Choices:

* Results over run seeds show Student's t interval and n (``88.8 ± 11.0 (t, n=2)``, see
  :func:`~infagenc.viz.tables.format_seeds`); the floor is deterministic, one value.
* The verdict (``Verdict:``, a few plain sentences after the tables): how often the evaluator
  (trained on real data only) recognises the generated samples as their class, against
  chance (1 / number of classes); how many synthetic samples each class got (the recycled
  pool, or with ``selection = none`` the set sampled from the final generator); the gain of
  Real+Syn over Real as the mean of the per-seed differences (paired by seed: both sets are
  tested on the same subjects with the same seeds) with Student's t interval and n, and
  whether that interval excludes 0.
* Warnings (one line each, ``warning: ...``): a class that got no synthetic samples; a
  training set that was not trained; the generated samples' evaluator accuracy at chance
  (the lower end of its interval at or below 1 / number of classes: the evaluator cannot
  tell the generated classes apart); a recognizer at chance on the test subjects (its mean
  within 2 points of 1 / number of classes); a recognizer below the floor.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

from ..data.motionset import MotionSet
from ..metrics.stats import t95
from .runinfo import RunFiles
from .tables import display_sets, format_pm, format_seeds, result_sets

__all__ = ["format_run_summary", "run_facts", "paired_gain"]

_MAX_EXCLUDED = 10


def run_facts(run_dir: str | Path) -> dict:
    """What the summary lines name beyond the run's own summary dict, read from the run
    folder: ``class_names``, ``synthetic_counts`` (samples per class of the synthetic set,
    ``synthetic.npz``; None when there is none), ``recognizer`` and ``floor_model``."""
    run = RunFiles(run_dir)
    names = run.class_names()
    counts = None
    if run.folder.synthetic_path.exists() and names is not None:
        got = MotionSet.load(run.folder.synthetic_path).class_counts()
        counts = {c: int(got.get(c, 0)) for c in names}
    final = run.config.get("final", {})
    rec = final.get("recognizer", {})
    return {"class_names": names, "synthetic_counts": counts,
            "selection": (run.config.get("loop") or {}).get("selection"),
            "recognizer": f"{rec.get('model')} ({rec.get('size')})" if rec.get("model") else None,
            "floor_model": final.get("floor")}


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _floor_cell(floor: Mapping, key: str) -> str:
    if key not in floor:
        return ""
    part = floor[key]
    if "skipped" in part:
        return f"floor skipped: {display_sets(part['skipped'])}"
    return f"floor {100 * part['overall']:.1f}" if _finite(part.get("overall")) else ""


def _table(rec: Mapping, recognizer: str | None) -> list[str]:
    floor = rec.get("floor") or {}
    head = "Test accuracy (%) on the held-out subjects" + (f", {recognizer}" if recognizer else "") + \
        ", mean ± 95% t-interval over n seeds" + \
        (f"; floor = {floor['model']} on the same sets" if floor.get("model") else "") + ":"
    rows = []
    for key, label in result_sets(rec):
        s = rec[key]
        cell = f"not trained: {display_sets(s['skipped'])}" if "skipped" in s else format_seeds(s.get("overall"))
        rows.append((label, cell, _floor_cell(floor, key)))
    if not rows:
        return [head, "  (no training set was trained)"]
    w0, w1 = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    return [head] + [f"  {a:<{w0}}  {b:<{w1}}  {c}".rstrip() for a, b, c in rows]


def _generation(gen: Mapping | None) -> list[str]:
    res = (gen or {}).get("vs_test")
    if not res:
        return []
    g = res.get("generated", {})
    cells = [f"{label} {format_pm(g.get(k), scale)}{unit}" for k, label, scale, unit in
             (("fid", "FID", 1.0, ""), ("accuracy", "accuracy", 100.0, "%"), ("diversity", "diversity", 1.0, ""),
              ("multimodality", "multimodality", 1.0, "")) if k in g]
    return [f"Generated samples against the real test set (R = {res.get('R')} repeats, ± = 1.96·std/√R): "
            + ", ".join(cells)]


def _chance_warning(gen: Mapping | None, classes: int | None) -> list[str]:
    acc = ((gen or {}).get("vs_test") or {}).get("generated", {}).get("accuracy")
    if not classes or not isinstance(acc, Mapping) or not _finite(acc.get("mean")):
        return []
    chance = 1.0 / classes
    low = acc["mean"] - (acc["ci95"] if _finite(acc.get("ci95")) else 0.0)
    if low > chance + 1e-12:
        return []
    return [f"warning: generated accuracy at chance: the evaluator gives the generated samples "
            f"{format_pm(acc, 100.0)}%, chance is {100 * chance:.1f}% for {classes} classes"]


def _class_count(summary: Mapping) -> int | None:
    names = summary.get("class_names")
    real = ((summary.get("recognition") or {}).get("real") or {})
    return len(names) if names else len(real.get("per_class") or {}) or None


def _generated_verdict(gen: Mapping | None, classes: int | None) -> list[str]:
    acc = ((gen or {}).get("vs_test") or {}).get("generated", {}).get("accuracy")
    if not isinstance(acc, Mapping) or not _finite(acc.get("mean")):
        return []
    chance = f" (chance {100 / classes:.0f}%)" if classes else ""
    return [f"  generated samples are recognised as their class {100 * acc['mean']:.0f}% of the time{chance}, "
            f"by a recognizer trained on real data only"]


def _pool_verdict(counts: Mapping | None, selection: str | None) -> list[str]:
    if not counts:
        return []
    what = "synthetic set (sampled from the final generator, no recycling)" if selection == "none" else \
        "recycled pool"
    have = sum(1 for n in counts.values() if n > 0)
    return [f"  {what}: {sum(counts.values())} samples, {have} of {len(counts)} classes "
            f"({', '.join(f'{c} {n}' for c, n in counts.items())})"]


def paired_gain(a: Mapping | None, b: Mapping | None) -> dict | None:
    """Mean and Student's t 95% interval of ``b - a`` over the seeds both results hold
    (``per_seed``: ``{"seed", "overall"}``), paired by seed; None without a common seed."""
    def by_seed(r):
        return {p.get("seed"): p.get("overall") for p in (r or {}).get("per_seed") or [] if _finite(p.get("overall"))}

    pa, pb = by_seed(a), by_seed(b)
    d = [pb[s] - pa[s] for s in sorted(set(pa) & set(pb), key=str)]
    if not d:
        return None
    n, mean = len(d), sum(d) / len(d)
    std = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1)) if n > 1 else math.nan
    return {"mean": mean, "ci95_t": t95(n) * std / math.sqrt(n) if n > 1 else math.nan, "n": n}


def _gain_verdict(rec: Mapping) -> list[str]:
    g = paired_gain(rec.get("real"), rec.get("real_syn"))
    if g is None:
        return []
    head = f"  Real+Syn vs Real: {100 * g['mean']:+.1f} points"
    if not _finite(g["ci95_t"]):
        return [f"{head} (n={g['n']} seed: no interval; more final.seeds tell gain from noise)"]
    if g["ci95_t"] <= 1e-12:
        word = "better" if g["mean"] > 0 else "worse" if g["mean"] < 0 else "the same"
        return [f"{head} (the same difference in each of n={g['n']} seeds: no spread to measure): "
                f"Real+Syn is {word} in every seed"]
    lo, hi = g["mean"] - g["ci95_t"], g["mean"] + g["ci95_t"]
    word = ("Real+Syn is better" if lo > 0 else "Real+Syn is worse" if hi < 0 else
            "no difference shown at this n")
    return [f"{head} (95% t-interval {100 * lo:+.1f} to {100 * hi:+.1f}, paired over n={g['n']} seeds): {word}"]


def _verdict(summary: Mapping) -> list[str]:
    lines = _generated_verdict(summary.get("generation"), _class_count(summary))
    lines += _pool_verdict(summary.get("synthetic_counts"), summary.get("selection"))
    lines += _gain_verdict(summary.get("recognition") or {})
    return ["Verdict:"] + lines if lines else []


def _recognizers_at_chance(rec: Mapping, names: Mapping, classes: int | None) -> list[str]:
    """Training sets whose recognizer's mean test accuracy is within 2 points of chance or
    below (a mean, not an interval's end: with 2 or 3 seeds the t-interval is too wide)."""
    if not classes:
        return []
    chance = 1.0 / classes
    at = [label for k, label in names.items()
          if _finite((rec[k].get("overall") or {}).get("mean")) and rec[k]["overall"]["mean"] <= chance + 0.02]
    if not at:
        return []
    return [f"warning: the recognizer is at chance on {', '.join(at)} (chance {100 * chance:.1f}% for {classes} "
            f"classes): it learned nothing that holds on the test subjects (too few epochs?)"]


def _warnings(summary: Mapping) -> list[str]:
    rec = summary.get("recognition") or {}
    names = dict(result_sets(rec))
    out = [f"warning: {label} was not trained: {display_sets(rec[k]['skipped'])}"
           for k, label in names.items() if "skipped" in rec[k]]
    counts = summary.get("synthetic_counts") or {}
    out += [f"warning: class {c} got no synthetic samples" for c, n in counts.items() if n == 0]
    out += _chance_warning(summary.get("generation"), _class_count(summary))
    out += _recognizers_at_chance(rec, names, _class_count(summary))
    floor = rec.get("floor") or {}
    below = [label for k, label in names.items()
             if k in floor and _finite((rec[k].get("overall") or {}).get("mean"))
             and _finite(floor[k].get("overall")) and rec[k]["overall"]["mean"] < floor[k]["overall"]]
    if below:
        out.append(f"warning: the recognizer's mean accuracy is below the floor ({floor.get('model')}) on "
                   f"{', '.join(below)}: a gain between these sets means little")
    return out


def _excluded(summary: Mapping) -> list[str]:
    excluded = summary.get("excluded") or []
    if not excluded:
        return []
    lines = [f"left out {len(excluded)} sample(s) of the input (the reader's on_bad = 'skip'):"]
    lines += [f"  {e}" for e in excluded[:_MAX_EXCLUDED]]
    if len(excluded) > _MAX_EXCLUDED:
        lines.append(f"  ... and {len(excluded) - _MAX_EXCLUDED} more (all in run.log and data/summary.json)")
    return lines


def _where(summary: Mapping) -> list[str]:
    root = summary.get("run_dir")
    lines = []
    if root:
        report = summary.get("report")
        done = "stopped_after_rounds" not in summary
        lines.append(f"Run folder: {root}" + (" (full results: recognition/summary.json, evaluation/metrics.json)"
                                              if done else ""))
        lines.append(f"Report: {report}" if report else f"Report: run `infagenc report {root}`")
    wall = summary.get("wall_time", summary.get("wall_seconds"))
    if _finite(wall):
        lines.append(f"Wall time: {wall:.1f} s" + (f" ({wall / 60:.1f} min)" if wall >= 60 else ""))
    return lines


def format_run_summary(summary: Mapping) -> str:
    """The lines a finished (or stopped) run prints, from the dict
    :func:`~infagenc.loop.runner.run` returns (``run_dir``, ``excluded``, ``recognition``,
    ``generation``, ``wall_seconds``, or ``stopped_after_rounds``) and optionally
    :func:`run_facts` (``class_names``, ``synthetic_counts``, ``recognizer``), ``report``
    (the report's path) and ``wall_time`` (seconds, instead of ``wall_seconds``)."""
    lines = _excluded(summary)
    if "stopped_after_rounds" in summary:
        lines.append(f"Stopped after {summary['stopped_after_rounds']} loop round(s); run the same command again "
                     f"to resume.")
    else:
        lines += _table(summary.get("recognition") or {}, summary.get("recognizer"))
        lines += _generation(summary.get("generation"))
        lines += _verdict(summary)
        lines += _warnings(summary)
    lines += _where(summary)
    return "\n".join(lines)
