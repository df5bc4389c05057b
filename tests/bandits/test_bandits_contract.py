"""Contract cases for nips2019.bandits (see tests/contract.py)."""

import torch

from nips2019 import bandits
from tests.contract import Bad, Case, check_case, contract_params


def _means():
    return torch.tensor([0.0, 0.5], dtype=torch.float64)


def _experiment():
    return bandits.run_adaptive_experiment(_means(), 6, 3, floor=0.1, generator=0, progress=False)


def _curves():
    z = torch.arange(1, 5, dtype=torch.float64)
    return torch.stack([1 - torch.exp(-z / 2), 0.4 + 0 * z])


def _bern():
    return torch.tensor([0.9, 0.6, 0.5, 0.1], dtype=torch.float64)


CASES = [
    Case(bandits.policy_probabilities,
         lambda: dict(counts=torch.tensor([[2.0, 1.0, 0.0]], dtype=torch.float64),
                      sums=torch.tensor([[1.0, -0.5, 0.0]], dtype=torch.float64), policy="thompson",
                      floor=0.05, n_draws=50, generator=0),
         bad=[Bad(dict(floor=0.5), "floor must be <= 1/K", why="a floor no distribution can meet"),
              Bad(dict(counts=-torch.ones(1, 3, dtype=torch.float64)), "counts", why="negative counts")]),
    Case(bandits.run_adaptive_experiment,
         lambda: dict(means=_means(), n_steps=5, n_replications=3, policy="thompson", batch_size=2, floor=0.1,
                      generator=0, progress=False),
         bad=[Bad(dict(floor=0.6), "floor must be <= 1/K", why="a floor no distribution can meet")]),
    Case(bandits.arm_estimates, lambda: dict(experiment=_experiment(), method="aw_aipw"),
         bad=[Bad(dict(experiment=bandits.AdaptiveExperiment(
             arms=torch.zeros(2, 3, dtype=torch.long), rewards=torch.zeros(2, 3, dtype=torch.float64),
             propensities=torch.tensor([1.0, 0.0], dtype=torch.float64).expand(2, 3, 2).clone(),
             means=_means())), "propensities must be positive", why="an arm that could never be played")]),
    Case(bandits.batch_grid, lambda: dict(horizon=100, n_batches=3, kind="minimax"),
         bad=[Bad(dict(n_batches=101), "n_batches must be <= horizon", why="more batches than steps")]),
    Case(bandits.batched_elimination,
         lambda: dict(means=_means(), horizon=50, n_batches=3, n_replications=4, grid="geometric", gamma=0.5,
                      generator=0),
         bad=[Bad(dict(n_batches=60), "n_batches must be <= horizon", why="more batches than steps")]),
    Case(bandits.ucb_regret, lambda: dict(means=_means(), horizon=20, n_replications=3, generator=0,
                                          progress=False),
         bad=[Bad(dict(means=torch.zeros(30, dtype=torch.float64)), "horizon must be >= K",
                  why="too short to pull every arm once")]),
    Case(bandits.recovering_bandit,
         lambda: dict(curves=_curves(), n_steps=5, n_replications=2, policy="ucb", lookahead=2, generator=0,
                      progress=False),
         bad=[Bad(dict(lookahead=5), "lookahead", why="K^5 sequences")]),
    Case(bandits.sic_mmab, lambda: dict(means=_bern(), n_players=2, horizon=200, n_replications=3, width=3.0,
                                        generator=0),
         bad=[Bad(dict(n_players=5), "n_players must be <= K", why="more players than arms"),
              Bad(dict(means=_bern() + 0.5), "means", why="Bernoulli means above 1")]),
    Case(bandits.independent_ucb_players,
         lambda: dict(means=_bern(), n_players=2, horizon=10, n_replications=2, generator=0, progress=False),
         bad=[Bad(dict(n_players=5), "n_players must be <= K", why="more players than arms")]),
    Case(bandits.centralized_ucb,
         lambda: dict(means=_bern(), n_players=2, horizon=10, n_replications=2, generator=0, progress=False),
         bad=[Bad(dict(n_players=5), "n_players must be <= K", why="more players than arms")]),
]

EXEMPT = {
    "MultiplayerResult": "result container (dataclass) returned by sic_mmab, independent_ucb_players and "
                         "centralized_ucb",
    "AdaptiveExperiment": "result container (dataclass) returned by run_adaptive_experiment",
    "ArmEstimates": "result container (dataclass) returned by arm_estimates",
    "RegretResult": "result container (dataclass) returned by batched_elimination and ucb_regret",
    "RecoveringResult": "result container (dataclass) returned by recovering_bandit",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
