"""The Bayesian learning rule against the exact conjugate posterior, Newton and RMSprop's form."""

from __future__ import annotations

import pytest
import torch

from nips2019.bayes import GaussianPosterior, blr_step, logistic_predictive

D64 = torch.float64


def _regression(n=40, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=D64)
    y = x @ torch.randn(d, generator=g, dtype=D64) + 0.3 * torch.randn(n, generator=g, dtype=D64)
    return x, y


def _logistic(n=60, d=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=D64)
    w = torch.tensor([1.0, -2.0, 0.5], dtype=D64)
    y = (torch.rand(n, generator=g, dtype=D64) < torch.sigmoid(x @ w)).to(D64)
    return x, y


@pytest.mark.parametrize("method", ["mc", "delta"])
def test_one_step_with_lr_one_gives_the_exact_linear_regression_posterior(method):
    x, y = _regression()
    noise_var, delta = 0.3 ** 2, 2.0
    precision = x.T @ x / noise_var + delta * torch.eye(4, dtype=D64)
    mean = torch.linalg.solve(precision, x.T @ y / noise_var)
    g = torch.Generator().manual_seed(0)
    q0 = GaussianPosterior(torch.randn(4, generator=g, dtype=D64), 5 * torch.eye(4, dtype=D64))
    q = blr_step(lambda t: 0.5 * (y - x @ t) ** 2 / noise_var, q0, lr=1.0, prior_precision=delta,
                 method=method, n_samples=3, generator=1)
    torch.testing.assert_close(q.precision, precision, rtol=0, atol=1e-10)
    torch.testing.assert_close(q.mean, mean, rtol=0, atol=1e-10)


def test_delta_limit_with_lr_one_is_a_newton_step():
    x, y = _logistic()
    delta = 0.5

    def total(t):
        logits = x @ t
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="sum")
        return bce + 0.5 * delta * t @ t

    m = torch.tensor([0.3, -0.1, 0.2], dtype=D64)
    g = torch.func.grad(total)(m)
    h = torch.func.hessian(total)(m)
    newton = m - torch.linalg.solve(h, g)
    q0 = GaussianPosterior(m, torch.eye(3, dtype=D64))
    per_example = lambda t: torch.nn.functional.binary_cross_entropy_with_logits(  # noqa: E731
        x @ t, y, reduction="none")
    q = blr_step(per_example, q0, lr=1.0, prior_precision=delta, method="delta")
    assert torch.equal(q.precision, h) or torch.allclose(q.precision, h, rtol=0, atol=1e-13)
    torch.testing.assert_close(q.mean, newton, rtol=0, atol=1e-13)


def test_diagonal_delta_squared_gradients_is_rmsprop_without_the_root():
    x, y = _logistic()
    per_example = lambda t: torch.nn.functional.binary_cross_entropy_with_logits(  # noqa: E731
        x @ t, y, reduction="none")
    m, s = torch.tensor([0.3, -0.1, 0.2], dtype=D64), torch.tensor([2.0, 3.0, 1.5], dtype=D64)
    rho, delta = 0.1, 0.5
    jac = torch.func.jacrev(per_example)(m)  # (n, d)
    grad = jac.sum(0) + delta * m
    s_new = (1 - rho) * s + rho * ((jac ** 2).sum(0) + delta)
    m_new = m - rho * grad / s_new
    q = blr_step(per_example, GaussianPosterior(m, s), lr=rho, prior_precision=delta, method="delta",
                 hessian_approx="squared_gradients")
    torch.testing.assert_close(q.precision, s_new, rtol=0, atol=1e-13)
    torch.testing.assert_close(q.mean, m_new, rtol=0, atol=1e-13)


def test_vogn_iterations_approach_the_laplace_like_fixed_point():
    x, y = _logistic(n=200)
    per_example = lambda t: torch.nn.functional.binary_cross_entropy_with_logits(  # noqa: E731
        x @ t, y, reduction="none")
    q = GaussianPosterior(torch.zeros(3, dtype=D64), torch.ones(3, dtype=D64))
    for k in range(60):
        q = blr_step(per_example, q, lr=0.2, prior_precision=1.0, method="mc",
                     hessian_approx="squared_gradients", n_samples=2, generator=k)
    # the mean ends near the MAP estimate
    m = torch.zeros(3, dtype=D64, requires_grad=True)
    opt = torch.optim.LBFGS([m], max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = per_example(m).sum() + 0.5 * m @ m
        loss.backward()
        return loss

    opt.step(closure)
    assert (q.mean - m.detach()).abs().max() < 0.15
    assert q.diagonal and bool((q.precision > 1).all())


def test_full_mc_exact_hessian_converges_to_a_fixed_point():
    x, y = _logistic(n=100)
    per_example = lambda t: torch.nn.functional.binary_cross_entropy_with_logits(  # noqa: E731
        x @ t, y, reduction="none")
    q = GaussianPosterior(torch.zeros(3, dtype=D64), torch.eye(3, dtype=D64))
    for k in range(30):
        q = blr_step(per_example, q, lr=0.5, prior_precision=1.0, n_samples=20, generator=k)
    q2 = blr_step(per_example, q, lr=0.5, prior_precision=1.0, n_samples=20, generator=99)
    assert (q2.mean - q.mean).abs().max() < 0.05


def test_predictive_mc_matches_probit_roughly():
    q = GaussianPosterior(torch.tensor([1.0, -0.5], dtype=D64),
                          torch.tensor([[2.0, 0.3], [0.3, 1.0]], dtype=D64))
    x = torch.tensor([[1.0, 0.0], [0.5, 2.0], [-1.0, 1.0]], dtype=D64)
    a = logistic_predictive(q, x)
    b = logistic_predictive(q, x, method="mc", n_samples=200_000, generator=0)
    assert (a - b).abs().max() < 0.02


def test_bad_inputs():
    with pytest.raises(ValueError, match="positive definite"):
        GaussianPosterior(torch.zeros(2), -torch.eye(2))
    with pytest.raises(ValueError, match="precision must have shape"):
        GaussianPosterior(torch.zeros(2), torch.ones(3))
    q = GaussianPosterior(torch.zeros(2, dtype=D64), torch.ones(2, dtype=D64))
    with pytest.raises(ValueError, match="per-example losses"):
        blr_step(lambda t: t.sum(), q, hessian_approx="squared_gradients")
    with pytest.raises(ValueError, match="lr"):
        blr_step(lambda t: t.sum(), q, lr=1.5)
    with pytest.raises(ValueError, match="non-positive"):
        blr_step(lambda t: -(t ** 2).sum(), q, method="delta")
    with pytest.raises(ValueError, match="columns"):
        logistic_predictive(q, torch.ones(4, 3, dtype=D64))


@pytest.mark.gpu
def test_gpu_core_path():
    x, y = _regression()
    x, y = x.cuda(), y.cuda()
    q0 = GaussianPosterior(torch.zeros(4, dtype=D64, device="cuda"), torch.eye(4, dtype=D64, device="cuda"))
    q = blr_step(lambda t: 0.5 * (y - x @ t) ** 2, q0, lr=1.0, prior_precision=1.0, generator=0)
    precision = x.T @ x + torch.eye(4, dtype=D64, device="cuda")
    assert q.mean.device.type == "cuda"
    torch.testing.assert_close(q.precision, precision, rtol=0, atol=1e-10)
    torch.testing.assert_close(q.mean, torch.linalg.solve(precision, x.T @ y), rtol=0, atol=1e-10)
