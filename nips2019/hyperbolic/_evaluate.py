"""Reconstruction metrics: mean rank and mean average precision of a closure."""

from __future__ import annotations

import dataclasses
import math
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
    r"""Mean rank and MAP of a closure reconstructed from distances (vectorised, bounded memory).

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    With :math:`N(u)` the ancestors of :math:`u` (directed, as in the reference code of
    Nickel & Kiela),

    .. math::
        \operatorname{rank}(u, v) = 1 + \#\{w \notin N(u),\, w \ne u : d(u, w) \le d(u, v)\},
        \qquad
        \operatorname{AP}(u) = \frac{1}{|N(u)|}\sum_{v \in N(u)}
        \frac{\operatorname{prank}(u, v)}{\operatorname{prank}(u, v) + \operatorname{rank}(u, v) - 1},

    with :math:`\operatorname{prank}(u, v) = \#\{v' \in N(u) : d(u, v') \le d(u, v)\}` (``v`` included);
    the mean rank averages over closure pairs, MAP over nodes with :math:`N(u) \ne \emptyset`.

    **Ties** count against the embedding: a non-ancestor at exactly the distance of an ancestor is
    ranked ahead of it. This is how scikit-learn's ``average_precision_score`` (used by the reference
    code) treats tied scores, one threshold for the whole tied group, so ``AP(u)`` is exactly
    scikit-learn's AP of the scores ``-d(u, .)`` over the other nodes, with or without ties; a
    collapsed embedding (all points equal) gets rank ``n - |N(u)|`` and AP ``|N(u)| / (n - 1)``, not
    a perfect score. Only the order of the distances matters: any strictly increasing transform of
    ``dist`` gives the same result.

    Pairs are processed in chunks of whole nodes, one ``(nodes, n)`` block of distances at a time; in
    each row, a binary search places every distance at most the row's largest ancestor distance among
    the sorted ancestor distances, and the places are counted (``O(n log k)`` per node, ``k`` its number
    of ancestors; no Python loop over nodes or pairs). On the WordNet nouns (82,115 nodes, 743,086 pairs)
    with :meth:`HierarchyEmbedding.distance_keys`, one CPU core evaluates the whole closure in about two
    minutes when the ancestors rank near the top, four to six for a random embedding (every distance is
    then searched); the previous all-pairs comparison from arcosh distances took about 18.

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
        At most this many pairs per chunk, and at most ``2**21`` distances per block (whole nodes, at
        least one; memory ~ ``24 * chunk_nodes * n`` bytes, whatever the number of pairs).

    Returns
    -------
    Reconstruction

    References
    ----------
    Nickel & Kiela, "Poincaré embeddings for learning hierarchical representations", NeurIPS 2017
    (evaluation code: ``hype/graph.py`` of facebookresearch/poincare-embeddings).

    Examples
    --------
    >>> import torch
    >>> d = torch.tensor([[0., 1., 2.], [1., 0., 3.], [2., 3., 0.]])
    >>> r = reconstruction(d, torch.tensor([[1, 0], [2, 0]]))
    >>> r.mean_rank, r.map
    (1.0, 1.0)
    >>> flat = torch.zeros(3, 3)  # collapsed: ties count against the embedding
    >>> r = reconstruction(flat, torch.tensor([[1, 0], [2, 0]]))
    >>> r.mean_rank, r.map
    (2.0, 0.5)
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
    pairs = torch.unique(closure, dim=0)  # sorted by child; a repeated pair counts once
    nodes, counts = torch.unique_consecutive(pairs[:, 0], return_counts=True)
    ends = torch.cumsum(counts, 0).cpu()
    counts_cpu = counts.cpu()
    block = 2 ** 21  # entries of the (nodes, n) distance block: 16 MiB in float64
    ap_sum, rank_sum, n_pairs = 0.0, 0.0, pairs.shape[0]
    start_node, start_pair = 0, 0
    while start_node < nodes.numel():  # one iteration per chunk of whole nodes
        stop_node = int(torch.searchsorted(ends, torch.tensor(start_pair + chunk), right=True))
        stop_node = min(max(stop_node, start_node + 1), nodes.numel())
        stop_node = min(stop_node, start_node + max(1, block // n_nodes))
        stop_pair = int(ends[stop_node - 1])
        rows = nodes[start_node:stop_node]
        chunk_pairs = pairs[start_pair:stop_pair]
        d = get(rows)
        if not isinstance(dist, torch.Tensor):  # a callable: check what it returns, chunk by chunk
            # one pass (amin propagates NaN); the declared check only to word an error
            if not (isinstance(d, torch.Tensor) and d.shape == (rows.numel(), n_nodes) and d.is_floating_point()
                    and bool(d.amin() >= 0)):
                rows_dist = Tensor(shape=(rows.numel(), n_nodes), dtype="floating", finite=False, low=0)
                check_arguments("reconstruction", **{"dist(rows)": (d, rows_dist)})
        dev = d.device
        b = rows.numel()
        cnt = counts_cpu[start_node:stop_node].to(dev)
        k = int(cnt.max())
        local = torch.repeat_interleave(torch.arange(b, device=dev), cnt)
        slot = torch.arange(local.numel(), device=dev) - torch.repeat_interleave(torch.cumsum(cnt, 0) - cnt, cnt)
        anc = chunk_pairs[:, 1].to(dev)
        d_anc = d[local, anc]                                    # (P,) distance to each ancestor
        valid = torch.zeros(b, k, dtype=torch.bool, device=dev)
        valid[local, slot] = True
        d_pos = torch.full((b, k), -math.inf, dtype=d.dtype, device=dev)  # padding: below every distance
        d_pos[local, slot] = d_anc
        # all_le[i, j] = #{w (any node): d(u_i, w) <= d(u_i, v_ij)}: the place of each entry of a row among
        # the row's sorted ancestor distances (a binary search), counted per place. Only the entries at most
        # the row's largest ancestor distance can count; when they are few (a good embedding) only those are
        # searched. Same counts as comparing every entry with every ancestor distance.
        t_sorted, order = d_pos.sort(1)
        cand = d <= t_sorted[:, -1:]
        offset = (torch.arange(b, device=dev) * (k + 1))[:, None]
        if 16 * int(cand.sum()) < cand.numel():
            cand_row, cand_col = torch.nonzero(cand, as_tuple=True)
            place = torch.searchsorted(t_sorted[cand_row], d[cand_row, cand_col][:, None]).squeeze(1)
            place += offset[cand_row, 0]
        else:
            place = torch.searchsorted(t_sorted, d).add_(offset).view(-1)
        hist = torch.bincount(place, minlength=b * (k + 1)).view(b, k + 1)
        all_le = torch.empty(b, k, dtype=torch.int64, device=dev)
        all_le.scatter_(1, order, hist.cumsum(1)[:, :k])  # entries with place <= j are <= t_sorted[:, j]
        pos_le = ((d_pos[:, None, :] <= d_pos[:, :, None]) & valid[:, None, :]).sum(2)
        self_le = (d[torch.arange(b, device=dev), rows.to(dev)][:, None] <= d_pos).long()
        neg_le = (all_le - pos_le - self_le).to(torch.float64)
        rank = 1 + neg_le
        prank = pos_le.to(torch.float64)
        rank_sum += float(rank[valid].sum())
        ap = torch.where(valid, prank / (prank + rank - 1), torch.zeros_like(rank)).sum(1) / cnt
        ap_sum += float(ap.sum())
        start_node, start_pair = stop_node, stop_pair
    return Reconstruction(rank_sum / n_pairs, ap_sum / nodes.numel())


@validate(dist=_DIST, closure=Tensor(shape=(None, 2), dtype="integer", low=0, high="n"), same=[("dist", "closure")])
def reconstruction_naive(dist: torch.Tensor, closure: torch.Tensor) -> Reconstruction:
    """Reference implementation of :func:`reconstruction`: Python loops over nodes and pairs.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Used by the tests and the benchmark; ``O(m n)`` Python-level work. Ties count against the
    embedding (``<=``), as in :func:`reconstruction`.

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
            r = 1 + sum(1 for w in range(n) if w != u and w not in nu and row[w] <= row[v])
            pr = sum(1 for w in nu if row[w] <= row[v])
            ranks.append(r)
            ap += pr / (pr + r - 1)
        aps.append(ap / len(nu))
    return Reconstruction(sum(ranks) / len(ranks), sum(aps) / len(aps))
