"""Benchmarks for the equilibrium chapter, each against its naive baseline in the same run.

The forward equilibrium of a contractive tanh layer (``nips2019.implicit.fixed_point``
with Anderson acceleration and with Broyden) against plain (Picard) iteration, the naive
solver that is the weight-tied stack itself; the implicit backward pass of
``nips2019.implicit.DEQ`` against autograd through 30 unrolled layers (the chapter measures
the truncation error against depth); and, for the weight-agnostic networks, the batched
shared-weight forward pass of ``nips2019.wann`` over six weight values at once against a
Python loop over the weights.
"""

from __future__ import annotations

import torch

from benchmarks.run import Case
from nips2019.implicit import DEQ, ContractiveCell, WeightTiedStack, fixed_point


def _problem(batch, hidden, gamma=0.97):
    g = torch.Generator().manual_seed(0)
    q = torch.linalg.qr(torch.randn(hidden, hidden, generator=g))[0]
    a = q @ torch.diag(torch.linspace(0, gamma, hidden)) @ q.T
    c = 0.3 * torch.randn(batch, hidden, generator=g)
    return (lambda z: torch.tanh(z @ a + c)), torch.zeros(batch, hidden)


def _backward(cell, x, body):
    def run():
        loss = body(x).square().sum()
        return torch.autograd.grad(loss, list(cell.parameters()))

    return run


def _wann_cases(quick):
    try:
        from nips2019.wann import Genome, shared_weight_forward
    except ImportError:
        return []
    g = torch.Generator().manual_seed(0)
    genome = Genome.dense(16, 3, n_hidden=(12, 8), activation="tanh")
    x = torch.randn(1000 if quick else 20_000, 16, generator=g)
    weights = torch.tensor([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0])

    def loop():
        return torch.stack([shared_weight_forward(genome, x, w[None])[0] for w in weights])

    return [Case(name=f"WANN shared-weight forward, {len(x)} samples x 6 weights, 40 nodes",
                 ours=lambda: shared_weight_forward(genome, x, weights),
                 baselines={"loop over the 6 weights": loop},
                 note="same outputs; ours evaluates all weights in one pass per layer")]


def cases(quick: bool) -> list:
    out = []
    for batch, hidden in ([(64, 64)] if quick else [(64, 64), (256, 256)]):
        f, z0 = _problem(batch, hidden)
        out.append(Case(name=f"fixed point tanh(A z + c), {batch} x {hidden}, rate 0.97, tol 1e-6",
                        ours=lambda f=f, z0=z0: fixed_point(f, z0, method="anderson", max_iter=2000),
                        baselines={"Broyden (ours)": lambda f=f, z0=z0: fixed_point(f, z0, method="broyden",
                                                                                     max_iter=2000, m=20),
                                   "plain iteration": lambda f=f, z0=z0: fixed_point(f, z0, method="picard",
                                                                                      max_iter=2000)},
                        note="Anderson m = 5; plain iteration = the weight-tied stack"))
    for batch, hidden in ([(64, 48)] if quick else [(64, 48), (256, 256)]):
        cell = ContractiveCell(64, hidden, contraction=0.9, generator=0)
        x = torch.randn(batch, 64, generator=torch.Generator().manual_seed(1))
        out.append(Case(name=f"DEQ gradient, batch {batch}, hidden {hidden}, gamma 0.9",
                        ours=_backward(cell, x, DEQ(cell, tol=1e-6, backward_tol=1e-6)),
                        baselines={"autograd through 30 unrolled layers":
                                   _backward(cell, x, WeightTiedStack(cell, 30))},
                        note="float32; implicit: forward and backward solved to 1e-6 (Anderson); stack: 30 layers"))
    return out + _wann_cases(quick)
