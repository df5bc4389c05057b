"""The linear-Gaussian path against independent references: scipy, a quadrature grid, torch KLs, Monte Carlo."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from nips2019.tvo import (linear_gaussian_importance, linear_gaussian_log_evidence, linear_gaussian_path,
                          partition_schedule, tvo_bound, tvo_integrand, tvo_surrogate)

F64 = torch.float64


def _model(D=5, d=2, n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(D, d, generator=g, dtype=F64)
    b = torch.randn(D, generator=g, dtype=F64)
    z = torch.randn(n, d, generator=g, dtype=F64)
    x = z @ w.T + b + 0.7 * torch.randn(n, D, generator=g, dtype=F64)
    q_mean = 0.3 * torch.randn(n, d, generator=g, dtype=F64)
    q_std = torch.full((n, d), 0.8, dtype=F64)
    return x, w, b, 0.7, q_mean, q_std


def test_log_evidence_matches_scipy():
    x, w, b, s, *_ = _model()
    ref = multivariate_normal(b.numpy(), (w @ w.T).numpy() + s ** 2 * np.eye(5)).logpdf(x.numpy())
    torch.testing.assert_close(linear_gaussian_log_evidence(x, w, b, s), torch.tensor(ref, dtype=F64))


def test_path_endpoints():
    x, w, b, s, qm, qs = _model()
    path = linear_gaussian_path(x, w, b, s, qm, qs, torch.tensor([0.0, 1.0], dtype=F64))
    torch.testing.assert_close(path.log_normalizer[:, 0], torch.zeros(3, dtype=F64), atol=1e-12, rtol=0)
    torch.testing.assert_close(path.log_normalizer[:, 1], linear_gaussian_log_evidence(x, w, b, s))
    # beta = 0 is q itself; beta = 1 is the exact posterior of probabilistic PCA
    torch.testing.assert_close(path.mean[:, 0], qm)
    torch.testing.assert_close(torch.diagonal(path.cov[:, 0], dim1=-2, dim2=-1), qs ** 2)
    m_inv = torch.linalg.inv(torch.eye(2, dtype=F64) + w.T @ w / s ** 2)
    torch.testing.assert_close(path.cov[0, 1], m_inv)
    torch.testing.assert_close(path.mean[:, 1], (x - b) @ w @ m_inv / s ** 2)


def test_path_against_quadrature_grid():
    """d = 1: integrate q^(1-beta) p(x, z)^beta on a grid, independently of completing the square."""
    x, w, b, s, qm, qs = _model(D=3, d=1, n=2, seed=1)
    betas = torch.tensor([0.0, 0.2, 0.6, 1.0], dtype=F64)
    path = linear_gaussian_path(x, w, b, s, qm, qs, betas)
    z = torch.linspace(-12, 12, 40001, dtype=F64)
    dz = z[1] - z[0]
    for i in range(2):
        log_q = -0.5 * ((z - qm[i, 0]) / qs[i, 0]) ** 2 - torch.log(qs[i, 0]) - 0.5 * math.log(2 * math.pi)
        mean_x = z[:, None] * w[:, 0] + b
        log_joint = (-0.5 * ((x[i] - mean_x) ** 2).sum(-1) / s ** 2 - 1.5 * math.log(2 * math.pi * s ** 2)
                     - 0.5 * z ** 2 - 0.5 * math.log(2 * math.pi))
        f = log_joint - log_q
        for k, beta in enumerate(betas.tolist()):
            logu = log_q + beta * f
            psi = torch.logsumexp(logu, 0) + torch.log(dz)
            p = torch.exp(logu - psi) * dz
            mean = (p * z).sum()
            torch.testing.assert_close(path.log_normalizer[i, k], psi, atol=1e-8, rtol=0)
            torch.testing.assert_close(path.integrand[i, k], (p * f).sum(), atol=1e-7, rtol=0)
            torch.testing.assert_close(path.variance[i, k], (p * (f - (p * f).sum()) ** 2).sum(), atol=1e-6,
                                       rtol=1e-8)
            torch.testing.assert_close(path.mean[i, k, 0], mean, atol=1e-8, rtol=0)
            torch.testing.assert_close(path.cov[i, k, 0, 0], (p * (z - mean) ** 2).sum(), atol=1e-8, rtol=0)


def test_derivatives_of_log_normalizer():
    x, w, b, s, qm, qs = _model()
    beta = torch.tensor([0.05, 0.4, 0.9], dtype=F64, requires_grad=True)
    path = linear_gaussian_path(x, w, b, s, qm, qs, beta)
    (g1,) = torch.autograd.grad(path.log_normalizer[1].sum(), beta, retain_graph=True)
    torch.testing.assert_close(g1, path.integrand[1].detach())
    (g2,) = torch.autograd.grad(path.integrand[1].sum(), beta)
    torch.testing.assert_close(g2, path.variance[1].detach())


def test_thermodynamic_identity_and_bounds():
    x, w, b, s, qm, qs = _model()
    nodes, weights = np.polynomial.legendre.leggauss(48)
    path = linear_gaussian_path(x, w, b, s, qm, qs, torch.tensor((nodes + 1) / 2, dtype=F64))
    integral = path.integrand @ torch.tensor(weights / 2, dtype=F64)
    log_px = linear_gaussian_log_evidence(x, w, b, s)
    torch.testing.assert_close(integral, log_px, atol=1e-8, rtol=0)
    prev_gap = None
    for k in [1, 2, 4, 8, 16]:
        betas = partition_schedule(k, kind="linear", dtype=F64)
        eta = linear_gaussian_path(x, w, b, s, qm, qs, betas).integrand
        delta = betas[1:] - betas[:-1]
        lower, upper = eta[:, :-1] @ delta, eta[:, 1:] @ delta
        assert (lower < log_px).all() and (log_px < upper).all()
        gap = log_px - lower
        if prev_gap is not None:  # nested refinements of an increasing integrand
            assert (gap < prev_gap).all()
        prev_gap = gap


def test_gaps_are_sums_of_kl():
    """Brekelmans et al.: left gap = sum KL(pi_k || pi_k+1), right gap = sum KL(pi_k+1 || pi_k)."""
    x, w, b, s, qm, qs = _model()
    betas = partition_schedule(4, kind="log", beta_min=0.05, dtype=F64)
    path = linear_gaussian_path(x, w, b, s, qm, qs, betas)
    mvn = torch.distributions.MultivariateNormal(path.mean, path.cov)
    parts = [torch.distributions.MultivariateNormal(path.mean[:, k], path.cov[:, k]) for k in range(5)]
    kl_fwd = sum(torch.distributions.kl_divergence(parts[k], parts[k + 1]) for k in range(4))
    kl_bwd = sum(torch.distributions.kl_divergence(parts[k + 1], parts[k]) for k in range(4))
    assert mvn.batch_shape == (3, 5)
    delta = betas[1:] - betas[:-1]
    log_px = path.log_normalizer[:, -1]
    torch.testing.assert_close(log_px - path.integrand[:, :-1] @ delta, kl_fwd)
    torch.testing.assert_close(path.integrand[:, 1:] @ delta - log_px, kl_bwd)


def test_monte_carlo_bounds_converge_to_analytic():
    x, w, b, s, qm, qs = _model()
    betas = partition_schedule(5, kind="log", beta_min=0.05, dtype=F64)
    path = linear_gaussian_path(x, w, b, s, qm, qs, betas)
    smp = linear_gaussian_importance(x, w, b, s, qm, qs, 100_000, generator=0)
    # beta = 0: a plain mean, within 4 standard errors
    se = smp.log_weight.std(-1) / math.sqrt(100_000)
    assert ((smp.log_weight.mean(-1) - path.integrand[:, 0]).abs() < 4 * se).all()
    torch.testing.assert_close(tvo_integrand(smp.log_weight, betas), path.integrand, atol=0.1, rtol=0)
    delta = betas[1:] - betas[:-1]
    torch.testing.assert_close(tvo_bound(smp.log_weight, betas), path.integrand[:, :-1] @ delta, atol=0.05, rtol=0)
    torch.testing.assert_close(tvo_bound(smp.log_weight, betas, side="upper"), path.integrand[:, 1:] @ delta,
                               atol=0.05, rtol=0)


def _leaves():
    x, w, b, s, qm, qs = _model(n=2)
    return x, w.clone().requires_grad_(), b, s, qm.clone().requires_grad_(), qs.clone().requires_grad_()


@pytest.mark.parametrize("estimator", ["covariance", "reparam"])
def test_gradients_match_autograd_of_closed_form(estimator):
    betas = partition_schedule(3, kind="log", beta_min=0.1, dtype=F64)
    delta = betas[1:] - betas[:-1]
    x, w, b, s, qm, qs = _leaves()
    exact = linear_gaussian_path(x, w, b, s, qm, qs, betas).integrand[:, :-1] @ delta
    g_exact = torch.autograd.grad(exact.sum(), (w, qm, qs))
    x, w, b, s, qm, qs = _leaves()
    smp = linear_gaussian_importance(x, w, b, s, qm, qs, 60_000, reparameterize=estimator == "reparam",
                                     generator=1)
    if estimator == "covariance":
        obj = tvo_surrogate(smp.log_weight, smp.log_q, betas)
    else:
        obj = tvo_bound(smp.log_weight, betas)
    g_mc = torch.autograd.grad(obj.sum(), (w, qm, qs))
    for ge, gm in zip(g_exact, g_mc):
        scale = ge.abs().max()
        assert (ge - gm).abs().max() < 0.05 * scale + 0.05, (ge, gm)


def test_float32_and_shapes():
    x, w, b, s, qm, qs = (t.float() if torch.is_tensor(t) else t for t in _model())
    path = linear_gaussian_path(x, w, b, s, qm, qs, torch.tensor([0.0, 0.5, 1.0]))
    assert path.integrand.dtype == torch.float32 and path.cov.shape == (3, 3, 2, 2)
    smp = linear_gaussian_importance(x, w, b, s, qm, qs, 7, generator=0)
    assert smp.z.shape == (3, 7, 2) and smp.log_q.shape == (3, 7)


def test_same_seed_same_samples():
    args = _model()
    a = linear_gaussian_importance(*args, 5, generator=3).log_weight
    b = linear_gaussian_importance(*args, 5, generator=3).log_weight
    torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.gpu
def test_gpu_core_path():
    x, w, b, s, qm, qs = (t.cuda() if torch.is_tensor(t) else t for t in _model())
    betas = partition_schedule(4, dtype=F64, device="cuda")
    path = linear_gaussian_path(x, w, b, s, qm, qs, betas)
    smp = linear_gaussian_importance(x, w, b, s, qm, qs, 1000, generator=0)
    assert tvo_bound(smp.log_weight, betas).device.type == "cuda"
    cpu = linear_gaussian_path(*(t.cpu() if torch.is_tensor(t) else t for t in (x, w, b, s, qm, qs, betas)))
    torch.testing.assert_close(path.integrand.cpu(), cpu.integrand)
    cpu_smp = linear_gaussian_importance(*(t.cpu() if torch.is_tensor(t) else t for t in (x, w, b, s, qm, qs)),
                                         1000, generator=0)
    torch.testing.assert_close(smp.log_weight.cpu(), cpu_smp.log_weight)
