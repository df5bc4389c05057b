"""Temporal point processes: multivariate Hawkes processes with exponential kernels.

Ogata's thinning (vectorised across realisations), the exact log-likelihood and its
compensator by a blockwise exact recursion, maximum-likelihood fits with standard errors,
the time-rescaling goodness-of-fit test, and the Granger-causality graph read off the
fitted excitation matrix. See the chapter
:doc:`Causal inference and point processes </book/causal>`.
"""

from ._hawkes import (
    GrangerGraph,
    HawkesEvents,
    HawkesFit,
    TimeRescalingResult,
    fit_hawkes,
    granger_graph,
    hawkes_compensator,
    hawkes_expected_count,
    hawkes_log_likelihood,
    hawkes_spectral_radius,
    simulate_hawkes,
    time_rescaling_test,
)

__all__ = [
    "GrangerGraph",
    "HawkesEvents",
    "HawkesFit",
    "TimeRescalingResult",
    "fit_hawkes",
    "granger_graph",
    "hawkes_compensator",
    "hawkes_expected_count",
    "hawkes_log_likelihood",
    "hawkes_spectral_radius",
    "simulate_hawkes",
    "time_rescaling_test",
]
