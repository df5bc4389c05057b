"""Reference tests for the Sinkhorn divergence (nips2019.ot): its two limits, POT, and the test's level."""

import warnings

import numpy as np
import pytest
import torch

import ot as pot
from nips2019.kernels import mmd2
from nips2019.ot import sinkhorn_divergence, sinkhorn_test
from nips2019.ot._batched import _sinkhorn_log_symmetric
from tests._mmd_refs import null_rejections

F64 = dict(dtype=torch.float64)


def _clouds(n=15, m=12, d=2, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=dtype)
    y = 0.7 * torch.randn(m, d, generator=g, dtype=dtype) + torch.tensor([1.0, 0.5], dtype=dtype)[:d]
    return x, y


def test_small_reg_limit_is_w2_squared_from_pot_emd2():
    x, y = _clouds()
    w2 = pot.emd2(np.full(15, 1 / 15), np.full(12, 1 / 12), pot.dist(x.numpy(), y.numpy()))
    s = sinkhorn_divergence(x, y, reg=1e-4, tol=1e-8)
    assert s.converged
    assert float(s.value) == pytest.approx(w2, rel=2e-4)
    # and it approaches from below, monotonically over these reg values
    vals = [float(sinkhorn_divergence(x, y, reg=r).value) for r in (1.0, 0.1, 1e-3)]
    assert vals[0] < vals[1] < vals[2] < w2 * (1 + 1e-6), (vals, w2)


def test_small_reg_limit_is_w1_for_the_euclidean_cost():
    x, y = _clouds(seed=1)
    cost = pot.dist(x.numpy(), y.numpy(), metric="euclidean")
    w1 = pot.emd2(np.full(15, 1 / 15), np.full(12, 1 / 12), cost)
    s = sinkhorn_divergence(x, y, reg=1e-4, metric="euclidean", tol=1e-8)
    assert float(s.value) == pytest.approx(w1, rel=1e-3)


def test_large_reg_limit_is_half_the_energy_distance():
    """S_eps -> MMD^2 / 2 with the kernel -|x - y|: half the energy distance (a direct double sum)."""
    x, y = _clouds(seed=2)
    dxy = torch.cdist(x, y).mean()
    dxx = torch.cdist(x, x).mean()
    dyy = torch.cdist(y, y).mean()
    energy = float(2 * dxy - dxx - dyy)
    assert float(mmd2(x, y, kernel="energy", unbiased=False)) == pytest.approx(energy, rel=1e-10)
    errs = []
    for reg in (1e2, 1e3, 1e4):
        s = sinkhorn_divergence(x, y, reg=reg, metric="euclidean", tol=1e-12)
        errs.append(abs(float(s.value) - energy / 2))
    assert errs[2] < 1e-4 * energy and errs[0] > errs[1] > errs[2], errs  # O(1/reg)


def test_large_reg_limit_for_the_squared_cost_is_the_squared_mean_difference():
    x, y = _clouds(seed=3)
    s = sinkhorn_divergence(x, y, reg=1e5, tol=1e-12)
    ref = float(((x.mean(0) - y.mean(0)) ** 2).sum())
    assert float(s.value) == pytest.approx(ref, rel=1e-4)


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean"])
def test_transport_part_equals_pot_empirical_sinkhorn_divergence(metric):
    """POT's divergence leaves the entropic terms out: it equals our ``transport``, not our ``value``."""
    x, y = _clouds(seed=4)
    reg = 1.0  # POT's alternating iteration converges slowly on the self-terms at smaller reg
    s = sinkhorn_divergence(x, y, reg=reg, metric=metric, tol=1e-11)
    ref = pot.bregman.empirical_sinkhorn_divergence(x.numpy(), y.numpy(), reg, metric=metric,
                                                    stopThr=1e-13, numIterMax=100_000)
    assert float(s.transport) == pytest.approx(float(ref), rel=1e-8)
    assert abs(float(s.value) - float(ref)) > 1e-3  # the entropic terms are not negligible here


def test_value_equals_the_primal_objectives_computed_with_pot_plans():
    """value = OT_eps(x,y) - (OT_eps(x,x) + OT_eps(y,y)) / 2 with OT_eps = <P, C> + eps KL(P | a b^T)."""
    x, y = _clouds(seed=5)
    reg = 1.0

    def ot_eps(p, q):
        a, b = np.full(len(p), 1 / len(p)), np.full(len(q), 1 / len(q))
        c = pot.dist(p.numpy(), q.numpy())
        plan = pot.sinkhorn(a, b, c, reg, method="sinkhorn_log", stopThr=1e-13, numItermax=200_000)
        return (plan * c).sum() + reg * (plan * np.log(plan / np.outer(a, b))).sum()

    ref = ot_eps(x, y) - 0.5 * (ot_eps(x, x) + ot_eps(y, y))
    s = sinkhorn_divergence(x, y, reg=reg, tol=1e-12)
    assert float(s.value) == pytest.approx(ref, rel=1e-7)


def test_divergence_is_zero_on_equal_measures_and_positive_otherwise():
    x, y = _clouds(seed=6)
    assert abs(float(sinkhorn_divergence(x, x.clone(), reg=0.2).value)) < 1e-7
    for reg in (0.05, 1.0, 20.0):
        assert float(sinkhorn_divergence(x, y, reg=reg).value) > 0


def test_symmetric_solver_matches_pot_on_the_self_term():
    x, _ = _clouds(seed=7)
    c = torch.cdist(x, x) ** 2
    a = torch.full((15,), 1 / 15, **F64)
    obj, transport, n_iter, converged = _sinkhorn_log_symmetric(a, c, 1.0, 10_000, 1e-12, None)
    plan = pot.sinkhorn(a.numpy(), a.numpy(), c.numpy(), 1.0, method="sinkhorn_log", stopThr=1e-14,
                        numItermax=100_000)
    assert converged and n_iter < 200
    assert float(transport) == pytest.approx(float((plan * c.numpy()).sum()), rel=1e-8)


def test_weights_and_batches():
    x, y = _clouds(seed=8)
    g = torch.Generator().manual_seed(0)
    a = torch.rand(15, generator=g, **F64) + 0.1
    b = torch.rand(12, generator=g, **F64) + 0.1
    a, b = a / a.sum(), b / b.sum()
    s = sinkhorn_divergence(x, y, a, b, reg=2.0, tol=1e-10)
    pot_val = pot.bregman.empirical_sinkhorn_divergence(x.numpy(), y.numpy(), 2.0, a=a.numpy(), b=b.numpy(),
                                                        stopThr=1e-13, numIterMax=100_000)
    assert float(s.transport) == pytest.approx(float(pot_val), rel=1e-7)
    xs, ys = torch.stack([x, x + 1.0, 2 * x]), torch.stack([y, y, y])
    batched = sinkhorn_divergence(xs, ys, reg=0.4, tol=1e-10).value
    loop = torch.stack([sinkhorn_divergence(xs[k], ys[k], reg=0.4, tol=1e-10).value for k in range(3)])
    torch.testing.assert_close(batched, loop, rtol=1e-8, atol=1e-10)


def test_gradient_matches_finite_differences():
    x, y = _clouds(n=6, m=5, seed=9)
    x = x.clone().requires_grad_(True)
    s = sinkhorn_divergence(x, y, reg=0.3, tol=1e-12).value
    (grad,) = torch.autograd.grad(s, x)
    h = 1e-6
    num = torch.zeros_like(x)
    for i in range(6):
        for j in range(2):
            e = torch.zeros_like(x)
            e[i, j] = h
            num[i, j] = (sinkhorn_divergence(x.detach() + e, y, reg=0.3, tol=1e-12).value
                         - sinkhorn_divergence(x.detach() - e, y, reg=0.3, tol=1e-12).value) / (2 * h)
    torch.testing.assert_close(grad, num, rtol=1e-5, atol=1e-7)


def test_float32_and_gradients_on_duplicate_points_stay_finite():
    x, y = _clouds(dtype=torch.float32)
    x = torch.cat([x, x[:3]]).requires_grad_(True)
    for metric in ("sqeuclidean", "euclidean"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = sinkhorn_divergence(x, y, reg=1e-3, metric=metric)
        assert s.value.dtype == torch.float32 and torch.isfinite(s.value)
        (grad,) = torch.autograd.grad(s.value, x)
        assert torch.isfinite(grad).all(), metric


def test_sinkhorn_test_level_and_power():
    rejections = null_rejections(lambda x, y, r: sinkhorn_test(x, y, reg=1.0, n_permutations=39, generator=r),
                                 60, 12, seed=10)
    assert rejections <= 8, rejections  # 3 expected; P(>= 9 | level 5%) < 0.5%
    x, y = _clouds(n=30, m=30, seed=11)
    assert sinkhorn_test(x, y, reg=1.0, n_permutations=99, generator=0).p_value <= 0.02


def test_bad_inputs():
    x, y = _clouds()
    with pytest.raises(ValueError, match="same total mass"):
        sinkhorn_divergence(x, y, torch.ones(15, **F64), None, reg=1.0)
    with pytest.raises(ValueError, match="same batch shape"):
        sinkhorn_divergence(x.expand(2, -1, -1), y.expand(3, -1, -1), reg=1.0)
    with pytest.raises(ValueError, match="reg"):
        sinkhorn_divergence(x, y, reg=0.0)


@pytest.mark.gpu
def test_gpu_matches_cpu():
    x, y = _clouds(n=200, m=150, seed=12)
    cpu = sinkhorn_divergence(x, y, reg=0.05)
    gpu = sinkhorn_divergence(x.cuda(), y.cuda(), reg=0.05)
    assert gpu.value.device.type == "cuda"
    torch.testing.assert_close(gpu.value.cpu(), cpu.value, rtol=1e-7, atol=1e-9)
    t = sinkhorn_test(x.cuda()[:40], y.cuda()[:40], reg=0.5, n_permutations=64, generator=0)
    assert t.null_samples.device.type == "cuda"
