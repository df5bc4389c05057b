"""Bandits and adaptive experiments: propensity-weighted estimation, batched and recovering bandits.

Adaptive experiments on Gaussian K-armed bandits that record the assignment probabilities
of their policy (Thompson sampling, epsilon-greedy, with a probability floor), run for many
replications at once; per-arm sample means, inverse-propensity (IPW), augmented (AIPW) and
adaptively weighted AIPW estimates with standard errors (Hadad, Hirshberg, Zhan, Wager &
Athey 2021); batched successive elimination on minimax, geometric and arithmetic grids
(Gao, Han, Ren & Zhou 2019) against fully adaptive UCB; and recovering bandits whose
rewards depend on the time since an arm's last pull, played with a Gaussian-process model
and d-step lookahead (Pike-Burke & Grunewalder 2019); and multi-player bandits with
collisions, where SIC-MMAB (Boursier & Perchet 2019, simplified) uses collisions as a
communication channel, against independent UCB players and centralised play. See the chapter
:doc:`Bandits </book/bandits>`.
"""

from ._adaptive import AdaptiveExperiment, policy_probabilities, run_adaptive_experiment
from ._batched import RegretResult, batch_grid, batched_elimination, ucb_regret
from ._estimators import ArmEstimates, arm_estimates
from ._multiplayer import MultiplayerResult, centralized_ucb, independent_ucb_players, sic_mmab
from ._recovering import RecoveringResult, recovering_bandit

__all__ = [
    "AdaptiveExperiment",
    "ArmEstimates",
    "MultiplayerResult",
    "RecoveringResult",
    "RegretResult",
    "arm_estimates",
    "batch_grid",
    "batched_elimination",
    "centralized_ucb",
    "independent_ucb_players",
    "policy_probabilities",
    "recovering_bandit",
    "run_adaptive_experiment",
    "sic_mmab",
    "ucb_regret",
]
