"""Probabilistic circuits: tractable models, exact queries, EM, and smoothing.

See the chapter :doc:`Probabilistic circuits </book/circuits>`.
"""

from ._builders import (
    chow_liu_circuit,
    chow_liu_tree,
    hclt,
    independent_circuit,
    load_binary_digits,
    mixture_circuit,
    mixture_of,
    random_region_circuit,
)
from ._circuit import Circuit
from ._queries import MPEResult
from ._marginals import AllMarginalsResult, all_marginals
from ._smoothing import (
    SmoothingResult,
    balanced_vtree,
    random_structured_circuit,
    right_linear_vtree,
    smooth,
)
from ._learn import EMResult, GradientResult, em_step, fit_em, fit_gradient, hclt_ensemble
from ._structure import (
    CircuitBuilder,
    is_decomposable,
    is_deterministic,
    is_smooth,
    is_structured_decomposable,
)

__all__ = [
    "Circuit",
    "CircuitBuilder",
    "EMResult",
    "GradientResult",
    "MPEResult",
    "SmoothingResult",
    "AllMarginalsResult",
    "all_marginals",
    "balanced_vtree",
    "random_structured_circuit",
    "right_linear_vtree",
    "smooth",
    "chow_liu_circuit",
    "chow_liu_tree",
    "em_step",
    "fit_em",
    "fit_gradient",
    "hclt",
    "hclt_ensemble",
    "independent_circuit",
    "is_decomposable",
    "is_deterministic",
    "is_smooth",
    "is_structured_decomposable",
    "load_binary_digits",
    "mixture_circuit",
    "mixture_of",
    "random_region_circuit",
]
