"""Kernel two-sample tests: kernel matrices, the median heuristic, MMD² and its tests.

Gaussian, Laplace, inverse-multiquadric and energy kernels on point clouds (batched over
leading dimensions, on the inputs' device), the median-heuristic bandwidth, the biased and
unbiased squared maximum mean discrepancy, and a two-sample test whose null distribution
comes from batched permutations or from the spectral (asymptotic) approximation. See the
chapter :doc:`Comparing distributions </book/distributions>`.
"""

from ._kernels import kernel_matrix, median_heuristic
from ._mmd import TwoSampleTestResult, mmd2, mmd_test

__all__ = [
    "TwoSampleTestResult",
    "kernel_matrix",
    "median_heuristic",
    "mmd2",
    "mmd_test",
]
