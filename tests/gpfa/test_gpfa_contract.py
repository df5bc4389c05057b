"""Contract cases for nips2019.gpfa (see tests/contract.py)."""

import functools

import torch

from nips2019 import gpfa
from tests.contract import Bad, Case, check_case, contract_params

F64 = torch.float64


@functools.lru_cache(maxsize=1)
def _data():
    return gpfa.make_gpfa_data(3, 8, 4, torch.tensor([2.0]), generator=0)


@functools.lru_cache(maxsize=2)
def _fit(kind="gpfa"):
    if kind == "fa":
        return gpfa.factor_analysis(_data().y, 1, max_iter=5, generator=0)
    return gpfa.fit_gpfa(_data().y, 1, max_iter=3, generator=0)


def _y():
    return _data().y.clone()


CASES = [
    Case(gpfa.gp_covariance, lambda: dict(times=torch.arange(5, dtype=F64), timescales=torch.tensor([1.0, 2.0], dtype=F64),
                                          gp_noise=1e-3)),
    Case(gpfa.make_gpfa_data, lambda: dict(n_trials=2, n_timesteps=5, n_neurons=3, timescales=torch.tensor([2.0]),
                                           noise_std=0.5, bin_width=1.0, gp_noise=1e-3, generator=0, dtype=F64)),
    Case(gpfa.fit_gpfa, lambda: dict(y=_y(), n_latents=1, times=torch.arange(8, dtype=F64), init_timescale=2.0,
                                     gp_noise=1e-3, max_iter=2, tol=1e-6, n_tau_steps=2, generator=0, progress=False),
         bad=[Bad(dict(n_latents=5), "at most the number of signals", why="more latents than signals"),
              Bad(dict(times=torch.arange(7, dtype=F64)), "times must have", why="times of the wrong length"),
              Bad(dict(times=torch.zeros(8, dtype=F64)), "increasing", why="constant times")]),
    Case(gpfa.factor_analysis, lambda: dict(y=_y(), n_latents=1, max_iter=3, tol=1e-8, generator=0, progress=False),
         bad=[Bad(dict(n_latents=5), "at most the number of signals", why="more latents than signals")]),
    Case(gpfa.gpfa_posterior, lambda: dict(fit=_fit(), y=_y()),
         bad=[Bad(dict(y=_y()[..., :3]), "neurons", why="wrong number of signals"),
              Bad(dict(y=_y()[:, :5]), "time bins", why="wrong trial length")]),
    Case(gpfa.leave_neuron_out, lambda: dict(fit=_fit("fa"), y=_y(), kernel_width=1.0),
         bad=[Bad(dict(fit=_fit()), "kernel_width is for factor-analysis", why="smoothing a GPFA fit")]),
    Case(gpfa.orthonormalize, lambda: dict(fit=_fit(), mean=torch.zeros(2, 8, 1, dtype=F64)),
         bad=[Bad(dict(mean=torch.zeros(2, 8, 2, dtype=F64)), "latents", why="wrong latent count")]),
]

EXEMPT = {
    "GPFAData": "data container (dataclass) returned by make_gpfa_data",
    "GPFAFit": "result container (dataclass) returned by fit_gpfa and factor_analysis",
    "GPFAPosterior": "result container (dataclass) returned by gpfa_posterior",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
