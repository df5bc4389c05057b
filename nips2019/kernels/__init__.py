"""Kernel two-sample tests: kernel matrices, the median heuristic, MMD² and its tests.

Gaussian, Laplace, inverse-multiquadric and energy kernels on point clouds (batched over
leading dimensions, on the inputs' device), the median-heuristic bandwidth, the biased and
unbiased squared maximum mean discrepancy, and a two-sample test whose null distribution
comes from batched permutations or from the spectral (asymptotic) approximation; and the
graph-based (2-ary) discriminator of Livni and Mansour, the edge density of a graph on each
sample, with its permutation test. See the chapter
:doc:`Comparing distributions </book/distributions>`.
"""

from ._graph import graph_density, graph_test
from ._kernels import kernel_matrix, median_heuristic
from ._mmd import TwoSampleTestResult, mmd2, mmd_test

__all__ = [
    "TwoSampleTestResult",
    "graph_density",
    "graph_test",
    "kernel_matrix",
    "median_heuristic",
    "mmd2",
    "mmd_test",
]
