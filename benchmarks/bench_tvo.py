"""Benchmarks for the TVO chapter: the TVO bound and its covariance gradient, and the moment schedule.

``tvo_surrogate`` (one batched softmax per partition point, gradient by one backward pass)
against the naive covariance estimator: a Python loop over partition points and samples,
one autograd call per sample for each gradient term (what the formula says, written
literally). ``moment_schedule`` (safeguarded Newton steps for all partition points at once)
against ``scipy.optimize.brentq`` per point on the same self-normalised integrand (no peer
library implements either; the reference implementation of the paper is research code).
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.run import Case
from nips2019.tvo import moment_schedule, partition_schedule, tvo_integrand, tvo_surrogate


def _problem(n, s, seed=0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.zeros(n, 4, dtype=torch.float64, requires_grad=True)
    z = torch.randn(n, s, 4, generator=g, dtype=torch.float64)
    return mu, z


def _ours(n, s, betas):
    def run():
        mu, z = _problem(n, s)
        log_q = -0.5 * ((z - mu[:, None]) ** 2).sum(-1)
        lw = -0.5 * ((z - 1.0) ** 2).sum(-1) * 2.0 - log_q
        tvo_surrogate(lw, log_q, betas).sum().backward()
        return mu.grad
    return run


def _naive(n, s, betas):
    def run():
        mu, z = _problem(n, s)
        log_q = -0.5 * ((z - mu[:, None]) ** 2).sum(-1)
        lw = -0.5 * ((z - 1.0) ** 2).sum(-1) * 2.0 - log_q
        grad = torch.zeros_like(mu)
        f = lw.detach()
        for k in range(len(betas) - 1):
            beta = float(betas[k])
            w = torch.softmax(beta * f, -1)
            fbar = (w * f).sum(-1, keepdim=True)
            for j in range(s):
                gf = torch.autograd.grad((w[:, j] * lw[:, j]).sum(), mu, retain_graph=True)[0]
                gq = torch.autograd.grad((w[:, j] * (f[:, j] - fbar[:, 0]) * (log_q[:, j] + beta * lw[:, j])).sum(),
                                         mu, retain_graph=True)[0]
                grad += float(betas[k + 1] - betas[k]) * (gf + gq)
        return grad
    return run


def _brentq(lw, k_parts):
    from scipy.optimize import brentq

    def run():
        ends = tvo_integrand(lw, torch.tensor([0.0, 1.0], dtype=lw.dtype)).mean(0)
        out = [0.0]
        for k in range(1, k_parts):
            target = float(ends[0] + k / k_parts * (ends[1] - ends[0]))
            fn = lambda b: float(tvo_integrand(lw, torch.tensor([b], dtype=lw.dtype)).mean()) - target  # noqa: E731
            out.append(brentq(fn, 0.0, 1.0, xtol=1e-12))
        return np.array(out + [1.0])
    return run


def cases(quick: bool) -> list:
    out = []
    for n, s in ([(20, 10)] if quick else [(20, 10), (100, 50)]):
        betas = partition_schedule(10, kind="log", beta_min=0.01, dtype=torch.float64)
        out.append(Case(name=f"TVO covariance gradient, batch {n}, {s} samples, K = 10",
                        ours=_ours(n, s, betas), baselines={"naive loop (autograd per sample)": _naive(n, s, betas)},
                        repeat=3, note="same gradient to 1e-12 (the loop is the formula of tvo_surrogate)"))
    for n, s, k in ([(100, 10, 20)] if quick else [(100, 10, 20), (1000, 50, 50)]):
        lw = 3 * torch.randn(n, s, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        out.append(Case(name=f"moment schedule, batch {n}, {s} samples, K = {k}",
                        ours=lambda lw=lw, k=k: moment_schedule(lw, k),
                        baselines={"scipy brentq per point": _brentq(lw, k)},
                        repeat=3, note="points agree to 1e-9"))
    return out
