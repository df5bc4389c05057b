import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from nips2019.hyperbolic import balanced_tree, random_tree, reconstruction, reconstruction_naive


def _random_case(seed, n=25):
    t = random_tree(n, generator=seed)
    g = torch.Generator().manual_seed(seed + 100)
    x = torch.randn(n, 3, generator=g, dtype=torch.float64)
    return t, torch.cdist(x, x)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_matches_naive(seed):
    t, d = _random_case(seed)
    fast = reconstruction(d, t.closure, chunk=7)
    one = reconstruction(d, t.closure, chunk=1)
    assert one.mean_rank == pytest.approx(fast.mean_rank, rel=1e-12) and one.map == pytest.approx(fast.map, rel=1e-12)
    slow = reconstruction_naive(d, t.closure)
    assert fast.mean_rank == pytest.approx(slow.mean_rank, rel=1e-12)
    assert fast.map == pytest.approx(slow.map, rel=1e-12)


def test_map_matches_sklearn_without_ties():
    t, d = _random_case(5, n=30)
    aps = []
    for u in torch.unique(t.closure[:, 0]).tolist():
        mask = np.ones(t.n_nodes, bool)
        mask[u] = False
        labels = np.zeros(t.n_nodes)
        labels[t.closure[t.closure[:, 0] == u, 1].numpy()] = 1
        aps.append(average_precision_score(labels[mask], -d[u].numpy()[mask]))
    assert reconstruction(d, t.closure).map == pytest.approx(float(np.mean(aps)), rel=1e-12)


def test_ties_use_strict_inequality():
    # all distances equal: every rank is 1 (no strictly closer negatives), AP = 1
    n = 6
    d = torch.ones(n, n, dtype=torch.float64) - torch.eye(n, dtype=torch.float64)
    t = balanced_tree(5, 1)
    r = reconstruction(d, t.closure)
    naive = reconstruction_naive(d, t.closure)
    assert r.mean_rank == naive.mean_rank == 1.0
    assert r.map == pytest.approx(naive.map)


def test_perfect_and_reversed_embeddings():
    t = balanced_tree(2, 3)
    # tree distance: ancestors are the closest non-descendants? use an ideal distance: 0 to ancestors
    n = t.n_nodes
    d = torch.full((n, n), 10.0, dtype=torch.float64)
    d[t.closure[:, 0], t.closure[:, 1]] = 1.0
    assert reconstruction(d, t.closure).map == 1.0
    assert reconstruction(d, t.closure).mean_rank == 1.0
    d2 = torch.full((n, n), 1.0, dtype=torch.float64)
    d2[t.closure[:, 0], t.closure[:, 1]] = 10.0
    assert reconstruction(d2, t.closure).map < 0.5


def test_callable_and_device(device):
    t, d = _random_case(3)
    d = d.to(device)
    a = reconstruction(d, t.closure.to(device))
    b = reconstruction(lambda rows: d[rows], t.closure.to(device), n_nodes=t.n_nodes, chunk=4)
    assert a == b


def test_bad_inputs():
    t, d = _random_case(0)
    with pytest.raises(ValueError, match="dist has size"):  # not square
        reconstruction(d[:3], t.closure)
    bad = d.clone()
    bad[3, 4] = float("nan")
    with pytest.raises(ValueError, match="NaN"):  # a plausible MR/MAP from a NaN distance would be a lie
        reconstruction(bad, t.closure)
    with pytest.raises(ValueError, match="n_nodes"):
        reconstruction(lambda r: d[r], t.closure)
    with pytest.raises(ValueError, match="closure must have values in"):
        reconstruction(d, t.closure + 100)
    with pytest.raises(ValueError, match="closure must have values in"):  # negative indices do not wrap
        reconstruction(d, t.closure - 1)
    with pytest.raises(ValueError, match="closure"):
        reconstruction(d, torch.zeros(0, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="chunk"):
        reconstruction(d, t.closure, chunk=0)
