"""Contract cases for nips2019.kernels (see tests/contract.py)."""

import torch

from nips2019 import kernels
from tests.contract import Bad, Case, check_case, contract_params

F64 = dict(dtype=torch.float64)


def _x():
    return torch.tensor([[0.0, 0.0], [1.0, 0.5], [0.2, 1.0], [0.4, 0.3]], **F64)


def _y():
    return torch.tensor([[0.5, 0.0], [1.5, 1.0], [0.0, 2.0]], **F64)


CASES = [
    Case(kernels.kernel_matrix, lambda: dict(x=_x(), y=_y(), kernel="imq", bandwidth=None),
         bad=[Bad(dict(x=torch.zeros(3, 2, **F64), y=None), "median pairwise distance is 0",
                  why="all points coincide: no bandwidth")]),
    Case(kernels.median_heuristic, lambda: dict(x=_x(), y=_y()),
         bad=[Bad(dict(x=_x()[:1], y=None), "at least 2 points", why="a single point")]),
    Case(kernels.mmd2, lambda: dict(x=_x(), y=_y(), kernel="gaussian", bandwidth=1.0, unbiased=True),
         bad=[Bad(dict(y=_y()[:1]), "at least 2 points in x and in y", why="U-statistic of one point"),
              Bad(dict(y=_y()[:, :1]), "d", why="different dimensions")]),
    Case(kernels.mmd_test, lambda: dict(x=_x(), y=_y(), kernel="laplace", bandwidth=None, unbiased=False,
                                        method="spectral", n_null_samples=20, generator=0, progress=False),
         bad=[Bad(dict(x=_x()[:1], y=_y()[:1]), "at least 3 points", why="no relabelling to draw")]),
    Case(kernels.mmd_test, lambda: dict(x=_x(), y=_y(), n_null_samples=20, generator=0),
         name="mmd_test.permutation"),
    Case(kernels.graph_density, lambda: dict(x=_x(), radius=0.6, graph=None),
         bad=[Bad(dict(x=_x()[:1]), "at least 2 points", why="no pair"),
              Bad(dict(graph=lambda a, b: -torch.ones(a.shape[0], b.shape[0], **F64)), r"values in \[0, 1\]",
                  why="negative edge weights")]),
    Case(kernels.graph_test, lambda: dict(x=_x(), y=_y(), radius=0.6, graph=None, alternative="greater",
                                          n_permutations=20, generator=0, progress=False),
         bad=[Bad(dict(y=_y()[:1]), "at least 2 points", why="no pair in y"),
              Bad(dict(graph=lambda a, b: torch.ones(2, 2, **F64)), "shape", why="adjacency of the wrong shape")]),
]

EXEMPT = {
    "TwoSampleTestResult": "result container (dataclass) returned by mmd_test",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
