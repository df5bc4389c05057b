"""Sparse random projections: sparse Johnson-Lindenstrauss transforms and feature hashing.

Sparse JL matrices (block and graph constructions; sparsity one is feature hashing) applied in
O(s) per input non-zero, the exact variance of the norm distortion, vectorised Monte-Carlo
distortions, and Jagadeesan's (2019) trade-off between a vector's ell-infinity/ell-2 ratio and
the guarantee. See the chapter :doc:`Dimension reduction </book/reduction>`.
"""

from ._sparse_jl import (
    DistortionResult,
    RatioTradeoff,
    SparseJL,
    jl_distortion,
    jl_distortion_variance,
    ratio_tradeoff,
    sparse_jl,
)

__all__ = [
    "DistortionResult",
    "RatioTradeoff",
    "SparseJL",
    "jl_distortion",
    "jl_distortion_variance",
    "ratio_tradeoff",
    "sparse_jl",
]
