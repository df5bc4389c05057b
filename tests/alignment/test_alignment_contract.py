"""Contract cases for nips2019.alignment (see tests/contract.py)."""

import torch

from nips2019 import alignment
from tests.contract import Bad, Case, check_case, contract_params

F64 = torch.float64


def _x(n=8, d=3, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)


CASES = [
    Case(alignment.make_embedding_pair,
         lambda: dict(n_words=20, n_features=3, noise=0.1, shared=0.5, n_clusters=2, decay=0.9, generator=0,
                      dtype=F64),
         bad=[Bad(dict(shared=1.5), "shared", why="more than all words shared")]),
    Case(alignment.procrustes, lambda: dict(source=_x(), target=_x(seed=1)),
         bad=[Bad(dict(target=_x(7)), "target", why="unpaired rows")]),
    Case(alignment.wasserstein_procrustes,
         lambda: dict(source=_x(), target=_x(6, seed=1), init=torch.eye(3, dtype=F64), n_steps=2,
                      progress=False),
         bad=[Bad(dict(init=torch.eye(2, dtype=F64)), "init", why="wrong size of rotation"),
              Bad(dict(target=_x(6, 4)), "target", why="different dimensions")]),
    Case(alignment.gromov_wasserstein_align,
         lambda: dict(source=_x(), target=_x(6, 2, seed=1), metric="sqeuclidean", reg=0.0, max_iter=50,
                      tol=1e-9),
         bad=[Bad(dict(reg=-1.0), "reg", why="negative entropy weight")]),
    Case(alignment.cosine_scores, lambda: dict(source=_x(), target=_x(5, seed=1)),
         bad=[Bad(dict(target=_x(5, 2)), "target", why="different dimensions")]),
    Case(alignment.precision_at_k,
         lambda: dict(scores=_x(4, 5), pairs=torch.tensor([[0, 1], [2, 4]]), k=2),
         bad=[Bad(dict(k=6), "k must be <= m = 5", why="more neighbours than targets"),
              Bad(dict(pairs=torch.tensor([[0, 5]])), "pairs", why="a column out of range"),
              Bad(dict(pairs=torch.tensor([[0, -1]])), "pairs", why="a negative index")]),
]

EXEMPT = {
    "AlignmentResult": "result container (dataclass) returned by the alignment functions",
    "EmbeddingPair": "result container (dataclass) returned by make_embedding_pair",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
