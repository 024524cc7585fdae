"""t-SNE of evaluator features by group and class (the paper's Fig. 3).

Groups are e.g. ``real train``, ``real test``, ``synthetic``: one marker shape per group,
one colour per class. All groups are embedded together (one t-SNE), so their positions
are comparable. Choices: sklearn ``TSNE`` with PCA initialisation (random when the
features have a single dimension) and ``random_state=seed``; features are used as they
are (no scaling); the perplexity is lowered to ``(N - 1) / 3`` for small sets (the
usual rule ``3 * perplexity < N``), never below 1, and must stay below N.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from threadpoolctl import threadpool_limits
from matplotlib.lines import Line2D

from .figure import new_figure, save_figure

__all__ = ["class_colors", "tsne_embed", "tsne_plot"]

_MARKERS = ("o", "^", "s", "D", "v", "P", "X", "*")


def class_colors(n: int) -> list:
    """n distinct colours: tab10 up to 10 classes, tab20 up to 20, then evenly spaced hues."""
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["hsv"](i / n) for i in range(n)]


def tsne_embed(features, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """2D t-SNE embedding of (N, D) features (see the module notes on perplexity)."""
    from sklearn.manifold import TSNE

    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"t-SNE needs (N, D) features with N >= 2, got {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError(f"non-finite features in sample(s) {np.flatnonzero(~np.isfinite(f).all(1))[:10].tolist()}")
    n = f.shape[0]
    perp = min(float(perplexity), max((n - 1) / 3.0, 1.0))
    init = "pca" if f.shape[1] >= 2 else "random"
    # one thread: for a few hundred points sklearn's Barnes-Hut t-SNE spends more on OpenMP
    # threads than on the work (measured 10x slower with the default threads on 2 busy cores)
    with threadpool_limits(limits=1):
        return TSNE(n_components=2, perplexity=perp, init=init, random_state=seed).fit_transform(f)


def tsne_plot(features_by_group: Mapping[str, np.ndarray], labels_by_group: Mapping[str, Sequence],
              path: str | Path, *, class_names: Sequence[str] | None = None, seed: int = 0,
              perplexity: float = 30.0, title: str | None = None, dpi: float = 120) -> dict[str, np.ndarray]:
    """Embed all groups together with t-SNE and draw them; returns the 2D points per group.

    Args:
        features_by_group: group name -> (N_g, D) features (same D for all groups).
        labels_by_group: group name -> (N_g,) class labels (indices into ``class_names``,
            or any hashable labels when ``class_names`` is None).
        path: image file (PNG, PDF, SVG by suffix).
    """
    groups = list(features_by_group)
    if not groups:
        raise ValueError("no feature groups to plot")
    if set(groups) != set(labels_by_group):
        raise ValueError(f"feature groups {groups} and label groups {list(labels_by_group)} differ")
    if len(groups) > len(_MARKERS):
        raise ValueError(f"at most {len(_MARKERS)} groups (one marker shape each), got {len(groups)}")
    feats, labels = [], []
    for g in groups:
        f = np.asarray(features_by_group[g], dtype=np.float64)
        y = np.asarray(labels_by_group[g]).reshape(-1)
        if f.ndim != 2 or f.shape[0] != y.shape[0]:
            raise ValueError(f"group {g!r}: {f.shape} features for {y.shape[0]} labels")
        feats.append(f)
        labels.append(y)
    if len({f.shape[1] for f in feats}) > 1:
        raise ValueError(f"feature sizes differ between groups: {[f.shape[1] for f in feats]}")
    emb = tsne_embed(np.concatenate(feats), seed=seed, perplexity=perplexity)
    bounds = np.cumsum([0] + [len(f) for f in feats])
    out = {g: emb[bounds[k]:bounds[k + 1]] for k, g in enumerate(groups)}

    classes = sorted(set(np.concatenate(labels).tolist()))
    colors = dict(zip(classes, class_colors(len(classes))))

    def name(c) -> str:
        return str(class_names[c]) if class_names is not None else str(c)

    fig = new_figure(6.5, 5.0, dpi)
    ax = fig.subplots()
    for k, g in enumerate(groups):
        pts = out[g]
        ax.scatter(pts[:, 0], pts[:, 1], c=[colors[c] for c in labels[k].tolist()], marker=_MARKERS[k],
                   s=22, alpha=0.8, edgecolors="k", linewidths=0.3)
    class_handles = [Line2D([], [], ls="", marker="o", color=colors[c], label=name(c)) for c in classes]
    group_handles = [Line2D([], [], ls="", marker=_MARKERS[k], color="0.4", label=g) for k, g in enumerate(groups)]
    legend = ax.legend(handles=class_handles, title="class", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.add_artist(legend)
    ax.legend(handles=group_handles, title="set", loc="lower left", bbox_to_anchor=(1.01, 0.0), fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "t-SNE of evaluator features")
    save_figure(fig, path)
    return out
