"""Causal inference: instrumental variables (2SLS, kernel IV), synthetic control, causal confusion.

Generated confounded designs with a known structural function; two-stage least squares
with first-stage F statistics; kernel instrumental variable regression (Singh, Sahani &
Gretton 2019) with its two-stage tuning of the two regularisers; synthetic-control
weights on the simplex with covariate weights V (Abadie, Diamond & Hainmueller 2010),
in-space and in-time placebo tests on generated factor-model panels; and the braking-car
toy of causal confusion in imitation learning (de Haan, Jayaraman & Levine 2019); and heterogeneous
treatment effects: double machine learning (the R-learner) and the DR-learner with cross-fitting on
scikit-learn regressors, a linear final stage with robust confidence intervals, against the T-learner. See the
chapter :doc:`Causal inference and point processes </book/causal>`.
"""

from ._cate import CATEData, LinearCATEResult, dml_cate, dr_cate, make_cate_data, t_learner
from ._confusion import (
    BrakingData,
    MaskedPolicy,
    MaskSearchResult,
    fit_masked_policy,
    intervention_mask_search,
    make_braking_episodes,
)
from ._iv import IVData, KernelIVResult, TSLSResult, kernel_iv, make_iv_data, two_stage_least_squares
from ._synth import (
    PanelData,
    PlaceboResult,
    SyntheticControlResult,
    in_time_placebo,
    make_factor_panel,
    placebo_test,
    synthetic_control,
)

__all__ = [
    "BrakingData",
    "CATEData",
    "IVData",
    "KernelIVResult",
    "LinearCATEResult",
    "MaskSearchResult",
    "MaskedPolicy",
    "PanelData",
    "PlaceboResult",
    "SyntheticControlResult",
    "TSLSResult",
    "dml_cate",
    "dr_cate",
    "fit_masked_policy",
    "in_time_placebo",
    "intervention_mask_search",
    "kernel_iv",
    "make_braking_episodes",
    "make_cate_data",
    "make_factor_panel",
    "make_iv_data",
    "placebo_test",
    "synthetic_control",
    "t_learner",
    "two_stage_least_squares",
]
