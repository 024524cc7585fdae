"""Skeleton graphs for the recognizers: hop distances, ST-GCN partitions, MS-G3D adjacencies.

Conventions: an adjacency ``A`` is a (V, V) array with ``A[i, j]`` the weight of joint
``j``'s features flowing into joint ``i`` (row = target, column = source), so a graph
convolution is ``x_out = A @ x``. Edges come from :attr:`Layout.edges` (tree edges plus
extra edges), undirected.

ST-GCN spatial-configuration partition (Yan et al., AAAI 2018, Sec. 3.4): the neighbours of
a root joint ``i`` (itself and the joints one edge away) are split by their hop distance
``r`` to the centre joint (:attr:`Layout.center`):

* subset 0, *self*: ``r_j == r_i`` (the joint itself, and neighbours as far from the
  centre as the root, e.g. the hip-hip edge of a loop);
* subset 1, *centripetal*: ``r_j < r_i`` (the neighbour is closer to the centre);
* subset 2, *centrifugal*: ``r_j > r_i``.

``partition="spatial"`` computes ``r`` by breadth-first search over the whole graph.
``partition="spatial_original"`` reproduces the released ST-GCN code, whose hop-distance
matrix is cut at ``max_hop = 1``: every joint more than one edge from the centre gets
``r = inf``, and since ``inf == inf`` every edge between two such joints lands in the
*self* subset (for NTU-25, 16 of its 24 edges). Use it only to replicate published numbers.

Normalisation follows the released code: the full neighbourhood adjacency (with self
loops) is normalised by in-degree (each row divided by its sum, i.e. every joint averages
over its neighbours) and then split into the subsets, so the subsets sum to that
normalised matrix.

MS-G3D (Liu et al., CVPR 2020) uses *disentangled* multi-scale adjacencies: scale ``k``
connects joints exactly ``k`` hops apart (``k_adjacency``; plus self loops), each
normalised symmetrically ``D^-1/2 A D^-1/2``; the G3D pathway applies them to the
space-time graph of a window of ``tau`` frames (``spatio_temporal_graph``).
"""
from __future__ import annotations

from collections import deque
from typing import Iterable

import numpy as np

from ..skeleton.layouts import Layout

__all__ = [
    "PARTITIONS",
    "adjacency",
    "layout_adjacency",
    "hop_distances",
    "normalize_rows",
    "normalize_symmetric",
    "spatial_partition",
    "k_adjacency",
    "multiscale_adjacency",
    "spatio_temporal_graph",
]

PARTITIONS = ("spatial", "spatial_original")


def adjacency(num_joints: int, edges: Iterable[tuple[int, int]]) -> np.ndarray:
    """Binary symmetric (V, V) adjacency without self loops."""
    a = np.zeros((num_joints, num_joints), dtype=np.float64)
    for i, j in edges:
        if i == j:
            raise ValueError(f"self-loop edge ({i}, {j}) in a skeleton graph")
        a[i, j] = a[j, i] = 1.0
    return a


def hop_distances(num_joints: int, edges: Iterable[tuple[int, int]],
                  max_hop: int | None = None) -> np.ndarray:
    """(V, V) shortest-path hop counts by breadth-first search; ``inf`` where unreachable
    or (when ``max_hop`` is given) farther than ``max_hop``."""
    a = adjacency(num_joints, edges)
    neighbours = [np.flatnonzero(row) for row in a]
    dist = np.full((num_joints, num_joints), np.inf)
    for s in range(num_joints):
        dist[s, s] = 0
        queue = deque([s])
        while queue:
            u = queue.popleft()
            if max_hop is not None and dist[s, u] >= max_hop:
                continue
            for w in neighbours[u]:
                if dist[s, w] == np.inf:
                    dist[s, w] = dist[s, u] + 1
                    queue.append(w)
    return dist


def normalize_rows(a: np.ndarray) -> np.ndarray:
    """Divide each row by its sum (rows summing to zero stay zero)."""
    s = a.sum(axis=1, keepdims=True)
    return np.divide(a, s, out=np.zeros_like(a), where=s > 0)


def normalize_symmetric(a: np.ndarray) -> np.ndarray:
    """``D^-1/2 A D^-1/2`` with D the row sums (zero rows stay zero)."""
    d = a.sum(axis=1)
    inv = np.divide(1.0, np.sqrt(d), out=np.zeros_like(d), where=d > 0)
    return a * inv[:, None] * inv[None, :]


def spatial_partition(layout: Layout, partition: str = "spatial") -> np.ndarray:
    """The (3, V, V) spatial-configuration partition of ST-GCN (self, centripetal, centrifugal).

    See the module docstring for the definition and the ``spatial_original`` option.
    """
    if partition not in PARTITIONS:
        raise ValueError(f"partition must be one of {PARTITIONS}, got {partition!r}")
    v = layout.num_joints
    near = hop_distances(v, layout.edges, max_hop=1) <= 1  # neighbourhood incl. self
    to_centre = hop_distances(v, layout.edges, max_hop=1 if partition == "spatial_original" else None)
    r = to_centre[:, layout.center]
    if partition == "spatial" and np.isinf(r).any():
        far = [layout.joints[j] for j in np.flatnonzero(np.isinf(r))]
        raise ValueError(f"layout {layout.name!r}: joints {far} are not connected to the centre joint "
                         f"{layout.joints[layout.center]!r}")
    a = normalize_rows(near.astype(np.float64))
    ri, rj = r[:, None], r[None, :]  # root i (row), neighbour j (column)
    parts = np.stack([a * (rj == ri), a * (rj < ri), a * (rj > ri)])
    return parts.astype(np.float32)


def k_adjacency(dist: np.ndarray, k: int, with_self: bool = True) -> np.ndarray:
    """Disentangled k-hop adjacency: 1 where joints are exactly ``k`` hops apart
    (from a hop-distance matrix), plus the identity when ``with_self``."""
    a = (dist == k).astype(np.float64)
    if with_self and k > 0:
        a += np.eye(len(dist))
    return a


def multiscale_adjacency(a_binary: np.ndarray, num_scales: int) -> np.ndarray:
    """(num_scales, V, V) symmetric-normalised disentangled adjacencies of scales 0..num_scales-1,
    for any binary adjacency (self loops in ``a_binary`` count as 1-hop connections)."""
    if num_scales < 1:
        raise ValueError("num_scales must be >= 1")
    v = len(a_binary)
    edges = [(i, j) for i, j in zip(*np.nonzero(np.triu(a_binary, 1)))]
    dist = hop_distances(v, edges)
    return np.stack([normalize_symmetric(k_adjacency(dist, k)) for k in range(num_scales)]).astype(np.float32)


def spatio_temporal_graph(a_binary: np.ndarray, window: int) -> np.ndarray:
    """Binary adjacency of the G3D space-time graph of ``window`` frames: every joint is
    linked to itself and its spatial neighbours in every frame of the window
    (``tile(A + I, (window, window))`` of the released code)."""
    v = len(a_binary)
    a = np.tile(a_binary + np.eye(v), (window, window))
    np.fill_diagonal(a, 0.0)
    return (a > 0).astype(np.float64)


def layout_adjacency(layout: Layout) -> np.ndarray:
    """Binary adjacency of a layout's graph."""
    return adjacency(layout.num_joints, layout.edges)
