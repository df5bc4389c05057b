import pytest
import torch

from nips2019.hyperbolic import (
    apply_isometry,
    euclidean_procrustes_matching,
    hyperbolic_ot_matching,
    pairwise_distance,
    random_isometry,
)


def _points(n, d=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return 0.8 * torch.rand(n, 1, generator=g, dtype=torch.float64) * x / x.norm(dim=1, keepdim=True)


@pytest.mark.parametrize("d", [2, 3])
def test_isometry_preserves_distances(d, dtype):
    x = _points(8, d).to(dtype)
    iso = random_isometry(d, max_shift=1.5, generator=1, dtype=dtype)
    R, b = iso.rotation, iso.translation
    y = apply_isometry(x, R, b)
    tol = dict(rtol=1e-3, atol=1e-3) if dtype == torch.float32 else dict(rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(pairwise_distance(y), pairwise_distance(x), **tol)
    assert y.dtype == dtype


def test_recovers_permutation_under_hyperbolic_isometry():
    x = _points(12, seed=3)
    iso = random_isometry(2, max_shift=2.0, generator=4)
    R, b = iso.rotation, iso.translation
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(5))
    y = apply_isometry(x, R, b)[perm]
    res = hyperbolic_ot_matching(x, y, n_steps=4, n_inner_steps=15, n_restarts=4)
    assert bool((perm[res.assignment] == torch.arange(12)).all())
    torch.testing.assert_close(res.plan.sum(), torch.tensor(1.0, dtype=torch.float64))
    # the aligned points land on their matches
    assert float(pairwise_distance(res.aligned, y)[torch.arange(12), res.assignment].max()) < 0.05


def test_procrustes_recovers_euclidean_motion():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10, 2, generator=g, dtype=torch.float64)
    iso = random_isometry(2, max_shift=1.0, generator=g)
    R, _ = iso.rotation, iso.translation
    perm = torch.randperm(10, generator=g)
    y = (x @ R.T + torch.tensor([3.0, -1.0], dtype=torch.float64))[perm]
    res = euclidean_procrustes_matching(x, y)
    assert bool((perm[res.assignment] == torch.arange(10)).all())


def test_bad_inputs():
    x = _points(4)
    with pytest.raises(ValueError, match="y has size 3 along axis 1"):
        hyperbolic_ot_matching(x, torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="Poincaré ball"):
        hyperbolic_ot_matching(x, 2 * x / x.norm(dim=1, keepdim=True))
    with pytest.raises(ValueError, match="orthogonal"):
        apply_isometry(x, 2 * torch.eye(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
    with pytest.raises(TypeError, match="translation has dtype torch.float32"):
        apply_isometry(x, torch.eye(2, dtype=torch.float64), torch.zeros(2))
    with pytest.raises(ValueError, match="n_steps"):
        hyperbolic_ot_matching(x, x, n_steps=0)
    with pytest.raises(ValueError, match="rotation"):
        apply_isometry(x, torch.eye(3, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))


@pytest.mark.gpu
def test_cuda_matching_and_distances():
    x = _points(10, seed=7).cuda()
    iso = random_isometry(2, max_shift=1.0, generator=8)
    R, b = iso.rotation, iso.translation
    y = apply_isometry(x, R.cuda(), b.cuda())
    assert pairwise_distance(x, y).device.type == "cuda"
    res = hyperbolic_ot_matching(x, y, n_steps=3, n_inner_steps=5, n_restarts=2)
    assert res.plan.device.type == "cuda" and res.aligned.device.type == "cuda"
    assert bool((res.assignment.cpu() == torch.arange(10)).all())
