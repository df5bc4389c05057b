import geoopt
import pytest
import torch

from nips2019.hyperbolic import (
    get_manifold,
    lorentz_to_poincare,
    pairwise_distance,
    point_distance,
    poincare_to_lorentz,
)


def _ball_points(n, d, dtype, device, seed=0, scale=0.9):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    r = scale * torch.rand(n, 1, generator=g, dtype=torch.float64)
    return (x / x.norm(dim=1, keepdim=True) * r).to(device=device, dtype=dtype)


def test_pairwise_vs_geoopt(device, dtype, tol):
    x = _ball_points(7, 3, dtype, device, 0)
    y = _ball_points(5, 3, dtype, device, 1)
    ball = geoopt.PoincareBall().to(device=device, dtype=dtype)
    ref = ball.dist(x[:, None, :], y[None, :, :])
    got = pairwise_distance(x, y)
    assert got.dtype == dtype and got.device == x.device
    torch.testing.assert_close(got, ref, **{k: 100 * v for k, v in tol.items()})
    torch.testing.assert_close(point_distance(x[:, None, :], y[None, :, :]), ref, **{k: 100 * v for k, v in tol.items()})


def test_lorentz_round_trip_and_distances(device, dtype, tol):
    x = _ball_points(6, 4, dtype, device, 2, scale=0.8)
    lx = poincare_to_lorentz(x)
    inner = -lx[:, 0] ** 2 + (lx[:, 1:] ** 2).sum(1)
    torch.testing.assert_close(inner, -torch.ones_like(inner), **{k: 100 * v for k, v in tol.items()})
    torch.testing.assert_close(lorentz_to_poincare(lx), x, **tol)
    torch.testing.assert_close(pairwise_distance(lx, model="lorentz"), pairwise_distance(x),
                               rtol=1e-3 if dtype == torch.float32 else 1e-8, atol=2e-3 if dtype == torch.float32 else 1e-7)
    # geoopt's Lorentz distance agrees
    lor = geoopt.Lorentz().to(device=device, dtype=dtype)
    torch.testing.assert_close(point_distance(lx[:1], lx[1:], model="lorentz"), lor.dist(lx[:1], lx[1:]),
                               rtol=1e-3 if dtype == torch.float32 else 1e-8, atol=2e-3 if dtype == torch.float32 else 1e-7)


def test_distance_closed_form_from_origin():
    r = torch.tensor([0.0, 0.3, 0.9, 0.999999], dtype=torch.float64)
    x = torch.stack([r, torch.zeros_like(r)], 1)
    d = pairwise_distance(torch.zeros(1, 2, dtype=torch.float64), x)[0]
    torch.testing.assert_close(d, 2 * torch.atanh(r))


def test_euclidean_is_cdist():
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(pairwise_distance(x, model="euclidean"), torch.cdist(x, x))


def test_near_boundary_float32_is_finite():
    x = torch.tensor([[1 - 1e-7, 0.0], [0.0, 0.99999]], dtype=torch.float32)
    d = point_distance(x[:1], x[1:])
    assert torch.isfinite(d).all()
    # gradients stay finite too
    x = x.clone().requires_grad_(True)
    point_distance(x[:1], x[1:]).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_pairwise_diagonal_exact_zero():
    x = _ball_points(5, 2, torch.float64, "cpu", 3)
    assert float(pairwise_distance(x).diagonal().abs().max()) == 0.0


def test_get_manifold_types():
    assert isinstance(get_manifold("poincare"), geoopt.PoincareBall)
    assert isinstance(get_manifold("lorentz"), geoopt.Lorentz)
    assert isinstance(get_manifold("euclidean"), geoopt.Euclidean)


def test_bad_inputs():
    with pytest.raises(ValueError, match="model must be one of"):
        get_manifold("sphere")
    with pytest.raises(ValueError, match="Poincaré ball"):
        pairwise_distance(torch.tensor([[1.0, 0.0]]))
    with pytest.raises(ValueError, match="Poincaré ball"):  # issue 12: a point of norm 2 gave a distance of 90
        point_distance(torch.tensor([0.0, 0.0]), torch.tensor([2.0, 0.0]))
    with pytest.raises(ValueError, match="hyperboloid"):
        point_distance(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([1.0, 1.0, 0.0]), model="lorentz")
    with pytest.raises(ValueError, match="hyperboloid"):
        pairwise_distance(torch.tensor([[2.0, 0.0, 0.0]]), model="lorentz")
    with pytest.raises(ValueError, match="y has size 3 along axis 1"):
        pairwise_distance(torch.zeros(2, 2), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="x"):
        pairwise_distance(torch.zeros(2))
    with pytest.raises(ValueError, match="Poincaré ball"):
        poincare_to_lorentz(torch.tensor([[1.0, 0.0]]))
    with pytest.raises(TypeError, match="x"):
        lorentz_to_poincare(torch.zeros(2, 3, dtype=torch.long))
