"""One report per run, built from the run folder alone: Markdown or a self-contained HTML page.

:func:`build_report` reads what a run wrote (the files :class:`~infagenc.runfolder.RunFolder`
names) and nothing else: no model is trained or sampled, no checkpoint is read.
Pictures go to ``RUN_DIR/figures/``; the Markdown links them (and the confusion matrices
under ``recognition/``) by relative paths, the HTML page embeds every image (base64).
The tables come from :mod:`infagenc.viz.tables`, the blocks and renderers from
:mod:`infagenc.viz.document`, the picture cache from :mod:`infagenc.viz.painter`.

Choices where the paper is silent (the design is described in docs/design.md):

* Generated samples in the snapshot grid and animations: ``evaluation/samples.npz``,
  a few samples per class of the evaluated generator that the evaluation phase saves for
  this purpose. Without it (evaluation disabled, not run yet, or run by an older version)
  one line says so where the pictures would be.
* Real samples in the pictures: the real training set (``data/train.npz``).
* Table 4 (per class): columns are the run's training sets (Real, Syn, Real+Syn); with
  ``compare=`` they are the main run's Real and the Real+Syn of each run (the main run
  and every compared one), labelled by selection mode (``none`` = baseline).
* Tables 5/6 (per subject x class): one table per training set.
* A picture that cannot be drawn from the data (e.g. too few samples for t-SNE) is
  replaced by a line saying why; a missing file is named as missing.
* Pictures are reused when the run-folder files they were drawn from have not changed
  (``figures/manifest.json``; ``redraw=True`` draws them again), so writing the HTML
  page after the Markdown costs little.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..data.motionset import MotionSet
from .document import Doc, Table, render_html, render_markdown
from .painter import Painter
from .runinfo import RunFiles, header
from .tables import (SEEDS_NOTE, display_sets, generation_section, per_class_table, recognition_table,
                     result_sets, rounds_table, subject_class_table)

__all__ = ["PICTURES", "build_report"]

# loop curves, 2 pre-training curves, snapshot grid, animations, t-SNE: one progress step each
PICTURES = 6


# ------------------------------------------------------------------ results
def _generation(run: RunFiles, d: Doc) -> None:
    d.h(2, "Generation quality (Table 2)")
    metrics = run.json(run.folder.metrics_path)
    if metrics is None:
        d.miss("generation metrics: evaluation is disabled in this run's config (`evaluation.enabled = false`)."
               if not run.evaluation_enabled else
               f"`{run.rel(run.folder.metrics_path)}` (the evaluation phase has not run).")
        return
    counts = {what: run.class_counts(what) for what in ("test", "train", "pool")}
    generation_section(d, metrics, level=3, class_names=run.class_names(), counts=counts)
    _pose(metrics.get("pose"), d)


_POSE_SETS = {"generated_vs_test": "generated vs real test", "generated_vs_train": "generated vs real train",
              "recycled_pool_vs_test": "recycled pool vs real test", "real_test_vs_train": "real test vs real train"}


def _pose(pose: Mapping | None, d: Doc) -> None:
    """Pose statistics (joint-pair distances, motion energy, bone lengths), generated vs real."""
    if not pose:
        return
    rows = []
    for key, label in _POSE_SETS.items():
        o = (pose.get(key) or {}).get("overall")
        if not o:
            continue
        for name, st in sorted((o.get("distances") or {}).items()) + [("motion energy", o.get("energy") or {})]:
            if "real_mean" in st:
                rows.append([label, name, f"{st['real_mean']:.3f}", f"{st['gen_mean']:.3f}", f"{st['shift']:+.2f}"])
        bone = o.get("bone_length") or {}
        if "mean_relative_error" in bone:
            rows.append([label, "bone length: mean relative error", "", f"{100 * bone['mean_relative_error']:.1f}%",
                         ""])
    if not rows:
        return
    d.h(3, "Pose statistics")
    d.table(Table(["comparison", "statistic", "real mean", "generated mean", "shift (real std)"], rows))
    d.p("Distances between layout-named joint pairs (feet, knees, hands) and the mean joint speed (motion "
        "energy), in the data's units; shift = (generated mean - real mean) / real std: legs that collapse "
        "together show as a negative feet / knees shift, too little motion as a negative energy shift. The real "
        "test vs train row is the scale of a difference between two groups of real subjects.")


def _recognition(run: RunFiles, d: Doc, compare: Sequence[RunFiles]) -> None:
    d.h(2, "Recognition on held-out subjects (Table 3)")
    summary = run.json(run.folder.recognition_summary_path())
    if not summary:
        d.miss(f"`{run.rel(run.folder.recognition_summary_path())}` (the final recognition phase has not run).")
        return
    d.table(recognition_table(summary))
    d.p("Recognizers trained from scratch on Real, Syn (the synthetic set) and Real+Syn, tested on the held-out "
        f"real subjects; {SEEDS_NOTE}")
    for key, label in result_sets(summary):
        if "skipped" in summary[key]:
            d.miss(f"{label}: {display_sets(summary[key]['skipped'])}.")
    counts = ((run.json(run.folder.data_summary_path) or {}).get("test") or {}).get("class_counts")
    names = list(counts) if counts else None
    d.h(3, "Per class (Table 4)")
    columns = {label: summary[key] for key, label in result_sets(summary)}
    d.table(per_class_table(columns, names, counts))
    d.p(f"Test accuracy (%) per class; n in each column's title is its number of seeds; {SEEDS_NOTE}")
    if compare:
        d.p("Ablations: Real+Syn test accuracy (%) per class of each run.")
        d.table(per_class_table(_compare_columns(run, summary, compare, d), names, counts))
    _guard(run, d)
    _subject_class(run, summary, d)
    _confusions(run, summary, d)


def _guard(run: RunFiles, d: Doc) -> None:
    """The synthetic-data guard's validation table and choice (``final.synthetic = "auto"``)."""
    g = run.json(run.folder.guard_path())
    if not g:
        return
    d.h(3, "Does synthetic data help? The guard's validation")
    rows = [[r["candidate"].replace("real_syn", "Real+Syn").replace("real", "Real"),
             " ".join(f"{100 * a:.1f}" for a in r["folds"]), f"{100 * r['mean']:.1f}",
             "" if r["candidate"] == "real" else f"{100 * r['diff_vs_real']:+.1f} (se {100 * r['se']:.1f})",
             "chosen" if r["chosen"] else ""] for r in g.get("table", [])]
    d.table(Table(["candidate", "validation accuracy per fold (%)", "mean", "minus Real", ""], rows))
    d.p(f"Choice: {g.get('reason', '?')}. Candidates trained on subject folds of the training subjects only "
        f"({g.get('seconds', 0) / 60:.1f} min); the test subjects were not used. Caveat: {g.get('caveat', '')}.")


def _compare_columns(run: RunFiles, summary: Mapping, compare: Sequence[RunFiles], d: Doc) -> dict[str, Mapping]:
    """The main run's Real, then the Real+Syn of every run (the main one first), by selection mode."""
    cols: dict[str, Mapping] = {"Real": summary.get("real", {"skipped": "not run"})}
    runs = [run, *compare]
    labels = [r.label for r in runs]
    for r, lab in zip(runs, labels):
        title = lab if labels.count(lab) == 1 else f"{lab} ({r.root.name})"
        s = r.json(r.folder.recognition_summary_path())
        if not s:
            d.miss(f"compared run `{r.root}` has no `{r.rel(r.folder.recognition_summary_path())}`.")
            continue
        cols[title] = s.get("real_syn", {"skipped": "not run"})
        if "skipped" in cols[title]:
            d.miss(f"{title}: Real+Syn {cols[title]['skipped']}.")
    return cols


def _trained_sets(summary: Mapping):
    """(key, label, seeds) of every training set that was trained."""
    for key, label in result_sets(summary):
        s = summary[key]
        if "skipped" not in s:
            yield key, label, s.get("seeds", [])


def _subject_class(run: RunFiles, summary: Mapping, d: Doc) -> None:
    d.h(3, "Per subject x class (Tables 5/6)")
    for key, label, seeds in _trained_sets(summary):
        reports = [run.json(run.folder.recognition_report_path(key, seed)) for seed in seeds]
        if any(r is None for r in reports):
            d.miss(f"{label}: per-seed `report.json` files.")
            continue
        if any("per_subject_class" not in r for r in reports):
            d.miss(f"{label}: per-subject x class accuracy (not recorded by the version that made this run).")
            continue
        d.p(f"**{label}**: test accuracy (%) per subject and class, mean over {len(reports)} seed(s); "
            f"(n) = test samples.")
        d.table(subject_class_table(reports))


def _confusions(run: RunFiles, summary: Mapping, d: Doc) -> None:
    d.h(3, "Confusion matrices")
    for key, label, seeds in _trained_sets(summary):
        for seed in seeds:
            p = run.folder.recognition_report_path(key, seed).with_name("confusion.png")
            if p.exists():
                d.image(p, f"{label}, seed {seed}: confusion on the test subjects")
            else:
                d.miss(f"`{run.rel(p)}`.")


# ------------------------------------------------------------------ the loop
def _loop(run: RunFiles, d: Doc, painter: Painter) -> None:
    d.h(2, "The loop")
    f = run.folder
    epochs, rounds = run.json(f.epochs_path), run.json(f.rounds_path)
    if epochs:
        window = run.config.get("loop", {}).get("window")

        def draw():
            from .curves import plot_curves

            losses = [k for k in epochs[0] if k.startswith("gen_") and k != "gen_total"]
            panels = [["cas"]] + ([["gen_total"]] if "gen_total" in epochs[0] else []) + ([losses] if losses else [])
            labels = ["CAS (fraction)"] + (["total loss"] if "gen_total" in epochs[0] else []) \
                + (["loss terms"] if losses else [])
            marks = {"cas": [r["best_epoch"] for r in rounds or []]}
            return plot_curves(epochs, painter.fig / "loop_curves.png", panels=panels, marks=marks, window=window,
                               logy="auto", ylabels=labels, title="CAS and generator losses per loop epoch")
        painter.picture(d, "loop curves", [f.epochs_path, f.rounds_path, f.config_path], draw,
                        "CAS per loop epoch (stars: each window's best epoch, whose samples are filtered and "
                        "selected; dotted lines: window boundaries) and generator losses")
    else:
        d.miss(f"`{run.rel(f.epochs_path)}` (the loop has not run).")
        painter.skip()
    d.h(3, "Selection per round")
    if rounds:
        names = list((run.json(f.data_summary_path) or {}).get("train", {}).get("class_counts", {}))
        d.table(rounds_table(rounds, names))
        if run.selection == "none":
            d.p("Baseline (`selection = none`): nothing is filtered, selected or recycled.")
        else:
            d.p("Each class: candidates generated at the best epoch / passed the confidence filter / selected.")
    else:
        d.miss(f"`{run.rel(f.rounds_path)}` (no loop round has finished).")
    d.h(3, "Pre-training")
    for name in ("generator", "critic"):
        _pretrain_curves(run, d, painter, name)


def _pretrain_curves(run: RunFiles, d: Doc, painter: Painter, name: str) -> None:
    path = run.folder.pretrain_log_path(name)
    hist = (run.json(path) or {}).get("history")
    if not hist:
        d.miss(f"`{run.rel(path)}`.")
        painter.skip()
        return

    def draw():
        from .curves import history_columns, plot_curves

        _, cols = history_columns(hist)
        keys = [k for k in cols if k != "seconds"]
        total = [k for k in ("total", "loss") if k in keys]
        rest = [k for k in keys if k not in total]
        acc = [k for k in rest if "acc" in k]
        other = [k for k in rest if k not in acc]
        groups = [(g, label) for g, label in ((total, "total loss" if name == "generator" else "loss"),
                                               (other, "loss terms"), (acc, "accuracy (fraction)")) if g]
        return plot_curves(hist, painter.fig / f"pretrain_{name}.png", panels=[g for g, _ in groups], logy="auto",
                           ylabels=[label for _, label in groups], title=f"{name} pre-training")
    painter.picture(d, f"{name} pre-training curves", [path], draw,
                    f"{name.capitalize()} pre-training: losses per epoch"
                    + (" and training accuracy" if name == "critic" else ""))


# ------------------------------------------------------------------ pictures of samples
def _no_samples(run: RunFiles) -> str:
    """The line that stands where the snapshot grid and animations would be."""
    rel = run.rel(run.folder.samples_path)
    if not run.evaluation_enabled:
        why = "evaluation is disabled in this run's config (`evaluation.enabled = false`)"
    elif run.folder.metrics_path.exists():
        why = "the infagenc version that evaluated this run did not save them"
    else:
        why = "they are saved by the evaluation phase, which has not run"
    return f"the snapshot grid and animations: no generated samples to draw (`{rel}`; {why})."


def _samples_source(run: RunFiles, gen: MotionSet) -> str:
    per_class = sorted(set(gen.class_counts().values()))
    ckpt = (run.json(run.folder.metrics_path) or {}).get("generator_checkpoint")
    epochs = sorted(set(int(e) for e in gen.epoch if e >= 0))
    return (f"Generated rows: the samples the evaluation phase saved for these pictures "
            f"(`{run.rel(run.folder.samples_path)}`, {'/'.join(map(str, per_class))} per class"
            + (f", generator `{ckpt}`" if ckpt else "") + (f", epoch {epochs[0]}" if len(epochs) == 1 else "")
            + ").")


def _samples(run: RunFiles, d: Doc, painter: Painter) -> MotionSet | None:
    """The snapshot grid and the animations; returns the real training set (None when absent)."""
    from .skeleton import animate_classes, snapshot_grid

    d.h(2, "Samples")
    f = run.folder
    real, gen = run.motionset(f.split_path("train")), run.motionset(f.samples_path)
    if real is None or gen is None or not len(gen):
        d.miss(f"`{run.rel(f.split_path('train'))}` (no real samples to draw)." if real is None else _no_samples(run))
        painter.skip(2)
        return real
    d.p(f"Real rows: the real training set (`{run.rel(f.split_path('train'))}`). {_samples_source(run, gen)}")
    sources = [f.split_path("train"), f.samples_path]
    painter.picture(d, "snapshot grid", sources,
                    lambda: snapshot_grid(real, gen, painter.fig / "snapshots.png", real_rows=1,
                                          generated_rows=2, seed=0),
                    "Snapshot grid (like the paper's Fig. 2): one row of real samples, two rows of "
                    "generated ones, a column per class; key frames left to right")
    fps = real.fps or 30.0
    rate = f"{fps:g} fps, the data's frame rate" if real.fps else \
        "30 fps (the prepared data record no frame rate: resampling to a fixed length changes it per sample)"
    painter.picture(d, "animations", sources,
                    lambda: animate_classes(real, gen, painter.fig / "animations", samples_per_class=1, seed=0,
                                            fps=fps),
                    f"Real (left) and generated (right) sample, animated at {rate}; the last frame is held 1 s")
    return real


def _tsne(run: RunFiles, d: Doc, painter: Painter, real: MotionSet | None) -> None:
    d.h(2, "Feature space (t-SNE)")
    feats = run.folder.features_path
    if not feats.exists():
        why = "evaluation is disabled in this run's config" if not run.evaluation_enabled else \
            "written by the evaluation phase, which has not run"
        d.miss(f"the t-SNE picture: no evaluator features (`{run.rel(feats)}`; {why}).")
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
    painter.picture(d, "t-SNE", [feats, run.folder.split_path("train")], draw,
                    "t-SNE of the evaluator's features (like the paper's Fig. 3): real train, "
                    "real test and generated samples (one repeat's worth, classes balanced), colour = class")


# ------------------------------------------------------------------ the report
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
            they were drawn (see :class:`~infagenc.viz.painter.Painter`; e.g. after
            updating infagenc's drawing code).
        progress: a progress bar over the pictures.
    """
    if fmt not in ("md", "html"):
        raise ValueError(f"fmt must be 'md' or 'html', got {fmt!r}")
    run = RunFiles(run_dir)
    others = [RunFiles(c) for c in compare]
    out = Path(out) if out is not None else run.folder.report_path(f".{fmt}")
    d = Doc()
    painter = Painter(run.root, run.folder.figures_dir, PICTURES, redraw, progress)
    try:
        header(run, d)
        _generation(run, d)
        _recognition(run, d, others)
        _loop(run, d, painter)
        _tsne(run, d, painter, _samples(run, d, painter))
    finally:
        painter.close()
    if d.missing:
        d.h(2, "Missing from this report")
        d.bullets(d.missing)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render_markdown(d, out) if fmt == "md" else render_html(d, f"InfAGenC run report: {run.name}")
    out.write_text(text, encoding="utf-8")
    return out
