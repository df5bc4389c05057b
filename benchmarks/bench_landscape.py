"""Benchmarks for the loss-landscape chapter, each against a naive implementation in the same run.

The top Hessian eigenvalue of a small MLP by Lanczos on Hessian-vector products
(``nips2019.landscape.hessian_spectrum``, 20 steps) against forming the dense Hessian with
``torch.func.hessian`` and ``torch.linalg.eigvalsh``; a 2-D loss slice
(``loss_landscape``, functional calls on one flat vector) against copying the network and
loading each grid point with ``vector_to_parameters``; the exact Fisher blocks
(``kfac_fisher_blocks``, one backward pass per class) against per-example, per-class autograd;
and the cost of one K-FAC step against one SGD and one Adam step on the same batch (no K-FAC
peer library is installed).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from benchmarks.run import Case
from nips2019.landscape import (
    KFAC,
    dense_hessian,
    hessian_spectrum,
    kfac_fisher_blocks,
    loss_landscape,
    random_direction,
)

F = nn.functional


def _net(hidden, d_in=64, d_out=10, act=nn.Tanh, dtype=torch.float64):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d_in, hidden), act(), nn.Linear(hidden, d_out)).to(dtype)


def _data(n, d_in=64, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, d_in, generator=g, dtype=dtype), torch.randint(0, 10, (n,), generator=g)


def _naive_slice(net, x, y, dirs, coords):
    def run():
        theta = parameters_to_vector(net.parameters()).detach()
        probe = copy.deepcopy(net)
        out = []
        with torch.no_grad():
            for c in coords:
                vector_to_parameters(theta + c @ dirs, probe.parameters())
                out.append(F.cross_entropy(probe(x), y))
        return torch.stack(out)

    return run


def _brute_fisher(net, x):
    def run():
        params = list(net.parameters())
        logp = torch.log_softmax(net(x), 1)
        prob = logp.detach().exp()
        blocks = [0.0, 0.0]
        for i in range(x.shape[0]):
            for c in range(logp.shape[1]):
                gr = torch.autograd.grad(logp[i, c], params, retain_graph=True)
                for k in range(2):
                    v = torch.cat([gr[2 * k], gr[2 * k + 1][:, None]], 1).reshape(-1)
                    blocks[k] = blocks[k] + prob[i, c] * torch.outer(v, v)
        return [b / x.shape[0] for b in blocks]

    return run


def _stepper(net, opt, x, y):
    def run():
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()

    return run


def cases(quick: bool) -> list:
    out = []
    for hidden in [16] if quick else [16, 32]:
        net = _net(hidden)
        x, y = _data(300)
        p = sum(q.numel() for q in net.parameters())
        out.append(
            Case(
                name=f"top Hessian eigenvalue, MLP 64-{hidden}-10 ({p} parameters), 300 examples",
                ours=lambda n=net, x=x, y=y: hessian_spectrum(n, x, y, n_iter=20, generator=0),
                baselines={
                    "dense torch.func.hessian + eigvalsh": lambda n=net, x=x, y=y: torch.linalg.eigvalsh(
                        dense_hessian(n, x, y)
                    )
                },
                repeat=1 if hidden > 16 else 2,
                note="float64, 1 thread; Lanczos top value agrees to 1e-6 (tests/landscape)",
            )
        )
    net = _net(64, act=nn.ReLU, dtype=torch.float32)
    x, y = _data(1000, dtype=torch.float32)
    side = 11 if quick else 21
    grid = torch.linspace(-1, 1, side)
    aa, bb = torch.meshgrid(grid, grid, indexing="ij")
    coords = torch.stack([aa.reshape(-1), bb.reshape(-1)], 1)
    dirs = torch.stack([random_direction(net, generator=s) for s in (0, 1)])
    out.append(
        Case(
            name=f"2-D loss slice {side}x{side}, MLP 64-64-10, 1000 examples",
            ours=lambda: loss_landscape(net, x, y, dirs, coords, progress=False),
            baselines={"deepcopy + vector_to_parameters loop": _naive_slice(net, x, y, dirs, coords)},
            note="float32; same values to 1e-6",
        )
    )
    small = _net(8)
    xs, _ = _data(40 if quick else 100)
    out.append(
        Case(
            name=f"exact Fisher blocks, MLP 64-8-10, {xs.shape[0]} examples",
            ours=lambda: kfac_fisher_blocks(small, xs),
            baselines={"per-example per-class autograd": _brute_fisher(small, xs)},
            repeat=1,
            note="float64; blocks agree to 1e-12 (tests/landscape)",
        )
    )
    for hidden in [64] if quick else [64, 256]:
        net_k, net_s, net_a = (_net(hidden, dtype=torch.float32) for _ in range(3))
        xb, yb = _data(128, dtype=torch.float32)
        out.append(
            Case(
                name=f"one optimiser step, MLP 64-{hidden}-10, batch 128",
                ours=_stepper(net_k, KFAC(net_k, lr=0.1), xb, yb),
                baselines={
                    "torch.optim.SGD": _stepper(net_s, torch.optim.SGD(net_s.parameters(), lr=0.1), xb, yb),
                    "torch.optim.Adam": _stepper(net_a, torch.optim.Adam(net_a.parameters()), xb, yb),
                },
                repeat=20,
                note="K-FAC inverts its factors every step (update_every=1)",
            )
        )
    return out
