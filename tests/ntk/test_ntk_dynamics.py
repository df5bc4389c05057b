"""Closed-form dynamics vs actually training the linearised model; posteriors vs references."""

import copy
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch.func import functional_call, jacrev

from nips2019.ntk import (
    LinearizedModel,
    analytic_kernels,
    critical_learning_rate,
    empirical_ntk,
    gradient_descent_mse,
    kernel_regression,
    mlp,
    natural_gradient_mse,
    nngp_posterior,
    ntk_ensemble,
    train_ensemble_mse,
    train_mse,
)


def _setup(out=2, width=32, n=6, m=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    net = mlp(3, width, depth=1, out_features=out, activation="erf", w_std=1.5, b_std=0.1, generator=g, dtype=torch.float64)
    x = torch.randn(n, 3, generator=g, dtype=torch.float64)
    xt = torch.randn(m, 3, generator=g, dtype=torch.float64)
    y = torch.randn(n, out, generator=g, dtype=torch.float64)
    return net, x, xt, y


def test_linearized_model_basics():
    net, x, xt, _ = _setup()
    lin = LinearizedModel(net)
    torch.testing.assert_close(lin(x), net(x))
    assert len(list(lin.parameters())) == len(list(net.parameters()))
    # linear in theta - theta0
    f0 = lin(x).detach()
    with torch.no_grad():
        for p, p0 in zip(lin.params().values(), lin.params0().values()):
            p.add_(0.01 * torch.ones_like(p))
    d1 = lin(x).detach() - f0
    with torch.no_grad():
        for p, p0 in zip(lin.params().values(), lin.params0().values()):
            p.add_(0.01 * torch.ones_like(p))
    torch.testing.assert_close(lin(x).detach() - f0, 2 * d1)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        LinearizedModel(3)


@pytest.mark.parametrize("n_steps", [0, 1, 25])
def test_discrete_closed_form_matches_training_linearized(n_steps):
    net, x, xt, y = _setup()
    k_xx = empirical_ntk(net, x)
    k_tx = empirical_ntk(net, xt, x)
    lr = 0.5 * critical_learning_rate(k_xx)
    with torch.no_grad():
        f0, g0 = net(x), net(xt)
    lin = LinearizedModel(net)
    res = train_mse(lin, x, y, lr=lr, n_steps=n_steps, x_test=xt)
    pred = gradient_descent_mse(k_xx, y, n_steps, lr=lr, f0_train=f0, k_test_train=k_tx, f0_test=g0, discrete=True)
    torch.testing.assert_close(pred.train, res.train, rtol=1e-7, atol=1e-8)
    torch.testing.assert_close(pred.test, res.test, rtol=1e-7, atol=1e-8)
    loss = 0.5 * (pred.train - y).pow(2).sum()
    assert abs(loss.item() - res.losses[-1].item()) < 1e-7


def test_divergence_above_critical_learning_rate():
    net, x, _, y = _setup(out=1)
    k_xx = empirical_ntk(net, x)
    eta_c = critical_learning_rate(k_xx)
    below = train_mse(LinearizedModel(net), x, y, lr=0.95 * eta_c, n_steps=200).losses
    above = train_mse(LinearizedModel(net), x, y, lr=1.05 * eta_c, n_steps=200).losses
    assert below[-1] < 1e-3 * below[0]
    assert above[-1] > 10 * above[0]
    with pytest.raises(ValueError, match="diverges"):
        gradient_descent_mse(k_xx, y, math.inf, lr=1.05 * eta_c, discrete=True)
    huge = train_mse(LinearizedModel(net), x, y, lr=50 * eta_c, n_steps=400, max_loss=1e6).losses
    assert math.isinf(huge[-1].item())


def test_continuous_flow_is_limit_of_small_steps():
    k = analytic_kernels(torch.randn(5, 3, dtype=torch.float64), depth=2, activation="relu", w_std=1.4).ntk
    y = torch.randn(5, 1, dtype=torch.float64)
    flow = gradient_descent_mse(k, y, 2.0, lr=0.3).train
    errs = []
    for m in (10, 100, 1000):
        disc = gradient_descent_mse(k, y, 2.0 * m, lr=0.3 / m, discrete=True).train
        errs.append((disc - flow).abs().max().item())
    assert errs[2] < 1e-3 and errs[2] < errs[1] < errs[0]
    # expm reference (scipy) for the flow
    ref = y.numpy() - scipy.linalg.expm(-0.3 * 2.0 * k.numpy()) @ y.numpy()
    np.testing.assert_allclose(flow.numpy(), ref, rtol=1e-10, atol=1e-12)


def test_infinite_time_is_kernel_regression(dtype):
    x = torch.randn(6, 3, dtype=torch.float64).to(dtype)
    xt = torch.randn(4, 3, dtype=torch.float64).to(dtype)
    k = analytic_kernels(x, depth=2, activation="erf", w_std=1.5, b_std=0.1).ntk
    kt = analytic_kernels(xt, x, depth=2, activation="erf", w_std=1.5, b_std=0.1).ntk
    y = torch.randn(6, 2, dtype=torch.float64).to(dtype)
    ref = torch.from_numpy(kt.double().numpy() @ np.linalg.solve(k.double().numpy(), y.double().numpy())).to(dtype)
    tol = dict(rtol=1e-6, atol=1e-8) if dtype == torch.float64 else dict(rtol=5e-2, atol=5e-2)
    torch.testing.assert_close(kernel_regression(k, y, kt), ref, **tol)
    for pred in (gradient_descent_mse(k, y, math.inf, k_test_train=kt),
                 natural_gradient_mse(k, y, math.inf, k_test_train=kt),
                 gradient_descent_mse(k, y, math.inf, lr=0.5 * critical_learning_rate(k), k_test_train=kt, discrete=True)):
        assert pred.test.dtype == dtype
        torch.testing.assert_close(pred.test, ref, **tol)
        torch.testing.assert_close(pred.train, y, **tol)
    # several times at once
    many = gradient_descent_mse(k, y, torch.tensor([0.0, 1.0, math.inf]), k_test_train=kt)
    assert many.train.shape == (3, 6, 2) and many.test.shape == (3, 4, 2)
    torch.testing.assert_close(many.test[0], torch.zeros_like(ref))


def test_natural_gradient_matches_parameter_space_ngd():
    # Run NGD with the damped Gauss-Newton matrix J^T J + rho I on the linearised model, in parameter space.
    net, x, xt, y = _setup(out=1, width=24, n=5)
    lin = LinearizedModel(net)
    names = list(lin.params0())
    p0 = lin.params0()

    def flat_out(flat, inputs):
        ps, i = {}, 0
        for k in names:
            ps[k] = flat[i : i + p0[k].numel()].reshape(p0[k].shape)
            i += p0[k].numel()
        return functional_call(net, ps, (inputs,)).reshape(-1)

    theta0 = torch.cat([p0[k].reshape(-1) for k in names])
    jx = jacrev(flat_out)(theta0, x)
    jt = jacrev(flat_out)(theta0, xt)
    rho, lr, steps = 1e-2, 0.3, 15
    fisher = jx.T @ jx + rho * torch.eye(theta0.numel(), dtype=torch.float64)
    theta = theta0.clone()
    for _ in range(steps):
        f = flat_out(theta0, x) + jx @ (theta - theta0)
        theta = theta - lr * torch.linalg.solve(fisher, jx.T @ (f - y[:, 0]))
    f_train = flat_out(theta0, x) + jx @ (theta - theta0)
    f_test = flat_out(theta0, xt) + jt @ (theta - theta0)
    k_xx, k_tx = jx @ jx.T, jt @ jx.T
    pred = natural_gradient_mse(k_xx, y[:, 0], steps, lr=lr, f0_train=flat_out(theta0, x), k_test_train=k_tx,
                                f0_test=flat_out(theta0, xt), discrete=True, damping=rho)
    torch.testing.assert_close(pred.train, f_train, rtol=1e-7, atol=1e-8)
    torch.testing.assert_close(pred.test, f_test, rtol=1e-7, atol=1e-8)


def test_natural_gradient_equal_rates():
    k = torch.diag(torch.tensor([100.0, 1.0, 0.01], dtype=torch.float64))
    y = torch.ones(3, 1, dtype=torch.float64)
    ngd = natural_gradient_mse(k, y, 2.0, lr=1.0).train[:, 0]
    torch.testing.assert_close(ngd, torch.full((3,), 1 - math.exp(-2.0), dtype=torch.float64))
    gd = gradient_descent_mse(k, y, 2.0, lr=1.0).train[:, 0]
    assert gd[0] > 0.999 and gd[2] < 0.03


def test_nngp_posterior_reference():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(8, 2)))
    k_all = analytic_kernels(x, depth=2, activation="erf", w_std=1.5, b_std=0.2).nngp
    k, kx, ks = k_all[:5, :5], k_all[5:, :5], k_all[5:, 5:]
    y = torch.from_numpy(rng.normal(size=5))
    post = nngp_posterior(k, y, kx, ks, noise_var=0.1)
    kn = k.numpy() + 0.1 * np.eye(5)
    np.testing.assert_allclose(post.mean.numpy(), kx.numpy() @ scipy.linalg.solve(kn, y.numpy(), assume_a="pos"), rtol=1e-9)
    np.testing.assert_allclose(post.cov.numpy(), ks.numpy() - kx.numpy() @ scipy.linalg.solve(kn, kx.numpy().T),
                               rtol=1e-8, atol=1e-12)
    # noiseless: interpolates, zero variance at training points
    exact = nngp_posterior(k, y, k, k)
    torch.testing.assert_close(exact.mean, y, rtol=1e-6, atol=1e-6)
    assert exact.cov.diagonal().abs().max() < 1e-6


def test_ntk_ensemble_monte_carlo():
    # Sample f0 ~ GP(0, K) jointly on train+test, push through the linear predictor, compare moments.
    x = torch.randn(7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    kw = dict(depth=2, activation="relu", w_std=1.4, b_std=0.1)
    kern = analytic_kernels(x, **kw)
    n = 4
    y = torch.sin(3 * x[:n, :1])
    lr, t = 0.5 * critical_learning_rate(kern.ntk[:n, :n]), 30
    ens = ntk_ensemble(kern.nngp[:n, :n], kern.ntk[:n, :n], y, kern.nngp[n:, :n], kern.ntk[n:, :n], kern.nngp[n:, n:],
                       t=t, lr=lr, discrete=True)
    chol = torch.linalg.cholesky(kern.nngp + 1e-10 * torch.eye(7, dtype=torch.float64))
    f0 = chol @ torch.randn(7, 20000, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    pred = gradient_descent_mse(kern.ntk[:n, :n], y.expand(n, 20000), t, lr=lr, f0_train=f0[:n],
                                k_test_train=kern.ntk[n:, :n], f0_test=f0[n:], discrete=True).test
    torch.testing.assert_close(pred.mean(1, keepdim=True), ens.mean, rtol=0, atol=0.03)
    torch.testing.assert_close(torch.cov(pred), ens.cov, rtol=0.05, atol=0.01)
    # Theta = K reduces to the NNGP posterior
    post = nngp_posterior(kern.nngp[:n, :n], y, kern.nngp[n:, :n], kern.nngp[n:, n:])
    same = ntk_ensemble(kern.nngp[:n, :n], kern.nngp[:n, :n], y, kern.nngp[n:, :n], kern.nngp[n:, :n],
                        kern.nngp[n:, n:])
    torch.testing.assert_close(same.mean, post.mean, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(same.cov, post.cov, rtol=1e-6, atol=1e-8)


def test_bad_inputs():
    k = torch.eye(3, dtype=torch.float64)
    y = torch.ones(3, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match="k_train_train must be square"):
        gradient_descent_mse(torch.ones(3, 2, dtype=torch.float64), y, 1.0)
    with pytest.raises(ValueError, match="y_train has 2 rows but k_train_train has 3"):
        gradient_descent_mse(k, y[:2], 1.0)
    with pytest.raises(ValueError, match="lr must be a real number > 0"):
        gradient_descent_mse(k, y, 1.0, lr=0.0)
    with pytest.raises(ValueError, match="t must be non-negative"):
        gradient_descent_mse(k, y, -1.0)
    with pytest.raises(ValueError, match="integer step counts"):
        gradient_descent_mse(k, y, 1.5, discrete=True)
    with pytest.raises(ValueError, match="k_test_train must have 3 columns"):
        gradient_descent_mse(k, y, 1.0, k_test_train=torch.ones(2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="damping must be a real number >= 0"):
        natural_gradient_mse(k, y, 1.0, damping=-1.0)
    with pytest.raises(ValueError, match="k_test_test has size 2 along axis 0 \\(m\\) but k_test_train has m = 3"):
        nngp_posterior(k, y, k, torch.eye(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="non-finite"):
        kernel_regression(torch.full((3, 3), float("nan"), dtype=torch.float64), y, k)
    with pytest.raises(ValueError, match="n_steps must be an integer >= 0"):
        train_mse(torch.nn.Linear(3, 1), k.float(), y.float(), lr=0.1, n_steps=-1)
    with pytest.raises(ValueError, match="y must have one row per example of x"):
        train_ensemble_mse([torch.nn.Linear(3, 1)], k.float(), y.float()[:2], lr=0.1, n_steps=1)
    with pytest.raises(ValueError, match="lr must be a real number > 0"):
        train_ensemble_mse([torch.nn.Linear(3, 1)], k.float(), y.float(), lr=0.0, n_steps=1)
    with pytest.raises(ValueError, match="models must have at least 1 item"):
        train_ensemble_mse([], k.float(), y.float(), lr=0.1, n_steps=1)


@pytest.mark.gpu
def test_dynamics_on_cuda():
    net, x, xt, y = _setup()
    net, x, xt, y = net.cuda(), x.cuda(), xt.cuda(), y.cuda()
    lin = LinearizedModel(net)
    k = empirical_ntk(net, x)
    lr = 0.5 * critical_learning_rate(k)
    with torch.no_grad():
        f0 = net(x)
    res = train_mse(lin, x, y, lr=lr, n_steps=5)
    pred = gradient_descent_mse(k, y, 5, lr=lr, f0_train=f0, discrete=True)
    assert pred.train.is_cuda
    torch.testing.assert_close(pred.train, res.train, rtol=1e-6, atol=1e-7)


def test_train_ensemble_matches_individual_training():
    from nips2019.ntk import train_ensemble_mse

    _, x, xt, y = _setup(out=2)
    make = lambda s: mlp(3, 16, depth=2, out_features=2, activation="erf", w_std=1.5, b_std=0.1,  # noqa: E731
                         generator=torch.Generator().manual_seed(s), dtype=torch.float64)
    nets = [make(s) for s in range(3)]
    res = train_ensemble_mse(nets, x, y, lr=0.05, n_steps=20, x_test=xt)
    assert res.losses.shape == (3, 21) and res.train.shape == (3, 6, 2) and res.test.shape == (3, 4, 2)
    for s in range(3):
        single = train_mse(make(s), x, y, lr=0.05, n_steps=20, x_test=xt)
        torch.testing.assert_close(res.losses[s], single.losses, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(res.test[s], single.test)
        torch.testing.assert_close(nets[s](xt), single.test)   # parameters written back
    with pytest.raises(ValueError, match="models must have at least 1 item"):
        train_ensemble_mse([], x, y, lr=0.1, n_steps=1)
    with pytest.raises(ValueError, match="y must have one row per example of x"):
        train_ensemble_mse(nets, x, y[:2], lr=0.1, n_steps=1)


def _count_syncs(monkeypatch):
    """Count the tensor -> host conversions (item, bool, float, tolist, cpu, numpy) made from now on."""
    calls = {"n": 0}
    for name in ("item", "__bool__", "__float__", "tolist", "cpu", "numpy"):
        original = getattr(torch.Tensor, name)

        def wrapped(self, *a, _original=original, **k):
            calls["n"] += 1
            return _original(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, wrapped)
    return calls


@pytest.mark.parametrize("train", ["single", "ensemble"])
def test_training_loops_do_not_sync_every_step(monkeypatch, train):
    # Issue 12: the loops called .item() / .cpu() every step. Now the number of host syncs must
    # not grow with n_steps (below the 64-step divergence check).
    _, x, _, y = _setup(out=1)
    counts = {}
    for n_steps in (2, 40):
        nets = [mlp(3, 8, depth=1, out_features=1, generator=s, dtype=torch.float64) for s in range(2)]
        calls = _count_syncs(monkeypatch)
        if train == "single":
            res = train_mse(nets[0], x, y, lr=0.01, n_steps=n_steps, progress=False)
        else:
            res = train_ensemble_mse(nets, x, y, lr=0.01, n_steps=n_steps, progress=False)
        counts[n_steps] = calls["n"]
        monkeypatch.undo()
        assert res.losses.shape[-1] == n_steps + 1 and bool(torch.isfinite(res.losses).all())
    assert counts[40] == counts[2], counts


def test_divergence_freezes_the_parameters():
    net, x, _, y = _setup(out=1)
    eta_c = critical_learning_rate(empirical_ntk(net, x))
    res = train_mse(LinearizedModel(net), x, y, lr=50 * eta_c, n_steps=200, max_loss=1e6)
    dead = torch.isinf(res.losses)
    assert dead.any() and bool(dead[dead.nonzero()[0, 0]:].all())       # inf from the first divergent step on
    assert bool(torch.isfinite(res.train).all())                         # the parameters stopped moving
    ens = train_ensemble_mse([copy.deepcopy(net) for _ in range(2)], x, y, lr=50 * eta_c, n_steps=200, max_loss=1e6)
    torch.testing.assert_close(ens.losses[0], train_mse(copy.deepcopy(net), x, y, lr=50 * eta_c, n_steps=200,
                                                        max_loss=1e6).losses)


def test_result_types_and_keyword_only_options():
    import dataclasses

    from nips2019.ntk import GaussianPrediction, MSEPrediction, MSETrainResult

    net, x, _, y = _setup(out=1)
    k = torch.eye(3, dtype=torch.float64)
    assert isinstance(train_mse(net, x, y, lr=0.01, n_steps=1), MSETrainResult)
    assert isinstance(gradient_descent_mse(k, y[:3], 1.0), MSEPrediction)
    assert isinstance(nngp_posterior(k, y[:3], k, k), GaussianPrediction)
    assert all(dataclasses.is_dataclass(c) for c in (MSETrainResult, MSEPrediction, GaussianPrediction))
    with pytest.raises(TypeError, match="ntk_ensemble: too many positional arguments"):
        ntk_ensemble(k, k, y[:3], k, k, k, 1.0)


def test_kernels_that_are_not_kernels_are_refused():
    y = torch.ones(3, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match="k_train_train must be symmetric"):
        gradient_descent_mse(torch.triu(torch.ones(3, 3, dtype=torch.float64)), y, 1.0)
    with pytest.raises(ValueError, match="k_train_train must be positive semi-definite"):
        kernel_regression(-torch.eye(3, dtype=torch.float64), y, torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="no positive eigenvalue"):
        critical_learning_rate(torch.zeros(3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="the predictions overflow"):
        gradient_descent_mse(torch.eye(3, dtype=torch.float64), y, 10**5, lr=3.0, discrete=True)
