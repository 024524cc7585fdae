"""Training curves: losses and CAS per epoch, with the best epoch of each window marked.

Choices: without an ``x_key`` column, epochs are numbered from 1; a value that is
missing (absent from a record, ``None``, or a shorter list) is a gap in its curve, not
a zero; each series gets its own panel unless ``panels`` groups them; window
boundaries (``window``) are dotted vertical lines between epochs.
"""
from __future__ import annotations

import numbers
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from .figure import new_figure, save_figure

__all__ = ["history_columns", "plot_curves"]

History = Mapping[str, Sequence[float | None]] | Sequence[Mapping[str, object]]


def _is_number(v) -> bool:
    return v is None or (isinstance(v, numbers.Real) and not isinstance(v, bool))


def history_columns(history: History, x_key: str = "epoch") -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """x values and numeric columns (NaN where missing) of a history.

    ``history`` is either a dict of lists (one list per series) or a list of per-epoch
    records (dicts, e.g. the lines of a JSONL log). Columns with a non-numeric value
    (e.g. a ``phase`` string in the records) are not series and are left out.
    """
    if isinstance(history, Mapping):
        cols = {str(k): list(v) for k, v in history.items()}
    else:
        records = list(history)
        keys = list(dict.fromkeys(k for r in records for k in r))
        cols = {str(k): [r.get(k) for r in records] for k in keys}
    cols = {k: v for k, v in cols.items() if all(_is_number(x) for x in v)}
    n = max((len(v) for v in cols.values()), default=0)
    if n == 0:
        raise ValueError("the history has no numeric series")
    arr = {k: np.array([np.nan if x is None else float(x) for x in v] + [np.nan] * (n - len(v)))
           for k, v in cols.items()}
    if x_key in arr:
        x = arr.pop(x_key)
        if np.isnan(x).any():
            raise ValueError(f"the {x_key!r} column has missing values")
    else:
        x = np.arange(1, n + 1, dtype=np.float64)
    return x, arr


def plot_curves(history: History, path: str | Path, *, keys: Sequence[str] | None = None,
                panels: Sequence[Sequence[str]] | None = None, x_key: str = "epoch",
                marks: Mapping[str, Iterable[float]] | None = None, window: int | None = None,
                logy: Iterable[str] = (), title: str | None = None, dpi: float = 120) -> Path:
    """Plot training curves into one image (stacked panels sharing the epoch axis).

    Args:
        history: dict of lists, or list of per-epoch records (see :func:`history_columns`).
        path: image file (PNG, PDF, SVG by suffix).
        keys: series to plot (default: every numeric series except ``x_key``).
        panels: groups of series drawn in one panel each (default: one panel per series).
        x_key: the column holding the epoch numbers, when there is one.
        marks: series name -> x values (epochs) to mark with a star, e.g. the best-CAS
            epoch of each window (``{"cas": [7, 14, 28]}``).
        window: draw window boundaries every ``window`` epochs from the first.
        logy: series whose panel has a logarithmic y axis.
    """
    x, cols = history_columns(history, x_key)
    if panels is None:
        panels = [[k] for k in (keys if keys is not None else list(cols))]
    plotted = [k for p in panels for k in p]
    missing = [k for k in plotted if k not in cols]
    if missing:
        raise KeyError(f"no numeric series {missing} in the history; series: {sorted(cols)}")
    if not plotted:
        raise ValueError("nothing to plot")
    unplotted = sorted(set(marks or {}) - set(plotted))
    if unplotted:
        raise ValueError(f"marks for series {unplotted} that are not plotted")
    if window is not None and window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    logy = set(logy)
    fig = new_figure(7.0, 1.2 + 2.0 * len(panels), dpi)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, panel in zip(axes, panels):
        for k in panel:
            (line,) = ax.plot(x, cols[k], lw=1.4, label=k, marker="." if len(x) <= 60 else None)
            if marks and k in marks:
                at = [float(m) for m in marks[k]]
                absent = [m for m in at if not (x == m).any()]
                if absent:
                    raise ValueError(f"marks for {k!r}: epochs {absent} are not in the history")
                idx = [int(np.flatnonzero(x == m)[0]) for m in at]
                ax.plot(x[idx], cols[k][idx], ls="", marker="*", ms=11, color=line.get_color(),
                        markeredgecolor="k", label=f"{k}: best per window")
        if window is not None:
            for b in np.arange(x[0] + window - 0.5, x[-1], window):
                ax.axvline(b, color="0.6", ls=":", lw=0.8)
        if any(k in logy for k in panel):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    axes[-1].set_xlabel(x_key)
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    return save_figure(fig, path)
