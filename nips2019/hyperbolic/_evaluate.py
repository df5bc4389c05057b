"""Reconstruction metrics: mean rank and mean average precision of a closure."""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch

from ..utils import check_tensor

__all__ = ["Reconstruction", "reconstruction", "reconstruction_naive"]


@dataclasses.dataclass
class Reconstruction:
    """Result of :func:`reconstruction`.

    See the chapter *Hyperbolic embeddings of hierarchies*.

    Attributes
    ----------
    mean_rank : float
        Mean over closure pairs of the rank of the ancestor among the non-ancestors.
    map : float
        Mean average precision over nodes with at least one ancestor.
    """

    mean_rank: float
    map: float


def reconstruction(dist: torch.Tensor | Callable[[torch.Tensor], torch.Tensor], closure: torch.Tensor,
                   n_nodes: int | None = None, chunk: int = 512) -> Reconstruction:
    r"""Mean rank and MAP of a closure reconstructed from distances (vectorised).

    See the chapter *Hyperbolic embeddings of hierarchies*.

    With :math:`N(u)` the ancestors of :math:`u` (directed, as in the reference code of
    Nickel & Kiela),

    .. math::
        \operatorname{rank}(u, v) = 1 + \#\{w \notin N(u),\, w \ne u : d(u, w) < d(u, v)\},
        \qquad
        \operatorname{AP}(u) = \frac{1}{|N(u)|}\sum_{v \in N(u)}
        \frac{\operatorname{prank}(u, v)}{\operatorname{prank}(u, v) + \operatorname{rank}(u, v) - 1},

    with :math:`\operatorname{prank}(u, v) = 1 + \#\{v' \in N(u) : d(u, v') < d(u, v)\}`; the mean rank
    averages over closure pairs, MAP over nodes with :math:`N(u) \ne \emptyset`. Without ties AP is
    scikit-learn's ``average_precision_score`` on the row. Rows are processed in chunks: one sort and
    one batched ``searchsorted`` per chunk, no Python loop over nodes.

    Parameters
    ----------
    dist : Tensor, shape (n, n), or callable
        The distance matrix, or ``rows -> dist[rows]`` (e.g.
        :meth:`HierarchyEmbedding.distance_matrix`) to avoid forming it for large ``n``.
    closure : Tensor, shape (m, 2), int64
        ``(child, ancestor)`` pairs.
    n_nodes : int, optional
        Required when ``dist`` is a callable.
    chunk : int
        Rows per chunk.

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
    closure = check_tensor(closure, "closure", ndim=2, shape=(None, 2))
    if callable(dist):
        if n_nodes is None:
            raise ValueError("n_nodes is required when dist is a callable")
        get = dist
    else:
        dist = check_tensor(dist, "dist", ndim=2, floating=True)
        if dist.shape[0] != dist.shape[1]:
            raise ValueError(f"dist must be square, got shape {tuple(dist.shape)}")
        n_nodes = dist.shape[0]
        get = dist.__getitem__
    if closure.numel() == 0:
        raise ValueError("closure must hold at least one pair")
    if int(closure.min()) < 0 or int(closure.max()) >= n_nodes:
        raise ValueError(f"closure indices must lie in [0, {n_nodes})")
    nodes = torch.unique(closure[:, 0])
    rank_sum, ap_sum, n_pairs = 0.0, 0.0, 0
    for start in range(0, nodes.numel(), chunk):
        rows = nodes[start:start + chunk]
        d = get(rows)
        d = d.to(torch.float64)
        dev = d.device
        b = rows.numel()
        # positive mask: (row index within chunk, ancestor)
        sel = torch.isin(closure[:, 0], rows)
        pos_pairs = closure[sel]
        local = torch.searchsorted(rows, pos_pairs[:, 0].contiguous())
        pos = torch.zeros(b, n_nodes, dtype=torch.bool, device=dev)
        pos[local.to(dev), pos_pairs[:, 1].to(dev)] = True
        self_mask = torch.zeros_like(pos)
        self_mask[torch.arange(b, device=dev), rows.to(dev)] = True
        inf = torch.tensor(float("inf"), dtype=d.dtype, device=dev)
        neg_sorted = torch.where(pos | self_mask, inf, d).sort(dim=1).values
        pos_sorted = torch.where(pos, d, inf).sort(dim=1).values
        n_neg_before = torch.searchsorted(neg_sorted, d.contiguous(), side="left")
        n_pos_before = torch.searchsorted(pos_sorted, d.contiguous(), side="left")
        rank = (1 + n_neg_before).to(torch.float64)
        prank = (1 + n_pos_before).to(torch.float64)
        rank = torch.where(pos, rank, torch.zeros_like(rank))
        prec = torch.where(pos, prank / (prank + rank - 1), torch.zeros_like(rank))
        n_pos = pos.sum(1)
        rank_sum += float(rank.sum())
        n_pairs += int(n_pos.sum())
        ap_sum += float((prec.sum(1) / n_pos).sum())
    return Reconstruction(rank_sum / n_pairs, ap_sum / nodes.numel())


def reconstruction_naive(dist: torch.Tensor, closure: torch.Tensor) -> Reconstruction:
    """Reference implementation of :func:`reconstruction`: Python loops over nodes and pairs.

    See the chapter *Hyperbolic embeddings of hierarchies*.

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
