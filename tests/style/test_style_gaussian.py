"""Gaussian OT: square roots, Monge map, WCT, Bures distance, geodesic, barycentre."""

import numpy as np
import ot
import pytest
import scipy.linalg
import torch

from nips2019.style import (
    GaussianStats,
    bures_wasserstein,
    gaussian_barycenter,
    gaussian_geodesic,
    gaussian_ot_map,
    gaussian_ot_matrix,
    gaussian_stats,
    inv_sqrtm_psd,
    sqrtm_psd,
    wct_map,
    wct_matrix,
)


def _spd(d, seed, device="cpu", dtype=torch.float64, cond=10.0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    evals = torch.logspace(0, np.log10(cond), d, dtype=torch.float64)
    return ((q * evals) @ q.T).to(device, dtype)


def _gauss(d, seed, device="cpu", dtype=torch.float64):
    g = torch.Generator().manual_seed(seed + 1000)
    return GaussianStats(torch.randn(d, generator=g, dtype=torch.float64).to(device, dtype), _spd(d, seed, device, dtype))


def test_sqrtm_matches_scipy(device, dtype, tol):
    s = _spd(6, 0, device, dtype)
    ref = torch.from_numpy(np.real(scipy.linalg.sqrtm(s.cpu().double().numpy()))).to(device, dtype)
    root = sqrtm_psd(s)
    assert root.dtype == dtype and root.device.type == device.type
    torch.testing.assert_close(root, ref, **tol)
    torch.testing.assert_close(inv_sqrtm_psd(s) @ root, torch.eye(6, device=device, dtype=dtype), rtol=tol["rtol"] * 10, atol=tol["atol"] * 100)


def test_sqrtm_singular_and_slightly_negative_is_finite():
    v = torch.randn(5, 2, dtype=torch.float64)
    s = v @ v.T - 1e-14 * torch.eye(5, dtype=torch.float64)  # rank 2 with round-off negatives
    root = sqrtm_psd(s)
    assert torch.isfinite(root).all() and torch.isfinite(inv_sqrtm_psd(s)).all()
    torch.testing.assert_close(root @ root, s, atol=1e-10, rtol=1e-8)


def test_ot_map_one_dimensional_closed_form():
    src = GaussianStats(torch.tensor([1.0], dtype=torch.float64), torch.tensor([[4.0]], dtype=torch.float64))
    tgt = GaussianStats(torch.tensor([-2.0], dtype=torch.float64), torch.tensor([[9.0]], dtype=torch.float64))
    x = torch.linspace(-3, 3, 7, dtype=torch.float64)[:, None]
    torch.testing.assert_close(gaussian_ot_map(src, tgt)(x), -2.0 + 1.5 * (x - 1.0))
    torch.testing.assert_close(bures_wasserstein(src, tgt, squared=True), torch.tensor(9.0 + 1.0, dtype=torch.float64))


def test_ot_map_pushes_forward_and_is_symmetric(device, dtype, tol):
    src, tgt = _gauss(5, 1, device, dtype), _gauss(5, 2, device, dtype)
    a = gaussian_ot_matrix(src.cov, tgt.cov)
    torch.testing.assert_close(a, a.T, **tol)
    assert torch.linalg.eigvalsh(a).min() > 0
    torch.testing.assert_close(a @ src.cov @ a, tgt.cov, rtol=tol["rtol"] * 100, atol=tol["atol"] * 1000)
    w = wct_matrix(src.cov, tgt.cov)
    torch.testing.assert_close(w @ src.cov @ w.T, tgt.cov, rtol=tol["rtol"] * 100, atol=tol["atol"] * 1000)
    assert torch.linalg.norm(w - a) > 0.01 * torch.linalg.norm(a)  # non-commuting: WCT is not the OT map


def test_ot_map_monte_carlo_covariance():
    src, tgt = _gauss(3, 3), _gauss(3, 4)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(200_000, 3, generator=g, dtype=torch.float64)
    x = src.mean + z @ torch.linalg.cholesky(src.cov).T
    y = gaussian_ot_map(src, tgt)(x)
    emp = gaussian_stats(y)
    torch.testing.assert_close(emp.mean, tgt.mean, atol=0.05, rtol=0)
    torch.testing.assert_close(emp.cov, tgt.cov, atol=0.1, rtol=0.03)
    # The transport cost of the OT map is W2^2; WCT's is larger.
    cost_ot = (y - x).pow(2).sum(1).mean()
    cost_wct = (wct_map(src, tgt)(x) - x).pow(2).sum(1).mean()
    w2 = bures_wasserstein(src, tgt, squared=True)
    assert abs(cost_ot - w2) < 0.02 * w2
    assert cost_wct > cost_ot


def test_wct_equals_ot_when_covariances_commute():
    q, _ = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64))
    cs = (q * torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)) @ q.T
    ct = (q * torch.tensor([5.0, 0.5, 2.0, 1.0], dtype=torch.float64)) @ q.T
    torch.testing.assert_close(wct_matrix(cs, ct), gaussian_ot_matrix(cs, ct))


def test_bures_matches_pot(device, dtype, tol):
    src, tgt = _gauss(4, 5, device, dtype), _gauss(4, 6, device, dtype)
    ref = ot.gaussian.bures_wasserstein_distance(
        *(t.cpu().double().numpy() for t in (src.mean, tgt.mean, src.cov, tgt.cov))
    )
    got = bures_wasserstein(src, tgt)
    assert got.dtype == dtype and got.device.type == device.type
    torch.testing.assert_close(got.cpu().double(), torch.tensor(float(ref), dtype=torch.float64), rtol=1e-4 if dtype == torch.float32 else 1e-8, atol=1e-5)
    assert bures_wasserstein(src, src).item() < (1e-2 if dtype == torch.float32 else 1e-6)


def test_bures_gradient_finite_for_rank_deficient():
    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)  # rank-2 covariance in 6-D
    tgt = _gauss(6, 7)
    bures_wasserstein(gaussian_stats(x), tgt, squared=True).backward()
    assert torch.isfinite(x.grad).all()


def test_geodesic_is_constant_speed():
    src, tgt = _gauss(4, 8), _gauss(4, 9)
    total = bures_wasserstein(src, tgt, squared=True)
    for t in (0.0, 0.3, 0.7, 1.0):
        mid = gaussian_geodesic(src, tgt, t)
        torch.testing.assert_close(bures_wasserstein(src, mid, squared=True), t**2 * total, atol=1e-9, rtol=1e-7)
        torch.testing.assert_close(bures_wasserstein(mid, tgt, squared=True), (1 - t) ** 2 * total, atol=1e-9, rtol=1e-7)


def test_barycenter_commuting_closed_form_and_pot():
    d = torch.tensor([[1.0, 4.0, 9.0], [4.0, 1.0, 0.25], [16.0, 1.0, 1.0]], dtype=torch.float64)
    stats = [GaussianStats(torch.randn(3, dtype=torch.float64), torch.diag(v)) for v in d]
    w = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    bar = gaussian_barycenter(stats, w)
    torch.testing.assert_close(bar.cov, torch.diag((w[:, None] * d.sqrt()).sum(0) ** 2))
    torch.testing.assert_close(bar.mean, sum(wi * s.mean for wi, s in zip(w, stats)))
    # Non-commuting: agree with POT's fixed point, and satisfy the fixed-point equation.
    stats = [_gauss(4, k) for k in (10, 11, 12)]
    bar = gaussian_barycenter(stats, w, max_iter=500, tol=1e-12)
    _, cov_ref = ot.gaussian.bures_wasserstein_barycenter(
        np.stack([s.mean.numpy() for s in stats]), np.stack([s.cov.numpy() for s in stats]), weights=w.numpy(), num_iter=1000, eps=1e-12
    )
    torch.testing.assert_close(bar.cov, torch.from_numpy(cov_ref), rtol=1e-6, atol=1e-8)
    root = sqrtm_psd(bar.cov)
    fixed = sum(wi * sqrtm_psd(root @ s.cov @ root) for wi, s in zip(w, stats))
    torch.testing.assert_close(fixed, bar.cov, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: sqrtm_psd(torch.ones(2, 3)), r"cov has size 3 along axis 1 \(d\) but cov has d = 2"),
        (lambda: sqrtm_psd(torch.ones(3)), r"cov must be at least 2-D \(\.\.\., d, d\)"),
        (lambda: inv_sqrtm_psd(torch.eye(2), eps=0), "eps"),
        (lambda: gaussian_stats(torch.ones(3)), "x"),
        (lambda: gaussian_stats(torch.ones(3, 2), ridge=-1), "ridge"),
        (lambda: gaussian_ot_map(_gauss(2, 0), _gauss(3, 0)), "target.mean has size 3 along axis 0"),
        (lambda: gaussian_ot_matrix(torch.eye(2), torch.eye(3)), "cov_target has size 3"),
        (lambda: gaussian_ot_matrix(torch.eye(2), torch.eye(2).expand(3, 2, 2)), "same shape"),
        (lambda: bures_wasserstein(_gauss(2, 0), GaussianStats(torch.zeros(2), torch.eye(2))), "target has dtype torch.float32"),
        (lambda: bures_wasserstein(_gauss(2, 0), GaussianStats(torch.zeros(2), torch.eye(2, dtype=torch.float64))), "target.mean has dtype torch.float32 but source.mean"),
        (lambda: gaussian_ot_map(_gauss(2, 0), GaussianStats(torch.full((2,), float("nan"), dtype=torch.float64), torch.eye(2, dtype=torch.float64))), "target.mean contains 2 non-finite"),
        (lambda: gaussian_barycenter([_gauss(2, 0), _gauss(2, 1)], [float("nan"), 0.5]), "weights"),
        (lambda: gaussian_barycenter([_gauss(2, 0), _gauss(2, 1)], torch.tensor([0.5, 0.5])), "weights has dtype torch.float32"),
        (lambda: gaussian_geodesic(_gauss(2, 0), _gauss(2, 1), 1.5), "t must be"),
        (lambda: gaussian_barycenter([]), "stats must have at least 1 item"),
        (lambda: gaussian_barycenter([_gauss(2, 0), _gauss(2, 1)], [0.7, 0.7]), "sum to 1"),
        (lambda: gaussian_ot_map(_gauss(2, 0), _gauss(2, 1))(torch.ones(3, 2, dtype=torch.float64), t=2.0), "t must be"),
        (lambda: gaussian_ot_map(_gauss(2, 0), _gauss(2, 1))(torch.ones(3, 4, dtype=torch.float64)), "last dimension"),
        (lambda: gaussian_ot_map(_gauss(2, 0), _gauss(2, 1))(torch.ones(3, 2)), "x has dtype torch.float32 but the AffineMap has torch.float64"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


@pytest.mark.gpu
def test_gaussian_core_on_cuda():
    src, tgt = _gauss(8, 1, "cuda"), _gauss(8, 2, "cuda")
    x = torch.randn(100, 8, device="cuda", dtype=torch.float64)
    y = gaussian_ot_map(src, tgt)(x, t=0.5)
    assert y.device.type == "cuda"
    assert gaussian_barycenter([src, tgt]).cov.device.type == "cuda"
    assert bures_wasserstein(src, tgt).device.type == "cuda"
