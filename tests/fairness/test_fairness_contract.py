"""Contract cases for nips2019.fairness (see tests/contract.py)."""

import torch

from nips2019 import fairness
from tests.contract import Bad, Case, check_case, contract_params

Y = [1, 0, 1, 0, 1, 0, 0, 1]
A = [0, 0, 0, 0, 1, 1, 1, 1]
S = [0.9, 0.2, 0.6, 0.4, 0.8, 0.1, 0.7, 0.3]


def _y():
    return torch.tensor(Y)


def _a():
    return torch.tensor(A)


def _s():
    return torch.tensor(S, dtype=torch.float64)


def _pred():
    return (_s() > 0.5).long()


def _post():
    return fairness.equalized_odds_postprocess(_s(), _y(), _a())


def _groups():
    g = torch.Generator().manual_seed(0)
    return [torch.randn(6, 3, generator=g, dtype=torch.float64) * torch.tensor([2.0, 1.0, 0.5]),
            torch.randn(5, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2.0, 0.5])]


CASES = [
    Case(fairness.make_credit_data,
         lambda: dict(n_samples=20, base_rates=(0.7, 0.4), group_share=0.5, separation=1.0, n_features=2,
                      generator=0, dtype=torch.float64),
         bad=[Bad(dict(base_rates=(1.0, 0.5)), r"base_rates\[0\] must be in \(0, 1\)",
                  why="a certain outcome")]),
    Case(fairness.group_rates, lambda: dict(y_true=_y(), y_pred=_pred(), group=_a()),
         bad=[Bad(dict(y_true=torch.tensor([2, 0, 1, 0, 1, 0, 0, 1])), "may only contain",
                  why="label 2"),
              Bad(dict(group=torch.tensor([0, -1, 0, 0, 1, 1, 1, 1])), "group",
                  why="negative group label")]),
    Case(fairness.fairness_gaps, lambda: dict(y_true=_y(), y_pred=_pred(), group=_a()),
         bad=[Bad(dict(y_pred=_s() + 0.5), "y_pred", why="probabilities above 1")]),
    Case(fairness.calibration_by_group, lambda: dict(y_true=_y(), score=_s(), group=_a(), n_bins=3),
         bad=[Bad(dict(score=_s() * 2), "score", why="scores above 1")]),
    Case(fairness.consistency_score, lambda: dict(x=_groups()[0][:, :2], y_pred=_pred()[:6], n_neighbors=2),
         bad=[Bad(dict(n_neighbors=6), "n_neighbors must be <= n - 1 = 5",
                  why="more neighbours than points")]),
    Case(fairness.chouldechova_fpr, lambda: dict(base_rate=torch.tensor([0.3, 0.6], dtype=torch.float64),
                                                 ppv=torch.tensor([0.8, 0.8], dtype=torch.float64),
                                                 fnr=torch.tensor([0.2, 0.1], dtype=torch.float64)),
         bad=[Bad(dict(base_rate=torch.tensor([1.0, 0.6], dtype=torch.float64)), "base_rate",
                  why="p = 1"),
              Bad(dict(ppv=torch.tensor([0.0, 0.8], dtype=torch.float64)), "ppv", why="PPV = 0")]),
    Case(fairness.equalized_odds_postprocess, lambda: dict(score=_s(), y_true=_y(), group=_a()),
         bad=[Bad(dict(y_true=torch.tensor([1, 1, 1, 1, 1, 0, 0, 1])), "group 0 of group needs both labels",
                  why="a group without negatives")]),
    Case(fairness.equalized_odds_predict, lambda: dict(post=_post(), score=_s(), group=_a(), sample=True,
                                                       generator=0),
         bad=[Bad(dict(group=torch.tensor([0, 0, 0, 0, 1, 1, 1, 2])),
                  "labels \\[2\\] that post was not fitted on",
                  why="an unseen group")]),
    Case(fairness.fair_pca, lambda: dict(xs=_groups(), n_components=1, center=True),
         bad=[Bad(dict(n_components=3), "n_components must be < d = 3", why="no reduction"),
              Bad(dict(xs=[_groups()[0], _groups()[1].float()]), r"xs\[1\] has torch.float32",
                  why="mixed dtypes"),
              Bad(dict(xs=[_groups()[0], _groups()[1][:, :2]]), "xs", why="different column counts")]),
    Case(fairness.equalized_odds_allocation, lambda: dict(prob=_s(), group=_a(), k=3.0),
         bad=[Bad(dict(k=9.0), "k must be <= n = 8", why="more goods than applicants")]),
    Case(fairness.hash_uniform, lambda: dict(x=_groups()[0], n_bits=16, generator=0),
         bad=[Bad(dict(n_bits=60), "n_bits", why="more bits than a float64 mantissa")]),
    Case(fairness.derandomize, lambda: dict(prob=_s(), x=torch.randn(8, 2, dtype=torch.float64), generator=0),
         bad=[Bad(dict(prob=_s() + 1.0), "prob", why="probabilities above 1")]),
    Case(fairness.derandomization_bound, lambda: dict(n_samples=100, delta=0.05, n_bits=32),
         bad=[Bad(dict(delta=0.0), "delta", why="no failure probability")]),
    Case(fairness.grad_reverse, lambda: dict(x=_s(), scale=1.0),
         bad=[Bad(dict(scale=-1.0), "scale", why="a negative weight would not reverse")]),
    Case(fairness.fit_fair_representation,
         lambda: dict(x=torch.randn(8, 2, dtype=torch.float64), y_true=_y(), group=_a(), adversary_weight=1.0,
                      n_components=2, hidden=4, n_epochs=2, lr=0.01, generator=0, progress=False),
         bad=[Bad(dict(lr=0.0), "lr", why="no step")]),
]

EXEMPT = {
    "AllocationResult": "result container (dataclass) returned by equalized_odds_allocation",
    "CreditData": "result container (dataclass) returned by make_credit_data",
    "GroupRates": "result container (dataclass) returned by group_rates",
    "FairnessGaps": "result container (dataclass) returned by fairness_gaps",
    "CalibrationResult": "result container (dataclass) returned by calibration_by_group",
    "EqualizedOddsResult": "result container (dataclass) returned by equalized_odds_postprocess",
    "FairPCAResult": "result container (dataclass) returned by fair_pca",
    "FairRepresentationResult": "result container (dataclass) returned by fit_fair_representation",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
