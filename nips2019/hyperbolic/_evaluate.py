"""Reconstruction metrics: mean rank and mean average precision of a closure."""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch

from ..utils import AnyOf, Integer, IsCallable, Tensor, check_arguments, validate

#: A distance matrix: non-negative, ``inf`` allowed ("infinitely far", e.g. disconnected nodes), NaN refused.
_DIST = Tensor(shape=("n", "n"), dtype="floating", finite=False, low=0)


def _closure_bound(a):
    d = a["dist"]
    return d.shape[0] if isinstance(d, torch.Tensor) else a["n_nodes"]

__all__ = ["Reconstruction", "reconstruction", "reconstruction_naive"]


@dataclasses.dataclass
class Reconstruction:
    """Result of :func:`reconstruction`.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Attributes
    ----------
    mean_rank : float
        Mean over closure pairs of the rank of the ancestor among the non-ancestors.
    map : float
        Mean average precision over nodes with at least one ancestor.
    """

    mean_rank: float
    map: float


@validate(
    dist=AnyOf(_DIST, IsCallable()),
    n_nodes=Integer(low=1, optional=True),
    closure=Tensor(shape=(None, 2), dtype="integer", low=0, high=_closure_bound),
    chunk=Integer(low=1),
    same=[("dist", "closure")],
)
def reconstruction(dist: torch.Tensor | Callable[[torch.Tensor], torch.Tensor], closure: torch.Tensor,
                   n_nodes: int | None = None, *, chunk: int = 4096) -> Reconstruction:
    r"""Mean rank and MAP of a closure reconstructed from distances (vectorised).

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    With :math:`N(u)` the ancestors of :math:`u` (directed, as in the reference code of
    Nickel & Kiela),

    .. math::
        \operatorname{rank}(u, v) = 1 + \#\{w \notin N(u),\, w \ne u : d(u, w) < d(u, v)\},
        \qquad
        \operatorname{AP}(u) = \frac{1}{|N(u)|}\sum_{v \in N(u)}
        \frac{\operatorname{prank}(u, v)}{\operatorname{prank}(u, v) + \operatorname{rank}(u, v) - 1},

    with :math:`\operatorname{prank}(u, v) = 1 + \#\{v' \in N(u) : d(u, v') < d(u, v)\}`; the mean rank
    averages over closure pairs, MAP over nodes with :math:`N(u) \ne \emptyset`. Without ties AP is
    scikit-learn's ``average_precision_score`` on the row. Pairs are processed in chunks of whole nodes:
    one ``(pairs, n)`` comparison against each pair's row per chunk, no Python loop over nodes or pairs.

    Parameters
    ----------
    dist : Tensor, shape (n, n), or callable
        The distance matrix (non-negative; ``inf`` is allowed, NaN is refused), or ``rows -> dist[rows]``
        (e.g. :meth:`HierarchyEmbedding.distance_matrix`) to avoid forming it for large ``n``.
    closure : Tensor, shape (m, 2), integer
        ``(child, ancestor)`` pairs, node indices in ``[0, n)``; on ``dist``'s device.
    n_nodes : int, optional
        Required when ``dist`` is a callable; must equal ``n`` when given with a matrix.
    chunk : int
        About this many pairs per chunk (whole nodes; memory ~ ``chunk * n`` entries).

    Returns
    -------
    Reconstruction

    Examples
    --------
    >>> import torch
    >>> d = torch.tensor([[0., 1., 2.], [1., 0., 3.], [2., 3., 0.]])
    >>> r = reconstruction(d, torch.tensor([[1, 0], [2, 0]]))
    >>> r.mean_rank, r.map
    (1.0, 1.0)
    """
    if isinstance(dist, torch.Tensor):
        if n_nodes is not None and n_nodes != dist.shape[0]:
            raise ValueError(f"reconstruction: n_nodes = {n_nodes} but dist has shape {tuple(dist.shape)}")
        n_nodes = dist.shape[0]
        get = dist.__getitem__
    elif n_nodes is None:
        raise ValueError("reconstruction: n_nodes is required when dist is a callable")
    else:
        get = dist
    order = torch.argsort(closure[:, 0], stable=True)
    pairs = closure[order]
    nodes, counts = torch.unique_consecutive(pairs[:, 0], return_counts=True)
    ap_node = torch.zeros(n_nodes, dtype=torch.float64)
    rank_sum, n_pairs = 0.0, pairs.shape[0]
    ends = torch.cumsum(counts, 0).cpu()
    start_node, start_pair = 0, 0
    while start_node < nodes.numel():  # one iteration per chunk of whole nodes (~chunk pairs)
        stop_node = int(torch.searchsorted(ends, torch.tensor(start_pair + chunk), right=True))
        stop_node = min(max(stop_node, start_node + 1), nodes.numel())
        stop_pair = int(ends[stop_node - 1])
        rows = nodes[start_node:stop_node]
        chunk_pairs = pairs[start_pair:stop_pair]
        d = get(rows)
        if not isinstance(dist, torch.Tensor):  # a callable: check what it returns, chunk by chunk
            rows_dist = Tensor(shape=(rows.numel(), n_nodes), dtype="floating", finite=False, low=0)
            check_arguments("reconstruction", **{"dist(rows)": (d, rows_dist)})
        d = d.to(torch.float64)
        dev = d.device
        b = rows.numel()
        local = torch.searchsorted(rows, chunk_pairs[:, 0].contiguous()).to(dev)
        anc = chunk_pairs[:, 1].to(dev)
        pos = torch.zeros(b, n_nodes, dtype=torch.bool, device=dev)
        pos[local, anc] = True
        pos_or_self = pos.clone()
        pos_or_self[torch.arange(b, device=dev), rows.to(dev)] = True
        d_pair = d[local]                                   # (P, n) row of u for each pair (u, v)
        less = d_pair < d[local, anc][:, None]              # strictly closer than v
        rank = 1 + (less & ~pos_or_self[local]).sum(1).to(torch.float64)
        prank = 1 + (less & pos[local]).sum(1).to(torch.float64)
        rank_sum += float(rank.sum())
        ap_node.index_add_(0, chunk_pairs[:, 0].cpu(), (prank / (prank + rank - 1)).cpu())
        start_node, start_pair = stop_node, stop_pair
    ap_sum = float((ap_node[nodes.cpu()] / counts.cpu().to(torch.float64)).sum())
    return Reconstruction(rank_sum / n_pairs, ap_sum / nodes.numel())


@validate(dist=_DIST, closure=Tensor(shape=(None, 2), dtype="integer", low=0, high="n"), same=[("dist", "closure")])
def reconstruction_naive(dist: torch.Tensor, closure: torch.Tensor) -> Reconstruction:
    """Reference implementation of :func:`reconstruction`: Python loops over nodes and pairs.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Used by the tests and the benchmark; ``O(m n)`` Python-level work.

    Examples
    --------
    >>> import torch
    >>> d = torch.tensor([[0., 1., 2.], [1., 0., 3.], [2., 3., 0.]])
    >>> reconstruction_naive(d, torch.tensor([[1, 0], [2, 0]])).map
    1.0
    """
    n = dist.shape[0]
    anc: dict[int, set] = {}
    for u, a in closure.tolist():
        anc.setdefault(u, set()).add(a)
    ranks, aps = [], []
    for u, nu in anc.items():
        row = dist[u].tolist()
        ap = 0.0
        for v in nu:
            r = 1 + sum(1 for w in range(n) if w != u and w not in nu and row[w] < row[v])
            pr = 1 + sum(1 for w in nu if row[w] < row[v])
            ranks.append(r)
            ap += pr / (pr + r - 1)
        aps.append(ap / len(nu))
    return Reconstruction(sum(ranks) / len(ranks), sum(aps) / len(aps))
