"""Training curves: losses and CAS per epoch, with the best epoch of each window marked.

Choices: without an ``x_key`` column, epochs are numbered from 1; a value that is
missing (absent from a record, ``None``, or a shorter list) is a gap in its curve, not
a zero; each series gets its own panel unless ``panels`` groups them; window
boundaries (``window``) are dotted vertical lines between epochs. Every panel has a y-axis
label (``ylabels``, default the series' name); with ``logy="auto"`` a panel whose values
are all positive and span more than :data:`LOG_SPAN` (two orders of magnitude) gets a
logarithmic y axis, said in its label (panels of fractions: accuracy, CAS, stay linear).
"""
from __future__ import annotations

import numbers
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from .figure import new_figure, save_figure

__all__ = ["LOG_SPAN", "curve_figure", "history_columns", "plot_curves", "spans_decades"]

# max / min of a panel's values beyond which logy="auto" draws it on a log scale
LOG_SPAN = 100.0
# series names holding fractions in [0, 1] (never drawn on a log scale by "auto")
_FRACTIONS = ("acc", "cas")

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


def spans_decades(values: np.ndarray, span: float = LOG_SPAN) -> bool:
    """Whether the finite values are all positive and max / min exceeds ``span``."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return bool(v.size) and bool((v > 0).all()) and float(v.max() / v.min()) > span


def _check(cols, panels, marks, window, ylabels) -> None:
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
    if ylabels is not None and len(ylabels) != len(panels):
        raise ValueError(f"{len(ylabels)} y labels for {len(panels)} panels")


def _log_panel(panel: Sequence[str], cols, logy) -> bool:
    if logy == "auto":
        if all(any(f in k.lower() for f in _FRACTIONS) for k in panel):
            return False
        return spans_decades(np.concatenate([cols[k] for k in panel]))
    return any(k in logy for k in panel)


def _draw_marks(ax, x, y, at, name: str, color) -> None:
    at = [float(m) for m in at]
    absent = [m for m in at if not (x == m).any()]
    if absent:
        raise ValueError(f"marks for {name!r}: epochs {absent} are not in the history")
    idx = [int(np.flatnonzero(x == m)[0]) for m in at]
    ax.plot(x[idx], y[idx], ls="", marker="*", ms=11, color=color, markeredgecolor="k",
            label=f"{name}: best per window")


def curve_figure(history: History, *, keys: Sequence[str] | None = None,
                 panels: Sequence[Sequence[str]] | None = None, x_key: str = "epoch",
                 marks: Mapping[str, Iterable[float]] | None = None, window: int | None = None,
                 logy: Iterable[str] | str = (), ylabels: Sequence[str | None] | None = None,
                 title: str | None = None, dpi: float = 120):
    """The figure :func:`plot_curves` writes (a matplotlib ``Figure``, one axes per panel)."""
    x, cols = history_columns(history, x_key)
    if panels is None:
        panels = [[k] for k in (keys if keys is not None else list(cols))]
    _check(cols, panels, marks, window, ylabels)
    logy = logy if logy == "auto" else set(logy)
    fig = new_figure(7.0, 1.2 + 2.0 * len(panels), dpi)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for n, (ax, panel) in enumerate(zip(axes, panels)):
        for k in panel:
            (line,) = ax.plot(x, cols[k], lw=1.4, label=k, marker="." if len(x) <= 60 else None)
            if marks and k in marks:
                _draw_marks(ax, x, cols[k], marks[k], k, line.get_color())
        if window is not None:
            for b in np.arange(x[0] + window - 0.5, x[-1], window):
                ax.axvline(b, color="0.6", ls=":", lw=0.8)
        label = (ylabels[n] if ylabels is not None else None) or (panel[0] if len(panel) == 1 else "value")
        if _log_panel(panel, cols, logy):
            ax.set_yscale("log")
            label += " (log scale)"
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    axes[-1].set_xlabel(x_key)
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    return fig


def plot_curves(history: History, path: str | Path, *, keys: Sequence[str] | None = None,
                panels: Sequence[Sequence[str]] | None = None, x_key: str = "epoch",
                marks: Mapping[str, Iterable[float]] | None = None, window: int | None = None,
                logy: Iterable[str] | str = (), ylabels: Sequence[str | None] | None = None,
                title: str | None = None, dpi: float = 120) -> Path:
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
        logy: series whose panel has a logarithmic y axis, or ``"auto"``: each panel whose
            values span more than :data:`LOG_SPAN` (see the module notes).
        ylabels: a y-axis label per panel (None entries: the default, the series' name).
    """
    fig = curve_figure(history, keys=keys, panels=panels, x_key=x_key, marks=marks, window=window, logy=logy,
                       ylabels=ylabels, title=title, dpi=dpi)
    return save_figure(fig, path)
