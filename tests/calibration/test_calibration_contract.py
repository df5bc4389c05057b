"""Contract cases for nips2019.calibration (see tests/contract.py)."""

import torch

from nips2019 import calibration
from tests.contract import Bad, Case, check_case, contract_params


def _z(n=6, k=3, seed=0):
    return torch.randn(n, k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _y():
    return torch.tensor([0, 1, 2, 0, 1, 2])


CASES = [
    Case(calibration.label_smoothing_cross_entropy, lambda: dict(logits=_z(), target=_y(), alpha=0.1,
                                                                 reduction="mean"),
         bad=[Bad(dict(target=torch.tensor([0, 1, 2, 3, 0, 1])), "target", why="class 3 of 3")]),
    Case(calibration.optimal_logit_gap, lambda: dict(n_classes=10, alpha=0.1)),
    Case(calibration.distillation_loss, lambda: dict(student_logits=_z(), teacher_logits=_z(seed=1),
                                                     temperature=2.0),
         bad=[Bad(dict(teacher_logits=_z(k=4)), "teacher_logits", why="other number of classes")]),
    Case(calibration.expected_calibration_error, lambda: dict(probs=torch.softmax(_z(), 1), target=_y(), n_bins=4),
         bad=[Bad(dict(probs=torch.full((6, 3), 0.5, dtype=torch.float64)), "rows must sum to 1",
                  why="not probabilities")]),
    Case(calibration.fit_temperature, lambda: dict(logits=_z(), target=_y(), bounds=(0.1, 10.0)),
         bad=[Bad(dict(bounds=(3.0, 1.0)), "bounds must be increasing", why="empty interval")]),
    Case(calibration.penultimate_projection, lambda: dict(features=_z(8, 5), weight=_z(4, 5, seed=2),
                                                          classes=[0, 1, 3]),
         bad=[Bad(dict(classes=[0, 1, 4]), "classes must be 3 distinct indices", why="class 4 of 4"),
              Bad(dict(weight=_z(4, 5).float()), "weight has dtype", why="mixed dtypes")]),
]

EXEMPT = {
    "ProjectionResult": "result container (dataclass) returned by penultimate_projection",
    "ReliabilityResult": "result container (dataclass) returned by expected_calibration_error",
    "TemperatureResult": "result container (dataclass) returned by fit_temperature",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
