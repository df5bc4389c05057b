"""Calibration: label smoothing, expected calibration error, temperature scaling, distillation.

Label-smoothed cross-entropy and the logit gap it implies (Müller, Kornblith & Hinton
2019), the top-label expected calibration error with its reliability diagram,
temperature scaling (Guo et al. 2017), the distillation loss (Hinton et al. 2015) and
the projection of penultimate-layer activations onto the plane of three class
templates. See the chapter :doc:`Robust and calibrated classifiers </book/robustness>`.
"""

from ._losses import distillation_loss, label_smoothing_cross_entropy, optimal_logit_gap
from ._metrics import (
    ProjectionResult,
    ReliabilityResult,
    TemperatureResult,
    expected_calibration_error,
    fit_temperature,
    penultimate_projection,
)

__all__ = [
    "ProjectionResult",
    "ReliabilityResult",
    "TemperatureResult",
    "distillation_loss",
    "expected_calibration_error",
    "fit_temperature",
    "label_smoothing_cross_entropy",
    "optimal_logit_gap",
    "penultimate_projection",
]
