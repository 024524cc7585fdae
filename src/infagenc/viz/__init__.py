"""Pictures: skeleton frames, animations and snapshot grids, t-SNE of features, training curves.

Everything draws on Agg-backed figures (:mod:`infagenc.viz.figure`), never through pyplot,
so the package works headless and leaves matplotlib's global state alone.

The run report (:func:`infagenc.viz.report.build_report`) is built from these pictures,
the tables of :mod:`infagenc.viz.tables` and the document blocks and renderers of
:mod:`infagenc.viz.document`; it reads the run folder alone.
"""
from .curves import history_columns, plot_curves
from .embedding import class_colors, tsne_embed, tsne_plot
from .figure import new_figure, render_rgb, save_figure
from .skeleton import SIDE_COLORS, animate, animate_classes, draw_skeleton, project, snapshot_grid

__all__ = [
    "SIDE_COLORS",
    "animate",
    "animate_classes",
    "class_colors",
    "draw_skeleton",
    "history_columns",
    "new_figure",
    "plot_curves",
    "project",
    "render_rgb",
    "save_figure",
    "snapshot_grid",
    "tsne_embed",
    "tsne_plot",
]
