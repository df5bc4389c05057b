"""Contract cases for the ot names of the distributions chapter (collected by test_ot_contract.py)."""

import torch

from nips2019 import ot
from tests.contract import Bad, Case

F64 = dict(dtype=torch.float64)


def _x():
    return torch.tensor([[0.0, 0.0], [1.0, 0.5], [0.2, 1.0]], **F64)


def _y():
    return torch.tensor([[0.5, 0.0], [1.5, 1.0], [0.0, 2.0], [1.0, 1.0]], **F64)


CASES = [
    Case(ot.sinkhorn_divergence, lambda: dict(x=_x(), y=_y(), a=torch.full((3,), 1 / 3, **F64), b=None,
                                              reg=0.5, metric="euclidean", max_iter=500, tol=1e-6,
                                              reg_scaling=None),
         bad=[Bad(dict(a=torch.ones(3, **F64)), "same total mass", why="unequal masses"),
              Bad(dict(a=torch.tensor([0.0, 0.5, 0.5], **F64)), r"a must have values in \(0",
                  why="a zero weight")]),
    Case(ot.sinkhorn_test, lambda: dict(x=_x(), y=_y(), reg=0.5, metric="sqeuclidean", n_permutations=5,
                                        max_iter=500, tol=1e-6, generator=0, progress=False)),
]

EXEMPT = {
    "SinkhornDivergenceResult": "result container (dataclass) returned by sinkhorn_divergence",
}
