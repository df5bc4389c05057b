"""Randomised smoothing: closed forms for linear classifiers, scipy's exact binomial bounds, attacks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from nips2019.robust import (
    certified_accuracy,
    certify,
    clopper_pearson,
    make_mlp,
    pgd_attack,
    smoothed_predict,
    train_classifier,
)
from nips2019.robust._smoothing import _binom_test_half


def linear_binary(w: torch.Tensor, b: float) -> torch.nn.Linear:
    """Two logits whose difference is w.x + b: class 0 iff w.x + b > 0."""
    lin = torch.nn.Linear(w.numel(), 2, dtype=w.dtype)
    with torch.no_grad():
        lin.weight.copy_(torch.stack([w, -w]) / 2)
        lin.bias.copy_(torch.tensor([b, -b], dtype=w.dtype) / 2)
    return lin


def _points(d=5, n=12, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, generator=g, dtype=dtype)
    b = 0.3
    x = torch.randn(n, d, generator=g, dtype=dtype)
    return w, b, x


def test_linear_classifier_p_a_matches_gaussian_cdf():
    """p_A = Phi(|w.x + b| / (sigma ||w||)) for a linear classifier, checked by the certification counts."""
    w, b, x = _points()
    sigma, n = 0.7, 40_000
    res = certify(linear_binary(w, b), x, sigma=sigma, n_select=200, n_samples=n, generator=0)
    margin = (x @ w + b).abs() / w.norm()
    p_a = torch.tensor(stats.norm.cdf((margin / sigma).numpy()), dtype=torch.float64)
    top = res.counts.max(1).values.double() / n
    se = (p_a * (1 - p_a) / n).sqrt()
    assert ((top - p_a).abs() <= 5 * se + 1e-12).all(), (top - p_a) / se


def test_linear_classifier_radius_is_distance_to_hyperplane():
    """sigma Phi^-1(p_A) is the distance |w.x + b| / ||w||; the certified radius approaches it from below."""
    w, b, x = _points(n=8, seed=1)
    sigma, n = 0.5, 100_000
    model = linear_binary(w, b)
    res = certify(model, x, sigma=sigma, n_samples=n, alpha=0.001, generator=1)
    dist = (x @ w + b).abs() / w.norm()
    predicted = torch.where(x @ w + b > 0, 0, 1)
    far = dist < 1.1 * sigma  # beyond ~2.4 sigma, 1e5 samples cap the radius
    assert (res.prediction[far] == predicted[far]).all()
    assert (res.radius[far] <= dist[far] + 1e-12).all()
    torch.testing.assert_close(res.radius[far], dist[far], atol=0.03 * sigma, rtol=0)
    # the analytic identity itself
    exact = sigma * torch.special.ndtri(torch.special.ndtr(dist / sigma))
    torch.testing.assert_close(exact, dist, rtol=1e-9, atol=1e-9)


def test_radius_cap_with_every_draw_in_the_top_class():
    model = linear_binary(torch.tensor([1.0, 0.0], dtype=torch.float64), 0.0)
    res = certify(model, torch.tensor([[50.0, 0.0]], dtype=torch.float64), sigma=1.0, n_samples=1000,
                  alpha=0.001, generator=0)
    cap = stats.norm.ppf(0.001 ** (1 / 1000))
    assert abs(float(res.radius) - cap) < 1e-9, (float(res.radius), cap)


@pytest.mark.parametrize("side", ["lower", "upper", "two-sided"])
def test_clopper_pearson_matches_scipy_beta_quantiles(side):
    n = 200
    k = torch.tensor([0, 1, 7, 100, 199, 200])
    alpha = 0.01
    got = clopper_pearson(k, n, alpha=alpha, side=side).numpy()
    a = alpha / 2 if side == "two-sided" else alpha
    kk = k.numpy().astype(float)
    low = np.where(kk > 0, stats.beta.ppf(a, np.maximum(kk, 1), n - kk + 1), 0.0)
    high = np.where(kk < n, stats.beta.ppf(1 - a, kk + 1, np.maximum(n - kk, 1)), 1.0)
    want = {"lower": low, "upper": high, "two-sided": np.stack([low, high], -1)}[side]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_clopper_pearson_matches_binomtest_and_its_defining_tail():
    for k, n in [(3, 10), (57, 100), (990, 1000)]:
        lo, hi = clopper_pearson(torch.tensor(k), n, alpha=0.05).tolist()
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        assert abs(lo - ci.low) < 1e-10 and abs(hi - ci.high) < 1e-10
        # P(Bin(n, lo) >= k) = alpha / 2 and P(Bin(n, hi) <= k) = alpha / 2
        assert abs(stats.binom.sf(k - 1, n, lo) - 0.025) < 1e-8
        assert abs(stats.binom.cdf(k, n, hi) - 0.025) < 1e-8


def test_clopper_pearson_keeps_device_and_floating_dtype():
    out = clopper_pearson(torch.tensor([3.0, 4.0], dtype=torch.float32), torch.tensor([10.0, 10.0]), alpha=0.1,
                          side="lower")
    assert out.dtype == torch.float32 and out.shape == (2,)
    with pytest.raises(ValueError, match="successes must be <= n_trials"):
        clopper_pearson(torch.tensor([11]), 10)


def test_binomial_test_p_value_matches_scipy():
    for k, m in [(5, 10), (8, 10), (60, 100), (70, 100), (1000, 1000), (1, 1)]:
        want = stats.binomtest(k, m, 0.5).pvalue
        got = float(_binom_test_half(np.array(float(k)), np.array(float(m))))
        assert abs(got - want) < 1e-12, (k, m, got, want)


def test_predict_abstains_on_the_boundary_and_answers_far_from_it():
    model = linear_binary(torch.tensor([1.0, 0.0], dtype=torch.float64), 0.0)
    on = torch.zeros(200, 2, dtype=torch.float64)
    pred = smoothed_predict(model, on, sigma=1.0, n_samples=100, alpha=0.01, generator=0)
    assert (pred == -1).float().mean() > 0.95, pred
    assert ((pred != -1) & (pred != 0) & (pred != 1)).sum() == 0
    far = torch.tensor([[3.0, 0.0], [-3.0, 1.0]], dtype=torch.float64)
    assert smoothed_predict(model, far, sigma=1.0, n_samples=100, generator=0).tolist() == [0, 1]


def test_certify_is_reproducible_and_follows_dtype():
    w, b, x = _points(n=4)
    model = linear_binary(w, b)
    a = certify(model, x, sigma=0.5, n_samples=500, generator=3)
    c = certify(model, x, sigma=0.5, n_samples=500, generator=3, batch_size=7)  # small forward passes
    assert a.radius.dtype == torch.float64
    torch.testing.assert_close(a.radius, certify(model, x, sigma=0.5, n_samples=500, generator=3).radius)
    assert c.radius.shape == a.radius.shape
    assert model.training  # mode restored


def test_certified_accuracy_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    pred = torch.randint(-1, 3, (50,), generator=g)
    y = torch.randint(0, 3, (50,), generator=g)
    radius = torch.where(pred >= 0, torch.rand(50, generator=g), torch.zeros(50))
    radii = torch.linspace(0, 1, 11)
    got = certified_accuracy(pred, radius, y, radii)
    want = [sum(int(p == t and r >= q) for p, t, r in zip(pred, y, radius)) / 50 for q in radii]
    torch.testing.assert_close(got, torch.tensor(want))


def test_pgd_on_a_linear_classifier_flips_exactly_beyond_the_distance():
    w, b, x = _points(n=20, seed=4)
    model = linear_binary(w, b)
    y = model(x).argmax(1)
    dist = (x @ w + b).abs() / w.norm()
    inside = pgd_attack(model, x, y, eps=0.95 * dist, n_steps=30)
    outside = pgd_attack(model, x, y, eps=1.05 * dist, n_steps=30)
    assert ((inside - x).norm(dim=1) <= 0.95 * dist + 1e-9).all()
    assert (model(inside).argmax(1) == y).all()
    assert (model(outside).argmax(1) != y).all()


def test_pgd_against_the_smoothed_classifier_lowers_its_top_probability():
    w, b, x = _points(n=10, seed=5)
    model = linear_binary(w, b)
    y = model(x).argmax(1)
    xa = pgd_attack(model, x, y, eps=0.5, n_steps=10, sigma=0.5, n_noise=64, generator=0)
    assert ((xa - x).norm(dim=1) <= 0.5 + 1e-9).all()
    # for a linear classifier the best attack moves along -w: p_A falls by the closed form
    margin = (x @ w + b).abs() / w.norm()
    after = ((xa @ w + b) * torch.where(y == 0, 1.0, -1.0).double()) / w.norm()
    assert (after < margin - 0.45).all(), (margin - after)
    with pytest.raises(ValueError, match="one label per row"):
        pgd_attack(model, x, y[:3], eps=0.1)


def test_noise_training_and_smoothadv_train():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 2, generator=g)
    y = (x[:, 0] + 0.3 * x[:, 1] > 0).long()
    for kw in [dict(noise_sd=0.3), dict(noise_sd=0.3, adv_eps=0.3, adv_steps=2, n_noise=2)]:
        net = make_mlp([2, 16, 2], generator=0)
        res = train_classifier(net, x, y, n_epochs=15, lr=0.02, generator=0, **kw)
        assert res.loss[-1] < res.loss[0]
        assert (net(x).argmax(1) == y).float().mean() > 0.9
    with pytest.raises(ValueError, match="needs noise_sd > 0"):
        train_classifier(make_mlp([2, 4, 2]), x, y, adv_eps=0.1)


def test_train_classifier_is_reproducible():
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(1))
    y = (x[:, 0] > 0).long()
    a, b = make_mlp([3, 8, 2], generator=2), make_mlp([3, 8, 2], generator=2)
    train_classifier(a, x, y, n_epochs=3, noise_sd=0.2, generator=5)
    train_classifier(b, x, y, n_epochs=3, noise_sd=0.2, generator=5)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)


def test_bad_inputs():
    model = torch.nn.Linear(2, 2)
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="sigma"):
        certify(model, x, sigma=0.0)
    with pytest.raises(TypeError, match="x has dtype torch.float64 but model has torch.float32"):
        certify(model, x.double(), sigma=0.5)
    with pytest.raises(ValueError, match="alpha"):
        smoothed_predict(model, x, sigma=0.5, alpha=1.0)


@pytest.mark.gpu
def test_certify_on_cuda_matches_cpu():
    w, b, x = _points(n=6)
    model = linear_binary(w, b)
    cpu = certify(model, x, sigma=0.5, n_samples=2000, generator=0)
    gpu = certify(model.cuda(), x.cuda(), sigma=0.5, n_samples=2000, generator=0)
    assert gpu.radius.device.type == "cuda"
    assert torch.equal(cpu.counts, gpu.counts.cpu())
    xa = pgd_attack(model, x.cuda(), gpu.prediction.clamp(min=0), eps=0.2, sigma=0.5, n_noise=8, generator=0)
    assert xa.device.type == "cuda"
    net = make_mlp([5, 8, 2], generator=0, dtype=torch.float64).cuda()
    train_classifier(net, x.cuda(), torch.tensor([0, 1, 0, 1, 0, 1], device="cuda"), n_epochs=2, noise_sd=0.3,
                     adv_eps=0.2, generator=0)
    assert math.isfinite(float(next(net.parameters()).sum()))
