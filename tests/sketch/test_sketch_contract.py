"""Contract cases for nips2019.sketch (see tests/contract.py)."""

import torch

from nips2019 import sketch as sk
from tests.contract import Bad, Case, check_case, contract_params

F64 = torch.float64


def _x():
    return torch.tensor([1.0, -2.0, 0.0, 0.5], dtype=F64)


CASES = [
    Case(sk.sparse_jl, lambda: dict(n_features=20, n_components=8, sparsity=2, construction="block", generator=0,
                                    dtype=F64),
         bad=[Bad(dict(sparsity=3), "divide", why="block construction with s not dividing m"),
              Bad(dict(sparsity=9, construction="graph"), "at most n_components", why="s > m")]),
    Case(sk.SparseJL.apply, lambda: (sk.sparse_jl(4, 8, sparsity=2, generator=0, dtype=F64).apply,
                                     dict(x=torch.ones(3, 4, dtype=F64))), name="SparseJL.apply",
         bad=[Bad(dict(x=torch.ones(3, 5, dtype=F64)), "n_features", why="wrong input width")]),
    Case(sk.jl_distortion_variance, lambda: dict(x=_x(), n_components=8, sparsity=2, construction="block"),
         bad=[Bad(dict(x=torch.zeros(4, dtype=F64)), "non-zero", why="zero vector")]),
    Case(sk.jl_distortion, lambda: dict(x=_x(), n_components=8, sparsity=2, construction="graph", n_trials=20,
                                        eps_distortion=0.1, generator=0),
         bad=[Bad(dict(x=torch.zeros(4, dtype=F64)), "non-zero", why="zero vector")]),
    Case(sk.ratio_tradeoff, lambda: dict(support_sizes=[2, 4], n_components=8, sparsity=2, construction="block",
                                         eps_distortion=0.2, delta=0.1, n_trials=20, generator=0, dtype=F64)),
]

EXEMPT = {
    "SparseJL": "result container (dataclass) returned by sparse_jl; its apply method has its own case",
    "DistortionResult": "result container (dataclass) returned by jl_distortion",
    "RatioTradeoff": "result container (dataclass) returned by ratio_tradeoff",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
