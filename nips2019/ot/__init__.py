"""Optimal-transport helpers shared by the chapters: costs, solvers, maps and distances.

Thin, device- and dtype-preserving wrappers around POT (``import ot``) with the
choices stated explicitly (``reg_type``, ``method``, cost normalisation), plus
the few pieces POT does not provide (a log-domain unbalanced Sinkhorn,
displacement interpolation of point clouds). Introduced in the chapter
:doc:`OT for lineage tracing </book/lineage>`.
"""

from ._batched import SinkhornResult, sinkhorn_log
from ._cost import cost_matrix, normalize_cost
from ._distance import wasserstein_distance
from ._divergence import SinkhornDivergenceResult, sinkhorn_divergence, sinkhorn_test
from ._maps import (
    CouplingSampleResult,
    DisplacementResult,
    barycentric_projection,
    displacement_interpolation,
    sample_coupling,
)
from ._solvers import ConvergenceWarning, OTResult, entropic_ot, exact_ot, unbalanced_ot

__all__ = [
    "ConvergenceWarning",
    "CouplingSampleResult",
    "DisplacementResult",
    "OTResult",
    "SinkhornDivergenceResult",
    "SinkhornResult",
    "barycentric_projection",
    "cost_matrix",
    "displacement_interpolation",
    "entropic_ot",
    "exact_ot",
    "normalize_cost",
    "sample_coupling",
    "sinkhorn_divergence",
    "sinkhorn_log",
    "sinkhorn_test",
    "unbalanced_ot",
    "wasserstein_distance",
]
