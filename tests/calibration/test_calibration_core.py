"""Calibration: torch's label smoothing, the optimal logit gap, ECE by a loop, temperature by brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import minimize_scalar

from nips2019.calibration import (
    distillation_loss,
    expected_calibration_error,
    fit_temperature,
    label_smoothing_cross_entropy,
    optimal_logit_gap,
    penultimate_projection,
)


@pytest.mark.parametrize("alpha", [0.0, 0.05, 0.3, 1.0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_label_smoothing_matches_torch(alpha, reduction, dtype, tol):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(17, 6, generator=g, dtype=dtype) * 3
    y = torch.randint(0, 6, (17,), generator=g)
    got = label_smoothing_cross_entropy(z, y, alpha=alpha, reduction=reduction)
    want = F.cross_entropy(z, y, label_smoothing=alpha, reduction=reduction)
    torch.testing.assert_close(got, want, **tol)


@pytest.mark.parametrize("k, alpha", [(2, 0.1), (10, 0.1), (10, 0.3), (100, 0.05)])
def test_single_example_optimal_gap(k, alpha):
    z = torch.zeros(1, k, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0])
    opt = torch.optim.LBFGS([z], lr=1, max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = label_smoothing_cross_entropy(z, y, alpha=alpha)
        loss.backward()
        return loss

    opt.step(closure)
    gaps = (z[0, 0] - z[0, 1:]).detach()
    want = math.log(k * (1 - alpha) / alpha + 1)
    assert abs(optimal_logit_gap(k, alpha) - want) < 1e-12
    torch.testing.assert_close(gaps, torch.full_like(gaps, want), rtol=1e-6, atol=1e-6)


def _ece_loop(probs, y, n_bins):
    conf, pred = probs.max(1)
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        inside = [(c, p == t) for c, p, t in zip(conf.tolist(), pred.tolist(), y.tolist())
                  if (lo < c <= hi) or (b == 0 and c == 0)]
        if inside:
            acc = sum(ok for _, ok in inside) / len(inside)
            mean_conf = sum(c for c, _ in inside) / len(inside)
            total += len(inside) / len(y) * abs(acc - mean_conf)
    return total


def test_ece_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(300, 4, generator=g, dtype=torch.float64) * 2, 1)
    y = torch.randint(0, 4, (300,), generator=g)
    for n_bins in [1, 5, 15]:
        res = expected_calibration_error(probs, y, n_bins=n_bins)
        assert abs(res.ece - _ece_loop(probs, y, n_bins)) < 1e-12
        assert int(res.count.sum()) == 300


def test_ece_of_a_calibrated_and_of_an_overconfident_forecaster():
    """Monte Carlo: labels drawn from the forecast give ECE ~ 0; claiming 0.95 while right 70% gives 0.25."""
    g = torch.Generator().manual_seed(1)
    n = 100_000
    p1 = torch.rand(n, generator=g, dtype=torch.float64)
    probs = torch.stack([1 - p1, p1], 1)
    y = (torch.rand(n, generator=g, dtype=torch.float64) < p1).long()
    assert expected_calibration_error(probs, y).ece < 0.01
    over = torch.tensor([[0.95, 0.05]], dtype=torch.float64).expand(n, 2)
    y2 = (torch.rand(n, generator=g) > 0.7).long()
    res = expected_calibration_error(over, y2)
    assert abs(res.ece - 0.25) < 0.01 and abs(res.max_error - 0.25) < 0.01


def test_ece_refuses_unnormalised_rows():
    with pytest.raises(ValueError, match="rows must sum to 1"):
        expected_calibration_error(torch.tensor([[0.5, 0.6]]), torch.tensor([0]))


def test_temperature_matches_scipy_and_recovers_a_planted_temperature():
    g = torch.Generator().manual_seed(2)
    z0 = torch.randn(20_000, 5, generator=g, dtype=torch.float64) * 2
    t_true = 2.5
    y = torch.multinomial(torch.softmax(z0 / t_true, 1), 1, generator=g)[:, 0]
    res = fit_temperature(z0, y)
    ref = minimize_scalar(lambda lt: float(F.cross_entropy(z0 / np.exp(lt), y)), bounds=(np.log(0.05), np.log(20)),
                          method="bounded", options=dict(xatol=1e-10))
    assert abs(res.temperature - np.exp(ref.x)) < 1e-6
    assert abs(res.temperature - t_true) < 0.1
    assert res.nll_after < res.nll_before
    with pytest.raises(ValueError, match="bounds must be increasing"):
        fit_temperature(z0, y, bounds=(2.0, 1.0))


def test_distillation_loss_matches_kl_div(dtype, tol):
    g = torch.Generator().manual_seed(3)
    s, t = torch.randn(8, 4, generator=g, dtype=dtype), torch.randn(8, 4, generator=g, dtype=dtype)
    for temp in [1.0, 4.0]:
        want = temp**2 * F.kl_div(F.log_softmax(s / temp, 1), F.log_softmax(t / temp, 1), log_target=True,
                                  reduction="batchmean")
        torch.testing.assert_close(distillation_loss(s, t, temperature=temp), want, **tol)


def test_penultimate_projection_geometry():
    g = torch.Generator().manual_seed(4)
    w = torch.randn(5, 7, generator=g, dtype=torch.float64)
    h = torch.randn(30, 7, generator=g, dtype=torch.float64)
    res = penultimate_projection(h, w, [0, 2, 4])
    torch.testing.assert_close(res.basis @ res.basis.T, torch.eye(2, dtype=torch.float64))
    # pairwise template distances are kept by the projection (they lie in the plane)
    torch.testing.assert_close(torch.cdist(res.templates, res.templates), torch.cdist(w[[0, 2, 4]], w[[0, 2, 4]]))
    # a point in the plane maps to its own coordinates
    inside = res.origin + 0.3 * res.basis[0] - 1.2 * res.basis[1]
    out = penultimate_projection(inside[None], w, [0, 2, 4]).coords[0]
    torch.testing.assert_close(out, torch.tensor([0.3, -1.2], dtype=torch.float64))
    with pytest.raises(ValueError, match="3 distinct indices"):
        penultimate_projection(h, w, [0, 0, 1])
    with pytest.raises(ValueError, match="collinear"):
        penultimate_projection(h, torch.stack([w[0], 2 * w[0], 3 * w[0]]), [0, 1, 2])


@pytest.mark.gpu
def test_calibration_on_cuda():
    z = torch.randn(100, 3, device="cuda")
    y = torch.randint(0, 3, (100,), device="cuda")
    assert label_smoothing_cross_entropy(z, y, alpha=0.1).device.type == "cuda"
    assert expected_calibration_error(torch.softmax(z, 1), y).count.device.type == "cuda"
    assert fit_temperature(z, y).temperature > 0
    assert penultimate_projection(z, torch.randn(4, 3, device="cuda"), [0, 1, 2]).coords.device.type == "cuda"
