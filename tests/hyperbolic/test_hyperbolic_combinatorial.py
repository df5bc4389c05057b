import math

import pytest
import torch

from nips2019.hyperbolic import (
    balanced_tree,
    combinatorial_embedding,
    graph_distances,
    random_tree,
    reconstruction,
)


def test_edges_have_length_tau():
    t = random_tree(20, generator=0)
    emb = combinatorial_embedding(t.parents, t.n_nodes, tau=4.0, precision=40)
    d = emb.distances[t.parents[:, 0], t.parents[:, 1]]
    torch.testing.assert_close(d, torch.full_like(d, 4.0), rtol=1e-12, atol=1e-12)


def test_distortion_shrinks_with_tau():
    t = balanced_tree(3, 3)
    dt = graph_distances(t.parents, t.n_nodes)
    off = ~torch.eye(t.n_nodes, dtype=torch.bool)
    worst = []
    for tau in (1.0, 4.0, 10.0):
        emb = combinatorial_embedding(t.parents, t.n_nodes, tau=tau, precision=60)
        ratio = emb.distances[off] / (tau * dt[off])
        assert float(ratio.max()) <= 1 + 1e-9  # hyperbolic distance never exceeds the tree path
        worst.append(float((1 - ratio).max()))
    assert worst[0] > worst[1] > worst[2]
    assert worst[2] < 0.15


def test_float64_breaks_where_mpmath_does_not():
    t = balanced_tree(2, 6)
    nb = torch.cat([t.parents, t.parents.flip(1)])
    hi = combinatorial_embedding(t.parents, t.n_nodes, tau=12.0, precision=120)
    lo = combinatorial_embedding(t.parents, t.n_nodes, tau=12.0)
    assert reconstruction(hi.distances, nb).map == 1.0
    assert reconstruction(lo.distances, nb).map < 0.6
    # float64 runs out: pairs collapse onto the boundary and their distances saturate at the largest float64 can
    # express, 2 artanh(1 - 2^-53) ~ 37.4, instead of becoming inf (no public function returns inf for valid input)
    cap = 2 * math.atanh(1 - 2 ** -53)
    assert torch.isfinite(lo.distances).all() and float(lo.distances.max()) == pytest.approx(cap, rel=1e-12)


def test_graph_distances_tree():
    t = balanced_tree(2, 2)
    d = graph_distances(t.parents, t.n_nodes)
    assert d[3, 4] == 2 and d[3, 5] == 4 and d[0, 6] == 2


def test_bad_inputs():
    with pytest.raises(ValueError, match="two parents"):
        combinatorial_embedding(torch.tensor([[1, 0], [1, 2]]), 3)
    with pytest.raises(ValueError, match="not reachable"):
        combinatorial_embedding(torch.tensor([[0, 1], [1, 0]]), 3)
    with pytest.raises(ValueError, match="tau"):
        combinatorial_embedding(torch.tensor([[1, 0]]), 2, tau=0.0)
    with pytest.raises(ValueError, match="precision"):
        combinatorial_embedding(torch.tensor([[1, 0]]), 2, precision=5)
