"""Lipschitz bounds: lower <= LipSDP <= naive, LipSDP against an independent cvxpy programme, the penalty."""

from __future__ import annotations

import math

import cvxpy as cp
import numpy as np
import pytest
import torch

from nips2019.robust import (
    jacobian_penalty,
    lipschitz_lower_bound,
    lipschitz_margin_radius,
    lipsdp_lipschitz,
    make_mlp,
    naive_lipschitz,
)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_lower_le_lipsdp_le_naive_on_random_nets(activation, depth):
    for seed in range(2):
        net = make_mlp([3] + [8] * depth + [2], activation=activation, generator=10 * depth + seed,
                       dtype=torch.float64)
        x = torch.randn(100, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        low = lipschitz_lower_bound(net, x, n_steps=30, generator=0).lipschitz
        sdp = lipsdp_lipschitz(net).lipschitz
        naive = naive_lipschitz(net)
        assert low <= sdp * (1 + 1e-6), (low, sdp)
        assert sdp <= naive * (1 + 1e-6), (sdp, naive)


def test_lipsdp_without_hidden_layer_is_the_spectral_norm():
    lin = torch.nn.Linear(5, 3, dtype=torch.float64)
    res = lipsdp_lipschitz(torch.nn.Sequential(lin))
    want = float(torch.linalg.matrix_norm(lin.weight.detach(), ord=2))
    assert abs(res.lipschitz - want) < 1e-12 and abs(naive_lipschitz(lin) - want) < 1e-12


def test_lipsdp_one_hidden_layer_matches_the_papers_block_matrix():
    """An independent cvxpy statement of LipSDP-neuron for one ReLU layer: [[-rho I, W0'T], [T W0, -2T + W1'W1]]."""
    net = make_mlp([3, 6, 2], generator=4, dtype=torch.float64)
    w0, w1 = (net[i].weight.detach().numpy() for i in (0, 2))
    t = cp.Variable(6, nonneg=True)
    rho = cp.Variable(nonneg=True)
    tm = cp.diag(t)
    m = cp.bmat([[-rho * np.eye(3), w0.T @ tm], [tm @ w0, -2 * tm + w1.T @ w1]])
    cp.Problem(cp.Minimize(rho), [(m + m.T) / 2 << 0]).solve(solver="CLARABEL")
    ours = lipsdp_lipschitz(net)
    assert abs(ours.lipschitz - math.sqrt(rho.value)) < 1e-5 * ours.lipschitz
    assert ours.multipliers.shape == (6,) and (ours.multipliers >= -1e-8).all()
    assert abs(lipsdp_lipschitz(net, solver="SCS").lipschitz - ours.lipschitz) < 1e-3 * ours.lipschitz


def test_lipsdp_is_exact_for_a_scalar_chain_and_scales_with_the_first_layer():
    net = make_mlp([1, 1, 1, 1], generator=0, dtype=torch.float64)
    with torch.no_grad():
        net[0].weight.fill_(2.0), net[2].weight.fill_(-3.0), net[4].weight.fill_(0.5)
    assert abs(lipsdp_lipschitz(net).lipschitz - 3.0) < 1e-5
    net = make_mlp([3, 6, 6, 2], generator=1, dtype=torch.float64)
    base = lipsdp_lipschitz(net).lipschitz
    with torch.no_grad():
        net[0].weight.mul_(10.0)
    assert abs(lipsdp_lipschitz(net).lipschitz - 10 * base) < 1e-5 * 10 * base


def test_sigmoid_slope_enters_both_bounds():
    net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Sigmoid(), torch.nn.Linear(4, 1)).double()
    norms = float(torch.linalg.matrix_norm(net[0].weight.detach(), ord=2) *
                  torch.linalg.matrix_norm(net[2].weight.detach(), ord=2))
    assert abs(naive_lipschitz(net) - norms / 4) < 1e-12
    assert lipsdp_lipschitz(net).lipschitz <= norms / 4 * (1 + 1e-6)


def test_lower_bound_on_a_dense_grid_and_for_a_linear_map():
    net = make_mlp([2, 16, 16, 1], generator=3, dtype=torch.float64)
    g = torch.linspace(-3, 3, 121, dtype=torch.float64)
    grid = torch.cartesian_prod(g, g)
    brute = lipschitz_lower_bound(net, grid, n_steps=0).lipschitz  # max Jacobian norm on the grid
    res = lipschitz_lower_bound(net, grid[::97], n_steps=80, lr=0.02, generator=0)
    assert (res.history.diff() >= 0).all()
    assert res.lipschitz >= 0.95 * brute, (res.lipschitz, brute)
    assert brute <= lipsdp_lipschitz(net).lipschitz * (1 + 1e-6)
    lin = torch.nn.Linear(4, 3, dtype=torch.float64)
    low = lipschitz_lower_bound(lin, torch.randn(5, 4, dtype=torch.float64), n_steps=5).lipschitz
    assert abs(low - float(torch.linalg.matrix_norm(lin.weight.detach(), ord=2))) < 1e-9


def test_jacobian_penalty_matches_per_example_jacobians():
    net = make_mlp([3, 7, 4], activation="tanh", generator=0, dtype=torch.float64)
    x = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    want = sum(float((torch.autograd.functional.jacobian(net, xi) ** 2).sum()) for xi in x) / 6
    got = jacobian_penalty(net, x)
    assert abs(float(got.detach()) - want) < 1e-10
    got.backward()
    assert net[0].weight.grad is not None and net[0].weight.grad.abs().sum() > 0
    estimates = torch.stack([jacobian_penalty(net, x, n_projections=50, generator=s).detach() for s in range(40)])
    se = float(estimates.std()) / math.sqrt(40)
    assert abs(float(estimates.mean()) - want) < 4 * se, (float(estimates.mean()), want, se)


def test_margin_radius_is_the_exact_distance_for_an_antisymmetric_linear_pair():
    w = torch.tensor([[1.0, 2.0], [-1.0, -2.0]], dtype=torch.float64)
    x = torch.tensor([[1.0, 1.0], [-0.5, 0.1], [2.0, -3.0]], dtype=torch.float64)
    logits = x @ w.T
    y = logits.argmax(1)
    r = lipschitz_margin_radius(logits, y, lipschitz=float(torch.linalg.matrix_norm(w, ord=2)))
    dist = (x @ w[0]).abs() / w[0].norm()
    torch.testing.assert_close(r, dist)
    wrong = lipschitz_margin_radius(logits, 1 - y, lipschitz=1.0)
    assert (wrong == 0).all()


def test_margin_radius_matches_a_loop():
    z = torch.randn(20, 5, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 5, (20,), generator=torch.Generator().manual_seed(1))
    got = lipschitz_margin_radius(z, y, lipschitz=2.0)
    want = [max(0.0, float(z[i, y[i]] - max(z[i, j] for j in range(5) if j != y[i]))) / (2 * math.sqrt(2))
            for i in range(20)]
    torch.testing.assert_close(got, torch.tensor(want))


def test_models_that_are_not_mlps_are_refused():
    conv = torch.nn.Sequential(torch.nn.Conv1d(1, 1, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    with pytest.raises(ValueError, match="must be an MLP"):
        naive_lipschitz(conv)
    gelu = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.GELU(), torch.nn.Linear(3, 1))
    with pytest.raises(ValueError, match="activation GELU"):
        lipsdp_lipschitz(gelu)
    with pytest.raises(ValueError, match="end with a Linear"):
        naive_lipschitz(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU()))


@pytest.mark.gpu
def test_bounds_on_cuda():
    net = make_mlp([3, 8, 8, 2], generator=0).cuda()
    x = torch.randn(50, 3, device="cuda")
    low = lipschitz_lower_bound(net, x, n_steps=20, generator=0)
    assert low.point.device.type == "cuda"
    sdp = lipsdp_lipschitz(net)
    assert sdp.multipliers.device.type == "cuda"
    assert low.lipschitz <= sdp.lipschitz * (1 + 1e-5) <= naive_lipschitz(net) * (1 + 1e-4)
    pen = jacobian_penalty(net, x)
    assert pen.device.type == "cuda" and torch.isfinite(pen)
