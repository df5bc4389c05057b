"""Differentiating through discrete operations: blackbox-solver gradients and soft sorting.

Combinatorial solvers as layers (:func:`blackbox_solve`, the interpolation gradient of
Vlastelica et al. 2020) with batched solvers for assignment, grid shortest paths and top-k;
soft sorting, ranking and quantiles as entropic optimal transport to a sorted target
(Cuturi, Teboul & Vert 2019), built on the batched log-domain Sinkhorn
:func:`nips2019.ot.sinkhorn_log`; and generated shortest-path instances. See the chapter
:doc:`Differentiating through discrete operations </book/discrete>`.
"""

from ._blackbox import blackbox_interpolation, blackbox_solve
from ._data import ShortestPathData, make_shortest_path_data
from ._solvers import argmin_assignment, argmin_shortest_path, argmin_top_k
from ._sort import soft_quantile, soft_rank, soft_sort

__all__ = [
    "ShortestPathData",
    "argmin_assignment",
    "argmin_shortest_path",
    "argmin_top_k",
    "blackbox_interpolation",
    "blackbox_solve",
    "make_shortest_path_data",
    "soft_quantile",
    "soft_rank",
    "soft_sort",
]
