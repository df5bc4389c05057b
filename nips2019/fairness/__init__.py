"""Fairness: group metrics that cannot all hold, post-processing to equalised odds, fair PCA.

A generated credit-scoring data set with group-dependent base rates and a score
calibrated within groups; confusion-matrix rates per group, demographic-parity,
equalised-odds and equal-opportunity gaps, calibration within groups and an
individual-consistency score; Chouldechova's identity linking FPR, FNR, PPV and the
base rate; the equalised-odds derived predictor of Hardt, Price & Srebro (2016) as an
exact linear programme; the fair (multi-criteria) PCA SDP of Tantipongpipat et al.
(2019); a representation learned against an adversary through a gradient-reversal layer;
and the hashing construction of Cotter, Narasimhan & Gupta (2019) that makes a stochastic
classifier deterministic; and equalised-odds allocations of k loans, where the paradoxes of
Gölz, Kahng & Procaccia (2019) live. See the chapter :doc:`Fairness </book/fairness>`.
"""

from ._allocation import AllocationResult, equalized_odds_allocation
from ._data import CreditData, make_credit_data
from ._metrics import (
    CalibrationResult,
    FairnessGaps,
    GroupRates,
    calibration_by_group,
    chouldechova_fpr,
    consistency_score,
    fairness_gaps,
    group_rates,
)
from ._derandomize import derandomization_bound, derandomize, hash_uniform
from ._pca import FairPCAResult, fair_pca
from ._representation import FairRepresentationResult, fit_fair_representation, grad_reverse
from ._postprocess import EqualizedOddsResult, equalized_odds_postprocess, equalized_odds_predict

__all__ = [
    "AllocationResult",
    "CalibrationResult",
    "CreditData",
    "EqualizedOddsResult",
    "FairPCAResult",
    "FairRepresentationResult",
    "FairnessGaps",
    "GroupRates",
    "calibration_by_group",
    "chouldechova_fpr",
    "consistency_score",
    "derandomization_bound",
    "derandomize",
    "equalized_odds_allocation",
    "equalized_odds_postprocess",
    "equalized_odds_predict",
    "fair_pca",
    "fairness_gaps",
    "fit_fair_representation",
    "grad_reverse",
    "group_rates",
    "hash_uniform",
    "make_credit_data",
]
