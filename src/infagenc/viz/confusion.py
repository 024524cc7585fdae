"""Confusion-matrix picture (PNG), drawn with matplotlib's Agg canvas (no display, no global
backend switch), and :func:`write_report`: a recognition report's JSON, Markdown and
confusion picture in one folder."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..jsonio import atomic_write_text, write_json
from ..metrics.recognition import RecognitionReport
from .figure import save_figure
from .tables import SET_NAMES

__all__ = ["display_title", "plot_confusion", "write_report"]

# a title that names a training set by its key, as the final phase writes them:
# "real_syn, seed 0", "floor (linear) on real_syn"
_SET_TITLE = re.compile(r"^(real_syn|real|syn)(?=,)|(?<= on )(real_syn|real|syn)$")


def display_title(title: str) -> str:
    """A report title with a training-set key (``real_syn, seed 0``, ``floor (linear) on
    syn``) given the set's display name (``Real+Syn, seed 0``); other titles unchanged."""
    return _SET_TITLE.sub(lambda m: SET_NAMES[m.group(0)], title or "")


def plot_confusion(confusion: np.ndarray, class_names: Sequence[str], path: str | Path, *,
                   normalize: bool = True, title: str = "") -> Path:
    """Write a confusion matrix (rows = true class, columns = predicted) to ``path``.

    With ``normalize`` the colours show each row's fraction (per-class recall) and the
    cells print the percentage and the count; rows without samples stay blank.
    """
    cm = np.asarray(confusion, dtype=np.float64)
    k = len(class_names)
    if cm.shape != (k, k):
        raise ValueError(f"confusion matrix of shape {cm.shape} for {k} classes")
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.full_like(cm, np.nan), where=rows > 0)
    shown = frac if normalize else cm
    side = max(4.0, 0.6 * k + 2.0)
    fig = Figure(figsize=(side + 1.0, side))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else max(1.0, cm.max()))
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), labels=list(class_names), rotation=45, ha="right")
    ax.set_yticks(range(k), labels=list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if rows[i, 0] == 0:
                    continue
                text = f"{100 * frac[i, j]:.0f}%\n{int(cm[i, j])}" if normalize else f"{int(cm[i, j])}"
                dark = (frac[i, j] if normalize else cm[i, j] / max(1.0, cm.max())) > 0.5
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120, tight=False)


def write_report(report: RecognitionReport, out_dir: str | Path, title: str = "",
                 extra: dict | None = None) -> dict[str, str]:
    """``report.md``, ``confusion.png`` and then ``report.json`` (the report's dict with
    ``extra`` added, e.g. the training history) in ``out_dir``, titled with
    :func:`display_title` (training sets by their display names), each written atomically and
    ``report.json`` last, so that its presence marks a complete report; returns the paths by
    kind (``report``, ``markdown``, ``confusion``)."""
    out = Path(out_dir)
    title = display_title(title)
    paths = {"markdown": atomic_write_text(out / "report.md",
                                           (f"# {title}\n\n" if title else "") + report.to_markdown())}
    paths["confusion"] = plot_confusion(report.confusion, report.class_names, out / "confusion.png",
                                        title=title or f"{report.split}: {100 * report.overall:.1f}%")
    paths["report"] = write_json(out / "report.json", {**report.to_dict(), **(extra or {})})
    return {k: str(v) for k, v in paths.items()}
