"""Contract cases for nips2019.optim (see tests/contract.py)."""

import torch

from nips2019 import optim
from tests.contract import Bad, Case, check_case, contract_params

D64 = torch.float64


def _p():
    return [torch.full((3,), 1 / 3, dtype=D64, requires_grad=True)]


def _stepper(cls, **kw):
    def make():
        params = _p()
        opt = cls(params, **kw)

        def closure():
            opt.zero_grad()
            loss = ((params[0] - 0.2) ** 2).sum()
            loss.backward()
            return loss

        return opt.step, dict(closure=closure)

    return make


CASES = [
    Case(optim.ExtraGradient,
         lambda: dict(params=_p(), lr=0.1, maximize=False, constraint="simplex", radius=1.0)),
    Case(optim.ExtraGradient, _stepper(optim.ExtraGradient, lr=0.1), name="ExtraGradient.step"),
    Case(optim.MirrorProx, lambda: dict(params=_p(), lr=0.1, maximize=True, radius=1.0)),
    Case(optim.MirrorProx, _stepper(optim.MirrorProx, lr=0.1), name="MirrorProx.step"),
    Case(optim.UniXGrad, lambda: dict(params=_p(), diameter=1.0, constraint="l1_ball", radius=2.0)),
    Case(optim.UniXGrad, _stepper(optim.UniXGrad, diameter=1.0, constraint="simplex"), name="UniXGrad.step"),
    Case(optim.AProx, lambda: dict(params=_p(), lr=0.1, model="truncated", lower_bound=0.0, max_iter=5)),
    Case(optim.AProx, _stepper(optim.AProx, lr=0.1, model="proximal"), name="AProx.step",
         bad=[Bad(dict(closure=lambda: 1.0), "scalar tensor", why="closure returns a float")]),
    Case(optim.project_simplex, lambda: dict(x=torch.tensor([0.3, 1.2, -0.4], dtype=D64), radius=1.0)),
    Case(optim.project_l1_ball,
         lambda: dict(x=torch.tensor([[0.3, 1.2], [0.1, 0.1]], dtype=D64), radius=0.5)),
    Case(optim.duality_gap, lambda: dict(payoff=torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=D64),
                                         x=torch.tensor([0.4, 0.6], dtype=D64),
                                         y=torch.tensor([0.5, 0.5], dtype=D64)),
         bad=[Bad(dict(x=torch.tensor([0.4, 0.4], dtype=D64)), "x must sum to 1", why="not a distribution")]),
]

EXEMPT: dict = {}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
