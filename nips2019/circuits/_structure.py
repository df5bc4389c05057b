"""Circuit structure: a builder for sum/product/input nodes, scopes and structural checks.

The builder holds the circuit as plain Python lists (a DAG); :class:`~nips2019.circuits.Circuit`
compiles it into layered tensors. Structural properties are checked here, on the DAG.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from ..utils import Constraint, Integer, Items, Real, validate

LEAF_KINDS = ("indicator", "bernoulli", "categorical", "gaussian")


@dataclass
class CircuitBuilder:
    r"""Build a probabilistic circuit node by node; ``build(root)`` compiles it.

    A circuit is a DAG whose input nodes are distributions over one variable
    (indicator, Bernoulli, categorical, Gaussian), whose product nodes multiply
    their children and whose sum nodes take non-negative weighted sums:

    .. math::

        n(x) = \prod_{c \in \mathrm{ch}(n)} c(x), \qquad
        n(x) = \sum_{c \in \mathrm{ch}(n)} \theta_{nc}\, c(x).

    Every method returns the new node's integer id. See the chapter
    :doc:`Probabilistic circuits </book/circuits>`.

    Examples
    --------
    >>> b = CircuitBuilder()
    >>> x0, y0 = b.indicator(0, 1), b.indicator(0, 0)
    >>> s = b.sum([b.product([x0, b.bernoulli(1, 0.8)]), b.product([y0, b.bernoulli(1, 0.1)])], [0.3, 0.7])
    >>> b.n_nodes, b.n_edges
    (7, 6)
    """

    kinds: list = field(default_factory=list)  # "sum" | "product" | one of LEAF_KINDS
    children: list = field(default_factory=list)  # tuple of child ids (empty for leaves)
    weights: list = field(default_factory=list)  # sum: tuple of weights; others: None
    var: list = field(default_factory=list)  # leaves: variable index; others: -1
    params: list = field(default_factory=list)  # leaves: tuple of parameters

    # ------------------------------------------------------------------ leaves
    def _leaf(self, kind, var, params):
        """Append an input node (unchecked: the public methods and the structure builders check)."""
        self.kinds.append(kind)
        self.children.append(())
        self.weights.append(None)
        self.var.append(var)
        self.params.append(tuple(params))
        return len(self.kinds) - 1

    def _inner(self, kind, children, weights=None):
        """Append a sum or product node (unchecked)."""
        self.kinds.append(kind)
        self.children.append(tuple(children))
        self.weights.append(None if weights is None else tuple(weights))
        self.var.append(-1)
        self.params.append(())
        return len(self.kinds) - 1

    @validate(var=Integer(low=0), value=Integer(low=0))
    def indicator(self, var: int, value: int) -> int:
        """Indicator leaf :math:`[X_{var} = value]` (``value`` a non-negative integer)."""
        return self._leaf("indicator", int(var), (int(value),))

    @validate(var=Integer(low=0), p=Real(0.0, 1.0, closed="neither"))
    def bernoulli(self, var: int, p: float) -> int:
        """Bernoulli leaf :math:`p^{x}(1-p)^{1-x}` with ``0 < p < 1``."""
        return self._leaf("bernoulli", int(var), (float(p),))

    @validate(var=Integer(low=0), probs=Items(Real(low=0.0, closed="neither"), min_length=2))
    def categorical(self, var: int, probs) -> int:
        """Categorical leaf with probabilities ``probs`` (at least two, positive, summing to 1)."""
        probs = tuple(float(q) for q in (probs.tolist() if hasattr(probs, "tolist") else probs))
        if abs(sum(probs) - 1) > 1e-6:
            raise ValueError(f"CircuitBuilder.categorical: probs must sum to 1, got {sum(probs)}")
        return self._leaf("categorical", int(var), probs)

    @validate(var=Integer(low=0), mean=Real(), std=Real(low=0.0, closed="neither"))
    def gaussian(self, var: int, mean: float, std: float) -> int:
        """Gaussian leaf :math:`\\mathcal N(x; mean, std^2)` with ``std > 0``."""
        return self._leaf("gaussian", int(var), (float(mean), float(std)))

    # ----------------------------------------------------------------- internal
    def _check_children(self, children, func):
        children = tuple(int(c) for c in (children.tolist() if hasattr(children, "tolist") else children))
        bad = [c for c in children if not c < len(self.kinds)]
        if bad:
            raise ValueError(f"{func}: children must be existing node ids (< {len(self.kinds)}), got {bad}")
        return children

    @validate(children=Items(Integer(low=0), min_length=1))
    def product(self, children) -> int:
        """Product node over ``children`` (existing node ids)."""
        return self._inner("product", self._check_children(children, "CircuitBuilder.product"))

    @validate(children=Items(Integer(low=0), min_length=1), weights=Items(Real(low=0.0, closed="neither"), optional=True))
    def sum(self, children, weights=None) -> int:
        """Sum node; ``weights`` default to uniform, must be positive and finite (need not sum to 1)."""
        children = self._check_children(children, "CircuitBuilder.sum")
        if weights is None:
            weights = [1.0 / len(children)] * len(children)
        weights = tuple(float(w) for w in (weights.tolist() if hasattr(weights, "tolist") else weights))
        if len(weights) != len(children):
            raise ValueError(
                f"CircuitBuilder.sum: weights must have one entry per child ({len(children)}), got {len(weights)}"
            )
        return self._inner("sum", children, weights)

    # -------------------------------------------------------------------- info
    @property
    def n_nodes(self) -> int:
        """Number of nodes (input, sum and product)."""
        return len(self.kinds)

    @property
    def n_edges(self) -> int:
        """Number of edges (child links)."""
        return sum(len(c) for c in self.children)

    def build(self, root: int, n_vars: int | None = None, *, dtype=None, device=None, min_std: float = 1e-3):
        """Compile the sub-circuit reachable from ``root`` into a :class:`Circuit` (same arguments)."""
        from ._circuit import Circuit

        return Circuit(self, root, n_vars, dtype=dtype, device=device, min_std=min_std)


def reachable(builder: CircuitBuilder, root: int, func: str = "reachable") -> list[int]:
    """Node ids reachable from ``root`` in topological order (children first)."""
    if not 0 <= root < builder.n_nodes:
        raise ValueError(f"{func}: root must be a node id in [0, {builder.n_nodes}), got {root}")
    seen, order, stack = set(), [], [(root, False)]
    while stack:
        n, done = stack.pop()
        if done:
            order.append(n)
            continue
        if n in seen:
            continue
        seen.add(n)
        stack.append((n, True))
        stack.extend((c, False) for c in builder.children[n] if c not in seen)
    return order


def scopes(builder: CircuitBuilder, order: list[int]) -> dict[int, int]:
    """Scope of every node in ``order`` as a bitmask (bit ``v`` set iff variable ``v`` is in it)."""
    sc = {}
    for n in order:
        if builder.kinds[n] in LEAF_KINDS:
            sc[n] = 1 << builder.var[n]
        else:
            m = 0
            for c in builder.children[n]:
                m |= sc[c]
            sc[n] = m
    return sc


def _as_structure(circuit, func: str):
    """``(builder, root)`` of a compiled circuit or of a ``(CircuitBuilder, root)`` pair."""
    from ._circuit import Circuit

    if isinstance(circuit, Circuit):
        return circuit.to_builder(), circuit.root_id
    if (
        isinstance(circuit, tuple)
        and len(circuit) == 2
        and isinstance(circuit[0], CircuitBuilder)
        and isinstance(circuit[1], int)
        and not isinstance(circuit[1], bool)
    ):
        b, root = circuit
        if not 0 <= root < b.n_nodes:
            raise ValueError(f"{func}: circuit's root must be a node id in [0, {b.n_nodes}), got {root}")
        return b, root
    raise TypeError(f"{func}: circuit must be a Circuit or a (CircuitBuilder, root id) pair, got {type(circuit).__name__}")


class StructureArg(Constraint):
    """The ``circuit`` argument of the structural checks and of :func:`smooth`.

    A compiled :class:`Circuit` or a ``(CircuitBuilder, root id)`` pair with the root in range.
    """

    def __init__(self, optional: bool = False):
        self.optional = optional

    def check_value(self, value, name, ctx):
        from ._circuit import Circuit

        if isinstance(value, Circuit):
            return
        if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], CircuitBuilder)):
            ctx.fail(TypeError, f"{name} must be {self.describe()}, got {type(value).__name__}")
        root = value[1]
        if not isinstance(root, int) or isinstance(root, bool):
            ctx.fail(TypeError, f"{name}[1] (the root) must be an int node id, got {type(root).__name__}")
        if not 0 <= root < value[0].n_nodes:
            ctx.fail(
                ValueError, f"{name}[1] (the root) must be a node id in [0, {value[0].n_nodes}), got {root}"
            )

    def describe(self):
        return "a Circuit or a (CircuitBuilder, root id) pair"


class VtreeArg(Constraint):
    """A vtree: a non-negative variable id, or a pair of vtrees, with no variable repeated."""

    def __init__(self, optional: bool = False):
        self.optional = optional

    def check_value(self, value, name, ctx):
        seen, stack = set(), [value]
        while stack:
            t = stack.pop()
            if isinstance(t, int) and not isinstance(t, bool):
                if t < 0:
                    ctx.fail(ValueError, f"{name} leaves must be non-negative variable ids, got {t}")
                if t in seen:
                    ctx.fail(ValueError, f"{name} repeats variable {t}")
                seen.add(t)
            elif isinstance(t, tuple) and len(t) == 2:
                stack.extend(t)
            else:
                exc = ValueError if isinstance(t, (tuple, float)) else TypeError
                ctx.fail(exc, f"{name} nodes must be non-negative ints or pairs of vtrees, got {t!r}")

    def describe(self):
        return "a vtree (a variable id or nested pairs of them)"


@validate(circuit=StructureArg())
def is_smooth(circuit) -> bool:
    """Whether every sum node's children have the same scope.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    Examples
    --------
    >>> b = CircuitBuilder()
    >>> s = b.sum([b.bernoulli(0, 0.5), b.product([b.bernoulli(0, 0.5), b.bernoulli(1, 0.5)])])
    >>> is_smooth((b, s))
    False
    """
    b, root = _as_structure(circuit, "is_smooth")
    order = reachable(b, root)
    sc = scopes(b, order)
    return all(len({sc[c] for c in b.children[n]}) == 1 for n in order if b.kinds[n] == "sum")


@validate(circuit=StructureArg())
def is_decomposable(circuit) -> bool:
    """Whether every product node's children have pairwise disjoint scopes.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    Examples
    --------
    >>> b = CircuitBuilder()
    >>> p = b.product([b.bernoulli(0, 0.5), b.bernoulli(0, 0.3)])
    >>> is_decomposable((b, p))
    False
    """
    b, root = _as_structure(circuit, "is_decomposable")
    order = reachable(b, root)
    sc = scopes(b, order)
    for n in order:
        if b.kinds[n] == "product":
            acc = 0
            for c in b.children[n]:
                if acc & sc[c]:
                    return False
                acc |= sc[c]
    return True


@validate(circuit=StructureArg(), max_assignments=Integer(low=1))
def is_deterministic(circuit, *, max_assignments: int = 1 << 16) -> bool:
    r"""Whether, for every complete assignment, each sum node has at most one non-zero child.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    Checked by enumerating all assignments of the (discrete) variables, so it is exact but
    exponential: it refuses circuits with more than ``max_assignments`` joint states.
    Continuous (Gaussian) leaves have full support, so sums over them are never deterministic.

    Examples
    --------
    >>> b = CircuitBuilder()
    >>> s = b.sum([b.indicator(0, 0), b.indicator(0, 1)])
    >>> is_deterministic((b, s))
    True
    """
    b, root = _as_structure(circuit, "is_deterministic")
    order = reachable(b, root)
    card = {}
    for n in order:
        k = b.kinds[n]
        if k == "gaussian":
            return not any(b.kinds[m] == "sum" for m in order)
        if k not in LEAF_KINDS:
            continue
        v = b.var[n]
        size = 2 if k == "bernoulli" else len(b.params[n]) if k == "categorical" else b.params[n][0] + 1
        card[v] = max(card.get(v, 2), size)
    variables = sorted(card)
    total = math.prod(card[v] for v in variables)
    if total > max_assignments:
        raise ValueError(
            f"is_deterministic: circuit has {total} joint states, more than max_assignments={max_assignments}"
        )
    sums = [n for n in order if b.kinds[n] == "sum"]
    for values in itertools.product(*(range(card[v]) for v in variables)):
        x = dict(zip(variables, values))
        nz = {}
        for n in order:
            k = b.kinds[n]
            if k == "indicator":
                nz[n] = x[b.var[n]] == b.params[n][0]
            elif k in ("bernoulli", "categorical"):
                nz[n] = k == "bernoulli" or x[b.var[n]] < len(b.params[n])
            elif k == "product":
                nz[n] = all(nz[c] for c in b.children[n])
            else:
                nz[n] = any(nz[c] for c in b.children[n])
        if any(sum(nz[c] for c in b.children[n]) > 1 for n in sums):
            return False
    return True


# --------------------------------------------------------------------- vtrees
@dataclass
class VtreeIndex:
    """A vtree (nested 2-tuples of variable ids) flattened into arrays.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    Node ``i`` covers the contiguous positions ``lo[i]..hi[i]`` of the left-to-right
    variable order ``order``; ``left``/``right``/``parent`` are node ids (-1 if none).
    """

    order: list
    pos: dict
    lo: list
    hi: list
    left: list
    right: list
    parent: list
    leaf_of: dict
    root: int


def index_vtree(vtree) -> VtreeIndex:
    """Flatten a vtree given as nested pairs, e.g. ``((0, 1), (2, 3))``."""
    order, lo, hi, left, right, parent, leaf_of = [], [], [], [], [], [], {}

    def rec(t, par):
        i = len(lo)
        lo.append(0), hi.append(0), left.append(-1), right.append(-1), parent.append(par)
        if isinstance(t, int) and not isinstance(t, bool):
            if t in leaf_of:
                raise ValueError(f"vtree repeats variable {t}")
            leaf_of[t] = i
            lo[i] = hi[i] = len(order)
            order.append(t)
        elif isinstance(t, tuple) and len(t) == 2:
            left[i] = rec(t[0], i)
            right[i] = rec(t[1], i)
            lo[i], hi[i] = lo[left[i]], hi[right[i]]
        else:
            raise ValueError(f"vtree nodes must be ints or pairs, got {t!r}")
        return i

    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20000))
    try:
        root = rec(vtree, -1)
    finally:
        sys.setrecursionlimit(old)
    return VtreeIndex(order, {v: i for i, v in enumerate(order)}, lo, hi, left, right, parent, leaf_of, root)


def vtree_lca(vt: VtreeIndex, a: int, b: int) -> int:
    """Lowest vtree node containing the order positions ``a..b``."""
    node = vt.leaf_of[vt.order[a]]
    while not (vt.lo[node] <= a and b <= vt.hi[node]):
        node = vt.parent[node]
    return node


def _span(vt: VtreeIndex, mask: int):
    positions = [vt.pos[v] for v in _bits(mask)]
    return min(positions), max(positions)


def _bits(mask: int):
    v = 0
    while mask:
        if mask & 1:
            yield v
        mask >>= 1
        v += 1


@validate(circuit=StructureArg(), vtree=VtreeArg())
def is_structured_decomposable(circuit, vtree) -> bool:
    """Whether every product splits its scope along one vtree node (left child | right child).

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    Products must have at most two children with non-empty scope; for two, there must be a
    vtree node ``v`` with one child's scope inside ``v``'s left subtree and the other's inside
    its right subtree.

    Examples
    --------
    >>> b = CircuitBuilder()
    >>> p = b.product([b.product([b.indicator(0, 1), b.indicator(2, 1)]), b.indicator(1, 0)])
    >>> is_structured_decomposable((b, p), ((0, 2), 1)), is_structured_decomposable((b, p), ((0, 1), 2))
    (True, False)
    """
    b, root = _as_structure(circuit, "is_structured_decomposable")
    vt = index_vtree(vtree)
    order = reachable(b, root)
    sc = scopes(b, order)
    if any(v not in vt.pos for v in _bits(sc[root])):
        return False
    for n in order:
        if b.kinds[n] != "product":
            continue
        ch = [c for c in b.children[n] if sc[c]]
        if len(ch) > 2:
            return False
        if len(ch) == 2:
            (a1, b1), (a2, b2) = _span(vt, sc[ch[0]]), _span(vt, sc[ch[1]])
            v = vtree_lca(vt, min(a1, a2), max(b1, b2))
            if vt.left[v] < 0:
                return False
            L, R = vt.left[v], vt.right[v]

            def inside(lo, hi, t):
                return vt.lo[t] <= lo and hi <= vt.hi[t]

            if not ((inside(a1, b1, L) and inside(a2, b2, R)) or (inside(a1, b1, R) and inside(a2, b2, L))):
                return False
    return True
