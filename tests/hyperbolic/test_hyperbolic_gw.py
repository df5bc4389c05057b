"""Distance-faithful embeddings (fit_distances) and Gromov-Wasserstein matching."""

import itertools

import numpy as np
import pytest
import torch

from nips2019.hyperbolic import (
    apply_isometry,
    automorphism_orbits,
    balanced_tree,
    fit_distances,
    graph_distances,
    gromov_wasserstein_matching,
    pairwise_distance,
    random_isometry,
    random_tree,
)
from nips2019.hyperbolic._matching import _distance_profile_plan


def _distortion(x, d, model="poincare"):
    iu = torch.triu_indices(len(d), len(d), 1)
    e = pairwise_distance(x, model=model)[iu[0], iu[1]]
    t = d[iu[0], iu[1]]
    ratio = e / t
    return float((ratio / ratio.median() - 1).abs().mean())


def test_fit_distances_reproduces_tree_metric():
    t = random_tree(30, generator=0)
    d = graph_distances(t.parents, t.n_nodes).double()
    res = fit_distances(d, 5, n_steps=800, generator=0)
    x = res.embedding.poincare()
    assert _distortion(x, d) < 0.08
    assert res.losses[-1] < 0.05 * res.losses[0]
    # the scale is honoured: embedded distances are about 0.5 x tree distances
    iu = torch.triu_indices(30, 30, 1)
    ratio = (pairwise_distance(x) / d)[iu[0], iu[1]]
    assert 0.45 < float(ratio.median()) < 0.55


@pytest.mark.parametrize("model", ["poincare", "euclidean"])
def test_fit_distances_recovers_a_realisable_metric(model):
    # Distances *of* points in the model's own plane are realisable exactly: the loss must go to ~0 and
    # the fitted points must be isometric to the originals (same distance matrix).
    g = torch.Generator().manual_seed(0)
    pts = 0.7 * torch.rand(12, 2, generator=g, dtype=torch.float64) - 0.35
    d = pairwise_distance(pts, model=model)
    res = fit_distances(d, 2, model=model, scale=1.0, n_steps=1500, lr=0.02, generator=1)
    assert res.losses[-1] < 1e-6
    torch.testing.assert_close(pairwise_distance(res.embedding.poincare(), model=model), d, rtol=2e-3, atol=2e-3)


def test_fit_distances_follows_dtype_and_lorentz_path(dtype):
    d = torch.tensor([[0, 1, 2], [1, 0, 1], [2, 1, 0]], dtype=dtype)
    res = fit_distances(d, 2, model="lorentz", n_steps=200, generator=0)
    assert res.embedding.weight.dtype == dtype and res.embedding.weight.shape == (3, 3)
    assert res.losses[-1] < res.losses[0]


@pytest.mark.parametrize("bad, match", [
    (torch.zeros(2, 3, dtype=torch.float64), "distances has size 3"),
    (torch.tensor([[0.0, 1.0], [2.0, 0.0]], dtype=torch.float64), "symmetric"),
    (torch.zeros(3, 3, dtype=torch.float64), "positive"),
    (torch.tensor([[0.0, float("nan")], [float("nan"), 0.0]], dtype=torch.float64), "finite|NaN"),
])
def test_fit_distances_bad_inputs(bad, match):
    with pytest.raises(ValueError, match=match):
        fit_distances(bad, 2, n_steps=1)


def test_fit_distances_bad_hyperparameters():
    d = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match="scale"):
        fit_distances(d, 2, scale=0.0)
    with pytest.raises(ValueError, match="n_steps"):
        fit_distances(d, 2, n_steps=0)
    with pytest.raises(ValueError, match="model"):
        fit_distances(d, 2, model="sphere")


def _ball_points(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return 0.85 * torch.rand(n, 1, generator=g, dtype=torch.float64) * x / x.norm(dim=1, keepdim=True)


@pytest.mark.parametrize("d", [2, 4])
def test_gw_recovers_permutation_under_isometry(d):
    x = _ball_points(15, d, 0)
    iso = random_isometry(d, max_shift=2.0, generator=1)
    R, b = iso.rotation, iso.translation
    perm = torch.randperm(15, generator=torch.Generator().manual_seed(2))
    y = apply_isometry(x, R, b)[perm]
    res = gromov_wasserstein_matching(x, y, generator=3)
    assert bool((perm[res.assignment] == torch.arange(15)).all())
    assert res.objective < 1e-12
    torch.testing.assert_close(res.aligned, y[res.assignment])
    torch.testing.assert_close(res.plan.sum(), torch.tensor(1.0, dtype=torch.float64))


def test_gw_objective_is_isometry_invariant_and_matches_brute_force():
    # For 5 points the best permutation can be enumerated: the GW objective of a permutation plan is
    # sum_{ik} (Cx_ik - Cy_{s(i)s(k)})^2 / n^2. Our result must reach the brute-force optimum.
    x, y0 = _ball_points(5, 2, 4), _ball_points(5, 2, 5)
    cx, cy = pairwise_distance(x), pairwise_distance(y0)
    brute = min(float(((cx - cy[list(s)][:, list(s)]) ** 2).sum()) / 25
                for s in itertools.permutations(range(5)))
    res = gromov_wasserstein_matching(x, y0, n_restarts=8, generator=0)
    assert res.objective <= brute + 1e-9
    iso = random_isometry(2, max_shift=1.0, generator=6)
    R, b = iso.rotation, iso.translation
    moved = gromov_wasserstein_matching(x, apply_isometry(y0, R, b), n_restarts=8,
                                        generator=0)
    assert abs(moved.objective - res.objective) < 1e-9


def test_euclidean_cost_is_not_hyperbolic_invariant():
    # The Euclidean-cost baseline sees a hyperbolic translation as a deformation: its objective is > 0.
    x = _ball_points(12, 2, 7)
    iso = random_isometry(2, max_shift=2.0, generator=8)
    R, b = iso.rotation, iso.translation
    y = apply_isometry(x, R, b)
    assert gromov_wasserstein_matching(x, y, model="euclidean").objective > 1e-3
    assert gromov_wasserstein_matching(x, y, model="poincare").objective < 1e-12


def test_distance_profile_plan_is_exact_for_identical_sets():
    x = _ball_points(9, 3, 9)
    c = pairwise_distance(x).numpy()
    plan = _distance_profile_plan(c, c)
    np.testing.assert_allclose(plan, np.eye(9) / 9, atol=1e-12)


def test_gw_matches_independent_distance_embeddings_up_to_automorphism():
    # The chapter's claim on a small tree: two fit_distances runs from different seeds, one moved by an
    # isometry and shuffled, are matched up to the tree's symmetries.
    t = random_tree(30, generator=3)
    d = graph_distances(t.parents, t.n_nodes).double()
    xa, xb = (fit_distances(d, 5, n_steps=800, generator=s).embedding.poincare()
              for s in (0, 1))
    iso = random_isometry(5, max_shift=2.0, generator=4)
    R, b = iso.rotation, iso.translation
    perm = torch.randperm(30, generator=torch.Generator().manual_seed(5))
    res = gromov_wasserstein_matching(xa, apply_isometry(xb, R, b)[perm])
    orbit = automorphism_orbits(t.parents, t.n_nodes)
    assert float((orbit[perm[res.assignment]] == orbit).double().mean()) >= 0.85


def test_gw_bad_inputs():
    x = _ball_points(4, 2, 0)
    with pytest.raises(ValueError, match="y has size 3 along axis 1"):
        gromov_wasserstein_matching(x, torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="Poincaré ball"):
        gromov_wasserstein_matching(x, 2 * x / x.norm(dim=1, keepdim=True))
    with pytest.raises(ValueError, match="n_restarts"):
        gromov_wasserstein_matching(x, x, n_restarts=0)
    with pytest.raises(ValueError, match="at least 2"):
        gromov_wasserstein_matching(x[:1], x[:1])


@pytest.mark.gpu
def test_gw_and_fit_distances_on_cuda():
    d = graph_distances(*(lambda t: (t.parents, t.n_nodes))(balanced_tree(2, 3))).double().cuda()
    x = fit_distances(d, 3, n_steps=100, generator=0).embedding.poincare()
    assert x.is_cuda
    res = gromov_wasserstein_matching(x, x)
    assert res.plan.is_cuda and bool((res.assignment.cpu() == torch.arange(len(x))).all())
