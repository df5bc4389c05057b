"""Reference tests for nips2019.alignment: scipy's Procrustes, brute-force assignments, naive GW loss."""

import itertools

import numpy as np
import ot
import pytest
import torch
from scipy.linalg import orthogonal_procrustes

from nips2019.alignment import (
    cosine_scores,
    gromov_wasserstein_align,
    make_embedding_pair,
    precision_at_k,
    procrustes,
    wasserstein_procrustes,
)

F64 = torch.float64


def _x(n, d, seed=0, dtype=F64):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_procrustes_matches_scipy_and_recovers_a_rotation(dtype):
    x, y = _x(40, 5, 0, dtype), _x(40, 5, 1, dtype)
    r_scipy, _ = orthogonal_procrustes(x.double().numpy(), y.double().numpy())
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-9, atol=1e-10)
    w = procrustes(x, y)
    assert w.dtype == dtype
    torch.testing.assert_close(w.double(), torch.as_tensor(r_scipy), **tol)
    q = torch.linalg.qr(_x(5, 5, 2))[0].to(dtype)
    torch.testing.assert_close(procrustes(x, x @ q), q, **tol)


def test_procrustes_beats_random_rotations():
    x, y = _x(30, 3, 3), _x(30, 3, 4)
    best = float((x @ procrustes(x, y) - y).square().sum())
    for s in range(200):
        q = torch.linalg.qr(_x(3, 3, 100 + s))[0]
        assert best <= float((x @ q - y).square().sum()) + 1e-12


def test_wasserstein_procrustes_plan_is_the_best_assignment_and_objective_decreases():
    x, y = _x(6, 2, 5), _x(6, 2, 6)
    res = wasserstein_procrustes(x, y, n_steps=6)
    assert bool((res.objective[1:] <= res.objective[:-1] + 1e-12).all()), res.objective
    cost = torch.cdist(x @ res.rotation, y).square()
    brute = min(float(cost[range(6), list(p)].mean()) for p in itertools.permutations(range(6)))
    assert abs(float((res.plan * cost).sum()) - brute) < 1e-10
    torch.testing.assert_close(res.plan.sum(1), torch.full((6,), 1 / 6, dtype=F64))


def test_wasserstein_procrustes_from_the_true_rotation_finds_the_pairs():
    pair = make_embedding_pair(80, 4, noise=0.0, shared=1.0, generator=1)
    res = wasserstein_procrustes(pair.source, pair.target, init=pair.rotation, n_steps=2)
    assert precision_at_k(res.plan, pair.pairs) == 1.0
    torch.testing.assert_close(res.rotation, pair.rotation, rtol=1e-8, atol=1e-8)


def test_gromov_wasserstein_recovers_a_permuted_rotated_cloud_and_its_loss_is_the_naive_sum():
    pair = make_embedding_pair(40, 3, noise=0.0, shared=1.0, n_clusters=3, generator=2)
    res = gromov_wasserstein_align(pair.source, pair.target, metric="sqeuclidean", reg=0.0)
    assert precision_at_k(res.plan, pair.pairs) == 1.0
    torch.testing.assert_close(res.rotation, pair.rotation, rtol=1e-6, atol=1e-6)
    # the loss POT reports is sum_ijkl (Cx_ik - Cy_jl)^2 P_ij P_kl on the max-normalised costs
    cx = torch.cdist(pair.source, pair.source).square()
    cy = torch.cdist(pair.target, pair.target).square()
    cx, cy, p = cx / cx.max(), cy / cy.max(), res.plan
    naive = ((cx[:, None, :, None] - cy[None, :, None, :]) ** 2 * p[:, :, None, None] * p[None, None]).sum()
    assert abs(float(naive) - float(res.objective[0])) < 1e-9


def test_entropic_gromov_wasserstein_matches_pot_and_allows_other_dimensions():
    x, y = _x(12, 3, 7), _x(10, 2, 8)
    res = gromov_wasserstein_align(x, y, metric="sqeuclidean", reg=0.05)
    cx, cy = torch.cdist(x, x).square().numpy(), torch.cdist(y, y).square().numpy()
    want = ot.gromov.entropic_gromov_wasserstein(cx / cx.max(), cy / cy.max(), np.full(12, 1 / 12),
                                                 np.full(10, 1 / 10), "square_loss", epsilon=0.05,
                                                 max_iter=1000, tol=1e-9)
    torch.testing.assert_close(res.plan, torch.as_tensor(want), rtol=1e-7, atol=1e-10)
    assert res.rotation.shape == (3, 2) and float(res.rotation.abs().max()) == 0.0


def test_unsupervised_pipeline_reaches_the_supervised_ceiling_at_low_noise():
    pair = make_embedding_pair(200, 8, noise=0.05, shared=0.8, generator=3)
    x, y, pr = pair.source, pair.target, pair.pairs
    sup = precision_at_k(cosine_scores(x @ procrustes(x[pr[:, 0]], y[pr[:, 1]]), y), pr)
    gw = gromov_wasserstein_align(x, y, metric="cosine", reg=0.02)
    wp = wasserstein_procrustes(x, y, init=gw.rotation, n_steps=5)
    unsup = precision_at_k(cosine_scores(x @ wp.rotation, y), pr)
    ident = precision_at_k(cosine_scores(x @ wasserstein_procrustes(x, y, n_steps=5).rotation, y), pr)
    assert sup > 0.95 and unsup > sup - 0.03, (sup, unsup)
    assert ident < 0.3, ident  # without a good start the alternation stalls


def test_precision_at_k_matches_a_loop():
    scores, pairs = _x(7, 9, 9), torch.tensor([[0, 3], [1, 1], [4, 8], [6, 0], [6, 2]])
    for k in (1, 3):
        hits = [j in torch.argsort(scores[i], descending=True)[:k].tolist() for i, j in pairs.tolist()]
        assert precision_at_k(scores, pairs, k=k) == sum(hits) / len(hits)


def test_cosine_scores_matches_sklearn():
    from sklearn.metrics.pairwise import cosine_similarity

    x, y = _x(5, 4, 10), _x(6, 4, 11)
    torch.testing.assert_close(cosine_scores(x, y), torch.as_tensor(cosine_similarity(x.numpy(), y.numpy())))


def test_make_embedding_pair_ground_truth():
    pair = make_embedding_pair(100, 6, noise=0.0, shared=0.6, generator=4)
    i, j = pair.pairs[:, 0], pair.pairs[:, 1]
    torch.testing.assert_close(pair.source[i] @ pair.rotation, pair.target[j])
    torch.testing.assert_close(pair.rotation.T @ pair.rotation, torch.eye(6, dtype=F64))
    assert len(pair.pairs) == 60 and len(pair.source) == 80 and len(pair.target) == 80
    assert len(set(i.tolist())) == 60 and len(set(j.tolist())) == 60
    again = make_embedding_pair(100, 6, noise=0.0, shared=0.6, generator=4)
    assert torch.equal(again.source, pair.source)
    noisy = make_embedding_pair(2000, 6, noise=0.3, shared=1.0, generator=5)
    z = noisy.source[noisy.pairs[:, 0]] @ noisy.rotation - noisy.target[noisy.pairs[:, 1]]
    rms = float(z.square().sum(1).mean().sqrt())
    assert abs(rms - 0.3 * 2 ** 0.5) < 0.02, rms  # two independent noise vectors of RMS norm 0.3


def test_bad_inputs():
    with pytest.raises(ValueError, match="k must be <= m"):
        precision_at_k(torch.zeros(2, 3), torch.tensor([[0, 0]]), k=4)
    with pytest.raises(ValueError, match="target"):
        procrustes(_x(4, 2), _x(5, 2))
    with pytest.raises(ValueError, match="metric"):
        gromov_wasserstein_align(_x(4, 2), _x(4, 2), metric="l1")
    with pytest.raises(TypeError, match="source"):
        cosine_scores(_x(3, 2).numpy(), _x(3, 2))


@pytest.mark.gpu
def test_core_path_on_gpu():
    pair = make_embedding_pair(60, 4, noise=0.01, shared=1.0, generator=0)
    x, y = pair.source.cuda(), pair.target.cuda()
    gw = gromov_wasserstein_align(x, y, reg=0.02)
    wp = wasserstein_procrustes(x, y, init=gw.rotation, n_steps=3)
    s = cosine_scores(x @ wp.rotation, y)
    assert s.device.type == "cuda" and wp.plan.device.type == "cuda"
    assert precision_at_k(s, pair.pairs.cuda()) > 0.9
