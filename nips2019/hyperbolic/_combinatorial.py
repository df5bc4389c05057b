"""The combinatorial construction (Sarkar; Sala et al.): a tree in the Poincaré disk."""

from __future__ import annotations

import dataclasses
import math

import mpmath
import torch

from ..utils import Integer, Real, Tensor, validate

_TREE = dict(
    n_nodes=Integer(low=1),
    parents=Tensor(shape=(None, 2), dtype="integer", low=0, high=lambda a: a["n_nodes"], nonempty=False),
)

__all__ = ["CombinatorialEmbedding", "combinatorial_embedding", "graph_distances"]


@dataclasses.dataclass
class CombinatorialEmbedding:
    r"""Output of :func:`combinatorial_embedding`.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Attributes
    ----------
    points : list
        One complex number per node (``mpmath.mpc`` with ``precision``, Python ``complex`` without).
    distances : Tensor, shape (n, n), float64
        Hyperbolic distances computed in the working precision, then rounded to float64. Where the
        working precision runs out (points rounded onto the unit circle), distances saturate at
        :math:`2\operatorname{artanh}(1 - \epsilon)`, the largest one the coordinates can express
        (37.4 in float64), instead of becoming infinite.
    tau : float
        Edge length: every tree edge has hyperbolic length ``tau``.
    precision : int or None
        Decimal digits used (``None``: float64).
    """

    points: list
    distances: torch.Tensor
    tau: float
    precision: int | None


@validate(**_TREE, tau=Real(low=0, closed="neither"), precision=Integer(low=15, optional=True))
def combinatorial_embedding(parents: torch.Tensor, n_nodes: int, *, tau: float = 5.0,
                            precision: int | None = None) -> CombinatorialEmbedding:
    r"""Embed a tree in the Poincaré disk with Sarkar's construction.

    The root sits at the origin. Each node :math:`u` is moved to the origin by the Möbius map
    :math:`f_u(z) = (z - x_u)/(1 - \bar x_u z)`; its parent then lies in direction :math:`\theta`, and
    its :math:`k`-th child is placed at :math:`f_u^{-1}\big(\tanh(\tau/2)\, e^{i(\theta + 2\pi k/\deg u)}\big)`,
    i.e. at hyperbolic distance :math:`\tau` from :math:`u`, the :math:`\deg u` neighbours spread at equal
    angles. With :math:`\tau` large enough the distances between nodes approach :math:`\tau` times the
    tree distances (Sarkar 2011; Sala et al. 2018 give the :math:`\tau` for a target distortion).

    Points deep in the tree lie at Euclidean distance about :math:`e^{-\tau \cdot \text{depth}}` from the
    unit circle, so float64 runs out after a depth of about :math:`37/\tau`; ``precision`` switches to
    ``mpmath`` with that many decimal digits.
    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Parameters
    ----------
    parents : Tensor, shape (n - 1, 2), integer
        Tree edges ``(child, parent)``, node indices in ``[0, n_nodes)``; the root is the node without a parent.
    n_nodes : int
    tau : float
        Hyperbolic edge length (scaling factor).
    precision : int, optional
        Decimal digits for ``mpmath``; ``None`` computes in Python complex floats (float64).

    Returns
    -------
    CombinatorialEmbedding

    References
    ----------
    Sarkar, Low distortion Delaunay embedding of trees in hyperbolic plane, 2011.
    Sala, De Sa, Gu & Ré, Representation tradeoffs for hyperbolic embeddings, ICML 2018.

    Examples
    --------
    >>> import torch
    >>> emb = combinatorial_embedding(torch.tensor([[1, 0], [2, 0], [3, 1]]), 4, tau=3.0, precision=30)
    >>> round(float(emb.distances[0, 3]), 6)  # two edges
    6.0
    """
    if parents.shape[0] != n_nodes - 1:
        raise ValueError(f"combinatorial_embedding: a tree on n_nodes = {n_nodes} nodes has {n_nodes - 1} edges, "
                         f"parents has {parents.shape[0]}")
    children: list[list[int]] = [[] for _ in range(n_nodes)]
    has_parent = [False] * n_nodes
    par = [-1] * n_nodes
    for c, p in parents.tolist():
        children[p].append(c)
        if has_parent[c]:
            raise ValueError(f"combinatorial_embedding: node {c} has two parents: parents must describe a tree")
        has_parent[c], par[c] = True, p
    roots = [u for u in range(n_nodes) if not has_parent[u]]
    if len(roots) != 1:
        raise ValueError(f"combinatorial_embedding: parents must describe a tree with one root, found "
                         f"{len(roots)} roots")

    ctx = mpmath.workdps(precision) if precision is not None else None
    if ctx is not None:
        ctx.__enter__()
    try:
        if precision is None:
            num, expi, tanh, atanh, conj = complex, (lambda t: complex(math.cos(t), math.sin(t))), math.tanh, \
                math.atanh, (lambda z: z.conjugate())
            pi, arg = math.pi, (lambda z: math.atan2(z.imag, z.real))
        else:
            num, expi, tanh, atanh, conj = mpmath.mpc, mpmath.expj, mpmath.tanh, mpmath.atanh, mpmath.conj
            pi, arg = mpmath.pi, mpmath.arg
        radius = tanh(num(tau).real / 2) if precision is not None else math.tanh(tau / 2)
        pts = [num(0)] * n_nodes
        order = [roots[0]]
        for u in order:  # breadth first
            x = pts[u]
            deg = len(children[u]) + (par[u] >= 0)
            if par[u] >= 0:
                q = pts[par[u]]
                den = 1 - conj(x) * q
                theta = arg((q - x) / den) if den != 0 else 0 * pi  # den = 0 only after float64 collapse
                first = 1
            else:
                theta, first = 0 * pi, 0
            for k, c in enumerate(children[u]):
                w = radius * expi(theta + 2 * pi * (k + first) / deg)
                pts[c] = (w + x) / (1 + conj(x) * w)
                order.append(c)
        dist = [[0.0] * n_nodes for _ in range(n_nodes)]
        for i in range(n_nodes):
            for j in range(i + 1, n_nodes):
                den = abs(1 - conj(pts[i]) * pts[j])
                z = abs(pts[i] - pts[j]) / den if den else (0 if pts[i] == pts[j] else 1)
                if not z < 1:  # the pair collapsed onto the boundary: saturate at the largest expressible distance
                    z = 1 - (mpmath.eps if precision is not None else 2.0 ** -53)
                d = 2 * atanh(z)
                dist[i][j] = dist[j][i] = float(d)
        if len(order) != n_nodes:
            raise ValueError("combinatorial_embedding: parents must describe a tree: some nodes are not reachable "
                             "from the root (cycle)")
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)
    return CombinatorialEmbedding(pts, torch.tensor(dist, dtype=torch.float64), float(tau), precision)


@validate(
    n_nodes=Integer(low=1),
    edges=Tensor(shape=(None, 2), dtype="integer", low=0, high=lambda a: a["n_nodes"], nonempty=False),
)
def graph_distances(edges: torch.Tensor, n_nodes: int) -> torch.Tensor:
    """Shortest-path (hop) distances of the undirected graph with these edges (scipy).

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Parameters
    ----------
    edges : Tensor, shape (e, 2), integer
        Node indices in ``[0, n_nodes)``.
    n_nodes : int

    Returns
    -------
    Tensor, shape (n, n), float64
        On ``edges``' device; ``inf`` between disconnected nodes.

    Examples
    --------
    >>> import torch
    >>> graph_distances(torch.tensor([[1, 0], [2, 1]]), 3)[0].tolist()
    [0.0, 1.0, 2.0]
    """
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import shortest_path

    e = edges.cpu().numpy()
    adj = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n_nodes, n_nodes))
    return torch.as_tensor(shortest_path(adj, directed=False, unweighted=True), dtype=torch.float64).to(edges.device)
