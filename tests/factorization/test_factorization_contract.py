"""Contract cases for nips2019.factorization (see tests/contract.py)."""

import torch

from nips2019 import factorization as fz
from tests.contract import Bad, Case, check_case, contract_params


def _problem():
    return fz.make_completion_problem(4, 4, 2, 10, generator=0)


def _obs():
    p = _problem()
    return dict(observed=p.target, mask=p.mask)


CASES = [
    Case(fz.make_completion_problem, lambda: dict(n_rows=6, n_cols=5, rank=2, n_observed=[10, 20], nested=True,
                                                  generator=0, dtype=torch.float64),
         bad=[Bad(dict(rank=6), "rank must be <= min", why="rank above the size"),
              Bad(dict(n_observed=[10, 31]), r"n_observed must be in \[1", why="more entries than exist")]),
    Case(fz.deep_factorization, lambda: dict(**_obs(), depth=2, width=3, init="gaussian", init_scale=0.1, lr=0.1,
                                             n_steps=20, record_every=5, tol=1e-6, generator=0, progress=False),
         bad=[Bad(dict(mask=torch.ones(4, 3, dtype=torch.bool)), "mask", why="mask of another shape"),
              Bad(dict(init="balanced", width=5), "width <= min", why="balanced factors wider than the matrix"),
              Bad(dict(lr=1e6, n_steps=50), "non-finite", exc=FloatingPointError, why="divergent step size")]),
    Case(fz.effective_rank, lambda: dict(x=_problem().target)),
    Case(fz.singular_value_rates, lambda: dict(product=_problem().target, gradient=_problem().target.flip(0),
                                               depth=3),
         bad=[Bad(dict(gradient=torch.zeros(3, 4, dtype=torch.float64)), "gradient", why="transposed gradient")]),
    Case(fz.nuclear_norm_completion, lambda: _obs(),
         bad=[Bad(dict(mask=torch.zeros(4, 4, dtype=torch.bool)), "observes no entry", why="nothing observed")]),
    Case(fz.relative_error, lambda: dict(estimate=_problem().target * 0.9, target=_problem().target,
                                         mask=_problem().mask),
         bad=[Bad(dict(target=torch.zeros(4, 4, dtype=torch.float64)), "target is zero", why="zero target")]),
]

EXEMPT = {
    "CompletionProblem": "result container (dataclass) returned by make_completion_problem",
    "DeepFactorizationResult": "result container (dataclass) returned by deep_factorization",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
