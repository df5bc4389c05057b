"""Generated DAGs with several parents per node."""

from __future__ import annotations

import torch

from ..hyperbolic import Hierarchy, transitive_closure
from ..utils import Generator, Integer, as_generator, rand, validate

__all__ = ["random_dag"]


@validate(n_nodes=Integer(low=2), n_roots=Integer(low=1), n_parents=Integer(low=1), generator=Generator())
def random_dag(n_nodes: int, *, n_roots: int = 2, n_parents: int = 2, generator=None) -> Hierarchy:
    r"""A random DAG in which most nodes have several parents (not a tree).

    Nodes ``0 .. n_roots - 1`` are roots; every later node ``i`` draws ``n_parents`` parents
    uniformly (with replacement, duplicates merged) among the nodes ``[max(0, i - w), i)`` with
    window ``w = max(n_roots, i // 2)``, so parents are recent nodes and the DAG is deep rather
    than flat. Returned as a :class:`nips2019.hyperbolic.Hierarchy` (closure and direct edges).

    Parameters
    ----------
    n_nodes : int
        At least ``n_roots + 1``.
    n_roots, n_parents : int
    generator : None, int or CPU torch.Generator

    Returns
    -------
    Hierarchy

    See the chapter :doc:`Box embeddings for DAGs and row/column completion </book/boxes>`.

    Examples
    --------
    >>> dag = random_dag(6, n_roots=1, generator=0)
    >>> dag.n_nodes, bool((dag.parents[:, 1] < dag.parents[:, 0]).all())
    (6, True)
    """
    if n_nodes <= n_roots:
        raise ValueError(f"random_dag: n_nodes must be > n_roots = {n_roots}, got {n_nodes}")
    g = as_generator(generator)
    edges = set()
    for i in range(n_roots, n_nodes):
        w = max(n_roots, i // 2)
        first = max(0, i - w)
        u = rand(n_parents, generator=g, dtype=torch.float64)
        for p in (first + (u * (i - first)).floor().long()).tolist():
            edges.add((i, p))
    par = torch.tensor(sorted(edges), dtype=torch.long).reshape(-1, 2)
    closure = transitive_closure(par, n_nodes)
    return Hierarchy([str(i) for i in range(n_nodes)], closure, par)
