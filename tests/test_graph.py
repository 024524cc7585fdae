"""Skeleton graphs: hop distances, ST-GCN partitions (hand-counted), MS-G3D adjacencies."""
from __future__ import annotations

import numpy as np
import pytest

from infagenc.models.graph import (
    hop_distances,
    k_adjacency,
    layout_adjacency,
    multiscale_adjacency,
    spatial_partition,
    spatio_temporal_graph,
)
from infagenc.skeleton.layouts import Layout, get_layout, list_layouts


def counts(parts: np.ndarray) -> list[int]:
    return [int(np.count_nonzero(p)) for p in parts]


def chain7() -> Layout:
    """0-1-2-3-4-5-6 with the centre in the middle: distances to the centre 3 2 1 0 1 2 3."""
    return Layout("chain7", tuple(f"j{i}" for i in range(7)), (-1, 0, 1, 2, 3, 4, 5), 3)


def test_hop_distances_chain_and_cut():
    d = hop_distances(5, [(0, 1), (1, 2), (2, 3), (3, 4)])
    assert d[0].tolist() == [0, 1, 2, 3, 4]
    assert d[2].tolist() == [2, 1, 0, 1, 2]
    cut = hop_distances(5, [(0, 1), (1, 2), (2, 3), (3, 4)], max_hop=1)
    assert cut[2].tolist() == [np.inf, 1, 0, 1, np.inf]


def test_chain_partition_hand_counted():
    # proper distances: every one of the 6 edges joins joints one hop apart from the centre
    # at different distances -> 6 centripetal + 6 centrifugal entries; self = the 7 joints.
    assert counts(spatial_partition(chain7(), "spatial")) == [7, 6, 6]
    # released code: distances cut at 1 -> r = inf, inf, 1, 0, 1, inf, inf; the edges 0-1 and
    # 5-6 join two inf joints (inf == inf) and fall into "self" (2 entries each): 7 + 4 = 11.
    assert counts(spatial_partition(chain7(), "spatial_original")) == [11, 4, 4]


def test_partition_directions_and_normalisation():
    a = spatial_partition(chain7())
    # joint 4 (r=1): neighbour 3 (r=0) is centripetal, neighbour 5 (r=2) is centrifugal
    assert a[1, 4, 3] > 0 and a[1, 4, 5] == 0
    assert a[2, 4, 5] > 0 and a[2, 4, 3] == 0
    assert a[0, 4, 4] > 0
    # each joint averages over its neighbourhood: rows of the summed subsets sum to 1
    np.testing.assert_allclose(a.sum(axis=0).sum(axis=1), 1.0, rtol=1e-6)
    # joint 0 has 2 neighbours (itself, 1); joint 3 has 3
    assert a.sum(axis=0)[0, 1] == pytest.approx(0.5)
    assert a.sum(axis=0)[3, 2] == pytest.approx(1 / 3)


def test_equal_distance_edge_goes_to_self_subset():
    # a star 0 <- 1, 0 <- 2 with an extra edge 1-2 (both one hop from the centre 0)
    lay = Layout("tri", ("c", "a", "b"), (-1, 0, 0), 0, extra_edges=((1, 2),))
    assert counts(spatial_partition(lay)) == [3 + 2, 2, 2]


def test_ntu25_partition_hand_counted():
    # 24 tree edges; centre spine_shoulder (20). A tree edge always joins joints whose
    # distances to the centre differ by one -> 24 / 24; self = 25 joints.
    lay = get_layout("ntu25")
    assert counts(spatial_partition(lay)) == [25, 24, 24]
    # released code: only 20's neighbours (1, 2, 4, 8) have finite r. Edges touching them:
    # 20-1, 20-2, 20-4, 20-8, 1-0, 2-3, 4-5, 8-9 = 8 edges -> 8 / 8; the other 16 edges
    # join inf joints -> 32 "self" entries + 25 = 57.
    assert counts(spatial_partition(lay, "spatial_original")) == [57, 8, 8]


def test_kinect20_partition_hand_counted():
    # 19 edges, centre shoulder_center (2), neighbours 1, 3, 4, 8; next ring edges 1-0, 4-5, 8-9
    # (the head 3 is a leaf): 7 edges keep finite distances, 12 edges fall into "self".
    lay = get_layout("kinect20")
    assert counts(spatial_partition(lay)) == [20, 19, 19]
    assert counts(spatial_partition(lay, "spatial_original")) == [20 + 24, 7, 7]


@pytest.mark.parametrize("name", list_layouts())
def test_every_layout_partitions_all_edges(name):
    lay = get_layout(name)
    parts = spatial_partition(lay)
    v = lay.num_joints
    assert parts.shape == (3, v, v)
    # each undirected edge appears twice (both directions) across the three subsets, plus the diagonal
    assert sum(counts(parts)) == v + 2 * len(lay.edges)
    assert counts(parts)[1] == counts(parts)[2]


def test_unknown_partition_refused():
    with pytest.raises(ValueError, match="partition"):
        spatial_partition(chain7(), "uniform")


def test_k_adjacency_is_exactly_k_hops():
    d = hop_distances(7, chain7().edges)
    a2 = k_adjacency(d, 2)
    assert a2[0].tolist() == [1, 0, 1, 0, 0, 0, 0]
    assert k_adjacency(d, 0).tolist() == np.eye(7).tolist()
    assert k_adjacency(d, 2, with_self=False)[0].tolist() == [0, 0, 1, 0, 0, 0, 0]


def test_multiscale_adjacency_disentangled_and_normalised():
    a = layout_adjacency(chain7())
    ms = multiscale_adjacency(a, 4)
    assert ms.shape == (4, 7, 7)
    d = hop_distances(7, chain7().edges)
    for k in range(4):
        pattern = (d == k) | (np.eye(7, dtype=bool))
        assert np.array_equal(ms[k] != 0, pattern)
        np.testing.assert_allclose(ms[k], ms[k].T, atol=1e-7)
    # scale 1 of joint 0: itself + joint 1, degrees 2 and 3 -> 1/sqrt(2*3)
    assert ms[1, 0, 1] == pytest.approx(1 / np.sqrt(6), rel=1e-6)


def test_spatio_temporal_graph_links_window_frames():
    a = layout_adjacency(chain7())  # 7 joints
    st = spatio_temporal_graph(a, 3)
    assert st.shape == (21, 21)
    assert np.array_equal(st, st.T) and not st.diagonal().any()
    # joint 2 of frame 0 (node 2) reaches itself in frame 2 (node 16) and joint 3 of frame 1 (node 10)
    assert st[2, 16] == 1 and st[2, 10] == 1
    assert st[2, 7 + 5] == 0  # joint 5 is not a neighbour of joint 2
    d = hop_distances(21, list(zip(*np.nonzero(np.triu(st, 1)))))
    assert d[0, 7 + 6] == 6  # 0 -> 6 along the chain takes six hops whatever the frame
