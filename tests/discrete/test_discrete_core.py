"""nips2019.discrete: solvers vs brute force, the interpolation gradient, soft sort/rank/quantile limits."""

import functools
import itertools

import numpy as np
import pytest
import torch
from scipy.stats import rankdata

from nips2019.discrete import (
    argmin_assignment,
    argmin_shortest_path,
    argmin_top_k,
    blackbox_interpolation,
    blackbox_solve,
    make_shortest_path_data,
    soft_quantile,
    soft_rank,
    soft_sort,
)

F64 = dict(dtype=torch.float64)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------------
# Solvers vs brute force
# ---------------------------------------------------------------------------------------------


def test_assignment_matches_brute_force_5x5():
    w = torch.rand(4, 5, 5, generator=_gen(0), **F64)
    y = argmin_assignment(w)
    perms = np.array(list(itertools.permutations(range(5))))
    for k in range(4):
        best = perms[np.argmin(w[k].numpy()[np.arange(5), perms].sum(1))]
        ref = torch.zeros(5, 5, **F64)
        ref[list(range(5)), list(best)] = 1.0
        torch.testing.assert_close(y[k], ref, rtol=0, atol=0)


def _simple_paths(h, w, neighbours):
    steps = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if neighbours == 8:
        steps += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    out, path, seen = [], [(0, 0)], {(0, 0)}

    def dfs(r, c):
        if (r, c) == (h - 1, w - 1):
            out.append(list(path))
            return
        for dr, dc in steps:
            nxt = (r + dr, c + dc)
            if 0 <= nxt[0] < h and 0 <= nxt[1] < w and nxt not in seen:
                seen.add(nxt)
                path.append(nxt)
                dfs(*nxt)
                path.pop()
                seen.remove(nxt)

    dfs(0, 0)
    return out


@pytest.mark.parametrize("side,neighbours", [(5, 4), (3, 8)])
def test_shortest_path_matches_brute_force(side, neighbours):
    paths = _simple_paths(side, side, neighbours)
    assert len(paths) == {4: 8512, 8: 235}[neighbours]  # self-avoiding corner-to-corner paths
    w = torch.rand(3, side, side, generator=_gen(1), **F64) + 0.1
    y = argmin_shortest_path(w, neighbours=neighbours)
    for k in range(3):
        wk = w[k].numpy()
        costs = [sum(wk[r, c] for r, c in p) for p in paths]
        best = paths[int(np.argmin(costs))]
        ref = torch.zeros(side, side, **F64)
        for r, c in best:
            ref[r, c] = 1.0
        torch.testing.assert_close(y[k], ref, rtol=0, atol=0)
        assert abs(float((y[k] * w[k]).sum()) - min(costs)) < 1e-12


def test_top_k_matches_brute_force():
    w = torch.randn(3, 7, generator=_gen(2), **F64)
    y = argmin_top_k(w, 3)
    for k in range(3):
        best = min(itertools.combinations(range(7), 3), key=lambda s: sum(float(w[k, i]) for i in s))
        assert set(torch.nonzero(y[k]).flatten().tolist()) == set(best)


def test_solvers_keep_dtype_and_shape():
    w = torch.rand(2, 3, 4, 4, generator=_gen(3))
    for solver in (argmin_assignment, argmin_shortest_path, functools.partial(argmin_top_k, k=2)):
        y = solver(w)
        assert y.shape == w.shape and y.dtype == torch.float32
        assert set(y.unique().tolist()) <= {0.0, 1.0}


# ---------------------------------------------------------------------------------------------
# The interpolation gradient
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["assignment", "shortest_path", "top_k"])
@pytest.mark.parametrize("lam", [0.3, 3.0])
def test_backward_is_the_gradient_of_the_interpolation(name, lam):
    solver = {"assignment": argmin_assignment, "shortest_path": argmin_shortest_path,
              "top_k": functools.partial(argmin_top_k, k=3)}[name]
    g = _gen(4)
    w = torch.rand(2, 5, 5, generator=g, **F64) + 0.5
    grad_y = torch.randn(2, 5, 5, generator=g, **F64)
    wr = w.clone().requires_grad_()
    y = blackbox_solve(wr, solver, lam=lam)
    (y * grad_y).sum().backward()  # a loss linear in y, with gradient grad_y
    # central finite differences of f_lambda (piecewise affine: exact away from its kinks)
    h = 1e-7
    fd = torch.zeros_like(w)
    for idx in np.ndindex(*w.shape):
        e = torch.zeros_like(w)
        e[idx] = h
        fd[idx] = (blackbox_interpolation(w + e, solver, grad_y, lam=lam)
                   - blackbox_interpolation(w - e, solver, grad_y, lam=lam)) / (2 * h)
    torch.testing.assert_close(wr.grad, fd, rtol=0, atol=1e-6)
    assert float(wr.grad.abs().sum()) > 0  # the perturbation changed the solution somewhere


def test_tiny_lambda_gives_zero_gradient_and_interpolation_matches_loss():
    w = torch.tensor([3.0, -1.0, 2.0, 0.0], **F64)
    top2 = functools.partial(argmin_top_k, k=2)
    grad_y = torch.tensor([-1.0, 0.0, 0.0, 1.0], **F64)
    wr = w.clone().requires_grad_()
    (blackbox_solve(wr, top2, lam=1e-3) * grad_y).sum().backward()
    assert float(wr.grad.abs().max()) == 0.0
    # where the solution does not move, f_lambda is the linear loss itself
    value = float(blackbox_interpolation(w, top2, grad_y, lam=1e-3))
    assert value == pytest.approx(float((top2(w) * grad_y).sum()))


def test_blackbox_learns_top_k_selection():
    # a linear score model learns which items to select from their features, through the solver
    g = _gen(5)
    feats = torch.randn(32, 10, 3, generator=g, **F64)
    true_w = torch.tensor([1.0, -2.0, 0.5], **F64)
    top3 = functools.partial(argmin_top_k, k=3)
    targets = top3(feats @ true_w)
    theta = torch.zeros(3, **F64, requires_grad=True)
    opt = torch.optim.Adam([theta], lr=0.1)
    for _ in range(60):
        opt.zero_grad()
        y = blackbox_solve(feats @ theta + 1e-3 * torch.arange(10, **F64), top3, lam=2.0)
        (y - targets).abs().sum(-1).mean().backward()
        opt.step()
    err = float((top3(feats @ theta.detach()) - targets).abs().sum(-1).mean())
    assert err < 0.5, err  # 0 errors would be perfect; an untrained model makes about 3.4


def test_bad_solver_output():
    w = torch.rand(3, 3)
    with pytest.raises(ValueError, match="solver must return a tensor of w's shape"):
        blackbox_solve(w, lambda v: v[0])
    with pytest.raises(TypeError, match="solver must return a torch.Tensor"):
        blackbox_solve(w, lambda v: v.numpy())
    with pytest.raises(ValueError, match="k must be <= n = 3"):
        argmin_top_k(w, 4)
    with pytest.raises(ValueError, match="grad_y must have w's shape"):
        blackbox_interpolation(w, argmin_assignment, torch.rand(3, 2))


# ---------------------------------------------------------------------------------------------
# Soft sort, rank, quantile
# ---------------------------------------------------------------------------------------------


def test_soft_sort_and_rank_tend_to_hard_as_reg_vanishes():
    # distinct values (gaps >= 0.3): near-ties stay mixed at any reg where their cost gap is below reg
    g = _gen(6)
    x = torch.stack([torch.linspace(-2, 2, 12, **F64)[torch.randperm(12, generator=g)] for _ in range(4)])
    x = x + 0.01 * torch.randn(4, 12, generator=g, **F64)
    errs_sort, errs_rank = [], []
    hard = torch.tensor(np.stack([rankdata(r) for r in x.numpy()]), **F64)
    for reg in (1e-2, 1e-3, 1e-4):
        errs_sort.append(float((soft_sort(x, reg=reg, tol=1e-8) - x.sort(-1).values).abs().max()))
        errs_rank.append(float((soft_rank(x, reg=reg, tol=1e-8) - hard).abs().max()))
    assert errs_sort[-1] < 1e-5 and errs_rank[-1] < 1e-5, (errs_sort, errs_rank)
    assert errs_sort[0] > errs_sort[1] > errs_sort[2] and errs_rank[0] > errs_rank[2]


def test_soft_sort_invariants_and_descending():
    x = torch.randn(3, 9, generator=_gen(7), **F64)
    s = soft_sort(x, reg=0.1)
    torch.testing.assert_close(s.sum(-1), x.sum(-1), rtol=0, atol=1e-5)
    assert bool((s >= x.min(-1, keepdim=True).values - 1e-12).all())
    assert bool((s[..., 1:] >= s[..., :-1]).all())  # still increasing when smooth
    torch.testing.assert_close(soft_sort(x, reg=0.1, descending=True), s.flip(-1))
    r = soft_rank(x, reg=0.1)
    torch.testing.assert_close(r.sum(-1), torch.full((3,), 45.0, **F64), rtol=0, atol=1e-4)
    torch.testing.assert_close(soft_rank(x, reg=1e-4, descending=True, tol=1e-10),
                               10 - soft_rank(x, reg=1e-4, tol=1e-10),
                               rtol=0, atol=1e-5)


def test_soft_sort_and_rank_gradients_vs_finite_differences():
    x = torch.randn(2, 6, generator=_gen(8), **F64)
    wts = torch.randn(2, 6, generator=_gen(9), **F64)
    for fn in (soft_sort, soft_rank):
        def loss(v, fn=fn):
            return (fn(v, reg=0.05, tol=1e-13) * wts).sum()

        xr = x.clone().requires_grad_()
        loss(xr).backward()
        d = torch.randn(2, 6, generator=_gen(10), **F64)
        h = 1e-6
        fd = (loss(x + h * d) - loss(x - h * d)) / (2 * h)
        assert abs(float(fd - (xr.grad * d).sum())) < 1e-6, fn.__name__
        xu = x.clone().requires_grad_()
        (fn(xu, reg=0.05, tol=1e-13, grad="unroll") * wts).sum().backward()
        torch.testing.assert_close(xr.grad, xu.grad, rtol=1e-6, atol=1e-8)


def _hard_window_mean(x, lo, hi):
    """Mean of the empirical quantile function of x over [lo, hi] (exact 1-D OT)."""
    s = np.sort(x)
    n = len(s)
    edges = np.arange(n + 1) / n
    overlap = np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0, None)
    return float((overlap * s).sum() / (hi - lo))


@pytest.mark.parametrize("q,width", [(0.5, 0.1), (0.25, 0.2), (0.4, 0.8), (0.9, 0.2)])
def test_soft_quantile_tends_to_the_hard_window_mean(q, width):
    x = torch.randn(3, 20, generator=_gen(11), **F64)
    got = soft_quantile(x, q, width=width, reg=1e-4, tol=1e-10)
    ref = torch.tensor([_hard_window_mean(r, q - width / 2, q + width / 2) for r in x.numpy()], **F64)
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-5)


def test_soft_trimmed_mean_ignores_outliers():
    x = torch.cat([torch.randn(40, generator=_gen(12), **F64), torch.full((10,), 1e3, **F64)])
    trimmed = soft_quantile(x, 0.4, width=0.8, reg=1e-3)
    assert abs(float(trimmed - x[:40].mean())) < 1e-3 and float(x.mean()) > 100


def test_soft_quantile_bad_window():
    x = torch.randn(10, **F64)
    with pytest.raises(ValueError, match=r"q must be in \[width / 2, 1 - width / 2\]"):
        soft_quantile(x, 0.05, width=0.2)
    with pytest.raises(ValueError, match="at least 2 values"):
        soft_sort(x[:1])


def test_ties_share_their_rank():
    x = torch.tensor([1.0, 0.0, 1.0, 2.0], **F64)
    torch.testing.assert_close(soft_rank(x, reg=1e-4), torch.tensor([2.5, 1.0, 2.5, 4.0], **F64),
                               rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def test_shortest_path_data_is_optimal_and_reproducible():
    d1 = make_shortest_path_data(5, grid=6, degree=3, generator=3)
    d2 = make_shortest_path_data(5, grid=6, degree=3, generator=3)
    torch.testing.assert_close(d1.costs, d2.costs, rtol=0, atol=0)
    assert bool((d1.costs > 0).all())
    torch.testing.assert_close(argmin_shortest_path(d1.costs), d1.paths, rtol=0, atol=0)
    s = d1.features @ d1.direction / 5 ** 0.5
    # noise-free part of the cost is monotone in the projection
    d0 = make_shortest_path_data(5, grid=6, degree=3, noise=0.0, generator=3)
    order = s.flatten().argsort()
    assert bool((d0.costs.flatten()[order].diff() >= -1e-12).all())


# ---------------------------------------------------------------------------------------------
# GPU
# ---------------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_gpu_soft_sort_rank_and_blackbox():
    x = torch.randn(16, 30, generator=_gen(13), **F64)
    xc = x.cuda().requires_grad_()
    s = soft_sort(xc, reg=1e-3)
    assert s.is_cuda
    torch.testing.assert_close(s.cpu(), soft_sort(x, reg=1e-3), rtol=0, atol=1e-8)
    soft_rank(xc, reg=1e-2).sum().backward()
    assert xc.grad.is_cuda
    w = torch.rand(4, 6, 6, **F64).cuda().requires_grad_()
    y = blackbox_solve(w, argmin_shortest_path, lam=2.0)
    assert y.is_cuda
    (y * torch.randn(4, 6, 6, **F64).cuda()).sum().backward()
    assert w.grad.is_cuda
