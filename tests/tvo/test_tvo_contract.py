"""Contract cases for nips2019.tvo (see tests/contract.py)."""

import torch

from nips2019 import tvo
from tests.contract import Bad, Case, check_case, contract_params

F64 = torch.float64


def _lw():
    return torch.tensor([[-2.0, -1.0, 0.5], [-0.3, -1.2, 0.1]], dtype=F64)


def _betas():
    return torch.tensor([0.0, 0.3, 1.0], dtype=F64)


def _model():
    g = torch.Generator().manual_seed(0)
    return dict(x=torch.randn(2, 3, generator=g, dtype=F64), weight=torch.randn(3, 1, generator=g, dtype=F64),
                bias=torch.zeros(3, dtype=F64), noise_std=0.5, q_mean=torch.zeros(2, 1, dtype=F64),
                q_std=torch.ones(2, 1, dtype=F64))


def _bin():
    return (torch.rand(6, 4, generator=torch.Generator().manual_seed(0)) > 0.5).double()


CASES = [
    Case(tvo.partition_schedule, lambda: dict(n_partitions=3, kind="log", beta_min=0.01, dtype=F64)),
    Case(tvo.tvo_integrand, lambda: dict(log_weight=_lw(), betas=_betas()),
         bad=[Bad(dict(betas=torch.tensor([0.0, 1.5], dtype=F64)), "betas", why="beta above 1")]),
    Case(tvo.tvo_bound, lambda: dict(log_weight=_lw(), betas=_betas(), side="lower"),
         bad=[Bad(dict(betas=torch.tensor([0.1, 1.0], dtype=F64)), "start at 0", why="no beta = 0"),
              Bad(dict(betas=torch.tensor([0.0, 0.5, 0.5, 1.0], dtype=F64)), "strictly increasing",
                  why="repeated point")]),
    Case(tvo.iwae_bound, lambda: dict(log_weight=_lw())),
    Case(tvo.tvo_surrogate, lambda: dict(log_weight=_lw(), log_q=-_lw() ** 2, betas=_betas(), side="upper"),
         bad=[Bad(dict(log_q=torch.zeros(2, 4, dtype=F64)), "log_q", why="sample counts differ"),
              Bad(dict(betas=torch.tensor([0.0, 0.9], dtype=F64)), "end at 1", why="no beta = 1")]),
    Case(tvo.moment_schedule, lambda: dict(log_weight=_lw(), n_partitions=3, max_iter=20)),
    Case(tvo.linear_gaussian_path, lambda: dict(**_model(), betas=_betas()),
         bad=[Bad(dict(q_std=torch.zeros(2, 1, dtype=F64)), "q_std", why="zero scale")]),
    Case(tvo.linear_gaussian_log_evidence, lambda: {k: v for k, v in _model().items() if not k.startswith("q_")},
         bad=[Bad(dict(bias=torch.zeros(2, dtype=F64)), "bias", why="bias of the wrong length")]),
    Case(tvo.linear_gaussian_importance, lambda: dict(**_model(), n_samples=4, reparameterize=False, generator=0)),
    Case(tvo.BernoulliVAE, lambda: dict(n_features=4, n_latent=2, hidden=3, generator=0, dtype=F64)),
    Case(tvo.fit_vae, lambda: dict(x=_bin(), objective="tvo", n_latent=1, hidden=3, n_samples=3, n_partitions=2,
                                   schedule="moment", beta_min=0.1, n_epochs=1, batch_size=3, lr=0.01,
                                   generator=0, progress=False),
         bad=[Bad(dict(x=_bin() * 2), "x", why="non-binary data")]),
    Case(tvo.estimate_log_likelihood,
         lambda: dict(model=tvo.BernoulliVAE(4, 2, 3, generator=0, dtype=F64), x=_bin(), n_samples=5,
                      batch_size=4, generator=0),
         bad=[Bad(dict(x=_bin().float()), "model", why="dtype differs from the model's")]),
]

EXEMPT = {
    "GaussianPathResult": "result container (dataclass) returned by linear_gaussian_path",
    "ImportanceSample": "result container (dataclass) returned by linear_gaussian_importance",
    "VAEFitResult": "result container (dataclass) returned by fit_vae",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
