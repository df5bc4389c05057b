r"""Batched combinatorial solvers of the form :math:`y(w) = \arg\min_{y \in Y} \langle w, y \rangle`.

Each takes a batch of weight tensors and returns 0/1 indicator tensors of the same shape, dtype
and device, so that :func:`blackbox_solve` can wrap it. Assignment and shortest path call scipy
on the CPU (one instance at a time, the results moved back); top-k runs on the inputs' device.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from nips2019.utils import Integer, Options, Tensor, validate


def _argmin_assignment(w):
    flat = w.detach().reshape(-1, *w.shape[-2:]).cpu().double().numpy()
    out = np.zeros_like(flat)
    for k, c in enumerate(flat):
        rows, cols = linear_sum_assignment(c)
        out[k, rows, cols] = 1.0
    return torch.from_numpy(out).reshape(w.shape).to(device=w.device, dtype=w.dtype)


@validate(w=Tensor(shape=("...", "n", "m"), dtype="floating"))
def argmin_assignment(w: torch.Tensor) -> torch.Tensor:
    r"""Minimum-cost assignment: :math:`\arg\min_{Y} \sum_{ij} w_{ij} Y_{ij}` over (partial) permutations.

    For a square ``w`` every row is matched to one column and vice versa; for ``n < m`` every row is
    matched to a distinct column (``m < n``: every column to a row). Solved by scipy's
    ``linear_sum_assignment`` (Jonker-Volgenant) for each instance of the batch, on the CPU in
    float64; the indicator comes back with ``w``'s dtype and device. Ties are broken by scipy.
    See the chapter :doc:`/book/discrete`.

    Parameters
    ----------
    w : Tensor, shape (..., n, m)
        Costs; leading axes are a batch.

    Returns
    -------
    Tensor, shape (..., n, m)
        The 0/1 assignment matrix.

    Examples
    --------
    >>> import torch
    >>> argmin_assignment(torch.tensor([[4.0, 1.0], [2.0, 3.0]]))
    tensor([[0., 1.],
            [1., 0.]])
    """
    return _argmin_assignment(w)


@functools.lru_cache(maxsize=16)
def _grid_graph(h, w, neighbours):
    """CSR structure (indptr, indices) of the directed h x w grid graph, edges to the 4 or 8 neighbours."""
    steps = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if neighbours == 8:
        steps += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    indptr, indices = [0], []
    for r in range(h):
        for c in range(w):
            nb = sorted((r + dr) * w + (c + dc) for dr, dc in steps if 0 <= r + dr < h and 0 <= c + dc < w)
            indices.extend(nb)
            indptr.append(len(indices))
    return np.asarray(indptr), np.asarray(indices)


def _argmin_shortest_path(w, neighbours=8):
    h, wd = w.shape[-2:]
    indptr, indices = _grid_graph(h, wd, neighbours)
    flat = w.detach().reshape(-1, h * wd).cpu().double().numpy()
    # Dijkstra needs non-negative weights; a zero would be read as a missing edge, so the floor is tiny
    flat = np.maximum(flat, 0.0) + 1e-12
    out = np.zeros_like(flat)
    target = h * wd - 1
    for k, vertex_cost in enumerate(flat):
        graph = csr_matrix((vertex_cost[indices], indices, indptr), shape=(h * wd, h * wd))
        _, pred = dijkstra(graph, indices=0, return_predecessors=True)
        node = target
        while node >= 0:
            out[k, node] = 1.0
            node = pred[node]
    return torch.from_numpy(out).reshape(w.shape).to(device=w.device, dtype=w.dtype)


@validate(w=Tensor(shape=("...", "h", "w"), dtype="floating"), neighbours=Options(4, 8))
def argmin_shortest_path(w: torch.Tensor, *, neighbours: int = 8) -> torch.Tensor:
    r"""Cheapest path through a grid of vertex costs, top-left to bottom-right, as a 0/1 map of its vertices.

    .. math::

        y(w) = \arg\min_{y \in \text{paths}} \sum_{v} w_v y_v,

    over paths that step to one of the ``neighbours`` (4: up, down, left, right; 8: also the
    diagonals, as in the Warcraft maps of Vlastelica et al.) and visit each vertex at most once.
    The cost of a path is the sum of the costs of its vertices, both ends included (the linear
    objective :math:`\langle w, y\rangle` that the blackbox gradient needs). Solved by scipy's
    Dijkstra on the directed graph whose edge :math:`u \to v` costs :math:`w_v`, one instance at a
    time on the CPU. Dijkstra needs non-negative costs: negative entries are clipped to 0 (say so
    when you perturb costs, :func:`blackbox_solve`). See the chapter :doc:`/book/discrete`.

    Parameters
    ----------
    w : Tensor, shape (..., h, w)
        Vertex costs; leading axes are a batch.
    neighbours : {4, 8}

    Returns
    -------
    Tensor, shape (..., h, w)
        1 on the vertices of the path, 0 elsewhere.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([[1.0, 9.0, 9.0], [1.0, 9.0, 9.0], [1.0, 1.0, 1.0]])
    >>> argmin_shortest_path(w, neighbours=4)
    tensor([[1., 0., 0.],
            [1., 0., 0.],
            [1., 1., 1.]])
    """
    return _argmin_shortest_path(w, neighbours)


def _argmin_top_k(w, k):
    idx = w.detach().topk(k, dim=-1, largest=False).indices
    return torch.zeros_like(w, memory_format=torch.contiguous_format).scatter_(-1, idx, 1.0).detach()


@validate(w=Tensor(shape=("...", "n"), dtype="floating"), k=Integer(low=1))
def argmin_top_k(w: torch.Tensor, k: int) -> torch.Tensor:
    r"""The k smallest entries along the last axis, :math:`\arg\min \{\langle w, y\rangle : y \in \{0,1\}^n,
    \sum y = k\}`.

    Runs on ``w``'s device (``torch.topk``). Wrap it for :func:`blackbox_solve` with
    ``functools.partial(argmin_top_k, k=3)``. See the chapter :doc:`/book/discrete`.

    Parameters
    ----------
    w : Tensor, shape (..., n)
    k : int
        How many to select, ``1 <= k <= n``.

    Returns
    -------
    Tensor, shape (..., n)
        1 at the k smallest entries.

    Examples
    --------
    >>> import torch
    >>> argmin_top_k(torch.tensor([3.0, -1.0, 2.0, 0.0]), 2)
    tensor([0., 1., 0., 1.])
    """
    if k > w.shape[-1]:
        raise ValueError(f"argmin_top_k: k must be <= n = {w.shape[-1]}, got {k}")
    return _argmin_top_k(w, k)
