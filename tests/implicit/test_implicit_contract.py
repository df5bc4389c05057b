"""Contract cases for nips2019.implicit (see tests/contract.py)."""

import torch

from nips2019 import implicit as im
from tests.contract import Bad, Case, check_case, contract_params

F64 = torch.float64


def _x(b=3, d=2):
    return torch.randn(b, d, generator=torch.Generator().manual_seed(0), dtype=F64)


def _cell():
    return im.ContractiveCell(2, 3, contraction=0.5, generator=0).double()


def _half_tanh(z):
    return 0.5 * torch.tanh(z) + 0.1


def _deq_forward():
    return im.DEQ(_cell()), dict(x=_x(), z0=torch.zeros(3, 3, dtype=F64))


def _cell_forward():
    return _cell(), dict(z=torch.zeros(3, 3, dtype=F64), x=_x())


def _stack_forward():
    return im.WeightTiedStack(_cell(), 3), dict(x=_x())


def _model():
    return torch.nn.Sequential(im.DEQ(_cell()), torch.nn.Linear(3, 2, dtype=F64))


CASES = [
    Case(im.fixed_point, lambda: dict(f=_half_tanh, z0=torch.zeros(2, 3, dtype=F64), method="anderson",
                                      max_iter=20, tol=1e-6, m=3, beta=1.0, lam=1e-8),
         bad=[Bad(dict(f=lambda z: z[:, :1]), "f\\(z0\\) must have z0's shape", why="f changes the shape"),
              Bad(dict(f=lambda z: 2.0), "f must return a torch.Tensor", why="f returns a number")]),
    Case(im.fixed_point, lambda: dict(f=_half_tanh, z0=torch.zeros(2, 3, dtype=F64), method="broyden", m=2),
         name="fixed_point.broyden"),
    Case(im.fixed_point, lambda: dict(f=_half_tanh, z0=torch.zeros(2, 3, dtype=F64), method="picard", beta=0.5),
         name="fixed_point.picard"),
    Case(im.ContractiveCell, lambda: dict(n_inputs=2, n_hidden=3, activation="relu", contraction=0.5, generator=0),
         bad=[Bad(dict(contraction=1.0), "contraction must be a real number in \\(0, 1\\)", why="not a contraction")]),
    Case(im.ContractiveCell.forward, _cell_forward, name="ContractiveCell.forward",
         bad=[Bad(dict(z=torch.zeros(3, 4, dtype=F64)), "z must have shape \\(B, 3\\)", why="wrong width")]),
    Case(im.DEQ, lambda: dict(cell=_cell(), method="broyden", max_iter=10, tol=1e-5, backward="implicit",
                              backward_method="picard", backward_max_iter=10, backward_tol=1e-6, m=3)),
    Case(im.DEQ.forward, _deq_forward, name="DEQ.forward",
         bad=[Bad(dict(x=_x(3, 4), z0=None), "x must have shape \\(B, 2\\)", why="wrong input width"),
              Bad(dict(z0=torch.zeros(3, 5, dtype=F64)), "z0 must have shape \\(3, 3\\)", why="wrong z0")]),
    Case(im.WeightTiedStack, lambda: dict(cell=_cell(), n_layers=3)),
    Case(im.WeightTiedStack.forward, _stack_forward, name="WeightTiedStack.forward"),
    Case(im.fit_classifier, lambda: dict(model=_model(), x=_x(6), y=torch.tensor([0, 1, 0, 1, 1, 0]), n_epochs=1,
                                         batch_size=3, lr=0.01, weight_decay=0.0, generator=0, progress=False),
         bad=[Bad(dict(y=torch.tensor([0, 1, 0, 1, 1, 2])), "y has label 2", why="more classes than logits")]),
    Case(im.saved_tensor_bytes, lambda: dict(fn=lambda: torch.tanh(torch.ones(3, requires_grad=True)))),
]

EXEMPT = {
    "FixedPointResult": "result container (dataclass) returned by fixed_point",
    "ClassifierFit": "result container (dataclass) returned by fit_classifier",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
