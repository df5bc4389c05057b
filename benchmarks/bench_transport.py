"""Benchmarks for the transport chapter, each against a peer library or a naive loop on the same inputs.

Orthogonal Procrustes (``nips2019.alignment.procrustes``, one torch SVD) against scipy's
``orthogonal_procrustes``; the closed-form Gaussian map (``nips2019.icnn.gaussian_map``,
eigendecompositions) against POT's ``ot.gaussian.bures_wasserstein_mapping`` (scipy ``sqrtm``);
the Hessian convexity check (``hessian_min_eigenvalue``, ``torch.func.vmap`` of ``hessian``)
against a per-point ``torch.autograd.functional.hessian`` loop; and one Wasserstein-Procrustes
alternation (exact OT by POT plus an SVD) against POT's exact Gromov-Wasserstein solver on the
same pair, the two unsupervised building blocks of the chapter.
"""

from __future__ import annotations

import ot
import torch

from benchmarks.run import Case
from nips2019.alignment import (gromov_wasserstein_align, make_embedding_pair, procrustes,
                                wasserstein_procrustes)
from nips2019.icnn import ICNN, gaussian_map, hessian_min_eigenvalue

F64 = torch.float64


def _hessian_loop(f, x):
    def run():
        hess = [torch.autograd.functional.hessian(lambda v: f(v), v) for v in x]
        return torch.stack([torch.linalg.eigvalsh(h)[0] for h in hess])

    return run


def cases(quick: bool) -> list:
    from scipy.linalg import orthogonal_procrustes

    out = []
    g = torch.Generator().manual_seed(0)
    for n, d in ([(2000, 100)] if quick else [(2000, 100), (20000, 300)]):
        x, y = torch.randn(n, d, generator=g, dtype=F64), torch.randn(n, d, generator=g, dtype=F64)
        xn, yn = x.numpy(), y.numpy()
        out.append(Case(name=f"orthogonal Procrustes, {n} pairs, d = {d}",
                        ours=lambda x=x, y=y: procrustes(x, y),
                        baselines={"scipy orthogonal_procrustes": lambda: orthogonal_procrustes(xn, yn)},
                        note="same rotation to 1e-9 (tests/alignment)"))
    for d in ([20] if quick else [20, 200]):
        a, b = torch.randn(d, d, generator=g, dtype=F64), torch.randn(d, d, generator=g, dtype=F64)
        cs, ct = a @ a.T + torch.eye(d, dtype=F64), b @ b.T + torch.eye(d, dtype=F64)
        ms, mt = torch.zeros(d, dtype=F64), torch.ones(d, dtype=F64)
        args = [v.numpy() for v in (ms, mt, cs, ct)]
        out.append(Case(name=f"Gaussian OT map, d = {d}",
                        ours=lambda: gaussian_map(ms, cs, mt, ct),
                        baselines={"POT bures_wasserstein_mapping":
                                   lambda: ot.gaussian.bures_wasserstein_mapping(*args)},
                        note="same matrix to 1e-8 (tests/icnn)"))
    f = ICNN(2, hidden=(64, 64), generator=0, dtype=F64)
    for n in ([100] if quick else [100, 1000]):
        x = torch.randn(n, 2, generator=g, dtype=F64)
        out.append(Case(name=f"ICNN Hessian check, {n} points, hidden (64, 64)",
                        ours=lambda x=x: hessian_min_eigenvalue(f, x),
                        baselines={"autograd.functional.hessian loop": _hessian_loop(f, x)},
                        repeat=1 if n > 500 else 3, note="same eigenvalues (tests/icnn)"))
    for n_words in ([200] if quick else [200, 500]):
        pair = make_embedding_pair(n_words, 8, noise=0.05, generator=0)
        out.append(Case(name=f"one Wasserstein-Procrustes step vs exact GW, {n_words} words, d = 8",
                        ours=lambda p=pair: wasserstein_procrustes(p.source, p.target, n_steps=1,
                                                                   progress=False),
                        baselines={"POT gromov_wasserstein (via gromov_wasserstein_align)":
                                   lambda p=pair: gromov_wasserstein_align(p.source, p.target, reg=0.0)},
                        repeat=3,
                        note="different problems: one refinement step next to one GW solve"))
    return out
