"""Benchmarks for the gradients chapter, each against a naive loop or a peer solver on the same inputs.

The measure-valued gradient of a 31-dimensional Gaussian expectation (one batched call of ``f``
over all ``4 d n`` perturbed points) against a per-sample, per-coordinate Python loop; the
Euclidean simplex projection (sorted, batched) against a per-row NumPy loop; entropic
mirror-prox on a matrix game against scipy's ``linprog`` (HiGHS) on the equivalent linear
programme; and one Bayesian-learning-rule step with Monte Carlo Hessians (``torch.func.vmap``)
against a loop over the sampled weights.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from benchmarks.run import Case
from nips2019.bayes import GaussianPosterior, blr_step
from nips2019.estimators import measure_valued_gradient
from nips2019.optim import MirrorProx, project_simplex

D64 = torch.float64


def _logistic(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=D64)
    w = torch.randn(d, generator=g, dtype=D64)
    return x, (torch.rand(n, generator=g, dtype=D64) < torch.sigmoid(x @ w)).to(D64)


def _naive_mvd(f, loc, scale, n_samples, gen):
    d = loc.shape[0]
    out = torch.zeros(n_samples, d, dtype=loc.dtype)
    for j in range(n_samples):
        base = loc + scale * torch.randn(d, generator=gen, dtype=loc.dtype)
        for i in range(d):
            w = math.sqrt(-2 * math.log1p(-torch.rand((), generator=gen).item()))
            plus, minus = base.clone(), base.clone()
            plus[i], minus[i] = loc[i] + scale[i] * w, loc[i] - scale[i] * w
            out[j, i] = (f(plus[None]) - f(minus[None]))[0] / (scale[i] * math.sqrt(2 * math.pi))
    return out.mean(0)


def _naive_simplex(v):
    out = np.empty_like(v)
    for r, row in enumerate(v):
        u = np.sort(row)[::-1]
        css = np.cumsum(u) - 1
        k = np.nonzero(u - css / np.arange(1, len(u) + 1) > 0)[0][-1]
        out[r] = np.maximum(row - css[k] / (k + 1), 0)
    return out


def _linprog_game(a):
    from scipy.optimize import linprog

    m, n = a.shape
    return lambda: linprog(np.r_[np.zeros(m), 1], A_ub=np.c_[a.T, -np.ones(n)], b_ub=np.zeros(n),
                           A_eq=np.r_[np.ones(m), 0][None], b_eq=[1],
                           bounds=[(0, None)] * m + [(None, None)], method="highs")


def _mirror_prox(a, n_steps):
    def run():
        m, n = a.shape
        x = torch.full((m,), 1 / m, dtype=D64, requires_grad=True)
        y = torch.full((n,), 1 / n, dtype=D64, requires_grad=True)
        opt = MirrorProx([{"params": [x]}, {"params": [y], "maximize": True}], lr=0.5)

        def closure():
            opt.zero_grad()
            loss = x @ a @ y
            loss.backward()
            return loss

        for _ in range(n_steps):
            opt.step(closure)
        return x

    return run


def _blr_loop(loss, q, n_samples, delta):
    def run():
        gen = torch.Generator().manual_seed(0)
        eps = torch.randn(n_samples, q.mean.shape[0], generator=gen, dtype=D64)
        noise = q._noise_factor(eps)
        thetas = torch.cat([q.mean + noise, q.mean - noise])

        def total(t):
            return loss(t).sum() + 0.5 * delta * t @ t

        g = torch.stack([torch.func.grad(total)(t) for t in thetas]).mean(0)
        h = torch.stack([torch.func.hessian(total)(t) for t in thetas]).mean(0)
        return q.mean - torch.linalg.solve(h, g), h

    return run


def cases(quick: bool) -> list:
    out = []
    for d, n in ([(31, 20)] if quick else [(31, 100), (100, 50)]):
        x, y = _logistic(500, d)

        def f(w, x=x, y=y):
            logits = w @ x.T
            return -(torch.nn.functional.softplus(-logits) * y
                     + torch.nn.functional.softplus(logits) * (1 - y)).sum(1)

        loc, scale = torch.zeros(d, dtype=D64), torch.full((d,), 0.1, dtype=D64)
        out.append(Case(name=f"measure-valued gradient, d = {d}, {n} draws, 500-point logistic f",
                        ours=lambda f=f, loc=loc, scale=scale, n=n: measure_valued_gradient(
                            f, loc, scale, n_samples=n, generator=0),
                        baselines={"per-draw, per-coordinate loop (mean only)":
                                   lambda f=f, loc=loc, scale=scale, n=n: _naive_mvd(
                                       f, loc, scale, n, torch.Generator().manual_seed(0))},
                        repeat=1, note="ours also estimates the scale gradient (twice the evaluations)"))
    rows = 1000 if quick else 20000
    v = torch.randn(rows, 100, generator=torch.Generator().manual_seed(1), dtype=D64)
    out.append(Case(name=f"simplex projection, {rows} rows of 100",
                    ours=lambda v=v: project_simplex(v),
                    baselines={"NumPy loop over rows": lambda v=v: _naive_simplex(v.numpy())},
                    note="matches cvxpy to 1e-6 (tests/optim)"))
    for size in ([20] if quick else [20, 100]):
        a = torch.randn(size, size, generator=torch.Generator().manual_seed(2), dtype=D64)
        steps = 500 if quick else 2000
        out.append(Case(name=f"matrix game {size} x {size}: {steps} mirror-prox steps",
                        ours=_mirror_prox(a, steps),
                        baselines={"scipy linprog (HiGHS), exact": _linprog_game(a.numpy())},
                        repeat=1, note="the LP is exact and much faster at these sizes; "
                                       "a mirror-prox step is two matrix-vector products"))
    x, y = _logistic(300, 31, seed=3)

    def loss(t, x=x, y=y):
        return torch.nn.functional.binary_cross_entropy_with_logits(x @ t, y, reduction="none")

    q = GaussianPosterior(torch.zeros(31, dtype=D64), torch.eye(31, dtype=D64))
    k = 10 if quick else 50
    out.append(Case(name=f"BLR step, full Gaussian, d = 31, {k} antithetic pairs",
                    ours=lambda: blr_step(loss, q, lr=1.0, prior_precision=1.0, n_samples=k,
                                          generator=0),
                    baselines={"loop over sampled weights (torch.func per sample)":
                               _blr_loop(loss, q, k, 1.0)},
                    repeat=1))
    return out
