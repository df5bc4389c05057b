"""Optimizers and projections against scipy's linprog, cvxpy and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nips2019.optim import (AProx, ExtraGradient, MirrorProx, UniXGrad, duality_gap, project_l1_ball,
                            project_simplex)

D64 = torch.float64


def _closure(opt, loss):
    """The closure the optimizers step with: zero the gradients, evaluate ``loss()``, backward."""

    def closure():
        opt.zero_grad()
        value = loss()
        value.backward()
        return value

    return closure


def _game(seed=0, m=4, n=5):
    return torch.randn(m, n, generator=torch.Generator().manual_seed(seed), dtype=D64)


def _lp_equilibrium(a):
    from scipy.optimize import linprog

    m, n = a.shape
    an = a.numpy()
    row = linprog(np.r_[np.zeros(m), 1], A_ub=np.c_[an.T, -np.ones(n)], b_ub=np.zeros(n),
                  A_eq=np.r_[np.ones(m), 0][None], b_eq=[1], bounds=[(0, None)] * m + [(None, None)],
                  method="highs")
    col = linprog(np.r_[np.zeros(n), -1], A_ub=np.c_[-an, np.ones(m)], b_ub=np.zeros(m),
                  A_eq=np.r_[np.ones(n), 0][None], b_eq=[1], bounds=[(0, None)] * n + [(None, None)],
                  method="highs")
    return row.x[:m], col.x[:n], row.x[m]


def _play(opt_cls, a, n_steps, lr=0.5, **kw):
    m, n = a.shape
    x = torch.full((m,), 1 / m, dtype=D64, requires_grad=True)
    y = torch.full((n,), 1 / n, dtype=D64, requires_grad=True)
    opt = opt_cls([{"params": [x]}, {"params": [y], "maximize": True}], lr=lr, **kw)
    closure = _closure(opt, lambda: x @ a @ y)
    for _ in range(n_steps):
        opt.step(closure)
    return x.detach(), y.detach(), opt


@pytest.mark.parametrize("opt_cls, kw, n_steps",
                         [(MirrorProx, {"lr": 1.2}, 800),
                          (ExtraGradient, {"constraint": "simplex", "lr": 0.8}, 400)],
                         ids=["mirror-prox", "extragradient"])
def test_matrix_game_equilibrium_matches_linprog(opt_cls, kw, n_steps):
    a = _game()
    xs, ys, value = _lp_equilibrium(a)
    x, y, _ = _play(opt_cls, a, n_steps, **kw)
    assert np.abs(x.numpy() - xs).max() < 1e-4
    assert np.abs(y.numpy() - ys).max() < 1e-4
    assert abs(float(x @ a @ y) - value) < 1e-4
    assert duality_gap(a, x, y) < 1e-4


def test_mirror_prox_average_gap_decreases_like_one_over_t():
    a = _game(1, 6, 6)
    gaps = []
    for t in (50, 400):
        _, _, opt = _play(MirrorProx, a, t)
        xa, ya = opt.averaged_params()
        gaps.append(duality_gap(a, xa, ya))
    assert gaps[1] < gaps[0] / 4, gaps  # 8x the steps: at least 4x smaller gap


def test_gradient_descent_ascent_diverges_where_extragradient_converges():
    def run(opt_cls, n_steps=200):
        x = torch.tensor([1.0], dtype=D64, requires_grad=True)
        y = torch.tensor([1.0], dtype=D64, requires_grad=True)
        opt = opt_cls([{"params": [x]}, {"params": [y], "maximize": True}], lr=0.2)
        closure = _closure(opt, lambda: (x * y).sum())
        for _ in range(n_steps):
            opt.step(closure)
        return math.hypot(x.item(), y.item())

    assert run(torch.optim.SGD) > 10.0       # |z| grows by sqrt(1 + lr^2) per step
    assert run(ExtraGradient) < 1e-1         # shrinks by sqrt(1 - lr^2 + lr^4)


def test_projections_match_cvxpy():
    cp = pytest.importorskip("cvxpy")
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        v = torch.randn(7, generator=g, dtype=D64) * 2
        for fn, cons in ((project_simplex, lambda z: [z >= 0, cp.sum(z) == 1.5]),
                         (project_l1_ball, lambda z: [cp.norm1(z) <= 1.5])):
            z = cp.Variable(7)
            cp.Problem(cp.Minimize(cp.sum_squares(z - v.numpy())), cons(z)).solve(solver="CLARABEL")
            np.testing.assert_allclose(fn(v, radius=1.5).numpy(), z.value, atol=1e-6)
    inside = torch.tensor([0.1, -0.2], dtype=D64)
    assert torch.equal(project_l1_ball(inside), inside)
    rows = project_simplex(torch.randn(5, 4, generator=g, dtype=D64))
    torch.testing.assert_close(rows.sum(-1), torch.ones(5, dtype=D64))


def _truncated_by_cvxpy(x0, a, b, lr):
    cp = pytest.importorskip("cvxpy")
    r = float(a @ x0 - b)
    f0, g = 0.5 * r * r, (r * a).numpy()
    z = cp.Variable(a.shape[0])
    obj = cp.maximum(f0 + g @ (z - x0.numpy()), 0) + cp.sum_squares(z - x0.numpy()) / (2 * lr)
    cp.Problem(cp.Minimize(obj)).solve(solver="CLARABEL", tol_gap_abs=1e-14, tol_gap_rel=1e-14,
                                       tol_feas=1e-14)
    return z.value


def _one_aprox_step(seed, d, b, lr, model):
    """One AProx step on the least-squares loss 0.5 (a.w - b)^2 from a random x0."""
    g = torch.Generator().manual_seed(seed)
    a, x0 = torch.randn(d, generator=g, dtype=D64), torch.randn(d, generator=g, dtype=D64)
    b = torch.tensor(b, dtype=D64)
    w = x0.clone().requires_grad_(True)
    opt = AProx([w], lr=lr, model=model)
    opt.step(_closure(opt, lambda: 0.5 * (a @ w - b) ** 2))
    return a, x0, b, w


@pytest.mark.parametrize("lr", [0.01, 0.3, 100.0])
def test_aprox_truncated_step_equals_the_model_prox_from_cvxpy(lr):
    a, x0, b, w = _one_aprox_step(2, 5, 1.3, lr, "truncated")
    np.testing.assert_allclose(w.detach().numpy(), _truncated_by_cvxpy(x0, a, b, lr), atol=1e-8, rtol=0)


@pytest.mark.parametrize("lr", [0.05, 1.0, 1000.0])
def test_aprox_proximal_step_equals_the_least_squares_prox(lr):
    a, x0, b, w = _one_aprox_step(3, 6, -0.4, lr, "proximal")
    exact = x0 - lr * (a @ x0 - b) / (1 + lr * a @ a) * a
    torch.testing.assert_close(w.detach(), exact, rtol=0, atol=1e-8)


def test_aprox_linear_model_is_sgd():
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(8, 3, generator=g, dtype=D64), torch.randn(8, generator=g, dtype=D64)
    w1, w2 = torch.zeros(3, dtype=D64, requires_grad=True), torch.zeros(3, dtype=D64, requires_grad=True)
    o1, o2 = AProx([w1], lr=0.05, model="linear"), torch.optim.SGD([w2], lr=0.05)
    for i in range(8):
        for w, o in ((w1, o1), (w2, o2)):
            o.step(_closure(o, lambda w=w, i=i: 0.5 * (a[i] @ w - b[i]) ** 2))
    torch.testing.assert_close(w1, w2, rtol=0, atol=1e-15)


def test_aprox_truncated_survives_huge_steps_where_sgd_diverges():
    g = torch.Generator().manual_seed(5)
    a = torch.randn(50, 5, generator=g, dtype=D64)
    b = a @ torch.randn(5, generator=g, dtype=D64)

    def final(model):
        w = torch.zeros(5, dtype=D64, requires_grad=True)
        opt = AProx([w], lr=30.0, model=model)
        for k in range(200):
            i = k % 50
            opt.step(_closure(opt, lambda i=i: 0.5 * (a[i] @ w - b[i]) ** 2))
            if not bool(torch.isfinite(w).all()) or w.detach().abs().max() > 1e6:
                return math.inf
        return float(((a @ w.detach() - b) ** 2).mean())

    assert final("linear") == math.inf
    assert final("truncated") < 1e-6
    assert final("proximal") < 1e-6


def test_unixgrad_converges_fast_on_a_smooth_constrained_problem():
    target = torch.tensor([0.7, 0.5, -0.2, 0.1], dtype=D64)
    x = torch.full((4,), 0.25, dtype=D64, requires_grad=True)
    opt = UniXGrad([x], diameter=1.0, constraint="simplex")
    closure = _closure(opt, lambda: ((x - target) ** 2).sum())
    for _ in range(300):
        opt.step(closure)
    torch.testing.assert_close(x.detach(), project_simplex(target), rtol=0, atol=1e-6)
    state = opt.state_dict()
    other = UniXGrad([x], diameter=1.0, constraint="simplex")
    other.load_state_dict(state)
    assert other._t == 300 and other._sum_sq == opt._sum_sq


def test_bad_inputs():
    x = torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="lr"):
        ExtraGradient([x], lr=-1.0)
    with pytest.raises(TypeError, match="closure"):
        ExtraGradient([x], lr=0.1).step()
    with pytest.raises(ValueError, match="strictly positive"):
        MirrorProx([x], lr=0.1).step(lambda: x.sum())
    with pytest.raises(ValueError, match="model"):
        AProx([x], model="quadratic")
    with pytest.raises(ValueError, match="sum to 1"):
        duality_gap(torch.eye(2), torch.tensor([0.5, 0.6]), torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match="radius"):
        project_simplex(torch.ones(3), radius=0.0)


@pytest.mark.gpu
def test_gpu_core_path():
    a = _game().cuda()
    m, n = a.shape
    x = torch.full((m,), 1 / m, dtype=D64, device="cuda", requires_grad=True)
    y = torch.full((n,), 1 / n, dtype=D64, device="cuda", requires_grad=True)
    opt = ExtraGradient([{"params": [x]}, {"params": [y], "maximize": True}], lr=0.8, constraint="simplex")
    closure = _closure(opt, lambda: x @ a @ y)
    for _ in range(400):
        opt.step(closure)
    assert x.device.type == "cuda"
    assert duality_gap(a, x.detach(), y.detach()) < 1e-4
    v = torch.randn(5, 7, device="cuda", dtype=D64)
    torch.testing.assert_close(project_l1_ball(v).cpu(), project_l1_ball(v.cpu()))
