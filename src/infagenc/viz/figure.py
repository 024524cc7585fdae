"""Figures without pyplot: an Agg canvas per figure, so plotting never touches global
matplotlib state (no backend switch, no figure manager, nothing to close)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["new_figure", "save_figure", "render_rgb"]


def new_figure(width: float, height: float, dpi: float = 100) -> Figure:
    """A figure of ``width`` x ``height`` inches drawn by the Agg backend."""
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: float | None = None) -> Path:
    """Write the figure (format from the suffix: .png, .pdf, .svg, ...), creating folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi or fig.dpi, bbox_inches="tight")
    return path


def render_rgb(fig: Figure) -> np.ndarray:
    """The figure as an (H, W, 3) uint8 image."""
    canvas = fig.canvas
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
