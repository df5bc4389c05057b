"""Contract cases for nips2019.voting (see tests/contract.py)."""

import torch

from nips2019 import voting
from tests.contract import Bad, Case, check_case, contract_params


def _ballots():
    return torch.tensor([[0, 1, 2], [1, 0, 2], [2, 1, 0], [0, 2, 1]])


def _beta():
    return torch.tensor([[1.0, -0.5], [0.2, 0.8]], dtype=torch.float64)


def _comparisons():
    return voting.sample_comparisons(_beta(), 6, generator=0)


CASES = [
    Case(voting.rankings_from_utilities, lambda: dict(utilities=torch.tensor([[0.1, 0.9, 0.5]], dtype=torch.float64))),
    Case(voting.pairwise_majority, lambda: dict(rankings=_ballots()),
         bad=[Bad(dict(rankings=torch.tensor([[0, 0, 1]])), "permutation", why="a repeated alternative")]),
    Case(voting.vote, lambda: dict(rankings=_ballots(), rule="kemeny"),
         bad=[Bad(dict(rankings=torch.tensor([[1, 1, 2]])), "permutation", why="a repeated alternative"),
              Bad(dict(rankings=torch.arange(9).expand(2, 9).contiguous()), "kemeny",
                  why="brute force over 9! orders")]),
    Case(voting.condorcet_winner, lambda: dict(rankings=_ballots())),
    Case(voting.kendall_tau_distance, lambda: dict(rankings=_ballots(), reference=torch.tensor([0, 1, 2])),
         bad=[Bad(dict(reference=torch.tensor([0, 1])), "reference", why="wrong number of alternatives"),
              Bad(dict(reference=torch.tensor([0, 0, 1])), "reference", why="not a permutation")]),
    Case(voting.sample_comparisons, lambda: dict(weights=_beta(), n_comparisons=4, model="bradley_terry",
                                                 generator=0)),
    Case(voting.fit_preferences, lambda: dict(diff=_comparisons().diff, y=_comparisons().y, model="thurstone",
                                              reg=1.0, max_iter=50, tol=1e-10),
         bad=[Bad(dict(y=torch.full((2, 6), 0.5, dtype=torch.float64)), "y", why="outcomes other than 0/1")]),
    Case(voting.predict_utilities, lambda: dict(weights=_beta(), features=torch.randn(3, 2, dtype=torch.float64)),
         bad=[Bad(dict(features=torch.randn(3, 5, dtype=torch.float64)), "features", why="wrong feature count")]),
    Case(voting.thurstone_rankings, lambda: dict(utilities=torch.randn(4, 3, dtype=torch.float64), scale=1.0,
                                                 generator=0)),
    Case(voting.agreement, lambda: dict(true_rankings=_ballots(), predicted_rankings=_ballots().flip(-1),
                                        rules=["borda", "copeland"]),
         bad=[Bad(dict(rules=["approval"]), "rules", why="an unknown rule"),
              Bad(dict(predicted_rankings=_ballots()[:2]), "predicted_rankings", why="different shapes")]),
    Case(voting.make_voters, lambda: dict(n_voters=3, n_features=2, spread=1.0, generator=0)),
    Case(voting.make_dilemmas, lambda: dict(n_dilemmas=2, n_alternatives=3, n_features=2, generator=0)),
]

EXEMPT = {
    "Comparisons": "result container (dataclass) returned by sample_comparisons",
    "PreferenceModel": "result container (dataclass) returned by fit_preferences",
    "VoteResult": "result container (dataclass) returned by vote",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
