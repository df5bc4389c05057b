"""Hierarchies: the shipped WordNet closures and synthetic trees."""

from __future__ import annotations

import dataclasses
import gzip
from importlib import resources

import torch

from ..utils import Bool, Generator, Integer, Tensor, rand, validate

__all__ = [
    "Hierarchy",
    "balanced_tree",
    "random_tree",
    "transitive_closure",
    "transitive_reduction",
    "wordnet_mammals",
    "wordnet_nouns",
]


@dataclasses.dataclass
class Hierarchy:
    """A partial order given by its transitive closure.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Attributes
    ----------
    names : list of str
        Node names; node ``i`` is ``names[i]``.
    closure : Tensor, shape (m, 2), int64
        Every pair ``(child, ancestor)`` of the transitive closure, child first.
    parents : Tensor, shape (e, 2), int64
        The direct edges (the transitive reduction), ``(child, parent)``.
    """

    names: list
    closure: torch.Tensor
    parents: torch.Tensor

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.names)

    def index(self) -> dict:
        """Map from name to node index."""
        return {name: i for i, name in enumerate(self.names)}

    def depth(self) -> torch.Tensor:
        """Number of ancestors of each node, shape ``(n,)``."""
        return torch.bincount(self.closure[:, 0], minlength=self.n_nodes)


def _read_tsv_gz(name: str) -> list[list[str]]:
    data = resources.files("nips2019.hyperbolic") / "data" / name
    with data.open("rb") as raw, gzip.open(raw, "rt") as fh:
        return [line.rstrip("\n").split("\t") for line in fh]


def _index(pairs: list[tuple[str, str]]) -> tuple[list[str], torch.Tensor]:
    names = sorted({x for p in pairs for x in p})
    idx = {n: i for i, n in enumerate(names)}
    edges = torch.tensor([[idx[a], idx[b]] for a, b in pairs], dtype=torch.long).reshape(-1, 2)
    return names, edges


@validate(
    n_nodes=Integer(low=1),
    parents=Tensor(shape=(None, 2), dtype="integer", low=0, high=lambda a: a["n_nodes"], nonempty=False),
)
def transitive_closure(parents: torch.Tensor, n_nodes: int) -> torch.Tensor:
    r"""Transitive closure of a DAG given by its ``(child, parent)`` edges.

    .. math:: (u, a) \in \mathcal{C} \iff \text{there is a directed path } u \to \dots \to a.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Parameters
    ----------
    parents : Tensor, shape (e, 2), integer
        Direct edges ``(child, parent)``, node indices in ``[0, n_nodes)`` (may be empty).
    n_nodes : int
        Number of nodes.

    Returns
    -------
    Tensor, shape (m, 2), int64
        The sorted closure pairs ``(child, ancestor)``.

    Examples
    --------
    >>> import torch
    >>> transitive_closure(torch.tensor([[1, 0], [2, 1]]), 3).tolist()
    [[1, 0], [2, 0], [2, 1]]
    """
    up: list[list[int]] = [[] for _ in range(n_nodes)]
    for c, p in parents.tolist():
        up[c].append(p)
    memo: dict[int, frozenset] = {}

    def ancestors(u: int, stack: tuple = ()) -> frozenset:
        if u in memo:
            return memo[u]
        if u in stack:
            raise ValueError("transitive_closure: parents contains a cycle")
        out: set = set()
        for p in up[u]:
            out.add(p)
            out |= ancestors(p, stack + (u,))
        memo[u] = frozenset(out)
        return memo[u]

    pairs = sorted((u, a) for u in range(n_nodes) for a in ancestors(u))
    return torch.tensor(pairs, dtype=torch.long).reshape(-1, 2)


@validate(
    n_nodes=Integer(low=1),
    closure=Tensor(shape=(None, 2), dtype="integer", low=0, high=lambda a: a["n_nodes"], nonempty=False),
)
def transitive_reduction(closure: torch.Tensor, n_nodes: int) -> torch.Tensor:
    r"""Direct edges of a transitively closed DAG (its Hasse diagram).

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    :math:`(u, a)` is kept when no :math:`w` has :math:`(u, w)` and :math:`(w, a)` in the closure.

    Parameters
    ----------
    closure : Tensor, shape (m, 2), integer
        ``(child, ancestor)`` pairs of a transitive closure, node indices in ``[0, n_nodes)``.
    n_nodes : int

    Returns
    -------
    Tensor, shape (e, 2), int64

    Examples
    --------
    >>> import torch
    >>> transitive_reduction(torch.tensor([[1, 0], [2, 0], [2, 1]]), 3).tolist()
    [[1, 0], [2, 1]]
    """
    anc: list[set] = [set() for _ in range(n_nodes)]
    for u, a in closure.tolist():
        anc[u].add(a)
    keep = []
    for u in range(n_nodes):
        # a is direct iff it is not an ancestor of another ancestor of u
        indirect = set().union(*(anc[w] for w in anc[u])) if anc[u] else set()
        keep.extend((u, a) for a in sorted(anc[u] - indirect))
    return torch.tensor(keep, dtype=torch.long).reshape(-1, 2)


def wordnet_mammals() -> Hierarchy:
    """The WordNet 3.0 mammals closure of Nickel & Kiela (1180 nodes, 6540 pairs).

    Built by ``scripts/hyperbolic_wordnet.py`` from WordNet 3.0 (Princeton
    University, see ``data/LICENSE_WORDNET.txt``) and shipped with the package.
    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Returns
    -------
    Hierarchy

    References
    ----------
    Nickel & Kiela, Poincaré embeddings for learning hierarchical representations, NeurIPS 2017.

    Examples
    --------
    >>> h = wordnet_mammals()
    >>> h.n_nodes, len(h.closure)
    (1180, 6540)
    """
    names, closure = _index([(a, b) for a, b in _read_tsv_gz("wordnet_mammal_closure.tsv.gz")])
    return Hierarchy(names, closure, transitive_reduction(closure, len(names)))


@validate(closure=Bool())
def wordnet_nouns(closure: bool = True) -> Hierarchy:
    """The WordNet 3.0 noun hierarchy (82,115 synsets; 743,086 closure pairs).

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    The shipped file holds the direct hypernym and instance-hypernym pointers; the
    closure follows the reference rules (hypernym chains, plus instance chains each
    continued by hypernym chains). Takes a few seconds.

    Parameters
    ----------
    closure : bool
        Compute the transitive closure (else ``closure`` equals ``parents``).

    Returns
    -------
    Hierarchy

    Examples
    --------
    >>> h = wordnet_nouns(closure=False)  # doctest: +SKIP
    >>> h.n_nodes  # doctest: +SKIP
    82115
    """
    rows = _read_tsv_gz("wordnet_noun_edges.tsv.gz")
    names, parents = _index([(c, p) for c, p, _ in rows])
    if not closure:
        return Hierarchy(names, parents, parents)
    hyper: list[list[int]] = [[] for _ in names]
    inst: list[list[int]] = [[] for _ in names]
    for (c, p), (_, _, kind) in zip(parents.tolist(), rows):
        (hyper if kind == "@" else inst)[c].append(p)
    memo: dict[int, frozenset] = {}

    def up(u: int) -> frozenset:
        if u not in memo:
            out: set = set()
            for p in hyper[u]:
                out.add(p)
                out |= up(p)
            memo[u] = frozenset(out)
        return memo[u]

    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        pairs: set = set()
        for u in range(len(names)):
            pairs.update((u, a) for a in up(u))
            stack, seen = list(inst[u]), set()
            while stack:
                h = stack.pop()
                if h not in seen:
                    seen.add(h)
                    pairs.add((u, h))
                    pairs.update((u, a) for a in up(h))
                    stack.extend(inst[h])
    finally:
        sys.setrecursionlimit(limit)
    return Hierarchy(names, torch.tensor(sorted(pairs), dtype=torch.long), parents)


@validate(branching=Integer(low=1), depth=Integer(low=0))
def balanced_tree(branching: int, depth: int) -> Hierarchy:
    """Complete ``branching``-ary tree of the given depth (root = node 0, breadth-first order).

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Examples
    --------
    >>> t = balanced_tree(2, 2)
    >>> t.n_nodes, t.parents.tolist()
    (7, [[1, 0], [2, 0], [3, 1], [4, 1], [5, 2], [6, 2]])
    """
    parents, level, n = [], [0], 1
    for _ in range(depth):
        nxt = []
        for p in level:
            for _ in range(branching):
                parents.append((n, p))
                nxt.append(n)
                n += 1
        level = nxt
    par = torch.tensor(parents, dtype=torch.long).reshape(-1, 2)
    return Hierarchy([str(i) for i in range(n)], transitive_closure(par, n), par)


@validate(n_nodes=Integer(low=1), generator=Generator())
def random_tree(n_nodes: int, *, generator=None) -> Hierarchy:
    """Random recursive tree: node ``i`` attaches to a uniform earlier node (root = 0).

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Parameters
    ----------
    n_nodes : int
    generator : None, int or CPU torch.Generator
        The package's randomness rule.

    Examples
    --------
    >>> t = random_tree(5, generator=0)
    >>> t.parents.shape, bool((t.parents[:, 1] < t.parents[:, 0]).all())
    (torch.Size([4, 2]), True)
    """
    child = torch.arange(1, n_nodes)
    u = rand(n_nodes - 1, generator=generator, dtype=torch.float64)
    parent = (u * child.double()).floor().long()
    par = torch.stack([child, parent], 1)
    return Hierarchy([str(i) for i in range(n_nodes)], transitive_closure(par, n_nodes), par)
