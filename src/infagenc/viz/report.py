"""One report per run, built from the run folder alone (SPEC §5): Markdown or a self-contained HTML page.

:func:`build_report` reads what a run wrote (:mod:`infagenc.runfolder` lists it) and
nothing else: no model is trained, and a checkpoint is read only when the snapshot grid
and the animations need generated samples that the folder does not hold (see below).
Pictures go to ``RUN_DIR/figures/``; the Markdown links them (and the confusion matrices
under ``recognition/``) by relative paths, the HTML page embeds every image (base64).

The table renderers (:func:`table_generation`, :func:`table_recognition`,
:func:`table_per_class`, :func:`table_subject_class`, :func:`table_rounds`,
:func:`generation_markdown`) are pure functions of the run folder's JSON (or of committed
benchmark results in the same shape) and return Markdown.

Choices where the paper and the spec are silent:

* Units. Accuracies are shown in percent (recognition with one decimal, like the
  paper's Tables 3-6); the other generation metrics in the evaluator's feature units.
  Generation cells are ``mean ± ci95`` with two significant digits of the interval (at
  least one decimal), or three significant digits of the mean when the interval is 0
  or unknown. A recognition result from a single seed has no interval: its cell is the
  value alone.
* Generated samples in the pictures: the run's ``synthetic.npz`` (the recycled pool,
  or the baseline's fresh samples) when it has enough samples of every class for the
  snapshot grid (two per class); otherwise ``per_class`` fresh samples of the final
  generator (``checkpoints/generator.pt``, seed 0). The report says which.
* Real samples in the pictures: the real training set (``data/train.npz``).
* Table 4 (per class): columns are the run's training sets (Real, Syn, Real+Syn); with
  ``compare=`` they are the main run's Real and the Real+Syn of each run (the main run
  and every compared one), labelled by selection mode (``none`` = baseline).
* Tables 5/6 (per subject x class): one table per training set, rows = test subjects,
  columns = classes, each cell the accuracy in % averaged over seeds with the number of
  test samples in parentheses.
* The recycled pool is evaluated against the real test set only (``evaluate_run``),
  so its row appears in the test-reference table only.
* A picture that cannot be drawn from the data (e.g. too few samples for t-SNE) is
  replaced by a line saying why; a missing file is named as missing.
* Pictures are reused when the run-folder files they were drawn from have not changed
  (``figures/manifest.json``; ``redraw=True`` draws them again), so writing the HTML
  page after the Markdown costs little.
"""
from __future__ import annotations

import base64
import html
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..jsonio import read_json, write_json

__all__ = [
    "Table",
    "build_report",
    "format_pm",
    "generation_markdown",
    "table_generation",
    "table_per_class",
    "table_recognition",
    "table_rounds",
    "table_subject_class",
]

SET_NAMES = {"real": "Real", "syn": "Syn", "real_syn": "Real+Syn"}
MODE_NAMES = {"none": "baseline", "random": "random", "distance": "distance"}
_DASH = "–"


# ------------------------------------------------------------------ formatting
def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def _decimals(mean: float, ci: float | None) -> int:
    # an interval at floating-point noise level (identical repeats) counts as zero
    if _finite(ci) and ci > 1e-9 * max(1.0, abs(mean) if _finite(mean) else 1.0):
        return int(min(6, max(1, 1 - math.floor(math.log10(ci)))))
    if _finite(mean) and mean != 0:
        return int(min(6, max(1, 2 - math.floor(math.log10(abs(mean))))))
    return 1


def format_pm(summary: Mapping | float | None, scale: float = 1.0, decimals: int | None = None) -> str:
    """``"mean ± ci95"`` of a summary dict (``mean``, ``ci95``: a
    :class:`~infagenc.metrics.stats.Summary` as JSON) or a plain number, times ``scale``.

    ``decimals`` None: two significant digits of the interval (see the module notes).
    Without a finite interval (one repeat) only the mean is shown; None or NaN is ``–``;
    a mean below 1e-4 in magnitude is written in scientific notation.
    """
    if summary is None:
        return _DASH
    if isinstance(summary, Mapping):
        mean, ci = summary.get("mean"), summary.get("ci95")
    else:
        mean, ci = summary, None
    if not _finite(mean):
        return _DASH
    mean = float(mean) * scale
    ci = float(ci) * scale if _finite(ci) else None
    if decimals is None and 0 < abs(mean) < 1e-4:  # too small for fixed decimals
        return f"{mean:.2e}" if ci is None else f"{mean:.2e} ± {ci:.1e}"
    d = _decimals(mean, ci) if decimals is None else decimals
    return f"{mean:.{d}f}" if ci is None else f"{mean:.{d}f} ± {ci:.{d}f}"


def _pct(x: float | None) -> str:
    return f"{100 * x:.1f}" if _finite(x) else _DASH


@dataclass
class Table:
    """A table of strings; ``align`` per column ``"l"`` or ``"r"`` (default: first left, rest right)."""

    header: list[str]
    rows: list[list[str]]
    align: list[str] | None = None

    def _align(self) -> list[str]:
        return self.align or ["l"] + ["r"] * (len(self.header) - 1)

    def markdown(self) -> str:
        def cell(s: str) -> str:
            return str(s).replace("|", "\\|").replace("\n", " ")

        lines = ["| " + " | ".join(cell(h) for h in self.header) + " |",
                 "|" + "|".join("---:" if a == "r" else "---" for a in self._align()) + "|"]
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        al = self._align()

        def tr(cells, tag):
            return "<tr>" + "".join(f'<{tag} class="{"r" if a == "r" else "l"}">{_inline_html(str(c))}</{tag}>'
                                    for c, a in zip(cells, al)) + "</tr>"

        return ("<table>\n<thead>" + tr(self.header, "th") + "</thead>\n<tbody>\n"
                + "\n".join(tr(r, "td") for r in self.rows) + "\n</tbody>\n</table>\n")


# ------------------------------------------------------------------ tables
_GEN_COLUMNS = (("fid", "FID ↓", 1.0), ("accuracy", "Accuracy (%) ↑", 100.0),
                ("diversity", "Diversity →", 1.0), ("multimodality", "Multimodality →", 1.0))


def _generation_table(result: Mapping, pool: Mapping | None = None) -> Table:
    rows = []
    for label, part, src in (("Real", "real", result), ("Generated", "generated", result),
                             ("Recycled pool", "generated", pool)):
        if src is None:
            continue
        vals = src.get(part, {})
        rows.append([label] + [format_pm(vals.get(k), scale) for k, _, scale in _GEN_COLUMNS])
    return Table(["Set"] + [h for _, h, _ in _GEN_COLUMNS], rows)


def table_generation(result: Mapping, pool: Mapping | None = None) -> str:
    """Paper Table 2 layout for one reference set: rows Real / Generated (/ Recycled pool),
    columns FID, Accuracy (%), Diversity, Multimodality, each ``mean ± ci95``.

    ``result`` (and ``pool``) are results of
    :func:`~infagenc.metrics.generation.generation_metrics` as JSON (e.g. ``vs_test`` of
    ``evaluation/metrics.json``). The Real row has no FID (``–``).
    """
    return _generation_table(result, pool).markdown()


def _generation_notes(result: Mapping, floor: float | None, pool: Mapping | None) -> list[str]:
    notes = [f"R = {result.get('R')} repeats (seed {result.get('seed')}); each repeat draws m = "
             f"{result.get('sample_size')} of the {result.get('n_real')} real and of the {result.get('n_generated')} "
             f"generated samples without replacement for FID and accuracy; diversity from "
             f"{result.get('num_pairs')} random pairs, multimodality from {result.get('pairs_per_class')} pairs per "
             f"class. ± is the 95% interval of the mean, 1.96·std/√R. The Real row has no FID (a set against "
             f"itself scores 0)."]
    if _finite(result.get("fid_full")):
        notes.append(f"FID of the full real and generated sets: {format_pm(result['fid_full'])}.")
    if _finite(floor):
        notes.append(f"FID between the real train and real test sets (a floor for the generated rows): "
                     f"{format_pm(floor)}.")
    if pool is not None:
        notes.append(f"Recycled pool: the {pool.get('n_generated')} samples the loop selected (`synthetic.npz`), "
                     f"m = {pool.get('sample_size')}.")
    for src, what in ((result, ""), (pool, "recycled pool, ")):
        for part, classes in ((src or {}).get("multimodality_left_out") or {}).items():
            if classes:
                notes.append(f"Multimodality ({what}{part}) leaves out classes {classes} (fewer than 2 samples).")
    return notes


def table_recognition(summary: Mapping) -> str:
    """Paper Table 3 layout: rows Real / Syn / Real+Syn, the overall test accuracy (%)
    ``mean ± ci95`` over seeds and every seed's value; ``summary`` is
    ``recognition/summary.json``."""
    return _recognition_table(summary).markdown()


def _recognition_table(summary: Mapping) -> Table:
    rows = []
    for key, label in SET_NAMES.items():
        s = summary.get(key)
        if s is None:
            continue
        if "skipped" in s:
            rows.append([label, f"skipped: {s['skipped']}", _DASH, _DASH])
            continue
        per_seed = ", ".join(f"{p['seed']}: {_pct(p['overall'])}" for p in s.get("per_seed", []))
        rows.append([label, format_pm(s.get("overall"), 100.0, 1), str(len(s.get("seeds", []))), per_seed])
    return Table(["Training set", "Test accuracy (%)", "Seeds", "Per seed (seed: %)"], rows)


def table_per_class(columns: Mapping[str, Mapping], class_names: Sequence[str] | None = None,
                    test_counts: Mapping[str, int] | None = None) -> str:
    """Paper Table 4 layout: a row per class (and a last ``overall`` row), a column per
    training set or run; cells are test accuracy (%) ``mean ± ci95`` over seeds.

    ``columns`` maps a column title to one training set's entry of
    ``recognition/summary.json`` (``per_class``: {class: summary}, ``overall``), or to
    ``{"skipped": reason}`` (a column of ``–``). ``class_names`` fixes the row order
    (default: the classes of the columns, in order of appearance); ``test_counts`` adds
    a column with the number of test samples per class.
    """
    return _per_class_table(columns, class_names, test_counts).markdown()


def _per_class_table(columns: Mapping[str, Mapping], class_names: Sequence[str] | None = None,
                     test_counts: Mapping[str, int] | None = None) -> Table:
    if class_names is None:
        class_names = list(dict.fromkeys(c for col in columns.values() for c in (col.get("per_class") or {})))
    header = ["Class"] + (["Test samples"] if test_counts is not None else []) + list(columns)
    rows = []
    for c in class_names:
        row = [c] + ([str(test_counts.get(c, 0))] if test_counts is not None else [])
        row += [format_pm((col.get("per_class") or {}).get(c), 100.0, 1) for col in columns.values()]
        rows.append(row)
    total = sum(test_counts.values()) if test_counts is not None else None
    rows.append(["overall"] + ([str(total)] if test_counts is not None else [])
                + [format_pm(col.get("overall"), 100.0, 1) for col in columns.values()])
    return Table(header, rows)


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


def table_subject_class(reports: Sequence[Mapping]) -> str:
    """Paper Tables 5/6 layout: a row per test subject, a column per class and ``all``;
    cells are the test accuracy (%) averaged over the given per-seed reports
    (``recognition/<set>/seed_<s>/report.json``) with the number of test samples in
    parentheses (``–`` where the subject has no sample of the class)."""
    return _subject_class_table(reports).markdown()


def _subject_class_table(reports: Sequence[Mapping]) -> Table:
    names, means = _subject_class_means(reports)
    overall = {}
    for r in reports:
        for row in r.get("per_subject", []):
            overall.setdefault(row["subject"], []).append(row["accuracy"])
    rows = []
    for s in sorted(means):
        acc, n = means[s]
        cells = [f"{_pct(float(a))} ({int(k)})" if k > 0 else _DASH for a, k in zip(acc, n)]
        all_acc = float(np.mean(overall[s])) if s in overall else math.nan
        rows.append([s] + cells + [f"{_pct(all_acc)} ({int(n.sum())})"])
    return Table(["Subject"] + names + ["all"], rows)


def table_rounds(rounds: Sequence[Mapping], class_names: Sequence[str]) -> str:
    """Per-round selection: round, best epoch, its CAS, per class ``generated / passed
    the filter / selected`` at the best epoch, selected in all, pool size afterwards
    (``rounds.json``; a baseline round, without recycling, has ``–`` there)."""
    return _rounds_table(rounds, class_names).markdown()


def _rounds_table(rounds: Sequence[Mapping], class_names: Sequence[str]) -> Table:
    rows = []
    for r in rounds:
        counts = r.get("counts")
        if counts:
            per_class = [f"{g} / {p} / {s}" for g, p, s in
                         zip(counts["generated"], counts["passed_filter"], counts["selected"])]
            tail = [str(sum(counts["selected"])), str(r.get("pool_size", _DASH))]
        else:
            per_class, tail = [_DASH] * len(class_names), [_DASH, _DASH]
        rows.append([str(r["round"]), str(r["best_epoch"]), f"{r['best_cas']:.3f}"] + per_class + tail)
    return Table(["Round", "Best epoch", "CAS"] + list(class_names) + ["Selected", "Pool"], rows)


# ------------------------------------------------------------------ document blocks
@dataclass
class _Heading:
    level: int
    text: str


@dataclass
class _Para:
    text: str


@dataclass
class _Missing:
    text: str


@dataclass
class _Bullets:
    items: list[str]


@dataclass
class _Image:
    path: Path
    caption: str


@dataclass
class _Doc:
    blocks: list = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def h(self, level: int, text: str) -> None:
        self.blocks.append(_Heading(level, text))

    def p(self, text: str) -> None:
        self.blocks.append(_Para(text))

    def table(self, t: Table) -> None:
        self.blocks.append(t)

    def bullets(self, items: list[str]) -> None:
        self.blocks.append(_Bullets(list(items)))

    def image(self, path: Path, caption: str) -> None:
        self.blocks.append(_Image(Path(path), caption))

    def miss(self, text: str) -> None:
        self.missing.append(text)
        self.blocks.append(_Missing(text))


def _inline_html(text: str) -> str:
    """Escape, then ``code`` spans and **bold**."""
    s = html.escape(text, quote=False)
    s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", s)


def _render_markdown(d: _Doc, out: Path) -> str:
    parts = []
    for b in d.blocks:
        if isinstance(b, _Heading):
            parts.append("#" * b.level + " " + b.text + "\n")
        elif isinstance(b, _Para):
            parts.append(b.text + "\n")
        elif isinstance(b, _Missing):
            parts.append(f"> **Missing:** {b.text}\n")
        elif isinstance(b, _Bullets):
            parts.append("".join(f"- {item}\n" for item in b.items))
        elif isinstance(b, _Image):
            rel = Path(os.path.relpath(b.path.resolve(), out.parent.resolve())).as_posix()
            parts.append(f"![{b.caption}]({rel})\n\n*{b.caption}*\n")
        elif isinstance(b, Table):
            parts.append(b.markdown())
    return "\n".join(parts)


_MIME = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
         ".svg": "image/svg+xml"}
_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.8em 0}th,td{border:1px solid #ccc;padding:3px 8px}
th{background:#f3f3f3}td.r,th.r{text-align:right}td.l,th.l{text-align:left}
.missing{background:#fff4e5;border-left:4px solid #f0a020;padding:4px 10px}
figure{margin:1em 0}img{max-width:100%}figcaption{font-style:italic;color:#555}
code{background:#f3f3f3;padding:0 3px}"""


def _render_html(d: _Doc, title: str) -> str:
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body>"]
    for b in d.blocks:
        if isinstance(b, _Heading):
            parts.append(f"<h{b.level}>{_inline_html(b.text)}</h{b.level}>")
        elif isinstance(b, _Para):
            parts.append(f"<p>{_inline_html(b.text)}</p>")
        elif isinstance(b, _Missing):
            parts.append(f'<p class="missing"><strong>Missing:</strong> {_inline_html(b.text)}</p>')
        elif isinstance(b, _Bullets):
            parts.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, _Image):
            data = base64.b64encode(b.path.read_bytes()).decode("ascii")
            mime = _MIME.get(b.path.suffix.lower(), "application/octet-stream")
            parts.append(f'<figure><img src="data:{mime};base64,{data}" alt="{html.escape(b.caption)}">'
                         f"<figcaption>{_inline_html(b.caption)}</figcaption></figure>")
        elif isinstance(b, Table):
            parts.append(b.html())
    parts.append("</body></html>\n")
    return "\n".join(parts)


# ------------------------------------------------------------------ sections
def generation_markdown(metrics: Mapping) -> str:
    """The two labelled Table 2 tables (against the real test set, against the real
    train set) with their notes, from ``evaluation/metrics.json``."""
    d = _Doc()
    _generation_section(d, metrics, level=3)
    return _render_markdown(d, Path("report.md"))


def _generation_section(d: _Doc, metrics: Mapping, level: int) -> None:
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
            d.miss(f"no metrics against the real {key[3:]} set in `evaluation/metrics.json`.")
            continue
        d.table(_generation_table(res, pool if with_pool else None))
        for note in _generation_notes(res, floor, pool if with_pool else None):
            d.p(note)
        if not with_pool and pool is not None:
            d.p("The recycled pool is evaluated against the real test set only.")


class _Run:
    """The JSON and arrays of a run folder, read on demand (None when absent)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: no such run folder")
        self.config = read_json(self.root / "config.json") or {}
        if not self.config:
            raise FileNotFoundError(f"{self.root}: not a run folder (no config.json)")

    def json(self, rel: str, default: Any = None) -> Any:
        return read_json(self.root / rel, default)

    def motionset(self, rel: str):
        from ..data.motionset import MotionSet

        p = self.root / rel
        return MotionSet.load(p) if p.exists() else None

    @property
    def name(self) -> str:
        return str(self.config.get("name", self.root.name))

    @property
    def selection(self) -> str:
        return str(self.config.get("loop", {}).get("selection", "distance"))

    @property
    def label(self) -> str:
        return MODE_NAMES.get(self.selection, self.selection)


def _header(run: _Run, d: _Doc) -> None:
    cfg = run.config
    data, loop, gen = cfg.get("data", {}), cfg.get("loop", {}), cfg.get("generator", {})
    critic, final, ev = cfg.get("critic", {}), cfg.get("final", {}), cfg.get("evaluation", {})
    env = run.json("environment.json", {})
    d.h(1, f"InfAGenC run report: {run.name}")
    d.p(f"Run folder `{run.root}`; report built {time.strftime('%Y-%m-%d %H:%M:%S')} from the run folder alone.")
    state = run.json("state.json", {"phases_done": []})
    phases = state.get("phases_done", [])
    last = "evaluation" if cfg.get("evaluation", {}).get("enabled", True) else "final"
    if last not in phases:
        d.miss(f"the run has not finished: phases done {phases or 'none'} (rounds done "
               f"{state.get('rounds_done', 0)}); what it has not made yet is missing below.")
    d.h(2, "Run")
    source = (f"`{data['path']}`" + (f" ({data['format']})" if data.get("format") else "")) if data.get("path") \
        else "built-in made-up demo data (not evidence of quality)"
    crit = f"{critic.get('model')} ({critic.get('size')}), ≤ {critic.get('epochs')} epochs, " \
           f"target accuracy {critic.get('target_accuracy')}"
    rec = final.get("recognizer", {})
    rows = [
        ["Data", source],
        ["Preprocessing", f"{data.get('frames')} frames ({data.get('resample')}), root {data.get('root')}, "
                          f"representation {data.get('rep') or 'as read'}"],
        ["Selection", f"{loop.get('selection')}"
                      + ("" if loop.get("selection") == "none" else
                         f" (θ = {loop.get('theta')}, weights {loop.get('w_within')} / {loop.get('w_between')}, "
                         f"{loop.get('score_form')} score, keep {loop.get('keep_fraction')})")],
        ["Loop", f"{loop.get('epochs')} epochs in windows of {loop.get('window')}, "
                 + (f"{loop['samples_per_epoch']} samples" if loop.get("samples_per_epoch") else
                    "one sample per real training sample")
                 + f" per epoch, critic updated {loop.get('critic_update_epochs')} epochs per round"],
        ["Generator", f"pre-trained {cfg.get('pretrain_generator_epochs')} epochs; "
                      f"{gen.get('cvae', {}).get('num_layers')} layers, d_model {gen.get('cvae', {}).get('d_model')}"],
        ["Critic", crit],
        ["Final recognizers", f"{rec.get('model')} ({rec.get('size')}), {rec.get('epochs')} epochs, seeds "
                              f"{final.get('seeds')}, training sets {final.get('train_sets')}"],
        ["Evaluation", (f"R = {ev.get('repeats')} repeats, {ev.get('diversity_pairs')} diversity pairs, "
                        f"{ev.get('multimodality_pairs')} multimodality pairs per class, seed {ev.get('seed')}")
         if ev.get("enabled", True) else "disabled (`evaluation.enabled = false`)"],
        ["Run seed, device, precision", f"{cfg.get('seed')}, {cfg.get('device')}, {cfg.get('precision')}"],
        ["Environment", (f"{env.get('device')}" + (f" ({env['gpu']})" if env.get("gpu") else "")
                         + f", torch {env.get('torch')}, {env.get('cpu_count')} CPUs, python {env.get('python')}, "
                         f"infagenc {env.get('infagenc')}, commit {env.get('git_commit') or 'unknown'}")
         if env else _DASH],
    ]
    d.table(Table(["Setting", "Value"], rows, ["l", "l"]))
    _timing(run, d)
    _data_summary(run, d)


def _timing(run: _Run, d: _Doc) -> None:
    timing = run.json("timing.json")
    d.h(3, "Time (seconds)")
    if not timing:
        d.miss("no timings recorded (`timing.json` is written as the run's phases finish).")
        return
    rows = [[phase.replace("_", " "), f"{sec:.1f}"] for phase, sec in timing.get("phases", {}).items()]
    s = timing.get("sessions", [])
    if s:
        rows.append(["whole run (wall)", f"{sum(s):.1f}" + (f" ({len(s)} sessions: resumed)" if len(s) > 1 else "")])
    epochs, rounds = run.json("epochs.json", []), run.json("rounds.json", [])
    for key, label in (("time_gen_train", "loop: generator training"), ("time_generate", "loop: generation"),
                       ("time_score", "loop: scoring")):
        if epochs:
            rows.append([label, f"{sum(e.get(key, 0.0) for e in epochs):.1f}"])
    for key, label in (("time_select", "loop: selection"), ("time_critic_update", "loop: critic update")):
        if rounds:
            rows.append([label, f"{sum(r.get(key, 0.0) for r in rounds):.1f}"])
    if not s:
        d.miss("the whole run's wall time (the run has not finished).")
    d.table(Table(["Phase", "Seconds"], rows))


def _data_summary(run: _Run, d: _Doc) -> None:
    d.h(2, "Data")
    s = run.json("data/summary.json")
    if not s:
        d.miss("`data/summary.json` (the run has not prepared its data).")
        return
    train, test, val = s["train"], s["test"], s.get("val")
    classes = list(train["class_counts"])
    rows = [[c, str(train["class_counts"].get(c, 0)), str(test["class_counts"].get(c, 0))]
            + ([str(val["class_counts"].get(c, 0))] if val else []) for c in classes]
    rows.append(["all", str(train["samples"]), str(test["samples"])] + ([str(val["samples"])] if val else []))
    d.table(Table(["Class", "Train", "Test"] + (["Val"] if val else []), rows))
    for name, part in (("Train", train), ("Test", test), ("Val", val)):
        if part:
            d.p(f"{name} subjects ({part['subjects']}): {', '.join(part['subject_counts'])}.")
    d.p(f"Layout {train.get('layout')}, {train.get('joints')} joints, representation {train.get('representation')}, "
        f"{train['frames']['padded']} frames per sample.")
    for note in train.get("notes", []):
        d.p(f"Note: {note}")


def _recognition(run: _Run, d: _Doc, compare: Sequence[_Run]) -> None:
    d.h(2, "Recognition on held-out subjects (Table 3)")
    summary = run.json("recognition/summary.json")
    if not summary:
        d.miss("`recognition/summary.json` (the final recognition phase has not run).")
        return
    d.table(_recognition_table(summary))
    d.p("Recognizers trained from scratch on Real, Syn (the synthetic set) and Real+Syn, tested on the held-out "
        "real subjects; ± is the 95% interval over seeds, 1.96·std/√n (a single seed has none).")
    for key, label in SET_NAMES.items():
        if key in summary and "skipped" in summary[key]:
            d.miss(f"{label}: {summary[key]['skipped']}.")

    data = run.json("data/summary.json") or {}
    counts = (data.get("test") or {}).get("class_counts")
    names = list(counts) if counts else None
    d.h(3, "Per class (Table 4)")
    columns = {label: summary[key] for key, label in SET_NAMES.items() if key in summary}
    d.table(_per_class_table(columns, names, counts))
    if compare:
        d.p("Ablations: Real+Syn test accuracy (%) per class of each run.")
        cols: dict[str, Mapping] = {"Real": summary.get("real", {"skipped": "not run"})}
        runs = [run, *compare]
        labels = [r.label for r in runs]
        for r, lab in zip(runs, labels):
            title = lab if labels.count(lab) == 1 else f"{lab} ({r.root.name})"
            s = r.json("recognition/summary.json")
            if not s:
                d.miss(f"compared run `{r.root}` has no `recognition/summary.json`.")
                continue
            cols[title] = s.get("real_syn", {"skipped": "not run"})
            if "skipped" in cols[title]:
                d.miss(f"{title}: Real+Syn {cols[title]['skipped']}.")
        d.table(_per_class_table(cols, names, counts))

    d.h(3, "Per subject x class (Tables 5/6)")
    for key, label in SET_NAMES.items():
        s = summary.get(key)
        if not s or "skipped" in s:
            continue
        reports = [run.json(f"recognition/{key}/seed_{seed}/report.json") for seed in s.get("seeds", [])]
        if any(r is None for r in reports):
            d.miss(f"{label}: per-seed `report.json` files.")
            continue
        if any("per_subject_class" not in r for r in reports):
            d.miss(f"{label}: per-subject x class accuracy (not recorded by the version that made this run).")
            continue
        d.p(f"**{label}**: test accuracy (%) per subject and class, mean over {len(reports)} seed(s); "
            f"(n) = test samples.")
        d.table(_subject_class_table(reports))

    d.h(3, "Confusion matrices")
    for key, label in SET_NAMES.items():
        s = summary.get(key)
        if not s or "skipped" in s:
            continue
        for seed in s.get("seeds", []):
            p = run.root / "recognition" / key / f"seed_{seed}" / "confusion.png"
            if p.exists():
                d.image(p, f"{label}, seed {seed}: confusion on the test subjects")
            else:
                d.miss(f"`{p.relative_to(run.root)}`.")


def _generation(run: _Run, d: _Doc) -> None:
    d.h(2, "Generation quality (Table 2)")
    metrics = run.json("evaluation/metrics.json")
    if metrics is None:
        enabled = run.config.get("evaluation", {}).get("enabled", True)
        d.miss("generation metrics: evaluation is disabled in this run's config (`evaluation.enabled = false`)."
               if not enabled else "`evaluation/metrics.json` (the evaluation phase has not run).")
        return
    _generation_section(d, metrics, level=3)


def _loop(run: _Run, d: _Doc, painter: "_Painter") -> None:
    d.h(2, "The loop")
    epochs, rounds = run.json("epochs.json"), run.json("rounds.json")
    window = run.config.get("loop", {}).get("window")
    if epochs:
        def draw():
            from .curves import plot_curves

            losses = [k for k in epochs[0] if k.startswith("gen_") and k != "gen_total"]
            panels = [["cas"]] + ([["gen_total"]] if "gen_total" in epochs[0] else []) + ([losses] if losses else [])
            marks = {"cas": [r["best_epoch"] for r in rounds or []]}
            return plot_curves(epochs, painter.fig / "loop_curves.png", panels=panels, marks=marks, window=window,
                               title="CAS and generator losses per loop epoch")
        painter.picture(d, "loop curves", ["epochs.json", "rounds.json", "config.json"], draw,
                 "CAS per loop epoch (stars: each window's best epoch, whose samples are filtered and selected; "
                 "dotted lines: window boundaries) and generator losses")
    else:
        d.miss("`epochs.json` (the loop has not run).")
        painter.skip()
    d.h(3, "Selection per round")
    if rounds:
        names = list((run.json("data/summary.json") or {}).get("train", {}).get("class_counts", {}))
        d.table(_rounds_table(rounds, names))
        if run.selection == "none":
            d.p("Baseline (`selection = none`): nothing is filtered, selected or recycled.")
        else:
            d.p("Each class: candidates generated at the best epoch / passed the confidence filter / selected.")
    else:
        d.miss("`rounds.json` (no loop round has finished).")
    d.h(3, "Pre-training")
    for rel, name in (("pretrain_generator.json", "generator"), ("pretrain_critic.json", "critic")):
        hist = (run.json(rel) or {}).get("history")
        if not hist:
            d.miss(f"`{rel}`.")
            painter.skip()
            continue

        def draw(hist=hist, name=name):
            from .curves import history_columns, plot_curves

            _, cols = history_columns(hist)
            keys = [k for k in cols if k != "seconds"]
            total = [k for k in ("total", "loss") if k in keys]
            rest = [k for k in keys if k not in total]
            acc = [k for k in rest if "acc" in k]
            other = [k for k in rest if k not in acc]
            groups = [g for g in (total, other, acc) if g]
            return plot_curves(hist, painter.fig / f"pretrain_{name}.png", panels=groups,
                               title=f"{name} pre-training")
        painter.picture(d, f"{name} pre-training curves", [rel], draw,
                        f"{name.capitalize()} pre-training: losses per epoch"
                        + (" and training accuracy" if name == "critic" else ""))


class _Painter:
    """Draws the pictures into ``RUN_DIR/figures/``, one progress step each.

    ``figures/manifest.json`` records, per picture, the files drawn and the size and
    modification time of the run-folder files they were drawn from; a picture whose
    sources are unchanged (and whose files are all there) is reused, not redrawn,
    unless ``redraw``.
    """

    def __init__(self, run: _Run, total: int, redraw: bool, progress: bool):
        self.run, self.fig = run, run.root / "figures"
        self.fig.mkdir(parents=True, exist_ok=True)
        self.manifest_path = self.fig / "manifest.json"
        self.manifest: dict = {} if redraw else read_json(self.manifest_path, {})
        self.bar = tqdm(total=total, desc="report pictures", disable=not progress, leave=False)

    def _stamp(self, sources: Sequence[str]) -> dict:
        from .. import __version__

        stats = {rel: (self.run.root / rel).stat() for rel in sources if (self.run.root / rel).exists()}
        return {"infagenc": __version__, "sources": {rel: [st.st_size, st.st_mtime_ns] for rel, st in stats.items()}}

    def skip(self, n: int = 1) -> None:
        self.bar.update(n)

    def picture(self, d: _Doc, what: str, sources: Sequence[str], draw, caption: str) -> None:
        """Draw (or reuse) a picture and add it to the document, or say why it could not be drawn.

        ``draw()`` returns the path written, or a list of paths (one image each, captioned
        with the file's stem)."""
        stamp = self._stamp(sources)
        entry = self.manifest.get(what)
        if entry and entry["stamp"] == stamp and all((self.fig / f).exists() for f in entry["files"]):
            paths, many = [self.fig / f for f in entry["files"]], entry["many"]
        else:
            try:
                out = draw()
            except ValueError as e:
                d.miss(f"{what}: could not be drawn ({e}).")
                self.bar.update()
                return
            many = isinstance(out, list)
            paths = [Path(p) for p in (out if many else [out])]
            self.manifest[what] = {"stamp": stamp, "many": many,
                                   "files": [p.relative_to(self.fig).as_posix() for p in paths]}
            write_json(self.manifest_path, self.manifest)
        for p in paths:
            d.image(p, f"{caption}: {p.stem}" if many else caption)
        self.bar.update()

    def close(self) -> None:
        self.bar.close()


def _generated_for_pictures(run: _Run, real, per_class: int):
    """Generated samples for the snapshot grid and animations, and a sentence saying where they come from."""
    from ..data.motionset import MotionSet

    syn = run.motionset("synthetic.npz")
    if syn is not None and len(syn):
        syn = syn.relabel(real.class_names) if syn.class_names != real.class_names else syn
        short = [c for c, n in syn.class_counts().items() if n < per_class]
        if not short:
            what = "the recycled pool (`synthetic.npz`)" if run.selection != "none" else \
                "the baseline's samples of the final generator (`synthetic.npz`)"
            return syn, f"Generated rows: {what}."
    else:
        short = list(real.class_names)
    ckpt = run.root / "checkpoints" / "generator.pt"
    if not ckpt.exists():
        return (syn if syn is not None and len(syn) else None,
                f"Generated rows: `synthetic.npz` (classes {short} have fewer than {per_class} samples there; "
                f"no generator checkpoint to sample more).")
    from ..train.generator import load_generator, sample_motionset

    model, spec, meta = load_generator(ckpt, "cpu")
    epoch = int(meta.get("epoch", -1))
    fresh: MotionSet = sample_motionset(model, spec, per_class=per_class,
                                        length=int(run.config.get("data", {}).get("frames", real.num_frames)), seed=0,
                                        provenance={"run": run.name, "epoch": epoch, "round": -1})
    fresh = fresh.relabel(real.class_names) if fresh.class_names != real.class_names else fresh
    return fresh, (f"Generated rows: {per_class} fresh samples per class of the final generator "
                   f"(`checkpoints/generator.pt`, epoch {epoch}, seed 0), since "
                   + ("the run saved no synthetic samples." if syn is None or not len(syn) else
                      f"the saved synthetic samples lack classes {short}."))


def _pictures(run: _Run, d: _Doc, painter: _Painter) -> None:
    d.h(2, "Samples")
    real = run.motionset("data/train.npz")
    if real is None:
        d.miss("`data/train.npz` (no real samples to draw).")
        painter.skip(2)
    else:
        gen, source = _generated_for_pictures(run, real, per_class=2)
        if gen is None:
            d.miss("generated samples to draw (no `synthetic.npz` and no generator checkpoint).")
            painter.skip(2)
        else:
            from .skeleton import animate_classes, snapshot_grid

            d.p(f"Real rows: the real training set (`data/train.npz`). {source}")
            sources = ["data/train.npz", "synthetic.npz", "checkpoints/generator.pt"]
            painter.picture(d, "snapshot grid", sources,
                            lambda: snapshot_grid(real, gen, painter.fig / "snapshots.png", real_rows=1,
                                                  generated_rows=2, seed=0),
                            "Snapshot grid (like the paper's Fig. 2): one row of real samples, two rows of "
                            "generated ones, a column per class; key frames left to right")
            painter.picture(d, "animations", sources,
                            lambda: animate_classes(real, gen, painter.fig / "animations", samples_per_class=1, seed=0,
                                                    panel_size=2.5, dpi=60),
                            "Real (left) and generated (right) sample, animated")
    d.h(2, "Feature space (t-SNE)")
    feats = run.root / "evaluation" / "features.npz"
    if not feats.exists():
        why = "evaluation is disabled in this run's config" if not run.config.get("evaluation", {}).get(
            "enabled", True) else "written by the evaluation phase, which has not run"
        d.miss(f"the t-SNE picture: no evaluator features (`evaluation/features.npz`; {why}).")
        painter.skip()
        return
    with np.load(feats, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    groups = {"real train": "real_train", "real test": "real_test", "synthetic": "synthetic"}
    names = None if real is None else list(real.class_names)

    def draw():
        from .embedding import tsne_plot

        tsne_plot({g: arrays[k] for g, k in groups.items()},
                  {g: arrays[f"{k}_labels"] for g, k in groups.items()},
                  painter.fig / "tsne.png", class_names=names, seed=0, title="t-SNE of evaluator features")
        return painter.fig / "tsne.png"
    painter.picture(d, "t-SNE", ["evaluation/features.npz", "data/train.npz"], draw,
                    "t-SNE of the evaluator's features (like the paper's Fig. 3): real train, "
                    "real test and generated samples (one repeat's worth, classes balanced), colour = class")


# ------------------------------------------------------------------ the report
_PICTURES = 6  # loop curves, 2 pre-training curves, snapshot grid, animations, t-SNE: one progress step each


def build_report(run_dir: str | Path, out: str | Path | None = None, *, fmt: str = "md",
                 compare: Sequence[str | Path] = (), redraw: bool = False, progress: bool = False) -> Path:
    """Write the report of a run folder; returns its path.

    Args:
        run_dir: the run folder.
        out: the report file (default ``RUN_DIR/report.md`` or ``RUN_DIR/report.html``).
            Pictures are written to ``RUN_DIR/figures/`` whatever ``out`` is; Markdown
            links them relative to ``out``'s folder, HTML embeds them.
        fmt: ``"md"`` or ``"html"`` (a self-contained page).
        compare: other run folders (e.g. the ``none`` and ``random`` ablations of the same
            data) whose Real+Syn per-class accuracy joins the Table 4 comparison.
        redraw: draw every picture again, even those whose sources have not changed since
            they were drawn (see :class:`_Painter`; e.g. after updating infagenc's drawing code).
        progress: a progress bar over the pictures.
    """
    if fmt not in ("md", "html"):
        raise ValueError(f"fmt must be 'md' or 'html', got {fmt!r}")
    run = _Run(run_dir)
    others = [_Run(c) for c in compare]
    out = Path(out) if out is not None else run.root / f"report.{fmt}"
    d = _Doc()
    painter = _Painter(run, _PICTURES, redraw, progress)
    _header(run, d)
    _generation(run, d)
    _recognition(run, d, others)
    _loop(run, d, painter)
    _pictures(run, d, painter)
    painter.close()
    if d.missing:
        d.h(2, "Missing from this report")
        d.bullets(d.missing)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = _render_markdown(d, out) if fmt == "md" else _render_html(d, f"InfAGenC run report: {run.name}")
    out.write_text(text, encoding="utf-8")
    return out
