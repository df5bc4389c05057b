"""Benchmarks for the lineage chapter: Waddington-OT couplings vs POT's unbalanced Sinkhorn.

Every case solves the same problem (two snapshots of the simulator, squared Euclidean cost divided
by its median, reg 0.05 on that normalised cost, reg_m (1, 50), KL regularisation, stopping
threshold 1e-6) with ``nips2019.lineage.wot_coupling`` (stabilised log-domain Sinkhorn on torch
tensors) and with POT 0.9's ``ot.unbalanced.sinkhorn_unbalanced(method="sinkhorn",
reg_type="kl")`` on numpy arrays (float64) and on torch tensors (POT's torch backend, same dtype
as ours), and, where CUDA is present, our float32 coupling on the GPU. The full run's two sizes, a
factor 3 apart, show the n^2 growth of the cost. The chapter's "Scale" section only times one
iteration of ours and checks that the plans agree; the head-to-head timing lives here. Also
timed: a held-out-time validation (coupling + interpolation + six exact W2 distances).
"""

from __future__ import annotations

import numpy as np
import ot
import torch

from benchmarks.run import Case
from nips2019.lineage import simulate_lineage, validate_interpolation, wot_coupling
from nips2019.ot import cost_matrix


def _problem(n: int):
    sim = simulate_lineage(n_cells=n, n_founders=2 * n, times=(1.5, 2.0), generator=n)
    return sim.x[0], sim.x[1]


def _pot_numpy(x0, x1):
    n0, n1 = len(x0), len(x1)
    cost = cost_matrix(x0, x1, normalize="median").numpy()
    a, b = np.full(n0, 1.0 / n0), np.full(n1, 1.0 / n1)
    return lambda: ot.unbalanced.sinkhorn_unbalanced(a, b, cost, 0.05, (1.0, 50.0), method="sinkhorn",
                                                     reg_type="kl", stopThr=1e-6, numItermax=10_000)


def _pot_torch(x0, x1):
    kw = dict(dtype=x0.dtype)
    cost = cost_matrix(x0, x1, normalize="median")
    a, b = torch.full((len(x0),), 1.0 / len(x0), **kw), torch.full((len(x1),), 1.0 / len(x1), **kw)
    return lambda: ot.unbalanced.sinkhorn_unbalanced(a, b, cost, 0.05, (1.0, 50.0), method="sinkhorn",
                                                     reg_type="kl", stopThr=1e-6, numItermax=10_000)


def _on_gpu(x0, x1):
    xg0, xg1 = x0.float().cuda(), x1.float().cuda()

    def solve():
        out = wot_coupling(xg0, xg1, reg=0.05, normalize="median")
        torch.cuda.synchronize()
        return out

    return solve


def cases(quick: bool) -> list:
    sizes = [300] if quick else [1000, 3000]
    out = []
    for n in sizes:
        x0, x1 = _problem(n)
        out.append(Case(
            name=f"Waddington-OT coupling {n} x {n}, float64",
            ours=lambda x0=x0, x1=x1: wot_coupling(x0, x1, reg=0.05, normalize="median"),
            baselines={"POT numpy (kernel Sinkhorn)": _pot_numpy(x0, x1),
                       "POT torch float64": _pot_torch(x0, x1)},
            repeat=1 if not quick and n > 2000 else 3,
            note="reg 0.05 on the median-normalised cost, reg_m (1, 50), 1 thread",
        ))
        x0f, x1f = x0.float(), x1.float()
        out.append(Case(
            name=f"Waddington-OT coupling {n} x {n}, float32",
            ours=lambda x0=x0f, x1=x1f: wot_coupling(x0, x1, reg=0.05, normalize="median"),
            baselines={"POT numpy float64 (kernel Sinkhorn)": _pot_numpy(x0, x1),
                       "POT torch float32 (kernel Sinkhorn)": _pot_torch(x0f, x1f)},
            repeat=1 if not quick and n > 2000 else 3,
            note="POT's float32 kernel iteration still runs at this reg (not at reg 0.01: see the chapter)",
        ))
        if torch.cuda.is_available():
            out.append(Case(
                name=f"Waddington-OT coupling {n} x {n}, float32 on the GPU",
                ours=_on_gpu(x0, x1),
                baselines={"ours float32 on the CPU": lambda x0=x0f, x1=x1f: wot_coupling(x0, x1)},
                repeat=3,
                note="synchronised after each call; the first (warm-up) call is not timed",
            ))
    n = 200 if quick else 500
    sim = simulate_lineage(n_cells=n, times=(1.5, 2.0, 2.5), generator=0)

    def validation():
        return validate_interpolation(*sim.x, sim.times.tolist(), x1_batch2=sim.x_batch2[1],
                                      growth_rate=sim.growth_rate[0], generator=1)

    out.append(Case(name=f"held-out validation, {n} cells per snapshot", ours=validation, repeat=1,
                    note="1 coupling + 3 interpolations + 6 exact W2 (no peer)"))
    return out
