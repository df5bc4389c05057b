"""A tree-shaped starting point for :func:`train_embedding`: nested cones of directions, radius by level."""

from __future__ import annotations

import math

import torch

from ..utils import Generator, Integer, Real, Tensor, as_generator, validate
from ._geometry import FLOAT_DTYPES
from ._model import HierarchyEmbedding, _DEVICE

__all__ = ["tree_init"]


def _levels(parents: torch.Tensor, n_nodes: int) -> torch.Tensor:
    """Longest-path level of every node from the roots (nodes without a parent); ValueError on a cycle."""
    level = torch.zeros(n_nodes, dtype=torch.long)
    child, parent = parents[:, 0], parents[:, 1]
    for _ in range(n_nodes + 1):
        new = torch.zeros(n_nodes, dtype=torch.long).scatter_reduce_(0, child, level[parent] + 1, "amax")
        if torch.equal(new, level):
            return level
        level = new
    raise ValueError("tree_init: parents contain a cycle (no node order puts every parent before its child)")


@validate(
    n_nodes=Integer(low=1),
    parents=Tensor(shape=(None, 2), dtype="integer", low=0, high=lambda a: a["n_nodes"], nonempty=False),
    dim=Integer(low=1),
    tau=Real(low=0, closed="neither"),
    sigma=Real(low=0, closed="neither"),
    shrink=Real(low=0, high=1, closed="right"),
    generator=Generator(),
    dtype=FLOAT_DTYPES,
    device=_DEVICE,
)
def tree_init(parents: torch.Tensor, n_nodes: int, dim: int, *, tau: float = 1.0, sigma: float = 1.0,
              shrink: float = 0.7, generator=None, dtype=None, device=None) -> HierarchyEmbedding:
    r"""A Poincaré embedding laid out along the hierarchy, to start :func:`train_embedding` from.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Each node gets a level :math:`\ell(u)`, its longest path from a root (a node without a parent),
    and one parent in a spanning tree (a parent at level :math:`\ell(u) - 1`). Roots point in random
    directions; a child's direction is its tree parent's, perturbed by Gaussian noise of norm about
    :math:`\sigma\,\mathrm{shrink}^{\ell(u)}`, so that subtrees occupy nested, narrowing cones. The point
    sits at hyperbolic distance :math:`\tau(\ell(u) + 1/2)` from the origin:

    .. math::
        x_u = \tanh\!\big(\tau(\ell(u) + \tfrac12)/2\big)\,
        \frac{\hat x_{p(u)} + \sigma\,\mathrm{shrink}^{\ell(u)} z_u / \sqrt{d}}
             {\|\hat x_{p(u)} + \sigma\,\mathrm{shrink}^{\ell(u)} z_u / \sqrt{d}\|},
        \qquad z_u \sim \mathcal N(0, I_d).

    This is the layout Nickel & Kiela's burn-in epochs search for (general directions near the
    origin, specific ones far out), written down from the graph in one pass; it is not their
    method, and it is not an embedding with guarantees like Sarkar's construction
    (:func:`combinatorial_embedding`), only a start for training. On the WordNet nouns at
    :math:`d = 10` it alone reaches MAP ~0.6, and training from it converges in a few tens of
    epochs where a random start needs hundreds (``scripts/hyperbolic_nouns.py``, the chapter).

    Parameters
    ----------
    parents : Tensor, shape (e, 2), integer
        Direct edges ``(child, parent)`` (a DAG; e.g. ``Hierarchy.parents``), indices in ``[0, n_nodes)``.
    n_nodes, dim : int
    tau : float
        Hyperbolic radius added per level.
    sigma, shrink : float
        Angular noise at level 1 and its factor per level (``0 < shrink <= 1``).
    generator : None, int or CPU torch.Generator
    dtype : torch.float32 or torch.float64, optional
    device : optional
        Of the returned embedding (default: ``parents``' device; the layout is computed on the CPU, then
        moved).

    Returns
    -------
    HierarchyEmbedding
        Poincaré model; pass it as ``init`` to :func:`train_embedding`.

    Raises
    ------
    ValueError
        If ``parents`` contain a cycle.

    Examples
    --------
    >>> import torch
    >>> emb = tree_init(torch.tensor([[1, 0], [2, 0], [3, 1]]), 4, 2, generator=0, dtype=torch.float64)
    >>> r = emb.weight.detach().norm(dim=1)
    >>> bool(r[0] < r[1] < r[3]) and bool(torch.isclose(r[1], r[2]))
    True
    """
    dtype = dtype or torch.get_default_dtype()
    device = parents.device if device is None else device
    generator = as_generator(generator)
    parents = parents.detach().cpu().long()
    level = _levels(parents, n_nodes)
    # spanning tree: for each child, a parent on a longest path (level exactly one less)
    on_path = level[parents[:, 1]] == level[parents[:, 0]] - 1
    tree_parent = torch.full((n_nodes,), -1, dtype=torch.long)
    tree_parent[parents[on_path, 0]] = parents[on_path, 1]
    noise = torch.randn(n_nodes, dim, generator=generator, dtype=torch.float64)
    direction = torch.zeros(n_nodes, dim, dtype=torch.float64)
    roots = level == 0
    direction[roots] = torch.nn.functional.normalize(noise[roots], dim=1)
    for lev in range(1, int(level.max()) + 1):  # parents before children
        at = torch.nonzero(level == lev).flatten()
        spread = sigma * shrink ** lev / math.sqrt(dim)
        direction[at] = torch.nn.functional.normalize(direction[tree_parent[at]] + spread * noise[at], dim=1)
    radius = torch.tanh(tau * (level.to(torch.float64) + 0.5) / 2)
    # keep every point strictly inside the ball in the working dtype (geoopt's projection radius)
    radius = radius.clamp_max(1 - (4e-3 if dtype == torch.float32 else 1e-5))
    emb = HierarchyEmbedding(n_nodes, dim, dtype=dtype, device=device)
    with torch.no_grad():
        emb.weight.copy_((direction * radius[:, None]).to(dtype=dtype, device=emb.weight.device))
    return emb
