"""Contract cases for nips2019.landscape (see tests/contract.py)."""

import torch

from nips2019 import landscape
from tests.contract import Bad, Case, check_case, contract_params

D64 = torch.float64


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()


def _x():
    return torch.linspace(-1, 1, 15, dtype=D64).reshape(5, 3)


def _y():
    return torch.tensor([0, 1, 1, 0, 1])


N_PARAMS = 3 * 4 + 4 + 4 * 2 + 2


def _kfac_step():
    net = _net()
    opt = landscape.KFAC(net, lr=0.1, damping=1e-2)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(_x()), _y())
        loss.backward()
        return loss

    return opt.step, dict(closure=closure)


CASES = [
    Case(
        landscape.random_direction,
        lambda: dict(model=_net(), normalization="filter", ignore_bias=True, generator=0),
    ),
    Case(
        landscape.loss_landscape,
        lambda: dict(
            model=_net(),
            x=_x(),
            y=_y(),
            directions=torch.ones(2, N_PARAMS, dtype=D64) * 0.1,
            coords=torch.tensor([[0.0, 0.0], [1.0, -1.0]], dtype=D64),
            progress=False,
        ),
        bad=[
            Bad(
                dict(directions=torch.ones(2, 5, dtype=D64)),
                "directions must have 26 entries",
                why="a direction of the wrong length",
            ),
            Bad(dict(y=torch.tensor([0, 1, 1, 0, 5])), "x and y", why="a label out of range"),
        ],
    ),
    Case(
        landscape.hessian_vector_product,
        lambda: dict(model=_net(), x=_x(), y=_y(), v=torch.ones(N_PARAMS, dtype=D64)),
        bad=[Bad(dict(v=torch.ones(3, dtype=D64)), "v must have 26 entries", why="wrong length")],
    ),
    Case(landscape.dense_hessian, lambda: dict(model=_net(), x=_x(), y=_y())),
    Case(
        landscape.lanczos,
        lambda: dict(matvec=lambda v: 2.0 * v, v0=torch.ones(4, dtype=D64), n_iter=3, reorthogonalize=True),
        bad=[
            Bad(dict(v0=torch.zeros(4, dtype=D64)), "v0 must be nonzero", why="zero start"),
            Bad(dict(matvec=lambda v: v[:2]), "matvec must return a tensor of shape", why="wrong shape"),
        ],
    ),
    Case(
        landscape.hessian_spectrum,
        lambda: dict(model=_net(), x=_x(), y=_y(), n_iter=5, n_probes=2, generator=0, progress=False),
    ),
    Case(
        landscape.KFAC,
        lambda: dict(model=_net(), lr=0.1, damping=1e-2, ema_decay=0.9, update_every=2, momentum=0.5),
        bad=[Bad(dict(ema_decay=1.0), "ema_decay", why="never updates the factors")],
    ),
    Case(landscape.KFAC, _kfac_step, name="KFAC.step"),
    Case(
        landscape.kfac_fisher_blocks,
        lambda: dict(model=_net(), x=_x()),
        bad=[Bad(dict(model=torch.nn.Tanh()), "no nn.Linear layer", why="nothing to factor")],
    ),
]

EXEMPT = {
    "FisherBlock": "result container (dataclass) returned by kfac_fisher_blocks",
    "LanczosResult": "result container (dataclass) returned by lanczos",
    "SpectrumResult": "result container (dataclass) returned by hessian_spectrum",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
