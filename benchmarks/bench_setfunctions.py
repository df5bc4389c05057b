"""Benchmarks for the set-function / high-dimensional BO chapter.

The fast Walsh-Hadamard transform (``nips2019.setfunctions.fwht``) against the dense Hadamard
matrix-vector product and against a per-level NumPy butterfly; sparse Fourier recovery of a
graph cut by hashing (``sparse_fourier``, low-degree decoder) against scikit-learn's Lasso on
enough random queries to recover the same cut (``lasso_fourier``); and a GP fit by exact
marginal likelihood (``fit_gp``) against scikit-learn's ``GaussianProcessRegressor`` with its
default L-BFGS optimiser on the same data.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.run import Case
from nips2019.bayesopt import fit_gp
from nips2019.setfunctions import cut_value, fwht, hadamard_matrix, lasso_fourier, random_graph, sparse_fourier


def _numpy_fwht(v: np.ndarray):
    def run():
        x = v.copy()
        h = 1
        while h < len(x):
            x = x.reshape(-1, 2, h)
            x = np.stack((x[:, 0] + x[:, 1], x[:, 0] - x[:, 1]), axis=1).reshape(-1)
            h *= 2
        return x

    return run


def _sklearn_gp(x, y):
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    kernel = ConstantKernel() * RBF(np.ones(x.shape[1])) + WhiteKernel(1e-2)
    return lambda: GaussianProcessRegressor(kernel, normalize_y=True).fit(x, y)


def cases(quick: bool) -> list:
    out = []
    for n in ([12] if quick else [12, 20]):
        v = torch.randn(2**n, dtype=torch.float64)
        baselines = {"NumPy butterfly": _numpy_fwht(v.numpy())}
        if n <= 12:
            h = hadamard_matrix(n, dtype=torch.float64)
            baselines["dense Hadamard matvec (H prebuilt)"] = lambda h=h, v=v: h @ v
        out.append(Case(name=f"Walsh-Hadamard transform, n = {n} (2^{n} values)", ours=lambda v=v: fwht(v),
                        baselines=baselines, note="float64, same result to 1e-12 (tests/setfunctions)"))
    for n in ([100] if quick else [100, 200]):
        edges, w = random_graph(n, 10, generator=0, dtype=torch.float64)
        sets = torch.rand(200, n, generator=torch.Generator().manual_seed(0)) < 0.5
        vals = cut_value(sets, edges, w)
        out.append(Case(
            name=f"learn a 10-edge cut on n = {n} nodes exactly",
            ours=lambda e=edges, w=w, n=n: sparse_fourier(lambda s: cut_value(s, e, w), n, 11, degree=2,
                                                          generator=0),
            baselines={"sklearn Lasso on 200 random queries (degree-2 features)":
                       lambda s=sets, v=vals: lasso_fourier(s, v, degree=2)},
            repeat=1, note="hashing uses ~4000 queries, the Lasso 200 (see the chapter)"))
    g = torch.Generator().manual_seed(0)
    x = 2 * torch.rand(40, 20, generator=g, dtype=torch.float64) - 1
    y = torch.sin(3 * x[:, 0]) + x[:, 1] ** 2
    out.append(Case(name="ARD GP fit, 40 points in D = 20", ours=lambda: fit_gp(x, y, n_steps=60),
                    baselines={"sklearn GaussianProcessRegressor (L-BFGS)": _sklearn_gp(x.numpy(), y.numpy())},
                    repeat=1, note="ours: 60 Adam steps; sklearn: one L-BFGS run, no restarts"))
    return out
