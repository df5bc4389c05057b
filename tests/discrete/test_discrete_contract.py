"""Contract cases for nips2019.discrete (see tests/contract.py)."""

import functools

import torch

from nips2019 import discrete
from tests.contract import Bad, Case, check_case, contract_params

F64 = dict(dtype=torch.float64)


def _x():
    return torch.tensor([[0.3, -1.0, 2.0, 0.5], [1.0, 0.0, -0.5, 0.2]], **F64)


def _w():
    return torch.tensor([[[1.0, 3.0, 2.0], [2.0, 1.0, 4.0], [3.0, 2.0, 1.5]]], **F64)


_TOP2 = functools.partial(discrete.argmin_top_k, k=2)

CASES = [
    Case(discrete.soft_sort, lambda: dict(x=_x(), reg=0.05, descending=False, squash=True, max_iter=500,
                                          tol=1e-6, grad="implicit"),
         bad=[Bad(dict(x=torch.zeros(2, 1, **F64)), "at least 2 values", why="one value per row")]),
    Case(discrete.soft_rank, lambda: dict(x=_x().sigmoid(), reg=0.05, descending=True, squash=False,
                                          max_iter=5000, tol=1e-6, grad="unroll")),
    Case(discrete.soft_quantile, lambda: dict(x=_x(), q=0.5, width=0.25, reg=0.05, squash=True, max_iter=500,
                                              tol=1e-6, grad="implicit"),
         bad=[Bad(dict(q=0.05), r"q must be in \[width / 2", why="window below 0")]),
    Case(discrete.argmin_assignment, lambda: dict(w=_w())),
    Case(discrete.argmin_shortest_path, lambda: dict(w=_w(), neighbours=8)),
    Case(discrete.argmin_top_k, lambda: dict(w=_x(), k=2),
         bad=[Bad(dict(k=5), "k must be <= n = 4", why="more items than entries")]),
    Case(discrete.blackbox_solve, lambda: dict(w=_x(), solver=_TOP2, lam=2.0),
         bad=[Bad(dict(solver=lambda v: v[0]), "solver must return a tensor of w's shape",
                  why="wrong shape")]),
    Case(discrete.blackbox_interpolation, lambda: dict(w=_x(), solver=_TOP2, grad_y=_x().flip(-1), lam=2.0),
         bad=[Bad(dict(grad_y=torch.ones(2, 3, **F64)), "grad_y must have w's shape", why="shape mismatch")]),
    Case(discrete.make_shortest_path_data,
         lambda: dict(n_samples=2, grid=4, n_features=3, degree=2, noise=0.1, neighbours=4, generator=0,
                      dtype=torch.float64)),
]

EXEMPT = {
    "ShortestPathData": "result container (dataclass) returned by make_shortest_path_data",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
