"""Contract cases for nips2019.estimators (see tests/contract.py)."""

import torch

from nips2019 import estimators
from tests.contract import Bad, Case, check_case, contract_params

D64 = torch.float64


def _loc():
    return torch.tensor([0.5, -0.2], dtype=D64)


def _scale():
    return torch.tensor([1.0, 0.5], dtype=D64)


def _sq(x):
    return (x ** 2).sum(-1)


def _gauss(**extra):
    return lambda: dict(f=_sq, loc=_loc(), scale=_scale(), n_samples=4, generator=0, **extra)


_BAD_F = [Bad(dict(f=lambda x: x), "must map points", why="f keeps the d axis"),
          Bad(dict(scale=torch.tensor([1.0, 0.0], dtype=D64)), "scale", why="zero scale")]

CASES = [
    Case(estimators.score_function_gradient, _gauss(baseline="leave_one_out"), bad=_BAD_F),
    Case(estimators.pathwise_gradient, _gauss(), bad=_BAD_F + [
        Bad(dict(f=lambda x: (x[:, 0] > 0).double()), "autograd", why="non-differentiable f")]),
    Case(estimators.measure_valued_gradient, _gauss(coupling=True), bad=_BAD_F),
    Case(estimators.bernoulli_gradient,
         lambda: dict(f=_sq, probs=torch.tensor([0.3, 0.6], dtype=D64), method="measure_valued",
                      n_samples=4, generator=0),
         bad=[Bad(dict(probs=torch.tensor([0.0, 0.6], dtype=D64)), "probs", why="p = 0")]),
    Case(estimators.poisson_gradient,
         lambda: dict(f=_sq, rate=torch.tensor([2.0, 0.5], dtype=D64), method="score_function",
                      n_samples=4, generator=0),
         bad=[Bad(dict(rate=torch.tensor([0.0, 0.5], dtype=D64)), "rate", why="rate 0")]),
]

EXEMPT = {
    "GaussianGradient": "result container (dataclass) returned by the Gaussian estimators",
    "GradientEstimate": "result container (dataclass) holding one parameter's estimate",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
