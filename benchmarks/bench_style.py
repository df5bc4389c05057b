"""Benchmarks for nips2019.style: Gaussian OT kernels and OT colour transfer.

Ours (torch, symmetric eigendecompositions) against a naive scipy ``sqrtm``/``inv``
implementation of the same formulas and against POT where POT has the same function.
"""

from __future__ import annotations

import numpy as np
import ot
import scipy.linalg
import torch

from benchmarks.run import Case
from nips2019.style import (
    GaussianStats,
    bures_wasserstein,
    color_transfer,
    gaussian_barycenter,
    gaussian_ot_matrix,
    image_to_points,
    load_image,
    sliced_wasserstein,
)


def _spd(d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4 * d, d)) @ np.diag(np.linspace(0.2, 2.0, d))
    return x.T @ x / (4 * d)


def _naive_ot_matrix(cs: np.ndarray, ct: np.ndarray) -> np.ndarray:
    root = np.real(scipy.linalg.sqrtm(cs))
    inv_root = np.linalg.inv(root)
    return inv_root @ np.real(scipy.linalg.sqrtm(root @ ct @ root)) @ inv_root


def _naive_bures(ms, mt, cs, ct) -> float:
    root = np.real(scipy.linalg.sqrtm(ct))
    cross = np.real(scipy.linalg.sqrtm(root @ cs @ root))
    return float(np.sqrt(max(np.sum((ms - mt) ** 2) + np.trace(cs) + np.trace(ct) - 2 * np.trace(cross), 0.0)))


def cases(quick: bool) -> list[Case]:
    d = 64 if quick else 256
    cs, ct = _spd(d, 0), _spd(d, 1)
    ms, mt = np.zeros(d), np.ones(d)
    tcs, tct = torch.from_numpy(cs), torch.from_numpy(ct)
    src, tgt = GaussianStats(torch.from_numpy(ms), tcs), GaussianStats(torch.from_numpy(mt), tct)
    out = [
        Case(
            f"Gaussian OT (Monge) matrix, d={d}, float64",
            lambda: gaussian_ot_matrix(tcs, tct),
            {
                "scipy sqrtm + inv (naive)": lambda: _naive_ot_matrix(cs, ct),
                "POT ot.gaussian.bures_wasserstein_mapping": lambda: ot.gaussian.bures_wasserstein_mapping(ms, mt, cs, ct),
            },
            note="1 thread",
        ),
        Case(
            f"Bures-Wasserstein distance, d={d}, float64",
            lambda: bures_wasserstein(src, tgt),
            {
                "scipy sqrtm (naive)": lambda: _naive_bures(ms, mt, cs, ct),
                "POT ot.gaussian.bures_wasserstein_distance": lambda: ot.gaussian.bures_wasserstein_distance(ms, mt, cs, ct),
            },
        ),
    ]
    k, db = 3, (32 if quick else 64)
    covs = [_spd(db, s) for s in range(k)]
    stats = [GaussianStats(torch.zeros(db, dtype=torch.float64), torch.from_numpy(c)) for c in covs]
    means, cov_arr = np.zeros((k, db)), np.stack(covs)
    out.append(
        Case(
            f"Gaussian barycentre (fixed point, tol 1e-8), {k} x d={db}",
            lambda: gaussian_barycenter(stats, max_iter=200, tol=1e-8),
            {"POT ot.gaussian.bures_wasserstein_barycenter": lambda: ot.gaussian.bures_wasserstein_barycenter(means, cov_arr, num_iter=200, eps=1e-8)},
            note="POT uses its own stopping rule (eps on the change), scipy sqrtm inside",
            repeat=1,
        )
    )
    size, n = (64, 500) if quick else (128, 1000)
    content, style = load_image("astronaut", size).double(), load_image("starry_night", size).double()
    x, y = image_to_points(content).numpy(), image_to_points(style).numpy()

    def pot_emd_transport():
        rng = np.random.default_rng(0)
        xs, yt = x[rng.choice(len(x), n, replace=False)], y[rng.choice(len(y), n, replace=False)]
        return ot.da.EMDTransport().fit(Xs=xs, Xt=yt).transform(Xs=x)

    out.append(
        Case(
            f"exact OT colour transfer, {size}x{size} px, {n} samples",
            lambda: color_transfer(content, style, method="exact", n_samples=n, generator=0),
            {"POT ot.da.EMDTransport fit + transform": pot_emd_transport},
            repeat=2,
        )
    )
    out.append(
        Case(
            f"Gaussian OT colour transfer, {size}x{size} px (all pixels)",
            lambda: color_transfer(content, style, method="gaussian"),
            {"POT ot.da.LinearTransport fit + transform": lambda: ot.da.LinearTransport().fit(Xs=x, Xt=y).transform(Xs=x)},
        )
    )
    ns, dsw = (1024, 64) if quick else (4096, 256)
    a = torch.randn(ns, dsw, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    b = torch.randn(ns, dsw, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) + 1
    an, bn = a.numpy(), b.numpy()
    out.append(
        Case(
            f"sliced Wasserstein, {ns} points, d={dsw}, 128 directions",
            lambda: sliced_wasserstein(a, b, n_directions=128, generator=0),
            {"POT ot.sliced_wasserstein_distance": lambda: ot.sliced_wasserstein_distance(an, bn, n_projections=128, seed=0)},
        )
    )
    return out
