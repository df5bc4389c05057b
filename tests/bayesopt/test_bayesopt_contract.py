"""Contract cases for nips2019.bayesopt (see tests/contract.py)."""

import torch

from nips2019 import bayesopt as bo
from tests.contract import Bad, Case, check_case, contract_params

F64 = dict(dtype=torch.float64)


def _xy(n=6, d=2):
    g = torch.Generator().manual_seed(0)
    x = 2 * torch.rand(n, d, generator=g, **F64) - 1
    return x, torch.sin(3 * x[:, 0])


def _f(x):
    return bo.embedded_branin(x, torch.tensor([0, 2]))


CASES = [
    Case(bo.gp_log_marginal_likelihood, lambda: dict(x=_xy()[0], y=_xy()[1], lengthscale=torch.ones(2, **F64),
                                                     outputscale=1.0, noise=1e-3),
         bad=[Bad(dict(lengthscale=torch.ones(3, **F64)), "lengthscale", why="one lengthscale per input")]),
    Case(bo.fit_gp, lambda: dict(x=_xy()[0], y=_xy()[1], projection_dim=1, n_steps=2, lr=0.05, min_noise=1e-6,
                                 generator=0),
         bad=[Bad(dict(y=_xy()[1][:4]), "y", why="one target per point")]),
    Case(bo.expected_improvement, lambda: dict(mean=torch.zeros(3, **F64), std=torch.ones(3, **F64), best=0.0),
         bad=[Bad(dict(std=-torch.ones(3, **F64)), "std", why="negative standard deviations")]),
    Case(bo.embedded_branin, lambda: dict(x=_xy(4, 3)[0], active=torch.tensor([0, 2])),
         bad=[Bad(dict(x=_xy(4, 3)[0] * 2), "x", why="outside the box"),
              Bad(dict(active=torch.tensor([1, 1])), "distinct", why="one coordinate twice")]),
    Case(bo.bayes_opt, lambda: dict(objective=_f, dim=3, method="learned", n_init=3, n_iter=1, embed_dim=2,
                                    n_candidates=8, n_steps=3, generator=0, dtype=torch.float64, progress=False),
         skip=dict(objective="any callable is accepted; its answers are checked (bad-input test)"),
         bad=[Bad(dict(objective=lambda x: x), "objective must return", why="a vector per point")]),
]

EXEMPT = {
    "BRANIN_MINIMUM": "a constant (the Branin minimum value), nothing to call",
    "BayesOptResult": "result container (dataclass) returned by bayes_opt",
    "GaussianProcess": "fitted object (dataclass) returned by fit_gp; its predict checks the shape of x",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
