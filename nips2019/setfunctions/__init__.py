"""Fourier-sparse set functions: the Walsh-Hadamard basis, fast transforms, sparse recovery from queries.

A set function :math:`f: 2^{[n]} \\to \\mathbb R` has a Fourier (Walsh-Hadamard) expansion over
subsets; many useful ones (graph cuts, coverage, small decision trees) have few non-zero,
low-order coefficients. This subpackage has the fast and dense transforms, closed-form
spectra of cut and coverage functions, a feature-subset (discrete hyperparameter)
objective, the hashing algorithm of Amrollahi, Zandieh, Kapralov & Krause (2019) that
learns a :math:`k`-sparse spectrum from few queries, and a Lasso baseline on random
queries. See the chapter :doc:`Fourier-sparse set functions </book/setfunctions>`.
"""

from ._functions import coverage_spectrum, coverage_value, cut_spectrum, cut_value, random_graph, ridge_subset_loss
from ._sparse import SparseFourierResult, lasso_fourier, parity_features, sparse_fourier
from ._wht import (SetFunctionSpectrum, evaluate_fourier, fourier_transform, fwht, hadamard_matrix, index_to_sets,
                   sets_to_index)

__all__ = [
    "SetFunctionSpectrum",
    "SparseFourierResult",
    "coverage_spectrum",
    "coverage_value",
    "cut_spectrum",
    "cut_value",
    "evaluate_fourier",
    "fourier_transform",
    "fwht",
    "hadamard_matrix",
    "index_to_sets",
    "lasso_fourier",
    "parity_features",
    "random_graph",
    "ridge_subset_loss",
    "sets_to_index",
    "sparse_fourier",
]
