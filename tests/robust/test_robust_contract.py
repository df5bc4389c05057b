"""Contract cases for nips2019.robust (see tests/contract.py)."""

import torch

from nips2019 import robust
from tests.contract import Bad, Case, check_case, contract_params


def _net(sizes=(3, 4, 2)):
    return robust.make_mlp(list(sizes), generator=0, dtype=torch.float64)


def _x(n=5, d=3):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def _y(n=5):
    return torch.tensor([0, 1, 0, 1, 1][:n])


CASES = [
    Case(robust.clopper_pearson, lambda: dict(successes=torch.tensor([3, 5]), n_trials=10, alpha=0.05,
                                              side="two-sided"),
         bad=[Bad(dict(successes=torch.tensor([11])), "successes must be <= n_trials", why="k > n")]),
    Case(robust.smoothed_predict, lambda: dict(model=_net(), x=_x(), sigma=0.5, n_samples=20, alpha=0.05,
                                               batch_size=16, generator=0)),
    Case(robust.certify, lambda: dict(model=_net(), x=_x(), sigma=0.5, n_select=10, n_samples=20, alpha=0.05,
                                      batch_size=16, generator=0),
         bad=[Bad(dict(x=_x().float()), "x has dtype torch.float32 but model has torch.float64",
                  why="mixed dtypes")]),
    Case(robust.certified_accuracy, lambda: dict(prediction=torch.tensor([0, 1, -1]),
                                                 radius=torch.tensor([0.5, 1.0, 0.0]), y=torch.tensor([0, 0, 1]),
                                                 radii=torch.tensor([0.0, 0.6])),
         bad=[Bad(dict(prediction=torch.tensor([0, 1])), "prediction", why="lengths differ")]),
    Case(robust.pgd_attack, lambda: dict(model=_net(), x=_x(), y=_y(), eps=0.3, n_steps=2, sigma=0.2,
                                         n_noise=2, generator=0),
         bad=[Bad(dict(y=torch.tensor([0, 1, 0, 1, 2])), r"y must have values in \[0, 2\)",
                  why="label beyond the model's classes"),
              Bad(dict(eps=torch.tensor([0.1, 0.2])), "eps", why="one radius per input, wrong count")]),
    Case(robust.naive_lipschitz, lambda: dict(model=_net()),
         bad=[Bad(dict(model=torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.GELU(), torch.nn.Linear(2, 1))),
                  "activation GELU", why="no slope bound")]),
    Case(robust.lipsdp_lipschitz, lambda: dict(model=_net(), solver="CLARABEL"),
         bad=[Bad(dict(model=torch.nn.Sequential(torch.nn.Conv1d(1, 1, 1))), "must be an MLP", why="a conv net")]),
    Case(robust.lipschitz_lower_bound, lambda: dict(model=_net(), x=_x(), n_steps=2, lr=0.01, generator=0)),
    Case(robust.jacobian_penalty, lambda: dict(model=_net(), x=_x(), n_projections=2, generator=0)),
    Case(robust.lipschitz_margin_radius, lambda: dict(logits=_x(4, 3), y=torch.tensor([0, 2, 1, 0]),
                                                      lipschitz=2.0),
         bad=[Bad(dict(logits=_x(4, 1), y=torch.tensor([0, 0, 0, 0])), "at least 2 columns",
                  why="one class")]),
    Case(robust.make_mlp, lambda: dict(sizes=[3, 4, 2], activation="tanh", generator=0, dtype=torch.float64),
         bad=[Bad(dict(sizes=[3]), "sizes", why="no output layer")]),
    Case(robust.train_classifier, lambda: dict(model=_net(), x=_x(), y=_y(), n_epochs=1, batch_size=4, lr=0.01,
                                               weight_decay=0.0, noise_sd=0.2, adv_eps=0.1, adv_steps=1,
                                               n_noise=2, jacobian_reg=0.1, label_smoothing=0.1,
                                               temperature=2.0, generator=0),
         bad=[Bad(dict(teacher=_net((3, 4, 3))), "teacher", why="teacher with another number of classes"),
              Bad(dict(y=torch.tensor([0, 1, 0, 1, 5])), r"y must have values in \[0, 2\)", why="unknown class")]),
]

EXEMPT = {
    "CertifyResult": "result container (dataclass) returned by certify",
    "LipSDPResult": "result container (dataclass) returned by lipsdp_lipschitz",
    "LowerBoundResult": "result container (dataclass) returned by lipschitz_lower_bound",
    "TrainResult": "result container (dataclass) returned by train_classifier",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
