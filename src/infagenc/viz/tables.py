"""The report's tables: pure functions of a run folder's JSON (or of committed benchmark
results in the same shape).

``*_table`` functions return a :class:`~infagenc.viz.document.Table` (rendered to Markdown
or HTML by the report); the ``table_*`` functions return the same table as Markdown.

Choices where the paper is silent (the design is described in docs/design.md):

* Units. Accuracies are shown in percent (recognition with one decimal, like the
  paper's Tables 3-6); the other generation metrics in the evaluator's feature units.
  Generation cells are ``mean ± ci95`` (1.96·std/√R over the R metric repeats) with two
  significant digits of the interval (at least one decimal), or three significant digits
  of the mean when the interval is unknown.
* Intervals over seeds. A handful of run seeds is not enough for the normal quantile:
  recognition results show Student's t interval (``ci95_t``) and n, e.g.
  ``88.8 ± 111.0 (t, n=2)``. A single seed has no interval: the value and ``n=1``.
* No spread. When every repeat (or seed) gave the same value (std 0) there is no
  interval: the cell is the value alone, with the decimals of the column's other cells,
  and a note says why (never ``± 0.000``).
* Display names: the training sets are Real, Syn and Real+Syn wherever a person reads
  them (:data:`SET_NAMES`, :func:`display_sets`); classes are named, never indexed.
* Table 4 (per class): a column per training set (Real, Syn, Real+Syn) or per compared
  run; a last ``overall`` row.
* Tables 5/6 (per subject x class): rows = test subjects, columns = classes, each cell
  the accuracy in % averaged over seeds with the number of test samples in parentheses.
* The recycled pool is evaluated against the real test set only, so its row appears in
  the test-reference table only.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..metrics.stats import interval_t, no_spread
from ..runfolder import RunFolder
from .document import Doc, Table, render_markdown

__all__ = [
    "DASH",
    "MODE_NAMES",
    "SET_NAMES",
    "class_list",
    "result_sets",
    "display_sets",
    "format_pm",
    "format_seeds",
    "generation_markdown",
    "generation_section",
    "generation_table",
    "left_out_notes",
    "no_interval_note",
    "per_class_table",
    "recognition_table",
    "rounds_table",
    "subject_class_table",
    "table_generation",
    "table_per_class",
    "table_recognition",
    "table_rounds",
    "table_subject_class",
]

SET_NAMES = {"real": "Real", "syn": "Syn", "real_syn": "Real+Syn"}
# other training sets a recognition summary may hold, by their display names
OTHER_SET_NAMES = {"auto": "Auto (the guard's choice)"}
MODE_NAMES = {"none": "baseline", "random": "random", "distance": "distance"}
DASH = "–"
# the run folder's file names, relative to its root, for the texts that name them
_NAMES = RunFolder(".", create=False)


# ------------------------------------------------------------------ formatting
def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _decimals(mean: float, ci: float | None) -> int:
    # an interval at floating-point noise level (identical repeats) counts as zero
    if _finite(ci) and ci > 1e-9 * max(1.0, abs(mean) if _finite(mean) else 1.0):
        return int(min(6, max(1, 1 - math.floor(math.log10(ci)))))
    if _finite(mean) and mean != 0:
        return int(min(6, max(1, 2 - math.floor(math.log10(abs(mean))))))
    return 1


def _spread_less(summary, t: bool = False) -> bool:
    """A summary whose values are all the same: its interval (``ci95``, or with ``t`` the
    t-interval) 0 up to floating-point noise; without an interval, its std 0."""
    if not isinstance(summary, Mapping) or not _finite(summary.get("mean")):
        return False
    ci = interval_t(summary) if t else summary.get("ci95")
    if not _finite(ci):
        return no_spread(summary)
    return ci <= 1e-9 * max(1.0, abs(float(summary["mean"])))


def format_pm(summary: Mapping | float | None, scale: float = 1.0, decimals: int | None = None) -> str:
    """``"mean ± ci95"`` of a summary dict (``mean``, ``ci95``: a
    :class:`~infagenc.metrics.stats.Summary` as JSON) or a plain number, times ``scale``.

    ``decimals`` None: two significant digits of the interval (see the module notes).
    Without an interval (one repeat, or every repeat the same: std 0) only the mean is
    shown; None or NaN is ``–``; a mean below 1e-4 in magnitude is written in scientific
    notation.
    """
    if summary is None:
        return DASH
    if isinstance(summary, Mapping):
        mean, ci = summary.get("mean"), (None if _spread_less(summary) else summary.get("ci95"))
    else:
        mean, ci = summary, None
    if not _finite(mean):
        return DASH
    mean = float(mean) * scale
    ci = float(ci) * scale if _finite(ci) else None
    if decimals is None and 0 < abs(mean) < 1e-4:  # too small for fixed decimals
        return f"{mean:.2e}" if ci is None else f"{mean:.2e} ± {ci:.1e}"
    d = _decimals(mean, ci) if decimals is None else decimals
    return f"{mean:.{d}f}" if ci is None else f"{mean:.{d}f} ± {ci:.{d}f}"


def format_seeds(summary: Mapping | None, scale: float = 100.0, decimals: int = 1, *, short: bool = False) -> str:
    """A result over run seeds: ``"88.8 ± 11.0 (t, n=2)"``, the mean ± Student's t 95%
    interval (``ci95_t``, see :func:`~infagenc.metrics.stats.interval_t`) and n.

    One seed: ``"25.0 (n=1)"``; every seed the same: ``"50.0 (n=3, all equal)"`` (no
    interval to show). ``short``: the cell without the parenthesis (n said elsewhere), and
    ``"(all equal)"`` alone for seeds without spread. None or NaN is ``–``."""
    if not isinstance(summary, Mapping) or not _finite(summary.get("mean")):
        return DASH
    n = summary.get("R") if isinstance(summary.get("R"), int) else len(summary.get("values") or [])
    value = f"{float(summary['mean']) * scale:.{decimals}f}"
    if _spread_less(summary, t=True):
        return f"{value} (all equal)" if short else f"{value} (n={n}, all equal)"
    ci = interval_t(summary)
    if not _finite(ci):
        return value if short else f"{value} (n={n})"
    cell = f"{value} ± {ci * scale:.{decimals}f}"
    return cell if short else f"{cell} (t, n={n})"


def _pct(x: float | None) -> str:
    return f"{100 * x:.1f}" if _finite(x) else DASH


_SET_WORD = re.compile(r"\b(real_syn|real|syn)\b(?= set)")


def display_sets(text: str) -> str:
    """Training-set keys in a text for people (``"the syn set ..."``) -> their display names
    (``"the Syn set ..."``): Real, Syn, Real+Syn."""
    return _SET_WORD.sub(lambda m: SET_NAMES[m.group(1)], str(text))


def result_sets(summary: Mapping) -> list[tuple[str, str]]:
    """(key, display name) of the training sets in a recognition summary: Real, Syn, Real+Syn
    first, then any other set it holds (e.g. ``auto``), never the floor."""
    keys = [k for k in SET_NAMES if k in summary]
    keys += [k for k, v in summary.items() if k not in SET_NAMES and k != "floor" and isinstance(v, Mapping)]
    return [(k, SET_NAMES.get(k) or OTHER_SET_NAMES.get(k, k)) for k in keys]


def class_list(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    names = [str(n) for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


# ------------------------------------------------------------------ generation (Table 2)
_GEN_COLUMNS = (("fid", "FID ↓", 1.0), ("accuracy", "Accuracy (%) ↑", 100.0),
                ("diversity", "Diversity →", 1.0), ("multimodality", "Multimodality →", 1.0))


def _gen_rows(result: Mapping, pool: Mapping | None) -> list[tuple[str, str, Mapping]]:
    """(row label, part, its metrics) of the rows present."""
    rows = [("Real", "real", result), ("Generated", "generated", result), ("Recycled pool", "generated", pool)]
    return [(label, part, src.get(part, {})) for label, part, src in rows if src is not None]


def _column_decimals(cells: Sequence, scale: float) -> int | None:
    """The decimals of a column's cells that have an interval (the most), for its cells without one."""
    ds = [_decimals(float(s["mean"]) * scale, float(s["ci95"]) * scale) for s in cells
          if isinstance(s, Mapping) and _finite(s.get("mean")) and _finite(s.get("ci95")) and not _spread_less(s)]
    return max(ds) if ds else None


def generation_table(result: Mapping, pool: Mapping | None = None) -> Table:
    """The :func:`table_generation` table."""
    rows = _gen_rows(result, pool)
    out = [[label] for label, _, _ in rows]
    for key, _, scale in _GEN_COLUMNS:
        cells = [vals.get(key) for _, _, vals in rows]
        col = _column_decimals(cells, scale)
        for row, cell in zip(out, cells):
            same = _spread_less(cell) and not 0 < abs(float(cell["mean"]) * scale) < 1e-4
            row.append(format_pm(cell, scale, col if same else None))
    return Table(["Set"] + [h for _, h, _ in _GEN_COLUMNS], out)


def table_generation(result: Mapping, pool: Mapping | None = None) -> str:
    """Paper Table 2 layout for one reference set: rows Real / Generated (/ Recycled pool),
    columns FID, Accuracy (%), Diversity, Multimodality, each ``mean ± ci95``.

    ``result`` (and ``pool``) are results of
    :func:`~infagenc.metrics.generation.generation_metrics` as JSON (e.g. ``vs_test`` of
    ``evaluation/metrics.json``). The Real row has no FID (``–``); a cell whose repeats
    all agree has no interval (see :func:`no_interval_note`).
    """
    return generation_table(result, pool).markdown()


def no_interval_note(result: Mapping, pool: Mapping | None = None) -> str | None:
    """Why some cells of the :func:`generation_table` show no interval (every repeat gave
    the same value), or None when every cell has one."""
    names = {k: h.split(" (")[0].split(" ")[0] for k, h, _ in _GEN_COLUMNS}
    # the sets each row's metric draws from: FID both, accuracy the row's own set
    draws = {"fid": ("real", "generated"), "accuracy": None, "diversity": (), "multimodality": ()}
    parts = []
    for label, part, vals in _gen_rows(result, pool):
        src = pool if label == "Recycled pool" else result
        same = [k for k in names if _spread_less(vals.get(k))]
        if not same:
            continue
        m = src.get("sample_size")
        sizes = {"real": src.get("n_real"), "generated": src.get("n_generated")}
        used = {s for k in same for s in (draws[k] if draws[k] is not None else (part,))}
        whole = [s for s in ("real", "generated") if s in used and m is not None and sizes[s] == m]
        what = {"real": "real set", "generated": "recycled pool" if label == "Recycled pool" else "generated set"}
        why = (f"m = {m} is the whole {' and the whole '.join(what[s] for s in whole)}, so every repeat draws "
               f"the same samples" if whole else "the repeats' random draws did not change it")
        parts.append(f"{class_list([f'{label} {names[k]}' for k in same])} ({why})")
    if not parts:
        return None
    return (f"No interval for {'; '.join(parts)}: all R = {result.get('R')} repeats gave the same value, "
            f"shown alone.")


def _class_name(c, class_names: Sequence[str] | None) -> str:
    if class_names is not None and isinstance(c, int) and 0 <= c < len(class_names):
        return str(class_names[c])
    return str(c)


def left_out_notes(result: Mapping, class_names: Sequence[str] | None = None,
                   counts: Mapping[str, Mapping[str, int] | None] | None = None, what: str = "") -> list[str]:
    """One note per set (``real``, ``generated``) naming the classes multimodality leaves out:
    those with one sample (``multimodality_left_out``, class indices, named by
    ``class_names``) and every class with none (from ``counts``: per set, samples per class
    name, where known)."""
    notes = []
    left = result.get("multimodality_left_out") or {}
    for part in ("real", "generated"):
        items = {_class_name(c, class_names): "1 sample" for c in left.get(part) or []}
        for name, n in ((counts or {}).get(part) or {}).items():
            if n == 0:
                items[str(name)] = "no samples"
            elif n == 1:
                items.setdefault(str(name), "1 sample")
        if items:
            shown = class_list([f"{c} ({why})" for c, why in items.items()])
            notes.append(f"Multimodality ({what}{part}) leaves out {'class' if len(items) == 1 else 'classes'} "
                         f"{shown}: a class needs 2 samples for a same-class pair.")
    return notes


def _generation_notes(result: Mapping, floor: float | None, pool: Mapping | None,
                      class_names: Sequence[str] | None, counts: Mapping) -> list[str]:
    notes = [f"R = {result.get('R')} repeats (seed {result.get('seed')}); each repeat draws m = "
             f"{result.get('sample_size')} of the {result.get('n_real')} real and of the {result.get('n_generated')} "
             f"generated samples without replacement for FID and accuracy; diversity from "
             f"{result.get('num_pairs')} random pairs, multimodality from {result.get('pairs_per_class')} pairs per "
             f"class. ± is the 95% interval of the mean, 1.96·std/√R. The Real row has no FID (a set against "
             f"itself scores 0)."]
    same = no_interval_note(result, pool)
    if same:
        notes.append(same)
    if _finite(result.get("fid_full")):
        notes.append(f"FID of the full real and generated sets: {format_pm(result['fid_full'])}.")
    if _finite(floor):
        notes.append(f"FID between the real train and real test sets (a floor for the generated rows): "
                     f"{format_pm(floor)}.")
    if pool is not None:
        notes.append(f"Recycled pool: the {pool.get('n_generated')} samples the loop selected "
                     f"(`{_NAMES.synthetic_path.as_posix()}`), m = {pool.get('sample_size')}.")
    notes += left_out_notes(result, class_names, {"real": counts.get("real")})
    if pool is not None:
        notes += left_out_notes(pool, class_names, {"generated": counts.get("pool")}, "recycled pool, ")
    return notes


def generation_section(d: Doc, metrics: Mapping, level: int, class_names: Sequence[str] | None = None,
                       counts: Mapping[str, Mapping[str, int] | None] | None = None) -> None:
    """Add the two labelled Table 2 tables (against the real test set, against the real
    train set) and their notes to ``d``; ``metrics`` is ``evaluation/metrics.json``.
    ``class_names`` name the classes of the notes; ``counts`` (samples per class of the
    ``test`` and ``train`` sets and of the recycled ``pool``, where known) let the notes
    list the classes with no samples."""
    counts = counts or {}
    pool = metrics.get("recycled_pool_vs_test")
    floor = metrics.get("fid_real_train_vs_real_test")
    if metrics.get("evaluator"):
        d.p(f"Evaluator: {metrics['evaluator']}; generator: `{metrics.get('generator_checkpoint')}`, "
            f"{metrics.get('generated_per_repeat')} fresh samples per repeat (classes balanced).")
    for key, title, with_pool in (("vs_test", "Against the real test set (held-out subjects)", True),
                                  ("vs_train", "Against the real train set", False)):
        res = metrics.get(key)
        d.h(level, title)
        if res is None:
            d.miss(f"no metrics against the real {key[3:]} set in `{_NAMES.metrics_path.as_posix()}`.")
            continue
        d.table(generation_table(res, pool if with_pool else None))
        part_counts = {"real": counts.get(key[3:]), "pool": counts.get("pool")}
        for note in _generation_notes(res, floor, pool if with_pool else None, class_names, part_counts):
            d.p(note)
        if not with_pool and pool is not None:
            d.p("The recycled pool is evaluated against the real test set only.")


def generation_markdown(metrics: Mapping, class_names: Sequence[str] | None = None) -> str:
    """The two labelled Table 2 tables (against the real test set, against the real
    train set) with their notes, from ``evaluation/metrics.json``."""
    d = Doc()
    generation_section(d, metrics, level=3, class_names=class_names)
    return render_markdown(d, Path("report.md"))


# ------------------------------------------------------------------ recognition (Tables 3-6)
SEEDS_NOTE = ("± is Student's t 95% interval over the n seeds (t(0.975, n - 1)·std/√n: with a handful of seeds "
              "the normal 1.96 would claim too much); one seed has no interval, and 'all equal' marks seeds that "
              "all gave the same accuracy.")


def recognition_table(summary: Mapping) -> Table:
    """The :func:`table_recognition` table."""
    rows = []
    floor = summary.get("floor") or {}
    sets = result_sets(summary)
    for key, label in sets:  # the trivial floor first: what any deep result must beat
        if key in floor:
            value = display_sets(floor[key].get("skipped") or "") or _pct(floor[key].get("overall"))
            rows.append([f"{label}: floor ({floor.get('model', '?')})", value, "1 (deterministic)", DASH])
    for key, label in sets:
        s = summary[key]
        if "skipped" in s:
            rows.append([label, f"skipped: {display_sets(s['skipped'])}", DASH, DASH])
            continue
        per_seed = ", ".join(f"{p['seed']}: {_pct(p['overall'])}" for p in s.get("per_seed", []))
        rows.append([label, format_seeds(s.get("overall")), str(len(s.get("seeds", []))), per_seed])
    return Table(["Training set", "Test accuracy (%)", "Seeds", "Per seed (seed: %)"], rows)


def table_recognition(summary: Mapping) -> str:
    """Paper Table 3 layout: rows Real / Syn / Real+Syn, the overall test accuracy (%)
    ``mean ± t-interval (t, n)`` over seeds and every seed's value; ``summary`` is
    ``recognition/summary.json``."""
    return recognition_table(summary).markdown()


def _seed_count(col: Mapping) -> int | None:
    overall = col.get("overall")
    if isinstance(overall, Mapping) and isinstance(overall.get("R"), int):
        return overall["R"]
    return len(col["seeds"]) if col.get("seeds") else None


def per_class_table(columns: Mapping[str, Mapping], class_names: Sequence[str] | None = None,
                    test_counts: Mapping[str, int] | None = None) -> Table:
    """The :func:`table_per_class` table."""
    if class_names is None:
        class_names = list(dict.fromkeys(c for col in columns.values() for c in (col.get("per_class") or {})))
    titles = [title if _seed_count(col) is None else f"{title} (n={_seed_count(col)})"
              for title, col in columns.items()]
    header = ["Class"] + (["Test samples"] if test_counts is not None else []) + titles
    rows = []
    for c in class_names:
        row = [c] + ([str(test_counts.get(c, 0))] if test_counts is not None else [])
        row += [format_seeds((col.get("per_class") or {}).get(c), short=True) for col in columns.values()]
        rows.append(row)
    total = sum(test_counts.values()) if test_counts is not None else None
    rows.append(["overall"] + ([str(total)] if test_counts is not None else [])
                + [format_seeds(col.get("overall"), short=True) for col in columns.values()])
    return Table(header, rows)


def table_per_class(columns: Mapping[str, Mapping], class_names: Sequence[str] | None = None,
                    test_counts: Mapping[str, int] | None = None) -> str:
    """Paper Table 4 layout: a row per class (and a last ``overall`` row), a column per
    training set or run (its title with the number of seeds n); cells are test accuracy
    (%) ``mean ± t-interval`` over the n seeds (:func:`format_seeds`).

    ``columns`` maps a column title to one training set's entry of
    ``recognition/summary.json`` (``per_class``: {class: summary}, ``overall``), or to
    ``{"skipped": reason}`` (a column of ``–``). ``class_names`` fixes the row order
    (default: the classes of the columns, in order of appearance); ``test_counts`` adds
    a column with the number of test samples per class.
    """
    return per_class_table(columns, class_names, test_counts).markdown()


def _subject_class_means(reports: Sequence[Mapping]) -> tuple[list[str], dict[str, tuple[np.ndarray, np.ndarray]]]:
    if not reports:
        raise ValueError("no reports to tabulate")
    missing = [i for i, r in enumerate(reports) if "per_subject_class" not in r]
    if missing:
        raise ValueError(f"report(s) {missing} have no per-subject x class accuracy (written by an older version)")
    names = list(reports[0]["class_names"])
    acc: dict[str, list[np.ndarray]] = {}
    counts: dict[str, np.ndarray] = {}
    for r in reports:
        if list(r["class_names"]) != names:
            raise ValueError("the reports have different class lists")
        for row in r["per_subject_class"]:
            acc.setdefault(row["subject"], []).append(
                np.array([np.nan if a is None else float(a) for a in row["accuracy"]]))
            counts[row["subject"]] = np.asarray(row["samples"], dtype=np.int64)
    return names, {s: (np.mean(v, axis=0), counts[s]) for s, v in acc.items()}


def subject_class_table(reports: Sequence[Mapping]) -> Table:
    """The :func:`table_subject_class` table."""
    names, means = _subject_class_means(reports)
    overall = {}
    for r in reports:
        for row in r.get("per_subject", []):
            overall.setdefault(row["subject"], []).append(row["accuracy"])
    rows = []
    for s in sorted(means):
        acc, n = means[s]
        cells = [f"{_pct(float(a))} ({int(k)})" if k > 0 else DASH for a, k in zip(acc, n)]
        all_acc = float(np.mean(overall[s])) if s in overall else math.nan
        rows.append([s] + cells + [f"{_pct(all_acc)} ({int(n.sum())})"])
    return Table(["Subject"] + names + ["all"], rows)


def table_subject_class(reports: Sequence[Mapping]) -> str:
    """Paper Tables 5/6 layout: a row per test subject, a column per class and ``all``;
    cells are the test accuracy (%) averaged over the given per-seed reports
    (``recognition/<set>/seed_<s>/report.json``) with the number of test samples in
    parentheses (``–`` where the subject has no sample of the class)."""
    return subject_class_table(reports).markdown()


# ------------------------------------------------------------------ the loop
def rounds_table(rounds: Sequence[Mapping], class_names: Sequence[str]) -> Table:
    """The :func:`table_rounds` table."""
    rows = []
    for r in rounds:
        counts = r.get("counts")
        if counts:
            per_class = [f"{g} / {p} / {s}" for g, p, s in
                         zip(counts["generated"], counts["passed_filter"], counts["selected"])]
            tail = [str(sum(counts["selected"])), str(r.get("pool_size", DASH))]
        else:
            per_class, tail = [DASH] * len(class_names), [DASH, DASH]
        rows.append([str(r["round"]), str(r["best_epoch"]), f"{r['best_cas']:.3f}"] + per_class + tail)
    return Table(["Round", "Best epoch", "CAS"] + list(class_names) + ["Selected", "Pool"], rows)


def table_rounds(rounds: Sequence[Mapping], class_names: Sequence[str]) -> str:
    """Per-round selection: round, best epoch, its CAS, per class ``generated / passed
    the filter / selected`` at the best epoch, selected in all, pool size afterwards
    (``rounds.json``; a baseline round, without recycling, has ``–`` there)."""
    return rounds_table(rounds, class_names).markdown()
