"""Certified robustness: randomised smoothing, Lipschitz bounds, a Jacobian penalty.

The smoothed classifier of Cohen, Rosenfeld & Kolter (2019) with Monte-Carlo prediction
(abstaining when unsure) and certification by exact Clopper-Pearson bounds; l2 PGD
against the base or the smoothed classifier and SmoothAdv training (Salman et al. 2019);
upper bounds on the Lipschitz constant of MLPs (the product of spectral norms and
LipSDP-neuron of Fazlyab et al. 2019, solved with cvxpy), a lower bound by ascent on
local slopes, the margin-based certified radius, and a Jacobian-norm penalty for
training. See the chapter :doc:`Robust and calibrated classifiers </book/robustness>`.
"""

from ._lipschitz import (
    LipSDPResult,
    LowerBoundResult,
    jacobian_penalty,
    lipschitz_lower_bound,
    lipschitz_margin_radius,
    lipsdp_lipschitz,
    naive_lipschitz,
)
from ._smoothing import CertifyResult, certified_accuracy, certify, clopper_pearson, pgd_attack, smoothed_predict
from ._train import TrainResult, make_mlp, train_classifier

__all__ = [
    "CertifyResult",
    "LipSDPResult",
    "LowerBoundResult",
    "TrainResult",
    "certified_accuracy",
    "certify",
    "clopper_pearson",
    "jacobian_penalty",
    "lipschitz_lower_bound",
    "lipschitz_margin_radius",
    "lipsdp_lipschitz",
    "make_mlp",
    "naive_lipschitz",
    "pgd_attack",
    "smoothed_predict",
    "train_classifier",
]
