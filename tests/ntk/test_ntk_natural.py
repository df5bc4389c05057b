"""Natural-gradient training in parameter space vs the closed form and a naive loop; trajectories of train_mse."""

import copy

import pytest
import torch
from torch import nn

from nips2019.ntk import (
    LinearizedModel,
    empirical_ntk,
    flat_jacobian,
    gradient_descent_mse,
    mlp,
    natural_gradient_mse,
    train_mse,
    train_natural_gradient_mse,
)

F64 = torch.float64


def _setup(out=2, width=32, n=6, m=4, seed=0, activation="erf"):
    g = torch.Generator().manual_seed(seed)
    net = mlp(3, width, depth=1, out_features=out, activation=activation, w_std=1.5, b_std=0.1, generator=g,
              dtype=F64)
    x = torch.randn(n, 3, generator=g, dtype=F64)
    xt = torch.randn(m, 3, generator=g, dtype=F64)
    y = torch.randn(n, out, generator=g, dtype=F64)
    return net, x, xt, y


def _naive_ngd(net, x, y, *, lr, n_steps, damping, x_test):
    """The notebook's original loop: public Jacobian, parameters_to_vector, one dense solve per step."""
    net = copy.deepcopy(net)
    params = list(net.parameters())
    outputs = []
    for step in range(n_steps + 1):
        with torch.no_grad():
            outputs.append(net(x).clone())
        if step == n_steps:
            break
        jac = flat_jacobian(net, x).reshape(-1, sum(p.numel() for p in params))
        r = (outputs[-1] - y).reshape(-1)
        eye = torch.eye(len(r), dtype=r.dtype)
        direction = jac.T @ torch.linalg.solve(jac @ jac.T + damping * eye, r)
        with torch.no_grad():
            vec = nn.utils.parameters_to_vector(params)
            nn.utils.vector_to_parameters(vec - lr * direction, params)
    with torch.no_grad():
        return torch.stack(outputs), net(x_test), nn.utils.parameters_to_vector(params)


@pytest.mark.parametrize("damping", [0.0, 0.3])
def test_linearized_ngd_is_the_closed_form(damping):
    # For a linearised model the Jacobian is constant: the trajectory must be natural_gradient_mse's exactly.
    net, x, xt, y = _setup(out=2)
    with torch.no_grad():
        f0, g0 = net(x), net(xt)
    k, k_st = empirical_ntk(net, x), empirical_ntk(net, xt, x)  # full (n, n, out, out) kernels
    res = train_natural_gradient_mse(LinearizedModel(net), x, y, lr=0.4, n_steps=6, damping=damping, x_test=xt,
                                     batch_size=4)
    closed = natural_gradient_mse(k, y, torch.arange(7.0), lr=0.4, f0_train=f0, k_test_train=k_st, f0_test=g0,
                                  discrete=True, damping=damping)
    assert res.outputs.shape == (7, 6, 2) and res.losses.shape == (7,) and res.test.shape == (4, 2)
    torch.testing.assert_close(res.outputs, closed.train, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(res.test, closed.test[-1], rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(res.train, res.outputs[-1])
    torch.testing.assert_close(res.losses, 0.5 * (res.outputs - y).pow(2).sum((1, 2)))


def test_damping_matters_and_equal_rates_without_it():
    net, x, _, y = _setup(out=1, width=64)
    lin = LinearizedModel(net)
    plain = train_natural_gradient_mse(copy.deepcopy(lin), x, y, lr=0.5, n_steps=4)
    damped = train_natural_gradient_mse(copy.deepcopy(lin), x, y, lr=0.5, n_steps=4, damping=10.0)
    # Without damping the whole residual shrinks by exactly 1 - lr per step, in every direction.
    r = plain.outputs - y
    torch.testing.assert_close(r[1:], 0.5 * r[:-1], rtol=1e-8, atol=1e-10)
    # Damping slows the small-eigenvalue directions down: a larger loss after the same steps.
    assert damped.losses[-1] > 1.5 * plain.losses[-1]


def test_ngd_on_a_finite_network_matches_a_naive_loop():
    net, x, xt, y = _setup(out=2, activation="relu")
    res = train_natural_gradient_mse(copy.deepcopy(net), x, y, lr=0.5, n_steps=5, damping=1e-3, x_test=xt,
                                     batch_size=4)
    outputs, test, vec = _naive_ngd(net, x, y, lr=0.5, n_steps=5, damping=1e-3, x_test=xt)
    torch.testing.assert_close(res.outputs, outputs, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(res.test, test, rtol=1e-9, atol=1e-10)
    # The model is trained in place, the same way.
    trained = copy.deepcopy(net)
    train_natural_gradient_mse(trained, x, y, lr=0.5, n_steps=5, damping=1e-3)
    torch.testing.assert_close(nn.utils.parameters_to_vector(trained.parameters()), vec, rtol=1e-9, atol=1e-10)
    assert res.losses[-1] < 0.2 * res.losses[0]


def test_ngd_handles_buffers_and_frozen_parameters():
    _, x, _, y = _setup(out=1)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Linear(16, 1)).double().eval()
    net[1].running_mean.fill_(0.3)  # a buffer that matters in the forward pass
    net[0].bias.requires_grad_(False)
    frozen = net[0].bias.detach().clone()
    reference = copy.deepcopy(net)
    res = train_natural_gradient_mse(net, x, y, lr=1.0, n_steps=3, damping=1e-10)
    assert torch.isfinite(res.losses).all() and res.losses[-1] < 1e-3 * res.losses[0]
    torch.testing.assert_close(net[0].bias, frozen)
    # the naive loop over the trainable parameters only gives the same trajectory
    names = [k for k, p in reference.named_parameters() if p.requires_grad]
    params = [p for p in reference.parameters() if p.requires_grad]

    def f(*ps):
        return torch.func.functional_call(reference, dict(zip(names, ps)), (x,))[:, 0]

    for step in range(3):
        with torch.no_grad():
            torch.testing.assert_close(reference(x), res.outputs[step], rtol=1e-8, atol=1e-10)
        jac = torch.cat([g.reshape(len(x), -1) for g in torch.autograd.functional.jacobian(f, tuple(params))], 1)
        r = (reference(x) - y)[:, 0].detach()
        direction = jac.T @ torch.linalg.solve(jac @ jac.T + 1e-10 * torch.eye(len(x), dtype=F64), r)
        with torch.no_grad():
            vec = nn.utils.parameters_to_vector(params)
            nn.utils.vector_to_parameters(vec - direction, params)


def test_ngd_divergence_freezes_the_parameters():
    # lr = 3 multiplies the residual by -2 per step (linear model): the loss grows 4x per step.
    net, x, _, y = _setup(out=1)
    lin = LinearizedModel(net)
    res = train_natural_gradient_mse(lin, x, y, lr=3.0, n_steps=12, max_loss=1e3)
    finite = torch.isfinite(res.losses)
    first_inf = int((~finite).nonzero()[0])
    assert finite[:first_inf].all() and not finite[first_inf:].any() and first_inf > 1
    assert res.losses[first_inf - 1] <= 1e3
    assert torch.isfinite(res.train).all() and torch.isfinite(res.outputs).all()
    # after divergence the parameters stay where they were: outputs stop changing
    torch.testing.assert_close(res.outputs[first_inf:], res.outputs[first_inf].expand_as(res.outputs[first_inf:]))
    torch.testing.assert_close(res.train, res.outputs[-1])


def test_ngd_errors():
    net, x, xt, y = _setup(out=2)
    with pytest.raises(ValueError, match="outputs of model on x have shape"):
        train_natural_gradient_mse(net, x, y[:, :1], lr=0.5, n_steps=1)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train_natural_gradient_mse(nn.Linear(3, 2).double().requires_grad_(False), x, y, lr=0.5, n_steps=1)
    with pytest.raises(ValueError, match="damping must be a real number >= 0"):
        train_natural_gradient_mse(net, x, y, lr=0.5, n_steps=1, damping=-1.0)
    with pytest.raises(TypeError, match="x"):
        train_natural_gradient_mse(net, x.float(), y.float(), lr=0.5, n_steps=1)
    with pytest.raises(ValueError, match="x_test must have the per-example shape of x"):
        train_natural_gradient_mse(net, x, y, lr=0.5, n_steps=1, x_test=xt[:, :2])
    res = train_natural_gradient_mse(net, x, y, lr=0.5, n_steps=0)
    assert res.outputs.shape == (1, 6, 2) and res.losses.shape == (1,)


def test_train_mse_records_the_gradient_descent_trajectory():
    net, x, _, y = _setup(out=2)
    lin = LinearizedModel(net)
    with torch.no_grad():
        f0 = net(x)
    k = empirical_ntk(net, x)
    res = train_mse(lin, x, y, lr=0.05, n_steps=8, record_outputs=True)
    closed = gradient_descent_mse(k, y, torch.arange(9.0), lr=0.05, f0_train=f0, discrete=True)
    assert res.outputs.shape == (9, 6, 2)
    torch.testing.assert_close(res.outputs, closed.train, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(res.losses, 0.5 * (res.outputs - y).pow(2).sum((1, 2)))
    assert train_mse(copy.deepcopy(net), x, y, lr=0.05, n_steps=2).outputs is None


def test_train_mse_trajectory_after_divergence():
    net, x, _, y = _setup(out=1)
    res = train_mse(LinearizedModel(net), x, y, lr=100.0, n_steps=70, max_loss=1e4, record_outputs=True)
    first_inf = int((~torch.isfinite(res.losses)).nonzero()[0])
    assert first_inf < 70
    tail = res.outputs[first_inf:]
    torch.testing.assert_close(tail, tail[0].expand_as(tail))


@pytest.mark.gpu
def test_ngd_on_cuda_matches_cpu():
    net, x, xt, y = _setup(out=2)
    cpu = train_natural_gradient_mse(copy.deepcopy(net), x, y, lr=0.5, n_steps=3, damping=1e-3, x_test=xt)
    gpu = train_natural_gradient_mse(copy.deepcopy(net).cuda(), x.cuda(), y.cuda(), lr=0.5, n_steps=3,
                                     damping=1e-3, x_test=xt.cuda())
    assert gpu.outputs.is_cuda and gpu.losses.is_cuda
    torch.testing.assert_close(gpu.outputs.cpu(), cpu.outputs, rtol=1e-7, atol=1e-8)
    torch.testing.assert_close(gpu.test.cpu(), cpu.test, rtol=1e-7, atol=1e-8)
