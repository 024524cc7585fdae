"""Figures without pyplot: an Agg canvas per figure, so plotting never touches global
matplotlib state (no backend switch, no figure manager, nothing to close)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..jsonio import atomic_write_bytes

__all__ = ["new_figure", "save_figure", "render_rgb"]


def new_figure(width: float, height: float, dpi: float = 100) -> Figure:
    """A figure of ``width`` x ``height`` inches drawn by the Agg backend."""
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: float | None = None, *, tight: bool = True) -> Path:
    """Write the figure atomically (format from the suffix: .png, .pdf, .svg, ...), creating folders."""
    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip(".") or "png", dpi=dpi or fig.dpi,
                bbox_inches="tight" if tight else None)
    return atomic_write_bytes(path, buf.getvalue())


def render_rgb(fig: Figure) -> np.ndarray:
    """The figure as an (H, W, 3) uint8 image."""
    canvas = fig.canvas
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
