"""Benchmarks for the distributions chapter, each against a naive baseline or POT on the same inputs.

The MMD permutation test (``nips2019.kernels.mmd_test``: one pooled Gram matrix, relabellings as
batched matrix products) against recomputing ``mmd2`` on each relabelled pair; the Sinkhorn
divergence (``nips2019.ot.sinkhorn_divergence``: batched cross term, averaged symmetric self-terms,
kernel-domain iterations where exp(-C/reg) cannot underflow) against POT 0.9's
``empirical_sinkhorn_divergence`` (numpy, its default kernel-domain Sinkhorn, which is its fastest
configuration; note that it leaves the entropic terms out) and against our own log-domain
iterations (the fallback, ``kernel=False``); and QUE
scores (``nips2019.info.que_scores``, one eigendecomposition) against forming the matrix exponential
with ``scipy.linalg.expm``.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.run import Case
from nips2019.info import que_scores
from nips2019.kernels import mmd2, mmd_test
from nips2019.ot import sinkhorn_divergence
from nips2019.ot._divergence import _sinkhorn_divergence


def _naive_permutations(x, y, n_perm):
    z = torch.cat([x, y])
    n = x.shape[0]
    bw = float(torch.pdist(z).median())

    def run():
        g = torch.Generator().manual_seed(0)
        out = []
        for _ in range(n_perm):
            p = torch.randperm(z.shape[0], generator=g)
            out.append(mmd2(z[p[:n]], z[p[n:]], bandwidth=bw))
        return torch.stack(out)

    return run


def _pot_sinkhorn_divergence(x, y, reg):
    import ot

    xn, yn = x.numpy(), y.numpy()
    return lambda: ot.bregman.empirical_sinkhorn_divergence(xn, yn, reg, stopThr=1e-6, numIterMax=10_000)


def _log_domain_divergence(x, y, reg):
    n, m = x.shape[0], y.shape[0]
    a, b = torch.full((n,), 1.0 / n, dtype=x.dtype), torch.full((m,), 1.0 / m, dtype=x.dtype)
    return lambda: _sinkhorn_divergence(x, y, a, b, reg, "sqeuclidean", 10_000, 1e-6, None, kernel=False)


def _expm_scores(x, alpha):
    import scipy.linalg

    xn = x.numpy()
    xc = xn - xn.mean(0)

    def run():
        cov = xc.T @ xc / xc.shape[0]
        m = cov - np.eye(cov.shape[0])
        u = scipy.linalg.expm(alpha * m / np.linalg.eigvalsh(m).max())
        u /= np.trace(u)
        return np.einsum("ij,jk,ik->i", xc, u, xc)

    return run


def cases(quick: bool) -> list:
    out = []
    g = torch.Generator().manual_seed(0)
    for n in ([200] if quick else [200, 1000]):
        x = torch.randn(n, 5, generator=g, dtype=torch.float64)
        y = torch.randn(n, 5, generator=g, dtype=torch.float64) + 0.1
        n_perm = 200
        out.append(Case(name=f"MMD permutation test, {n} + {n} points, d = 5, {n_perm} permutations",
                        ours=lambda x=x, y=y: mmd_test(x, y, n_null_samples=n_perm, generator=0,
                                                       progress=False),
                        baselines={"mmd2 per relabelling (loop)": _naive_permutations(x, y, n_perm)},
                        repeat=1 if n > 500 else 3, note="float64, 1 thread"))
    for n in ([300] if quick else [300, 2000]):
        x = torch.randn(n, 2, generator=g, dtype=torch.float64)
        y = torch.randn(n, 2, generator=g, dtype=torch.float64) * 0.7 + 1.0
        out.append(Case(name=f"Sinkhorn divergence, {n} + {n} points, reg = 1",
                        ours=lambda x=x, y=y: sinkhorn_divergence(x, y, reg=1.0),
                        baselines={"POT empirical_sinkhorn_divergence": _pot_sinkhorn_divergence(x, y, 1.0),
                                   "ours, log domain only": _log_domain_divergence(x, y, 1.0)},
                        repeat=1 if n > 1000 else 3,
                        note="tol 1e-6 all; ours and POT by kernel products (ours falls back to the log "
                             "domain, an exp per entry per iteration, where exp(-C/reg) could underflow); "
                             "POT omits the entropic terms"))
    for d in ([100] if quick else [100, 400]):
        x = torch.randn(10 * d, d, generator=g, dtype=torch.float64)
        out.append(Case(name=f"QUE scores, n = {10 * d}, d = {d}, alpha = 4",
                        ours=lambda x=x: que_scores(x, alpha=4.0),
                        baselines={"scipy.linalg.expm": _expm_scores(x, 4.0)}, note="float64"))
    return out
