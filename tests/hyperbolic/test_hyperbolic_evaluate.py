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


def _sklearn_reference(d, closure):
    """The reference code's evaluation, written out: ranks among non-ancestors (ties against), sklearn AP."""
    d = d.numpy()
    n = d.shape[0]
    ranks, aps = [], []
    for u in np.unique(closure[:, 0].numpy()):
        anc = np.unique(closure[closure[:, 0] == u, 1].numpy())
        others = np.setdiff1d(np.arange(n), [u])
        labels = np.isin(others, anc).astype(float)
        aps.append(average_precision_score(labels, -d[u, others]))
        neg = np.setdiff1d(others, anc)
        ranks += [1 + int((d[u, neg] <= d[u, v]).sum()) for v in anc]
    return float(np.mean(ranks)), float(np.mean(aps))


@pytest.mark.parametrize("seed", [0, 1])
def test_ties_match_sklearn(seed):
    # distances rounded to few values: many ties between ancestors and non-ancestors
    t, d = _random_case(seed, n=30)
    d = torch.round(d * 2) / 2
    mr, ap = _sklearn_reference(d, t.closure)
    for r in (reconstruction(d, t.closure), reconstruction(d, t.closure, chunk=3), reconstruction_naive(d, t.closure)):
        assert r.mean_rank == pytest.approx(mr, rel=1e-12) and r.map == pytest.approx(ap, rel=1e-12), (r, mr, ap)


def test_collapsed_embedding_is_not_perfect():
    # all points equal (every distance 0): the old optimistic tie rule reported MR 1 / MAP 1
    t = random_tree(40, generator=3)
    n = t.n_nodes
    d = torch.zeros(n, n, dtype=torch.float64)
    r = reconstruction(d, t.closure)
    mr, ap = _sklearn_reference(d, t.closure)
    assert r.mean_rank == pytest.approx(mr) and r.map == pytest.approx(ap)
    anc = torch.bincount(t.closure[:, 0], minlength=n).double()
    has = anc > 0
    # closed forms: rank n - |N(u)| for every pair, AP = |N(u)| / (n - 1)
    assert r.mean_rank == pytest.approx(float((anc[has] * (n - anc[has])).sum() / anc.sum()))
    assert r.map == pytest.approx(float((anc[has] / (n - 1)).mean()))
    assert r.map < 0.2 and r.mean_rank > n / 2


def test_collapsed_mammals_matches_reference_numbers():
    from nips2019.hyperbolic import wordnet_mammals

    m = wordnet_mammals()
    r = reconstruction(torch.zeros(m.n_nodes, m.n_nodes, dtype=torch.float64), m.closure)
    assert 1170 < r.mean_rank < 1178 and r.map < 0.01, r


def test_random_embedding_matches_sklearn():
    t = random_tree(60, generator=4)
    x = torch.randn(t.n_nodes, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    d = torch.cdist(x, x)
    mr, ap = _sklearn_reference(d, t.closure)
    r = reconstruction(d, t.closure, chunk=5)
    assert r.mean_rank == pytest.approx(mr, rel=1e-12) and r.map == pytest.approx(ap, rel=1e-12)
    assert r.map < 0.5


def test_duplicate_pairs_count_once():
    t, d = _random_case(2)
    doubled = torch.cat([t.closure, t.closure[:5]])
    assert reconstruction(d, doubled) == reconstruction(d, t.closure)


def test_chunks_bound_memory():
    # the callable is asked for row blocks whose comparisons fit the budget, whatever chunk says
    t = random_tree(3000, generator=0)
    x = torch.randn(t.n_nodes, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sizes = []

    def rows(r):
        sizes.append(r.numel())
        return torch.cdist(x[r], x)

    r = reconstruction(rows, t.closure, t.n_nodes, chunk=100_000)
    assert max(sizes) * t.n_nodes <= 2 ** 21 and sum(sizes) == len(torch.unique(t.closure[:, 0])) and len(sizes) > 3
    whole = reconstruction(torch.cdist(x, x), t.closure)  # other chunks: the sums differ in the last bits
    assert r.mean_rank == pytest.approx(whole.mean_rank, rel=1e-12) and r.map == pytest.approx(whole.map, rel=1e-12)


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


@pytest.mark.parametrize("noise", [0.05, 3.0])
def test_few_and_many_candidates_match_reference(noise):
    # tree distances plus a little noise: few entries below a row's largest ancestor distance (the
    # candidate search); plus a lot: most entries (the whole-block search). Both against sklearn.
    from nips2019.hyperbolic import graph_distances

    t = random_tree(80, generator=6)
    g = torch.Generator().manual_seed(1)
    d = graph_distances(t.parents, t.n_nodes).double()
    d = (d + noise * torch.rand(d.shape, generator=g, dtype=torch.float64)).fill_diagonal_(0)
    mr, ap = _sklearn_reference(d, t.closure)
    r = reconstruction(d, t.closure, chunk=9)
    assert r.mean_rank == pytest.approx(mr, rel=1e-12) and r.map == pytest.approx(ap, rel=1e-12)
    ref = reconstruction_naive(d, t.closure)
    assert r.mean_rank == pytest.approx(ref.mean_rank, rel=1e-12) and r.map == pytest.approx(ref.map, rel=1e-12)


@pytest.mark.parametrize("model", ["poincare", "lorentz", "euclidean"])
def test_distance_keys_give_the_same_reconstruction(model):
    from nips2019.hyperbolic import HierarchyEmbedding

    t = random_tree(120, generator=2)
    emb = HierarchyEmbedding(t.n_nodes, 3, model=model, init_scale=0.5, generator=0, dtype=torch.float64)
    keys, dist = emb.distance_keys(), emb.distance_matrix()
    assert keys.shape == dist.shape and bool((keys >= 0).all())
    # row by row the same order (strictly increasing transform)
    assert torch.equal(keys.argsort(dim=1, stable=True), dist.argsort(dim=1, stable=True))
    a = reconstruction(emb.distance_keys, t.closure, t.n_nodes)
    b = reconstruction(emb.distance_matrix, t.closure, t.n_nodes)
    ref = reconstruction_naive(dist, t.closure)
    assert a == b
    assert a.mean_rank == pytest.approx(ref.mean_rank, rel=1e-12) and a.map == pytest.approx(ref.map, rel=1e-12)
