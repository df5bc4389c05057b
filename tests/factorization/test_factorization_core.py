"""Reference tests for nips2019.factorization: autograd, closed forms, cvxpy, Monte-Carlo dynamics."""

import pytest
import torch

from nips2019 import factorization as fz
from tests.conftest import TOL


def _factors(depth, m=5, n=4, width=3, seed=0, dtype=torch.float64):
    p = fz.make_completion_problem(m, n, 2, 12, generator=seed, dtype=dtype)
    res = fz.deep_factorization(p.target, p.mask, depth=depth, width=width, init_scale=0.7, lr=1e-9, n_steps=1,
                                generator=seed)
    return p, res


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_gradients_match_autograd(depth):
    from nips2019.factorization._deep import _gradients, _product

    p, res = _factors(depth)
    ws = [w.clone().requires_grad_(True) for w in res.factors]
    prod = ws[0]
    for w in ws[1:]:
        prod = w @ prod
    loss = 0.5 * ((prod - p.target) * p.mask).square().sum()
    auto = torch.autograd.grad(loss, ws)
    prefixes = _product(res.factors)
    mine = _gradients(res.factors, prefixes, (prefixes[-1] - p.target) * p.mask)
    for a, b in zip(auto, mine):
        torch.testing.assert_close(b, a, **TOL[torch.float64])


def test_one_step_is_plain_gradient_descent():
    p = fz.make_completion_problem(5, 4, 2, 12, generator=1)
    a = fz.deep_factorization(p.target, p.mask, depth=3, width=3, init_scale=0.5, lr=0.1, n_steps=1, generator=2)
    b = fz.deep_factorization(p.target, p.mask, depth=3, width=3, init_scale=0.5, lr=0.1, n_steps=2, generator=2)
    ws = [w.clone().requires_grad_(True) for w in a.factors]
    loss = 0.5 * (((ws[2] @ ws[1] @ ws[0]) - p.target) * p.mask).square().sum()
    grads = torch.autograd.grad(loss, ws)
    for w, g, w2 in zip(a.factors, grads, b.factors):
        torch.testing.assert_close(w - 0.1 * g, w2, **TOL[torch.float64])


def test_balanced_init_is_balanced():
    p = fz.make_completion_problem(6, 5, 2, 12, generator=0)
    res = fz.deep_factorization(p.target, p.mask, depth=3, width=4, init="balanced", init_scale=0.5, lr=1e-12,
                                n_steps=1, generator=0)
    w1, w2, w3 = res.factors
    torch.testing.assert_close(w2.T @ w2, w1 @ w1.T, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(w3.T @ w3, w2 @ w2.T, rtol=1e-8, atol=1e-12)
    s = res.singular_values[0]
    assert (s[:4] >= 0.5 * 0.5**3 - 1e-12).all() and (s[:4] < 1.5 * 0.5**3).all() and s[4:].abs().max() < 1e-12


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_singular_value_rates_match_a_small_step(depth):
    """Arora et al.'s singular-value dynamics: the measured change of sigma_r over a tiny step vs the formula."""
    p = fz.make_completion_problem(6, 5, 2, 20, generator=3)
    lr = 1e-7
    res = fz.deep_factorization(p.target, p.mask, depth=depth, init="balanced", init_scale=0.8, lr=lr, n_steps=1,
                                record_every=1, generator=4)
    from nips2019.factorization._deep import _init  # noqa: F401  (the start is the record at step 0)

    prod0 = res.singular_values[0]
    # rebuild the start: one step of size 0 from the same generator
    start = fz.deep_factorization(p.target, p.mask, depth=depth, init="balanced", init_scale=0.8, lr=1e-300,
                                  n_steps=1, generator=4).product
    grad = (start - p.target) * p.mask
    predicted = fz.singular_value_rates(start, grad, depth=depth)
    measured = (res.singular_values[1] - prod0) / lr
    torch.testing.assert_close(measured, predicted, rtol=1e-4, atol=1e-6)


def test_depth_one_never_moves_unobserved_entries():
    p = fz.make_completion_problem(8, 8, 2, 30, generator=0)
    res = fz.deep_factorization(p.target, p.mask, depth=1, init_scale=1e-3, lr=0.5, n_steps=200, generator=0)
    start = fz.deep_factorization(p.target, p.mask, depth=1, init_scale=1e-3, lr=1e-300, n_steps=1,
                                  generator=0).product
    torch.testing.assert_close(res.product[~p.mask], start[~p.mask])
    torch.testing.assert_close(res.product[p.mask], p.target[p.mask], rtol=0, atol=1e-10)


def test_depth_two_recovers_a_rank_one_matrix_in_a_batch():
    p = fz.make_completion_problem(12, 12, 1, [60, 90], generator=0)
    both = fz.deep_factorization(p.target.expand(2, 12, 12), p.mask, depth=2, init_scale=1e-3, lr=0.5,
                                 n_steps=3000, tol=1e-6, generator=0)
    err = fz.relative_error(both.product, p.target, ~p.mask)
    assert (err < 1e-2).all(), err
    assert both.singular_values.shape[1:] == (2, 12) and both.train_loss.shape[1] == 2


def test_effective_rank_closed_forms():
    assert fz.effective_rank(torch.diag(torch.tensor([5.0, 0, 0]))).item() == pytest.approx(1.0)
    assert fz.effective_rank(torch.eye(4, dtype=torch.float64)).item() == pytest.approx(4.0)
    s = torch.tensor([3.0, 1.0], dtype=torch.float64)
    p = s / s.sum()
    assert fz.effective_rank(torch.diag(s)).item() == pytest.approx(float(torch.exp(-(p * p.log()).sum())))
    assert fz.effective_rank(torch.zeros(3, 3)).item() == 0.0
    assert fz.effective_rank(torch.zeros(2, 3, 3)).shape == (2,)


def test_nuclear_norm_completion_matches_clarabel():
    import cvxpy as cp

    p = fz.make_completion_problem(8, 7, 2, 30, generator=5)
    ours = fz.nuclear_norm_completion(p.target, p.mask)
    w = cp.Variable((8, 7))
    k = p.mask.numpy().astype(float)
    cp.Problem(cp.Minimize(cp.normNuc(w)), [cp.multiply(k, w) == k * p.target.numpy()]).solve(solver=cp.CLARABEL)
    torch.testing.assert_close(ours, torch.as_tensor(w.value), rtol=0, atol=1e-5)
    torch.testing.assert_close(ours[p.mask], p.target[p.mask], rtol=0, atol=1e-7)


def test_full_observation_gives_the_target_back():
    p = fz.make_completion_problem(5, 5, 2, 25, generator=0)
    torch.testing.assert_close(fz.nuclear_norm_completion(p.target, p.mask), p.target, rtol=0, atol=1e-6)


def test_problem_sets_are_nested_and_reproducible():
    a = fz.make_completion_problem(10, 9, 3, [20, 40, 60], generator=7)
    b = fz.make_completion_problem(10, 9, 3, [20, 40, 60], generator=7)
    torch.testing.assert_close(a.target, b.target)
    assert torch.equal(a.mask, b.mask)
    assert (a.mask[0] <= a.mask[1]).all() and (a.mask[1] <= a.mask[2]).all()
    assert torch.linalg.matrix_rank(a.target).item() == 3
    assert torch.linalg.matrix_norm(a.target).item() == pytest.approx(1.0)


def test_relative_error_on_a_mask():
    t = torch.ones(2, 2, dtype=torch.float64)
    e = torch.tensor([[1.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    mask = torch.tensor([[False, False], [True, True]])
    assert fz.relative_error(e, t, mask).item() == pytest.approx(2 / 2**0.5)


def test_bad_inputs():
    p = fz.make_completion_problem(5, 4, 2, 10, generator=0)
    with pytest.raises(ValueError, match="depth"):
        fz.deep_factorization(p.target, p.mask, depth=0)
    with pytest.raises(TypeError, match="mask"):
        fz.deep_factorization(p.target, p.mask.double())
    with pytest.raises(ValueError, match="init"):
        fz.deep_factorization(p.target, p.mask, init="orthogonal")


@pytest.mark.gpu
def test_gpu_matches_cpu():
    p = fz.make_completion_problem(10, 10, 2, [40, 60], generator=0)
    kw = dict(depth=3, init_scale=0.1, lr=0.5, n_steps=200, generator=0)
    cpu = fz.deep_factorization(p.target.expand(2, 10, 10), p.mask, **kw)
    gpu = fz.deep_factorization(p.target.expand(2, 10, 10).cuda(), p.mask.cuda(), **kw)
    assert gpu.product.device.type == "cuda"
    torch.testing.assert_close(gpu.product.cpu(), cpu.product, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(fz.effective_rank(gpu.product).cpu(), fz.effective_rank(cpu.product))
