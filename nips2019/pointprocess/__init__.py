"""Temporal point processes: Hawkes processes, temporal logic rules, graph Hawkes models, destructors.

Multivariate Hawkes processes with exponential kernels (Ogata's thinning, the exact
log-likelihood and compensator, maximum-likelihood fits with standard errors, the
time-rescaling test, the Granger-causality graph), introduced in the chapter
:doc:`Causal inference and point processes </book/causal>`; and, in the chapter
:doc:`Events with structure </book/events>`, three ways of giving events more structure:
intensities built from temporal logic rules with an exact likelihood, a graph Hawkes model of a
temporal knowledge graph (timestamped facts, next-object ranking), and point-process destructors
that compose time-rescaling layers until the events look like a unit-rate Poisson process.
"""

from ._destructor import (
    DestructorLayer,
    DestructorResult,
    UnitPoissonTest,
    apply_destructor_layer,
    destroy_point_process,
    fit_destructor_layer,
    simulate_warped_hawkes,
    unit_poisson_test,
    warp_clock,
)
from ._graph import (
    GraphHawkes,
    GraphHawkesFit,
    RankingResult,
    TemporalKG,
    TemporalKGData,
    fit_graph_hawkes,
    frequency_scores,
    graph_hawkes_intensity,
    make_temporal_kg,
    ranking_metrics,
)
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
from ._logic import (
    LogicFit,
    TemporalRule,
    fit_logic_rules,
    logic_compensator,
    logic_features,
    logic_intensity,
    logic_log_likelihood,
    simulate_logic,
)

__all__ = [
    "DestructorLayer",
    "DestructorResult",
    "GrangerGraph",
    "GraphHawkes",
    "GraphHawkesFit",
    "HawkesEvents",
    "HawkesFit",
    "LogicFit",
    "RankingResult",
    "TemporalKG",
    "TemporalKGData",
    "TemporalRule",
    "TimeRescalingResult",
    "UnitPoissonTest",
    "apply_destructor_layer",
    "destroy_point_process",
    "fit_destructor_layer",
    "fit_graph_hawkes",
    "fit_hawkes",
    "fit_logic_rules",
    "frequency_scores",
    "granger_graph",
    "graph_hawkes_intensity",
    "hawkes_compensator",
    "hawkes_expected_count",
    "hawkes_log_likelihood",
    "hawkes_spectral_radius",
    "logic_compensator",
    "logic_features",
    "logic_intensity",
    "logic_log_likelihood",
    "make_temporal_kg",
    "ranking_metrics",
    "simulate_hawkes",
    "simulate_logic",
    "simulate_warped_hawkes",
    "time_rescaling_test",
    "unit_poisson_test",
    "warp_clock",
]
