"""Reference tests for nips2019.bayesopt: scikit-learn's GP, Monte Carlo EI, Branin's known minima."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nips2019.bayesopt import (BRANIN_MINIMUM, GaussianProcess, bayes_opt, embedded_branin, expected_improvement,
                               fit_gp, gp_log_marginal_likelihood)

F64 = dict(dtype=torch.float64)


def _data(n=15, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = 2 * torch.rand(n, d, generator=g, **F64) - 1
    y = torch.sin(3 * x[:, 0]) + x[:, 1] ** 2
    return x, y


def test_log_marginal_likelihood_matches_sklearn():
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    x, y = _data()
    ell = torch.tensor([0.7, 1.3, 2.0], **F64)
    ours = gp_log_marginal_likelihood(x, y, ell, outputscale=1.7, noise=0.05)
    kernel = ConstantKernel(1.7) * RBF(ell.numpy()) + WhiteKernel(0.05)
    gpr = GaussianProcessRegressor(kernel, optimizer=None, alpha=1e-12).fit(x.numpy(), y.numpy())
    assert abs(float(ours) - gpr.log_marginal_likelihood_value_) < 1e-6


def test_posterior_matches_sklearn_at_fitted_hyperparameters():
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel

    x, y = _data()
    gp = fit_gp(x, y, n_steps=60)
    ell = (1 / torch.diagonal(gp.projection)).numpy()
    kernel = ConstantKernel(gp.outputscale) * RBF(ell)
    gpr = GaussianProcessRegressor(kernel, optimizer=None, alpha=gp.noise, normalize_y=False)
    gpr.fit(x.numpy(), ((y - gp.y_mean) / gp.y_std).numpy())
    xt, _ = _data(7, seed=5)
    m_ref, s_ref = gpr.predict(xt.numpy(), return_std=True)
    mean, std = gp.predict(xt)
    np.testing.assert_allclose(mean.numpy(), gp.y_mean + gp.y_std * m_ref, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(std.numpy(), gp.y_std * np.sqrt(s_ref**2 - 0 * gp.noise), rtol=1e-5, atol=1e-7)
    assert abs(gp.log_marginal_likelihood - gpr.log_marginal_likelihood_value_) < 1e-6


def test_fit_increases_marginal_likelihood_and_warm_start():
    x, y = _data(20)
    few = fit_gp(x, y, n_steps=1)
    many = fit_gp(x, y, n_steps=100)
    assert many.log_marginal_likelihood > few.log_marginal_likelihood + 1
    warm = fit_gp(x, y, n_steps=1, init=many)
    assert warm.log_marginal_likelihood > many.log_marginal_likelihood - 0.5


def test_projection_gp_learns_the_active_direction():
    g = torch.Generator().manual_seed(0)
    x = 2 * torch.rand(40, 6, generator=g, **F64) - 1
    y = torch.sin(2 * x[:, 2])
    gp = fit_gp(x, y, projection_dim=1, n_steps=200, generator=0)
    direction = gp.projection[0] / gp.projection[0].norm()
    assert abs(float(direction[2])) > 0.95


def test_expected_improvement_matches_monte_carlo():
    mean = torch.tensor([0.0, 1.0, -0.5], **F64)
    std = torch.tensor([1.0, 0.3, 2.0], **F64)
    ei = expected_improvement(mean, std, 0.2)
    draws = mean + std * torch.randn(400_000, 3, generator=torch.Generator().manual_seed(0), **F64)
    mc = (0.2 - draws).clamp_min(0).mean(0)
    torch.testing.assert_close(ei, mc, rtol=0, atol=4e-3)
    zero = expected_improvement(torch.tensor([0.0, 1.0]), torch.zeros(2), 0.5)
    torch.testing.assert_close(zero, torch.tensor([0.5, 0.0]))


def test_branin_minima():
    for u, v in [(-math.pi, 12.275), (math.pi, 2.275), (9.42478, 2.475)]:
        x = torch.zeros(1, 4, **F64)
        x[0, 0], x[0, 3] = (u - 2.5) / 7.5, (v - 7.5) / 7.5
        assert abs(float(embedded_branin(x, torch.tensor([0, 3]))) - 0.397887) < 1e-5
    grid = torch.linspace(-1, 1, 201, **F64)
    xs = torch.cartesian_prod(grid, grid)
    assert float(embedded_branin(xs, torch.tensor([0, 1])).min()) >= BRANIN_MINIMUM - 1e-9


@pytest.mark.parametrize("method", ["full", "rembo", "learned", "random"])
def test_bayes_opt_runs_and_is_reproducible(method):
    f = lambda x: embedded_branin(x, torch.tensor([1, 4]))
    kw = dict(method=method, n_init=5, n_iter=4, n_candidates=50, n_steps=10, generator=3)
    a, b = bayes_opt(f, 6, **kw), bayes_opt(f, 6, **kw)
    torch.testing.assert_close(a.y, b.y)
    assert a.x.shape == (9, 6) and bool((a.x.abs() <= 1).all())
    assert bool((a.best[1:] <= a.best[:-1]).all())


def test_bayes_opt_beats_random_search_on_a_smooth_function():
    f = lambda x: ((x - 0.3) ** 2).sum(1)
    regret = {m: float(bayes_opt(f, 4, method=m, n_init=5, n_iter=15, n_candidates=200, n_steps=30,
                                 generator=0).best[-1]) for m in ["full", "random"]}
    assert regret["full"] < regret["random"] / 3, regret


def test_bad_inputs():
    with pytest.raises(ValueError, match="distinct"):
        embedded_branin(torch.zeros(2, 3), torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="objective must return"):
        bayes_opt(lambda x: x, 3, n_init=3, n_iter=0)
    with pytest.raises(ValueError, match="non-finite"):
        bayes_opt(lambda x: x.sum(1) / 0, 3, n_init=3, n_iter=0)
    with pytest.raises(ValueError, match="x must have shape"):
        fit_gp(*_data()).predict(torch.zeros(2, 5, **F64))
    with pytest.raises(ValueError, match="init has a projection"):
        fit_gp(*_data(), init=fit_gp(*_data(), projection_dim=1, n_steps=1, generator=0), n_steps=1)


@pytest.mark.gpu
def test_gpu_core_path():
    x, y = _data()
    cpu = fit_gp(x, y, n_steps=30)
    gpu = fit_gp(x.cuda(), y.cuda(), n_steps=30)
    assert gpu.chol.device.type == "cuda"
    torch.testing.assert_close(gpu.predict(x.cuda())[0].cpu(), cpu.predict(x)[0], rtol=1e-6, atol=1e-8)
