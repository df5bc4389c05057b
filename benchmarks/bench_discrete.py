"""Benchmarks for the discrete chapter: the batched Sinkhorn, soft sorting and the solver layer.

- ``nips2019.ot.sinkhorn_log`` on a batch of entropic OT problems in one call, against POT 0.9's
  ``ot.sinkhorn(method="sinkhorn_log")`` called once per problem (POT has no batched log-domain
  solver; numpy float64, its fastest configuration for these small problems), same ``reg`` and
  stopping threshold (the plans agree to 1e-10: tests/ot/test_ot_batched.py);
- ``soft_sort`` forward + backward with the implicit gradient (one linear solve) against the same
  call back-propagating through every Sinkhorn iteration (``grad="unroll"``);
- the grid shortest-path solver (scipy Dijkstra on a cached CSR structure) against networkx's
  ``dijkstra_path`` on the same 8-neighbour graph, and one ``blackbox_solve`` forward + backward step
  (two solver calls per map).

One thread (the runner sets it); float64 throughout.
"""

from __future__ import annotations

import numpy as np
import ot
import torch

from benchmarks.run import Case
from nips2019.discrete import argmin_shortest_path, blackbox_solve, soft_sort
from nips2019.ot import sinkhorn_log

F64 = dict(dtype=torch.float64)


def _ot_batch(batch, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, n, n, generator=g, **F64)


def _pot_loop(cost, reg, tol):
    a = np.full(cost.shape[-2], 1.0 / cost.shape[-2])
    b = np.full(cost.shape[-1], 1.0 / cost.shape[-1])
    arrays = [c.numpy() for c in cost]
    return lambda: [ot.sinkhorn(a, b, c, reg, method="sinkhorn_log", stopThr=tol, numItermax=100_000)
                    for c in arrays]


def _soft_sort_step(x, grad):
    def run():
        xr = x.clone().requires_grad_()
        soft_sort(xr, reg=1e-2, tol=1e-8, grad=grad).pow(2).sum().backward()
        return xr.grad

    return run


def _networkx_paths(w):
    import networkx as nx  # only this baseline needs it

    h, wd = w.shape[-2:]
    graph = nx.DiGraph()
    steps = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]
    for r in range(h):
        for c in range(wd):
            for dr, dc in steps:
                if 0 <= r + dr < h and 0 <= c + dc < wd:
                    graph.add_edge((r, c), (r + dr, c + dc))
    maps = w.numpy()

    def run():
        out = []
        for m in maps:
            weight = lambda u, v, d, m=m: m[v]  # noqa: E731 - the cost of entering v
            out.append(nx.dijkstra_path(graph, (0, 0), (h - 1, wd - 1), weight=weight))
        return out

    return run


def _blackbox_step(w):
    target = argmin_shortest_path(w.flip(-1))

    def run():
        wr = w.clone().requires_grad_()
        (blackbox_solve(wr, argmin_shortest_path, lam=5.0) - target).abs().sum().backward()
        return wr.grad

    return run


def cases(quick: bool) -> list:
    out = []
    for batch, n in ([(32, 30)] if quick else [(32, 30), (128, 100)]):
        cost = _ot_batch(batch, n)
        out.append(Case(name=f"entropic OT, {batch} problems of {n} x {n}, reg 0.05, tol 1e-9",
                        ours=lambda c=cost: sinkhorn_log(None, None, c, reg=0.05, tol=1e-9),
                        baselines={"POT sinkhorn_log, one call per problem": _pot_loop(cost, 0.05, 1e-9)},
                        note="plans agree to 1e-10 (tests/ot)"))
    for batch, n in ([(16, 30)] if quick else [(16, 30), (64, 100)]):
        x = torch.randn(batch, n, generator=torch.Generator().manual_seed(1), **F64)
        out.append(Case(name=f"soft_sort forward + backward, {batch} x {n}, reg 1e-2",
                        ours=_soft_sort_step(x, "implicit"),
                        baselines={"same, back-propagating through the iterations":
                                   _soft_sort_step(x, "unroll")},
                        note="gradients agree to 1e-6 (tests/discrete)"))
    maps = 16 if quick else 64
    w = torch.rand(maps, 12, 12, generator=torch.Generator().manual_seed(2), **F64) + 0.1
    out.append(Case(name=f"shortest path on {maps} maps of 12 x 12 (8 neighbours)",
                    ours=lambda: argmin_shortest_path(w),
                    baselines={"networkx dijkstra_path": _networkx_paths(w)},
                    note="same paths for distinct costs (brute force in tests/discrete)"))
    out.append(Case(name=f"blackbox_solve forward + backward, {maps} maps of 12 x 12",
                    ours=_blackbox_step(w), note="two solver calls per map"))
    return out
