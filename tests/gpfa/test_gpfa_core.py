"""GPFA: exact inference against dense Gaussian conditioning and scipy, EM, FA against scikit-learn."""

import math

import numpy as np
import pytest
import scipy.stats
import torch
from sklearn.decomposition import FactorAnalysis

from nips2019.gpfa import (
    GPFAFit,
    factor_analysis,
    fit_gpfa,
    gp_covariance,
    gpfa_posterior,
    leave_neuron_out,
    make_gpfa_data,
    orthonormalize,
)

F64 = torch.float64


def _model(q=2, t=6, p=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    loading = torch.randn(p, q, generator=g, dtype=F64)
    offset = torch.randn(p, generator=g, dtype=F64)
    noise = 0.3 + torch.rand(p, generator=g, dtype=F64)
    tau = torch.tensor([1.5, 4.0], dtype=F64)[:q]
    times = torch.arange(t, dtype=F64)
    fit = GPFAFit(loading, offset, noise, tau, times, 1e-3, torch.zeros(0, dtype=F64), 0)
    return fit


def _joint(fit):
    """Dense joint covariance of (stacked latents latent-major, observations time-major)."""
    q, t, p = fit.n_latents, fit.times.numel(), fit.loading.shape[0]
    kbar = torch.block_diag(*gp_covariance(fit.times, fit.timescales, gp_noise=fit.gp_noise))
    cbar = torch.zeros(t * p, q * t, dtype=F64)
    for s in range(t):
        for i in range(q):
            cbar[s * p:(s + 1) * p, i * t + s] = fit.loading[:, i]
    cov_y = cbar @ kbar @ cbar.T + torch.diag(fit.noise.repeat(t))
    return kbar, cbar, cov_y


def test_gp_covariance_naive():
    times, tau = torch.tensor([0.0, 0.5, 2.0], dtype=F64), torch.tensor([1.0, 3.0], dtype=F64)
    k = gp_covariance(times, tau, gp_noise=0.1)
    for i in range(2):
        for a in range(3):
            for b in range(3):
                ref = 0.9 * math.exp(-((times[a] - times[b]) ** 2) / (2 * tau[i] ** 2)) + 0.1 * (a == b)
                assert k[i, a, b].item() == pytest.approx(ref, abs=1e-14)


def test_posterior_and_likelihood_against_dense_gaussian():
    fit = _model()
    y = make_gpfa_data(3, 6, 5, fit.timescales, generator=1).y
    kbar, cbar, cov_y = _joint(fit)
    post = gpfa_posterior(fit, y)
    flat = y.reshape(3, -1)  # time-major
    mu_y = fit.offset.repeat(6)
    gain = kbar @ cbar.T @ torch.linalg.inv(cov_y)
    mean = (flat - mu_y) @ gain.T  # (3, qT)
    torch.testing.assert_close(post.mean.transpose(1, 2).reshape(3, -1), mean)
    torch.testing.assert_close(post.cov, kbar - gain @ cbar @ kbar)
    ref = scipy.stats.multivariate_normal(mu_y.numpy(), cov_y.numpy()).logpdf(flat.numpy()).sum()
    assert post.log_likelihood.item() == pytest.approx(ref, rel=1e-12)


def test_leave_neuron_out_is_the_conditional_mean():
    fit = _model()
    y = make_gpfa_data(2, 6, 5, fit.timescales, generator=2).y
    _, _, cov_y = _joint(fit)
    pred = leave_neuron_out(fit, y)
    flat, mu = y.reshape(2, -1), fit.offset.repeat(6)
    k = 3  # signal 3 at every time bin from the other signals at every bin
    obs = torch.tensor([s * 5 + j for s in range(6) for j in range(5) if j != k])
    tgt = torch.tensor([s * 5 + k for s in range(6)])
    cond = cov_y[tgt][:, obs] @ torch.linalg.solve(cov_y[obs][:, obs], (flat[:, obs] - mu[obs]).T)
    torch.testing.assert_close(pred[..., k], (cond.T + mu[tgt]))


def test_em_increases_likelihood_and_recovers_timescales():
    d = make_gpfa_data(30, 40, 20, torch.tensor([3.0]), noise_std=1.0, generator=3)
    fit = fit_gpfa(d.y, 1, generator=0, max_iter=150)
    ll = fit.log_likelihood
    assert (ll.diff() > -1e-8 * ll[1:].abs()).all()
    assert abs(fit.timescales.item() / 3.0 - 1) < 0.15
    truth = GPFAFit(d.loading, d.offset, d.noise, d.timescales, d.times, 1e-3, ll, 0)
    # the fit is at least as likely as the truth on its own training data
    assert gpfa_posterior(fit, d.y).log_likelihood >= gpfa_posterior(truth, d.y).log_likelihood - 1.0


def test_factor_analysis_matches_sklearn():
    d = make_gpfa_data(20, 30, 8, torch.tensor([2.0, 6.0]), noise_std=0.7, generator=4)
    ours = factor_analysis(d.y, 2, max_iter=2000, tol=1e-12, generator=0)
    flat = d.y.reshape(-1, 8).numpy()
    sk = FactorAnalysis(2, tol=1e-10, max_iter=5000, svd_method="lapack").fit(flat)
    ours_ll = gpfa_posterior(ours, d.y).log_likelihood.item() / flat.shape[0]
    assert ours_ll == pytest.approx(sk.score(flat), abs=1e-4)
    np.testing.assert_allclose(np.sort(ours.noise.numpy()), np.sort(sk.noise_variance_), rtol=2e-2)


def test_orthonormalize_keeps_the_signal():
    fit = _model()
    x = torch.randn(2, 6, 2, dtype=F64)
    z = orthonormalize(fit, x)
    u, _, _ = torch.linalg.svd(fit.loading, full_matrices=False)
    torch.testing.assert_close(z @ u.T, x @ fit.loading.T)
    assert z[..., 0].var() >= 0  # ordered by singular value: shape checks only beyond this


def test_errors():
    fit = _model()
    with pytest.raises(ValueError, match="neurons"):
        gpfa_posterior(fit, torch.zeros(2, 6, 4, dtype=F64))
    with pytest.raises(ValueError, match="share dtype"):
        gpfa_posterior(fit, torch.zeros(2, 6, 5, dtype=torch.float32))
    with pytest.raises(ValueError, match="kernel_width"):
        leave_neuron_out(fit, torch.zeros(2, 6, 5, dtype=F64), kernel_width=2.0)
    with pytest.raises(ValueError, match="positive"):
        gp_covariance(torch.arange(3.0), torch.tensor([0.0]))


@pytest.mark.gpu
def test_gpu_core_path():
    d = make_gpfa_data(5, 20, 6, torch.tensor([3.0]), generator=0, device="cuda")
    fit = fit_gpfa(d.y, 1, max_iter=10, generator=0)
    assert fit.loading.device.type == "cuda"
    cpu = fit_gpfa(d.y.cpu(), 1, max_iter=10, generator=0)
    torch.testing.assert_close(fit.log_likelihood.cpu(), cpu.log_likelihood, rtol=1e-8, atol=1e-6)
    assert leave_neuron_out(fit, d.y).device.type == "cuda"
