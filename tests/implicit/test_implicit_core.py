"""Reference tests of nips2019.implicit: closed forms, autograd through unrolled iterations, gradcheck."""

import pytest
import torch

from nips2019.implicit import (DEQ, ContractiveCell, WeightTiedStack, fit_classifier, fixed_point,
                               saved_tensor_bytes)

F64 = torch.float64


def _linear(n_in=3, n_h=6, gamma=0.8, seed=0, dtype=F64, device="cpu"):
    return ContractiveCell(n_in, n_h, activation="identity", contraction=gamma, generator=seed).to(device, dtype)


def _x(b=5, d=3, seed=1, dtype=F64, device="cpu"):
    return torch.randn(b, d, generator=torch.Generator().manual_seed(seed), dtype=dtype).to(device)


@pytest.mark.parametrize("method", ["anderson", "broyden", "picard"])
def test_linear_deq_closed_form(method):
    """z* = (I - W)^{-1}(U x + b) to 1e-8, for every solver."""
    cell = _linear()
    x = _x()
    deq = DEQ(cell, method=method, max_iter=300, tol=1e-12)
    with torch.no_grad():
        z = deq(x)
        w = cell.weight()
        ref = torch.linalg.solve(torch.eye(6, dtype=F64) - w, (x @ cell.u.T + cell.b).T).T
    torch.testing.assert_close(z, ref, rtol=0, atol=1e-8)
    assert deq.forward_result.converged


def test_solvers_agree_on_nonlinear_problem():
    cell = ContractiveCell(3, 8, contraction=0.9, generator=2).double()
    x = _x(seed=3)
    zs = [DEQ(cell, method=m, max_iter=500, tol=1e-12)(x).detach() for m in ("anderson", "broyden", "picard")]
    torch.testing.assert_close(zs[0], zs[2], rtol=0, atol=1e-9)
    torch.testing.assert_close(zs[1], zs[2], rtol=0, atol=1e-9)


def test_anderson_needs_fewer_iterations_than_picard():
    """A slow contraction (symmetric Jacobian, rate up to 0.97): Anderson needs far fewer calls of f."""
    q = torch.linalg.qr(torch.randn(32, 32, generator=torch.Generator().manual_seed(4), dtype=F64))[0]
    a = q @ torch.diag(torch.linspace(0, 0.97, 32, dtype=F64)) @ q.T
    c = 0.1 * _x(16, 32, seed=5)
    f = lambda z: torch.tanh(z @ a + c)  # noqa: E731
    z0 = torch.zeros(16, 32, dtype=F64)
    pic = fixed_point(f, z0, method="picard", max_iter=2000, tol=1e-8)
    and_ = fixed_point(f, z0, method="anderson", max_iter=2000, tol=1e-8)
    bro = fixed_point(f, z0, method="broyden", max_iter=2000, m=30, tol=1e-8)
    assert pic.converged and and_.converged and bro.converged
    assert and_.n_iter < 0.5 * pic.n_iter, (and_.n_iter, pic.n_iter)
    assert bro.n_iter < pic.n_iter, (bro.n_iter, pic.n_iter)
    torch.testing.assert_close(and_.z, pic.z, rtol=0, atol=1e-6)


def test_picard_rate_matches_contraction():
    """For f(z) = a z + c the residual falls exactly like a^k."""
    c = torch.ones(2, 3, dtype=F64)
    res = fixed_point(lambda z: 0.5 * z + c, torch.zeros(2, 3, dtype=F64), method="picard", max_iter=60, tol=1e-14)
    h = torch.tensor(res.history[1:10], dtype=F64)
    ratios = h[1:] / h[:-1]
    torch.testing.assert_close(ratios, torch.full_like(ratios, 0.5), rtol=0.15, atol=0)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_implicit_gradient_equals_unrolled_autograd(activation):
    """Implicit gradients = autograd through 200 unrolled iterations, to 1e-6."""
    cell = ContractiveCell(3, 6, activation=activation, contraction=0.7, generator=6).double()
    x = _x(seed=7).requires_grad_()
    target = _x(5, 6, seed=8)
    grads = {}
    for mode in ("implicit", "unroll"):
        deq = DEQ(cell, backward=mode, max_iter=200 if mode == "unroll" else 100, tol=1e-12, backward_tol=1e-12)
        loss = ((deq(x) - target) ** 2).sum()
        grads[mode] = torch.autograd.grad(loss, [x, *cell.parameters()])
    for a, b in zip(grads["implicit"], grads["unroll"]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


@pytest.mark.parametrize("method", ["anderson", "broyden"])
def test_gradcheck_float64(method):
    cell = ContractiveCell(2, 4, contraction=0.6, generator=9).double()
    deq = DEQ(cell, method=method, backward_method=method, max_iter=200, tol=1e-13, backward_tol=1e-13,
              backward_max_iter=200)
    x = _x(3, 2, seed=10).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: deq(x), (x,), eps=1e-6, atol=1e-6)

    def of_v(v):  # gradient with respect to a parameter, through the functional call
        return torch.func.functional_call(deq, {"cell.v": v}, (x.detach(),))

    assert torch.autograd.gradcheck(of_v, (cell.v.detach().clone().requires_grad_(),), eps=1e-6, atol=1e-6)


def test_backward_reports_convergence():
    cell = ContractiveCell(3, 5, contraction=0.5, generator=11).double()
    deq = DEQ(cell)
    deq(_x()).square().sum().backward()
    assert deq.backward_result.converged and deq.backward_result.n_iter >= 1
    assert cell.v.grad is not None and torch.isfinite(cell.v.grad).all()


def test_weight_tied_stack_converges_to_deq():
    cell = ContractiveCell(3, 5, contraction=0.5, generator=12).double()
    x = _x()
    deep = WeightTiedStack(cell, 60)(x)
    torch.testing.assert_close(deep, DEQ(cell, tol=1e-12)(x), rtol=0, atol=1e-10)


def test_memory_constant_in_depth_for_deq():
    cell = ContractiveCell(8, 32, generator=13)
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    stack = [saved_tensor_bytes(lambda n=n: WeightTiedStack(cell, n)(x)) for n in (5, 10, 20)]
    deq = [saved_tensor_bytes(lambda t=t: DEQ(cell, tol=t)(x)) for t in (1e-2, 1e-4, 1e-6)]
    slope1, slope2 = (stack[1] - stack[0]) / 5, (stack[2] - stack[1]) / 10
    assert slope1 > 0 and abs(slope2 - slope1) <= 0.05 * slope1, stack  # linear in depth
    assert max(deq) == min(deq) < stack[0]


def test_spectral_cap_holds_after_training():
    cell = ContractiveCell(2, 6, contraction=0.8, generator=14)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
    y = (x.norm(dim=1) > 1).long()
    model = torch.nn.Sequential(DEQ(cell), torch.nn.Linear(6, 2))
    fit = fit_classifier(model, x, y, n_epochs=5, batch_size=16, lr=0.1, generator=0)
    assert torch.linalg.matrix_norm(cell.weight().detach(), 2) <= 0.8 + 1e-5
    assert len(fit.n_iter) == 20 and len(fit.backward_iter) == 20
    assert torch.isfinite(fit.losses).all()


def test_fit_classifier_is_reproducible():
    x = torch.randn(30, 2, generator=torch.Generator().manual_seed(2))
    y = (x[:, 1] > 0).long()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = torch.nn.Sequential(DEQ(ContractiveCell(2, 4, generator=3)), torch.nn.Linear(4, 2))
        runs.append(fit_classifier(model, x, y, n_epochs=2, batch_size=8, generator=5).losses)
    torch.testing.assert_close(runs[0], runs[1])


def test_dtype_and_device_follow_inputs(dtype):
    cell = ContractiveCell(3, 4, generator=0).to(dtype)
    z = DEQ(cell)(_x(dtype=dtype))
    assert z.dtype == dtype
    res = fixed_point(lambda z: 0.5 * z + 1, torch.zeros(2, 2, dtype=dtype))
    assert res.z.dtype == dtype and res.residual.dtype == dtype


# ------------------------------------------------------------------------------------------- bad input


def test_bad_inputs():
    with pytest.raises(ValueError, match="f\\(z0\\) must have z0's shape"):
        fixed_point(lambda z: z.sum(1), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="f failed on z0"):
        fixed_point(lambda z: z @ torch.ones(4, 4), torch.zeros(2, 3))
    with pytest.raises(FloatingPointError, match="diverged"):
        fixed_point(lambda z: 3 * z + 1, torch.zeros(2, 3), method="picard", max_iter=2000)
    with pytest.raises(ValueError, match="contraction must be a real number in \\(0, 1\\)"):
        ContractiveCell(2, 3, contraction=1.0)
    cell = ContractiveCell(2, 3, generator=0)
    with pytest.raises(ValueError, match="x must have shape \\(B, 2\\)"):
        DEQ(cell)(torch.zeros(4, 3))
    with pytest.raises(TypeError, match="x has torch.float64"):
        DEQ(cell)(torch.zeros(4, 2, dtype=F64))
    with pytest.raises(ValueError, match="z0 must have shape \\(4, 3\\)"):
        DEQ(cell)(torch.zeros(4, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="y has label 5"):
        fit_classifier(torch.nn.Sequential(DEQ(cell), torch.nn.Linear(3, 2)), torch.zeros(4, 2),
                       torch.tensor([0, 1, 5, 0]))


def test_non_contraction_reports_no_convergence():
    """A cell that is not a contraction: the result says so rather than returning garbage silently."""
    res = fixed_point(lambda z: -z + 1.0, torch.zeros(2, 3, dtype=F64), method="picard", max_iter=20)
    assert not res.converged and float(res.residual.min()) > 0.1


@pytest.mark.gpu
def test_deq_on_cuda():
    cell = ContractiveCell(3, 6, contraction=0.7, generator=6).double().cuda()
    x = _x(device="cuda").requires_grad_()
    grads = {}
    for mode in ("implicit", "unroll"):
        deq = DEQ(cell, backward=mode, max_iter=200 if mode == "unroll" else 100, tol=1e-12, backward_tol=1e-12)
        grads[mode] = torch.autograd.grad(deq(x).square().sum(), [x, cell.v])
        assert deq.forward_result.z.device.type == "cuda"
    for a, b in zip(grads["implicit"], grads["unroll"]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    for method in ("anderson", "broyden", "picard"):
        res = fixed_point(lambda z: 0.5 * torch.tanh(z) + 1, torch.zeros(64, 128, device="cuda"), method=method)
        assert res.converged and res.z.device.type == "cuda"
