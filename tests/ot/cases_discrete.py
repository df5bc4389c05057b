"""Contract cases for the batched log-domain Sinkhorn (nips2019.ot._batched), from the discrete chapter."""

import torch

from nips2019 import ot
from tests.contract import Bad, Case

F64 = dict(dtype=torch.float64)


def _cost():
    return torch.tensor([[[0.0, 1.0, 4.0], [1.0, 0.0, 1.0]], [[2.0, 0.5, 0.0], [0.0, 1.0, 3.0]]], **F64)


def _a():
    return torch.tensor([[0.3, 0.7], [0.5, 0.5]], **F64)


def _b():
    return torch.tensor([0.2, 0.3, 0.5], **F64)


CASES = [
    Case(ot.sinkhorn_log, lambda: dict(a=_a(), b=_b(), cost=_cost(), reg=0.5, max_iter=500, tol=1e-8,
                                       reg_scaling=None, grad="implicit"),
         bad=[Bad(dict(a=torch.tensor([[0.3, 0.9], [0.5, 0.5]], **F64)), "a and b must have equal mass",
                  why="unequal masses in one problem of the batch"),
              Bad(dict(a=torch.ones(3, 2, **F64) / 2), "do not broadcast", why="batch shapes 3 and 2"),
              Bad(dict(a=torch.tensor([[0.0, 1.0], [0.5, 0.5]], **F64)), r"a must have values in \(0",
                  why="a zero weight (log-domain potentials need a > 0)")]),
    Case(ot.sinkhorn_log, lambda: dict(a=None, b=None, cost=_cost()[0], reg=1e-3, reg_scaling=True,
                                       grad="unroll"), name="sinkhorn_log.scaled"),
]

EXEMPT = {
    "SinkhornResult": "result container (dataclass) returned by sinkhorn_log, attacked through it",
}
