"""Smoothing structured-decomposable circuits: the naive algorithm and the interval algorithm.

Shih, Van den Broeck, Beame & Amarilli, *Smoothing structured decomposable circuits*, NeurIPS 2019.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..utils import Generator, Integer, Options, Probability, as_generator, validate
from ._structure import (
    LEAF_KINDS,
    CircuitBuilder,
    StructureArg,
    VtreeArg,
    _as_structure,
    index_vtree,
    reachable,
    vtree_lca,
)


@validate(n_vars=Integer(low=1))
def right_linear_vtree(n_vars: int):
    """Vtree ``(0, (1, (2, ...)))``: every left child is a leaf (the worst case for naive smoothing).

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    Examples
    --------
    >>> right_linear_vtree(4)
    (0, (1, (2, 3)))
    """
    t = n_vars - 1
    for v in range(n_vars - 2, -1, -1):
        t = (v, t)
    return t


@validate(n_vars=Integer(low=1), start=Integer(low=0))
def balanced_vtree(n_vars: int, *, start: int = 0):
    """Balanced vtree over the variables ``start``, ``start + 1``, ..., ``start + n_vars - 1``, in order.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    Examples
    --------
    >>> balanced_vtree(5)
    ((0, 1), (2, (3, 4)))
    """
    return _balanced(n_vars, start)


def _balanced(n_vars: int, start: int):
    if n_vars == 1:
        return start
    h = n_vars // 2
    return (_balanced(h, start), _balanced(n_vars - h, start + h))


@validate(vtree=VtreeArg(), width=Integer(low=1), skip=Probability(), generator=Generator())
def random_structured_circuit(vtree, *, width: int = 2, skip: float = 0.5, generator=None):
    r"""A random decomposable, *non-smooth* circuit, structured-decomposable with respect to ``vtree``.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    Every vtree leaf gets two Bernoulli inputs; every internal vtree node ``t`` gets ``width``
    products of the children's nodes, ``width`` more products whose factors are, with probability
    ``skip``, inputs deep inside the subtrees, and ``width`` sums over all of them; so sums see
    children with different scopes. Returns
    ``(builder, root)``, accepted by the structural checks and by :func:`smooth`.
    ``generator``: ``None``, an int seed or a CPU ``torch.Generator`` (see
    :func:`nips2019.utils.as_generator`).

    Examples
    --------
    >>> from nips2019.circuits import is_smooth, is_structured_decomposable
    >>> vt = right_linear_vtree(5)
    >>> b, r = random_structured_circuit(vt, generator=0)
    >>> is_smooth((b, r)), is_structured_decomposable((b, r), vt)
    (False, True)
    """
    g = as_generator(generator)
    vt = index_vtree(vtree)
    b = CircuitBuilder()
    pool = {}

    def rand(k):
        return int(torch.randint(0, k, (1,), generator=g))

    def choose(t):
        if torch.rand(1, generator=g).item() < skip:
            t = vt.leaf_of[vt.order[vt.lo[t] + rand(vt.hi[t] - vt.lo[t] + 1)]]
        return pool[t][rand(len(pool[t]))]

    order = []
    stack = [(vt.root, False)]
    while stack:  # post-order over vtree nodes
        t, done = stack.pop()
        if done or vt.left[t] < 0:
            order.append(t)
        else:
            stack += [(t, True), (vt.right[t], False), (vt.left[t], False)]
    for t in order:
        if vt.left[t] < 0:
            v = vt.order[vt.lo[t]]
            pool[t] = [b._leaf("bernoulli", v, (0.1 + 0.8 * torch.rand(1, generator=g).item(),)) for _ in range(2)]
            continue
        L, R = pool[vt.left[t]], pool[vt.right[t]]
        prods = [b._inner("product", [L[j % len(L)], R[j % len(R)]]) for j in range(width)]
        prods += [b._inner("product", [choose(vt.left[t]), choose(vt.right[t])]) for _ in range(width)]
        pool[t] = [b._inner("sum", prods, (0.1 + torch.rand(len(prods), generator=g)).tolist()) for _ in range(width)]
    root = b._inner("sum", pool[vt.root], [1.0 / len(pool[vt.root])] * len(pool[vt.root]))
    return b, root


@dataclass
class SmoothingResult:
    """A smoothed circuit ``(builder, root)`` with the size it added (returned by :func:`smooth`).

    Attributes
    ----------
    builder : CircuitBuilder
        Holds the smoothed circuit.
    root : int
        Its root node id in ``builder``.
    added_nodes, added_edges : int
        Nodes and edges added by smoothing.
    method : str
        ``"interval"`` or ``"naive"``.
    """

    builder: CircuitBuilder
    root: int
    added_nodes: int
    added_edges: int
    method: str

    def circuit(self, *, dtype=None, device=None):
        """Compile the smoothed circuit (see :class:`Circuit`; ``dtype`` and ``device`` of its parameters)."""
        return self.builder.build(self.root, dtype=dtype, device=device)


class _IntervalTable:
    """Products of gadgets over order positions, any interval answered by <= 2 stored gates.

    A disjoint sparse table: at level ``k`` the positions are cut into blocks of ``2**k``; for each
    block we store (lazily) suffix products of its left half and prefix products of its right
    half. Interval ``[i, j]`` is the suffix at ``i`` times the prefix at ``j`` of the level where
    ``i`` and ``j`` first fall into different halves: O(n log n) gates in total, 2 per query.
    """

    def __init__(self, b, gadget):
        self.b, self.gadget, self.suf, self.pre = b, gadget, {}, {}

    def suffix(self, k, i):  # product over [i, mid) with mid the end of i's half-block at level k
        if (k, i) in self.suf:
            return self.suf[(k, i)]
        mid = ((i >> (k - 1)) + 1) << (k - 1)
        j = i
        while j < mid - 1 and (k, j + 1) not in self.suf:
            j += 1
        node = self.gadget(j) if j == mid - 1 else self.suf[(k, j + 1)]
        if j < mid - 1:
            node = self.b._inner("product", [self.gadget(j), node])
            self.suf[(k, j)] = node
        for p in range(j - 1, i - 1, -1):
            node = self.b._inner("product", [self.gadget(p), node])
            self.suf[(k, p)] = node
        return node

    def prefix(self, k, j):  # product over [mid, j]
        if (k, j) in self.pre:
            return self.pre[(k, j)]
        mid = (j >> (k - 1)) << (k - 1)
        i = j
        while i > mid and (k, i - 1) not in self.pre:
            i -= 1
        node = self.gadget(i) if i == mid else self.pre[(k, i - 1)]
        if i > mid:
            node = self.b._inner("product", [node, self.gadget(i)])
            self.pre[(k, i)] = node
        for p in range(i + 1, j + 1):
            node = self.b._inner("product", [node, self.gadget(p)])
            self.pre[(k, p)] = node
        return node

    def query(self, i, j):
        if i == j:
            return [self.gadget(i)]
        k = (i ^ j).bit_length()
        return [self.suffix(k, i), self.prefix(k, j)]


@validate(circuit=StructureArg(), vtree=VtreeArg(), method=Options("interval", "naive"))
def smooth(circuit, vtree, *, method: str = "interval") -> SmoothingResult:
    r"""Smooth a structured-decomposable circuit without changing its value on complete inputs.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    Every node :math:`n` is assigned the vtree node :math:`t(n)` its scope lives in, and is made
    to cover all of :math:`\mathrm{vars}(t(n))`: an input :math:`c` of a sum at :math:`t` (or of a
    product, for its half) is replaced by :math:`c \times \prod_{v \in \mathrm{vars}(t) \setminus
    \mathrm{vars}(t(c))} (\,[X_v{=}0] + [X_v{=}1] + \dots)`. Such a "gadget" product evaluates to 1 on
    every complete assignment and sums over the missing variable when it is marginalised. In the
    vtree's left-to-right variable order every :math:`\mathrm{vars}(t)` is an interval, so each gap
    is at most **two intervals**.

    * ``method="naive"``: one product with one gadget per missing variable, :math:`O(nm)` edges
      for :math:`n` variables and :math:`m` edges.
    * ``method="interval"``: each interval is the product of at most two gates of a precomputed
      disjoint sparse table, so each padded edge costs <= 4 table gates and the table adds
      :math:`O(n\log n)` gates, near-linear overall. (Shih et al. reach :math:`O(n\,\alpha(n))`
      with more elaborate tables; this simple variant is the one we implement.)

    Parameters
    ----------
    circuit : Circuit or (CircuitBuilder, root)
        Decomposable, structured w.r.t. ``vtree``, over discrete variables.
    vtree : nested pairs of variable ids
    method : {"interval", "naive"}

    Returns
    -------
    SmoothingResult
        ``builder``, ``root``, ``added_nodes``, ``added_edges`` and ``circuit()`` to compile it.

    References
    ----------
    Shih, Van den Broeck, Beame & Amarilli (2019), Smoothing structured decomposable circuits, NeurIPS.

    Examples
    --------
    >>> from nips2019.circuits import CircuitBuilder, is_smooth
    >>> b = CircuitBuilder()
    >>> s = b.sum([b.product([b.bernoulli(0, .3), b.bernoulli(1, .6)]), b.bernoulli(0, .9)], [.5, .5])
    >>> r = smooth((b, s), (0, 1))  # method="interval"
    >>> is_smooth((r.builder, r.root)), r.added_nodes, r.added_edges
    (True, 4, 4)
    """
    src, root = _as_structure(circuit, "smooth")
    vt = index_vtree(vtree)
    order = reachable(src, root)
    card = {}
    for n in order:
        k = src.kinds[n]
        if k == "gaussian":
            raise ValueError("smooth: circuit must have discrete variables only; found a Gaussian input")
        if k in LEAF_KINDS:
            v = src.var[n]
            if v not in vt.pos:
                raise ValueError(f"smooth: circuit's variable {v} is not in the vtree")
            size = {"indicator": src.params[n][0] + 1, "bernoulli": 2}.get(k, len(src.params[n]))
            card[v] = max(card.get(v, 2), size)
    b, new, tnode = CircuitBuilder(), {}, {}
    gadgets = {}

    def gadget(p):
        if p not in gadgets:
            v = vt.order[p]
            c = card.get(v, 2)
            gadgets[p] = b._inner("sum", [b._leaf("indicator", v, (a,)) for a in range(c)], [1.0] * c)
        return gadgets[p]

    table = _IntervalTable(b, gadget)
    padded = {}

    def pad(c, t):  # new node for original child c, covering all of vars(t)
        key = (c, t)
        if key not in padded:
            s = tnode[c]
            gaps = []
            if vt.lo[t] < vt.lo[s]:
                gaps.append((vt.lo[t], vt.lo[s] - 1))
            if vt.hi[s] < vt.hi[t]:
                gaps.append((vt.hi[s] + 1, vt.hi[t]))
            if not gaps:
                padded[key] = new[c]
            else:
                extra = []
                for lo, hi in gaps:
                    extra += [gadget(p) for p in range(lo, hi + 1)] if method == "naive" else table.query(lo, hi)
                padded[key] = b._inner("product", [new[c]] + extra)
        return padded[key]

    def lca(nodes):
        return vtree_lca(vt, min(vt.lo[tnode[c]] for c in nodes), max(vt.hi[tnode[c]] for c in nodes))

    for n in order:
        k, ch = src.kinds[n], src.children[n]
        if k in LEAF_KINDS:
            tnode[n] = vt.leaf_of[src.var[n]]
            new[n] = b._leaf(k, src.var[n], src.params[n])
        elif k == "sum":
            t = tnode[n] = lca(ch)
            new[n] = b._inner("sum", [pad(c, t) for c in ch], src.weights[n])
        elif len(ch) == 1:
            tnode[n] = tnode[ch[0]]
            new[n] = b._inner("product", [new[ch[0]]])
        else:
            t = tnode[n] = lca(ch)
            L, R = vt.left[t], vt.right[t]
            if len(ch) != 2 or L < 0:
                raise ValueError(f"smooth: circuit is not structured-decomposable w.r.t. the vtree (product node {n})")
            sides = []
            for c in ch:
                s = tnode[c]
                inside = [u for u in (L, R) if vt.lo[u] <= vt.lo[s] and vt.hi[s] <= vt.hi[u]]
                sides.append(inside[0] if inside else None)
            if sides[0] is None or sides[1] is None or sides[0] == sides[1]:
                raise ValueError(f"smooth: circuit is not structured-decomposable w.r.t. the vtree (product node {n})")
            new[n] = b._inner("product", [pad(c, side) for c, side in zip(ch, sides)])
    top = pad(root, vt.root)
    out_order = reachable(b, top)
    added_nodes = len(out_order) - len(order)
    added_edges = sum(len(b.children[n]) for n in out_order) - sum(len(src.children[n]) for n in order)
    return SmoothingResult(b, top, added_nodes, added_edges, method)
