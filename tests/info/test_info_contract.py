"""Contract cases for nips2019.info (see tests/contract.py)."""

import torch

from nips2019 import info
from tests.contract import Bad, Case, check_case, contract_params

F64 = dict(dtype=torch.float64)


def _p():
    return torch.tensor([0.2, 0.3, 0.5], **F64)


def _q():
    return torch.tensor([0.4, 0.4, 0.2], **F64)


def _k():
    return torch.tensor([[1.0, 0.6, 0.1], [0.6, 1.0, 0.2], [0.1, 0.2, 1.0]], **F64)


def _cov():
    return torch.tensor([[2.0, 0.5, 0.1], [0.5, 1.0, 0.3], [0.1, 0.3, 1.5]], **F64)


def _x():
    g = torch.Generator().manual_seed(0)
    return torch.randn(12, 3, generator=g, **F64)


CASES = [
    Case(info.similarity_entropy, lambda: dict(p=_p(), similarity=_k(), order=2.0),
         bad=[Bad(dict(p=_p() * 2), "must sum to 1", why="not a distribution"),
              Bad(dict(similarity=torch.zeros(3, 3, **F64)), "positive diagonal", why="no self-similarity")]),
    Case(info.gait_divergence, lambda: dict(p=_p(), q=_q(), similarity=_k()),
         bad=[Bad(dict(q=torch.tensor([0.0, 0.0, 1.0], **F64), similarity=None), "infinite",
                  why="q has no mass near p")]),
    Case(info.max_diversity, lambda: dict(similarity=_k(), n_steps=200, tol=1e-9),
         bad=[Bad(dict(similarity=torch.tensor([[1.0, 0.2], [0.5, 1.0]], **F64)), "symmetric",
                  why="asymmetric similarity")]),
    Case(info.gaussian_entropy, lambda: dict(cov=_cov()),
         bad=[Bad(dict(cov=-_cov()), "positive definite", why="negative definite")]),
    Case(info.gaussian_mutual_information, lambda: dict(cov=_cov(), index=[0, 2]),
         bad=[Bad(dict(index=[0, 0]), "distinct", why="repeated coordinate"),
              Bad(dict(index=[5]), "distinct coordinates in", why="out of range")]),
    Case(info.gaussian_total_correlation, lambda: dict(cov=_cov()),
         bad=[Bad(dict(cov=torch.tensor([[1.0, 2.0], [2.0, 1.0]], **F64)), "positive definite",
                  why="indefinite")]),
    Case(info.infonce_bound, lambda: dict(scores=torch.tensor([[1.0, 0.2], [0.1, 2.0]], **F64))),
    Case(info.que_scores, lambda: dict(x=_x(), alpha=3.0, mean=None),
         bad=[Bad(dict(x=_x()[:1]), "at least 2 rows", why="one point")]),
    Case(info.linear_corex, lambda: dict(x=_x(), n_factors=2, reg_modular=1.0, n_steps=5, lr=0.05,
                                         generator=0, progress=False),
         bad=[Bad(dict(x=torch.ones(5, 3, **F64)), "positive variance", why="constant columns")]),
    Case(info.que_robust_mean, lambda: dict(x=_x(), contamination=0.1, alpha=2.0, max_rounds=5)),
    Case(info.ContrastivePredictiveLoss, lambda: dict(n_features=3, offsets=(1, 2))),
    Case(info.greedy_infomax, lambda: dict(modules=[torch.nn.Linear(3, 3).double()],
                                           losses=[info.ContrastivePredictiveLoss(3, offsets=(1,)).double()],
                                           data=torch.randn(6, 5, 3, **F64), mode="greedy", n_steps=2,
                                           batch_size=3, lr=0.01, generator=0, progress=False),
         bad=[Bad(dict(losses=[]), "losses", why="no loss"),
              Bad(dict(data=torch.randn(6, 5, 3)), "device and dtype of data", why="float32 data, float64 modules")]),
]

EXEMPT = {
    "GreedyInfoMaxResult": "result container (dataclass) returned by greedy_infomax",
    "LinearCorexResult": "result container (dataclass) returned by linear_corex",
    "MaxDiversityResult": "result container (dataclass) returned by max_diversity",
    "RobustMeanResult": "result container (dataclass) returned by que_robust_mean",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
