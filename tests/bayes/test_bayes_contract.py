"""Contract cases for nips2019.bayes (see tests/contract.py)."""

import torch

from nips2019 import bayes
from tests.contract import Bad, Case, check_case, contract_params

D64 = torch.float64
X = [[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]]
Y = [0.1, 0.9, 2.1]


def _loss(t):
    x, y = torch.tensor(X, dtype=t.dtype), torch.tensor(Y, dtype=t.dtype)
    return 0.5 * (y - x @ t) ** 2


def _q():
    return bayes.GaussianPosterior(torch.zeros(2, dtype=D64), torch.eye(2, dtype=D64))


CASES = [
    Case(bayes.GaussianPosterior,
         lambda: dict(mean=torch.zeros(2, dtype=D64), precision=torch.ones(2, dtype=D64)),
         bad=[Bad(dict(precision=-torch.eye(2, dtype=D64)), "positive definite", why="negative definite")]),
    Case(bayes.blr_step, lambda: dict(loss=_loss, posterior=_q(), lr=0.5, prior_precision=1.0, method="mc",
                                      hessian_approx="squared_gradients", n_samples=2, n_data=6, generator=0),
         bad=[Bad(dict(loss=lambda t: torch.ones(2, 2, dtype=D64)), "per-example losses",
                  why="a matrix of losses")]),
    Case(bayes.logistic_predictive, lambda: dict(posterior=_q(), x=torch.tensor(X, dtype=D64), method="mc",
                                                 n_samples=10, generator=0)),
]

EXEMPT: dict = {}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
