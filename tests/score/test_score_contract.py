"""Contract cases for nips2019.score (see tests/contract.py)."""

import torch

from nips2019 import score
from tests.contract import Bad, Case, check_case, contract_params

F64 = dict(dtype=torch.float64)


def _means():
    return torch.tensor([[-1.0, -1.0], [1.0, 1.0]], **F64)


def _weights():
    return torch.tensor([0.25, 0.75], **F64)


def _x():
    return torch.tensor([[0.0, 0.5], [1.0, -1.0], [2.0, 2.0]], **F64)


def _net():
    return score.NoiseConditionalMLP(2, n_hidden=8, n_layers=1, generator=0).double()


def _sigmas():
    return torch.tensor([1.0, 0.5], **F64)


def _exact(x, sigma=0.0):
    return score.mixture_score(x, _means().to(x.dtype), _weights().to(x.dtype), 0.5, sigma=sigma)


CASES = [
    Case(score.mixture_score, lambda: dict(x=_x(), means=_means(), weights=_weights(), std=0.5, sigma=0.3),
         bad=[Bad(dict(weights=torch.tensor([0.5, 0.6], **F64)), "weights must sum to 1", why="unnormalised"),
              Bad(dict(weights=torch.tensor([-0.5, 1.5], **F64)), "weights", why="negative weight")]),
    Case(score.mixture_log_prob, lambda: dict(x=_x(), means=_means(), weights=_weights(), std=0.5, sigma=0.3),
         bad=[Bad(dict(means=torch.zeros(2, 3, **F64)), "means", why="dimension mismatch")]),
    Case(score.sample_mixture, lambda: dict(n_samples=5, means=_means(), weights=_weights(), std=0.5, generator=0),
         bad=[Bad(dict(weights=torch.tensor([0.2, 0.2], **F64)), "weights must sum to 1", why="unnormalised")]),
    Case(score.geometric_sigmas, lambda: dict(sigma_max=2.0, sigma_min=0.1, n_levels=4),
         bad=[Bad(dict(sigma_max=0.01), "sigma_max must be >= sigma_min", why="reversed ladder")]),
    Case(score.NoiseConditionalMLP, lambda: dict(n_features=2, n_hidden=8, n_layers=1, data_std=0.5, generator=0)),
    Case(score.NoiseConditionalCNN, lambda: dict(side=4, n_channels=2, generator=0)),
    Case(score.dsm_loss, lambda: dict(model=_net(), x=_x(), sigmas=_sigmas(), generator=0),
         bad=[Bad(dict(x=_x().float()), "convert one explicitly", why="dtype differs from the model")]),
    Case(score.train_score, lambda: dict(model=_net(), x=_x(), sigmas=_sigmas(), n_steps=2, batch_size=2, lr=1e-3,
                                         ema=0.9, generator=0, progress=False),
         bad=[Bad(dict(sigmas=torch.tensor([1.0, -0.5], **F64)), "sigmas", why="negative noise level")]),
    Case(score.langevin, lambda: dict(score=_exact, x=_x(), step_size=0.01, n_steps=3, generator=0, progress=False),
         skip={"score": "any callable is accepted; its output is checked"},
         bad=[Bad(dict(score=lambda x: x[:, :1]), "score must return a tensor of shape", why="wrong output shape")]),
    Case(score.annealed_langevin, lambda: dict(score=_exact, x=_x(), sigmas=_sigmas(), step_size=0.01,
                                               n_steps_each=2, generator=0, denoise=True, progress=False),
         skip={"score": "any callable is accepted; its output is checked"},
         bad=[Bad(dict(sigmas=torch.tensor([0.5, 1.0], **F64)), "non-increasing", why="levels in increasing order")]),
]

EXEMPT = {
    "ScoreTrainResult": "result container (dataclass) returned by train_score",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
