"""Contract cases for nips2019.setfunctions (see tests/contract.py)."""

import torch

from nips2019 import setfunctions as sf
from tests.contract import Bad, Case, check_case, contract_params

F64 = dict(dtype=torch.float64)


def _sets():
    return torch.tensor([[True, False, True], [False, True, True], [False, False, False]])


def _edges():
    return torch.tensor([[0, 1], [1, 2]])


def _w():
    return torch.tensor([1.0, 2.0], **F64)


def _query(s):
    return sf.cut_value(s, _edges(), _w())


def _xy(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g, **F64)
    return x, x[:, 0] + 0.1 * torch.randn(n, generator=g, **F64)


CASES = [
    Case(sf.fwht, lambda: dict(values=torch.randn(2, 8, **F64)),
         bad=[Bad(dict(values=torch.zeros(6, **F64)), "power-of-two", why="not a power of two")]),
    Case(sf.hadamard_matrix, lambda: dict(n_vars=2, dtype=torch.float64),
         bad=[Bad(dict(n_vars=20), "n_vars", why="a 4^20 dense matrix")]),
    Case(sf.fourier_transform, lambda: dict(values=torch.randn(4, **F64))),
    Case(sf.index_to_sets, lambda: dict(index=torch.tensor([0, 3]), n_vars=2),
         bad=[Bad(dict(index=torch.tensor([4])), "index_to_sets: index must be < 2\\*\\*n_vars", why="too large")]),
    Case(sf.sets_to_index, lambda: dict(sets=_sets())),
    Case(sf.evaluate_fourier, lambda: dict(sets=_sets(), frequencies=_sets()[:2], coefficients=_w()),
         bad=[Bad(dict(frequencies=_sets()[:, :2]), "frequencies", why="another ground set")]),
    Case(sf.random_graph, lambda: dict(n_nodes=4, n_edges=3, generator=0, dtype=torch.float64),
         bad=[Bad(dict(n_edges=7), "n_edges must be <= ", why="more edges than pairs")]),
    Case(sf.cut_value, lambda: dict(sets=_sets(), edges=_edges(), weights=_w()),
         bad=[Bad(dict(edges=torch.tensor([[0, 3], [1, 2]])), "edges", why="node 3 of 3")]),
    Case(sf.cut_spectrum, lambda: dict(n_nodes=3, edges=_edges(), weights=_w()),
         bad=[Bad(dict(edges=torch.tensor([[0, 3], [1, 2]])), "edges must be < n_nodes", why="node out of range"),
              Bad(dict(edges=torch.tensor([[1, 1], [1, 2]])), "self-loops", why="a loop")]),
    Case(sf.coverage_value, lambda: dict(sets=_sets(), cover=_sets().T, weights=torch.ones(3, **F64)),
         bad=[Bad(dict(weights=-torch.ones(3, **F64)), "weights", why="negative weights")]),
    Case(sf.coverage_spectrum, lambda: dict(cover=_sets(), weights=torch.ones(3, **F64), max_degree=4),
         bad=[Bad(dict(weights=torch.ones(2, **F64)), "weights must have 3 entries", why="wrong length")]),
    Case(sf.ridge_subset_loss, lambda: dict(sets=_sets(), x_train=_xy()[0], y_train=_xy()[1],
                                            x_val=_xy(4, 1)[0], y_val=_xy(4, 1)[1], reg=0.1),
         bad=[Bad(dict(x_val=_xy(4, 1)[0].float()), "x_val", why="mixed dtypes")]),
    Case(sf.sparse_fourier, lambda: dict(query=_query, n_vars=3, sparsity=3, degree=2, decoder="low-degree",
                                         n_groups=4, n_checks=2, max_rounds=5, tol=1e-8, generator=0,
                                         dtype=torch.float64, progress=False),
         skip=dict(query="any callable is accepted; its answers are checked (bad-input test)"),
         bad=[Bad(dict(degree=None), "degree is required", why="low-degree decoder without a degree")]),
    Case(sf.parity_features, lambda: dict(sets=_sets(), degree=2)),
    Case(sf.lasso_fourier, lambda: dict(sets=_sets(), values=_query(_sets()), degree=1, alpha=1e-3,
                                        threshold=1e-3, max_iter=100, tol=1e-4),
         bad=[Bad(dict(values=_w()), "values", why="one value per set")]),
]

EXEMPT = {
    "SetFunctionSpectrum": "result container (dataclass) returned by cut_spectrum, lasso_fourier, ...",
    "SparseFourierResult": "result container (dataclass) returned by sparse_fourier",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
