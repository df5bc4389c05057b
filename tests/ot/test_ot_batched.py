"""Batched log-domain Sinkhorn (nips2019.ot.sinkhorn_log): POT, exact OT, gradients, numerics, bad input."""

import warnings

import numpy as np
import ot as pot
import pytest
import torch

from nips2019.ot import ConvergenceWarning, exact_ot, sinkhorn_log

F64 = dict(dtype=torch.float64)


def _problem(batch=(3,), n=6, m=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    cost = torch.rand(*batch, n, m, generator=g, dtype=dtype)
    a = torch.rand(*batch, n, generator=g, dtype=dtype) + 0.2
    b = torch.rand(*batch, m, generator=g, dtype=dtype) + 0.2
    return a / a.sum(-1, keepdim=True), b / b.sum(-1, keepdim=True), cost


def test_plan_matches_pot_sinkhorn_log_per_problem():
    a, b, cost = _problem(batch=(2, 3))
    res = sinkhorn_log(a, b, cost, reg=0.05, tol=1e-13)
    assert res.converged and res.plan.shape == (2, 3, 6, 5) and res.f.shape == (2, 3, 6)
    for idx in np.ndindex(2, 3):
        ref = pot.sinkhorn(a[idx].numpy(), b[idx].numpy(), cost[idx].numpy(), 0.05, method="sinkhorn_log",
                           stopThr=1e-14, numItermax=100_000)
        np.testing.assert_allclose(res.plan[idx].numpy(), ref, atol=1e-10, rtol=0)
    # columns exact, rows to tol
    torch.testing.assert_close(res.plan.sum(-2), b, rtol=0, atol=1e-14)
    assert float(res.err.max()) < 1e-13
    torch.testing.assert_close((res.plan.sum(-1) - a).abs().sum(-1), res.err, rtol=0, atol=1e-13)


def test_broadcast_batch_and_uniform_defaults():
    _, b, cost = _problem(batch=(4,))
    res = sinkhorn_log(None, b[0], cost, reg=0.1, tol=1e-12)
    for k in range(4):
        one = sinkhorn_log(None, b[0], cost[k], reg=0.1, tol=1e-12)
        torch.testing.assert_close(res.plan[k], one.plan, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.plan.sum(-1), torch.full((4, 6), 1 / 6, **F64), rtol=0, atol=1e-11)


def test_dual_value_equals_primal_objective_and_potentials_gauge():
    a, b, cost = _problem()
    res = sinkhorn_log(a, b, cost, reg=0.1, tol=1e-13)
    dual = (a * res.f).sum(-1) + (b * res.g).sum(-1)
    torch.testing.assert_close(res.objective, dual, rtol=0, atol=1e-12)
    plan = res.plan
    kl = (plan * (plan / (a[..., None] * b[..., None, :])).log()).sum((-2, -1))  # masses are 1
    torch.testing.assert_close(res.objective, res.value + 0.1 * kl, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.f.sum(-1), res.g.sum(-1), rtol=0, atol=1e-12)


def test_small_reg_with_scaling_reaches_the_exact_plan():
    a, b, cost = _problem(batch=(3,), n=7, m=7, seed=3)
    res = sinkhorn_log(a, b, cost, reg=1e-4, tol=1e-9, max_iter=20_000)
    assert res.converged
    for k in range(3):
        exact = exact_ot(a[k], b[k], cost[k])
        torch.testing.assert_close(res.plan[k], exact.plan, rtol=0, atol=1e-4)
        assert abs(float(res.value[k] - exact.value)) < 1e-4
    # without scaling the same budget is not enough at this reg
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        slow = sinkhorn_log(a, b, cost, reg=1e-4, tol=1e-9, max_iter=res.n_iter, reg_scaling=False)
    assert not slow.converged and float(slow.err.max()) > 1e-9


def test_float32_tiny_reg_stays_finite():
    a, b, cost = _problem(dtype=torch.float32)
    res = sinkhorn_log(a, b, cost * 100, reg=1e-3, tol=1e-5, max_iter=50_000)
    assert res.plan.dtype == torch.float32 and bool(torch.isfinite(res.plan).all())
    assert bool(torch.isfinite(res.f).all()) and res.converged


def _loss(res):
    w = torch.arange(res.plan[0].numel(), dtype=res.plan.dtype).reshape(res.plan.shape[-2:]).sin()
    return (res.plan * w).sum() + (res.f * torch.arange(res.f.shape[-1])).sum() + (res.g ** 2).sum() \
        + 0.3 * res.objective.sum()


@pytest.mark.parametrize("reg", [0.05, 0.5])
def test_implicit_gradient_matches_unrolled_and_finite_differences(reg):
    a, b, cost = _problem(batch=(2,), n=5, m=4)
    grads = {}
    for mode in ("implicit", "unroll"):
        c, aa, bb = (t.clone().requires_grad_() for t in (cost, a, b))
        _loss(sinkhorn_log(aa, bb, c, reg=reg, tol=1e-13, grad=mode)).backward()
        grads[mode] = (c.grad, aa.grad, bb.grad)
    torch.testing.assert_close(grads["implicit"][0], grads["unroll"][0], rtol=1e-6, atol=1e-8)
    # weights: only mass-preserving directions are meaningful; the two agree up to a constant
    for i in (1, 2):
        diff = grads["implicit"][i] - grads["unroll"][i]
        torch.testing.assert_close(diff, diff.mean(-1, keepdim=True).expand_as(diff), rtol=0, atol=1e-7)
    h = 1e-6
    direction = torch.randn(cost.shape, generator=torch.Generator().manual_seed(1), **F64)
    fd = (_loss(sinkhorn_log(a, b, cost + h * direction, reg=reg, tol=1e-13))
          - _loss(sinkhorn_log(a, b, cost - h * direction, reg=reg, tol=1e-13))) / (2 * h)
    assert abs(float(fd - (grads["implicit"][0] * direction).sum())) < 1e-6 * max(1.0, abs(float(fd)))
    d = torch.zeros_like(a)
    d[0, 0], d[0, 3], d[1, 2], d[1, 4] = 1.0, -1.0, 0.5, -0.5
    fd = (_loss(sinkhorn_log(a + h * d, b, cost, reg=reg, tol=1e-13))
          - _loss(sinkhorn_log(a - h * d, b, cost, reg=reg, tol=1e-13))) / (2 * h)
    assert abs(float(fd - (grads["implicit"][1] * d).sum())) < 1e-6 * max(1.0, abs(float(fd)))


def test_objective_gradient_is_the_plan():
    a, b, cost = _problem()
    c = cost.clone().requires_grad_()
    res = sinkhorn_log(a, b, c, reg=0.2, tol=1e-13)
    res.objective.sum().backward()
    torch.testing.assert_close(c.grad, res.plan.detach(), rtol=0, atol=1e-10)


def test_reaching_max_iter_warns():
    a, b, cost = _problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.raises(ConvergenceWarning, match="max_iter = 3"):
            sinkhorn_log(a, b, cost, reg=0.01, max_iter=3)


def test_bad_input():
    a, b, cost = _problem()
    with pytest.raises(ValueError, match="equal mass"):
        sinkhorn_log(a * 2, b, cost, reg=0.1)
    with pytest.raises(ValueError, match="do not broadcast"):
        sinkhorn_log(a[:2], b, cost, reg=0.1)
    with pytest.raises(ValueError, match="cost must be at least 2-D"):
        sinkhorn_log(None, None, cost[0, 0], reg=0.1)
    with pytest.raises(ValueError, match="a has size 5"):
        sinkhorn_log(a[..., :5], b, cost, reg=0.1)
    with pytest.raises(TypeError, match="b has dtype torch.float32"):
        sinkhorn_log(a, b.float(), cost, reg=0.1)


@pytest.mark.gpu
def test_gpu_matches_cpu():
    a, b, cost = _problem(batch=(8,), n=20, m=20)
    cpu = sinkhorn_log(a, b, cost, reg=1e-3, tol=1e-9)
    c = cost.cuda().requires_grad_()
    gpu = sinkhorn_log(a.cuda(), b.cuda(), c, reg=1e-3, tol=1e-9)
    assert gpu.plan.is_cuda and gpu.f.is_cuda
    torch.testing.assert_close(gpu.plan.cpu(), cpu.plan, rtol=0, atol=1e-8)
    gpu.objective.sum().backward()
    torch.testing.assert_close(c.grad.cpu(), cpu.plan, rtol=0, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# Kernel-domain fast path, the symmetric solver, Newton on a singular Hessian
# ---------------------------------------------------------------------------------------------

def _clouds_cost(n=40, m=30, seed=20, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, n, 2, generator=g, dtype=dtype)
    y = 0.7 * torch.randn(2, m, 2, generator=g, dtype=dtype) + 1.0
    return torch.cdist(x, y) ** 2


@pytest.mark.parametrize("dtype,reg", [(torch.float64, 1.0), (torch.float64, 0.3), (torch.float32, 2.0)])
def test_kernel_domain_fast_path_equals_the_log_domain(monkeypatch, dtype, reg):
    """Where max |C| / reg is within the dtype's limit, the kernel-domain stages are used and give
    the log-domain plan to the solver's tolerance."""
    from nips2019.ot import _batched

    cost = _clouds_cost(dtype=dtype)
    assert _batched._kernel_domain_ok(cost, reg)
    calls = []
    orig = _batched._kernel_stage
    monkeypatch.setattr(_batched, "_kernel_stage", lambda *a: calls.append(1) or orig(*a))
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    fast = _batched._sinkhorn_log(None, None, cost, reg, tol=tol)
    slow = _batched._sinkhorn_log(None, None, cost, reg, tol=tol, kernel=False)
    assert calls and fast.converged and slow.converged
    atol = 1e-12 if dtype == torch.float64 else 1e-6
    torch.testing.assert_close(fast.plan, slow.plan, rtol=0, atol=atol)
    torch.testing.assert_close(fast.objective, slow.objective, rtol=1e-9 if dtype == torch.float64 else 1e-5,
                               atol=0)
    ref = pot.sinkhorn(np.full(40, 1 / 40), np.full(30, 1 / 30), cost[0].double().numpy(), reg,
                       stopThr=1e-13, numItermax=100_000)
    np.testing.assert_allclose(fast.plan[0].double().numpy(), ref, rtol=0, atol=10 * atol)


def test_kernel_domain_is_not_used_where_the_kernel_would_underflow(monkeypatch):
    from nips2019.ot import _batched

    cost = _clouds_cost(dtype=torch.float32)
    assert not _batched._kernel_domain_ok(cost, 0.2)  # max C / reg > 21.8 in float32
    monkeypatch.setattr(_batched, "_kernel_stage", lambda *a: pytest.fail("kernel stage used"))
    res = sinkhorn_log(None, None, cost, reg=0.2, tol=1e-5)
    assert torch.isfinite(res.plan).all() and res.converged


def test_kernel_stage_falls_back_to_the_log_domain_on_a_non_finite_scaling(monkeypatch):
    from nips2019.ot import _batched

    cost = _clouds_cost()
    monkeypatch.setattr(_batched, "_kernel_stage", lambda *a: None)  # as if a scaling overflowed
    res = sinkhorn_log(None, None, cost, reg=1.0, tol=1e-10)
    ref = _batched._sinkhorn_log(None, None, cost, 1.0, tol=1e-10, kernel=False)
    torch.testing.assert_close(res.plan, ref.plan, rtol=0, atol=0)


@pytest.mark.parametrize("reg", [1e-3, 0.2, 1.0, 30.0])
def test_symmetric_solver_equals_the_alternating_solver(reg):
    """The averaged symmetric fixed point is the solution of OT_reg(a, a): same objective as
    sinkhorn_log(a, a, C), whichever domain it runs in."""
    from nips2019.ot._batched import _sinkhorn_log_symmetric

    g = torch.Generator().manual_seed(21)
    x = torch.randn(3, 25, 2, generator=g, **F64)
    c = torch.cdist(x, x) ** 2
    a = torch.rand(3, 25, generator=g, **F64) + 0.2
    a = a / a.sum(-1, keepdim=True)
    obj, transport, n_iter, conv = _sinkhorn_log_symmetric(a, c, reg, 10_000, 1e-11, None)
    obj_log, transport_log, _, _ = _sinkhorn_log_symmetric(a, c, reg, 10_000, 1e-11, None, kernel=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sinkhorn_log(a, a, c, reg=reg, tol=1e-11, max_iter=100_000)
    assert conv and n_iter < 1000
    torch.testing.assert_close(obj, obj_log, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(transport, transport_log, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(obj, ref.objective, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(transport, ref.value, rtol=1e-6, atol=1e-8)


def test_newton_skips_a_singular_hessian_and_sinkhorn_finishes(monkeypatch):
    """Soft ranks at reg 1e-4 (near ties): a Newton iterate whose plan has an underflowed row makes
    the Hessian singular; the solve must not raise (it did before: seeds 1, 7, 16 of this draw)."""
    from nips2019.discrete import soft_rank

    singular = []
    solve_ex = torch.linalg.solve_ex

    def spy(h, r):
        sol, info = solve_ex(h, r)
        singular.append(bool((info != 0).any()))
        return sol, info

    monkeypatch.setattr(torch.linalg, "solve_ex", spy)
    x = torch.randn(3, 9, generator=torch.Generator().manual_seed(7), **F64)
    r = soft_rank(x, reg=1e-4, descending=True, tol=1e-10)
    assert any(singular)
    torch.testing.assert_close(r.sum(-1), torch.full((3,), 45.0, **F64), rtol=0, atol=1e-6)
    torch.testing.assert_close(r, 9 - torch.argsort(torch.argsort(x)).to(x.dtype), rtol=0, atol=0.05)
