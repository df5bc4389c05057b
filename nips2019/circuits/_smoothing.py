"""Smoothing structured-decomposable circuits: the naive algorithm and the interval algorithm.

Shih, Van den Broeck, Beame & Amarilli, *Smoothing structured decomposable circuits*, NeurIPS 2019.
"""

from __future__ import annotations

import math
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
    r"""A smoothed circuit ``(builder, root)`` with the size it added (returned by :func:`smooth`).

    Attributes
    ----------
    builder : CircuitBuilder
        Holds the smoothed circuit.
    root : int
        Its root node id in ``builder``.
    added_nodes, added_edges : int
        Nodes and edges added by smoothing.
    method : str
        ``"near_linear"``, ``"interval"`` or ``"naive"``.
    structured : bool
        Whether the output is structured-decomposable for the vtree it was smoothed for (``"naive"``).
    gates_per_interval : int or None
        Most table gates multiplied in per gap interval (``None`` for ``"naive"``).
    structured_lower_bound : int
        Products that *any* smoothing must add if its output is structured for the same vtree,
        every node covers the variables of its vtree node and children are only multiplied by
        gadgets: :math:`\sum_c \max_{t} d(c, t)`, with :math:`d(c, t)` the number of vtree levels
        between the vtree node of :math:`c` and a node :math:`t` it must cover (its sum parent's
        vtree node, or its side of its product parent's; see :func:`smooth`). Depends on the
        input only; ``"naive"`` adds exactly this many lifting products.
    lifting_products : int
        Products this call added that multiply a (copied) node of the input by gadgets.
    """

    builder: CircuitBuilder
    root: int
    added_nodes: int
    added_edges: int
    method: str
    structured: bool = False
    gates_per_interval: int | None = None
    structured_lower_bound: int = 0
    lifting_products: int = 0

    def circuit(self, *, dtype=None, device=None):
        """Compile the smoothed circuit (see :class:`Circuit`; ``dtype`` and ``device`` of its parameters)."""
        return self.builder.build(self.root, dtype=dtype, device=device)


def _chain(memo, elem, p, stop, step, b):
    """Memoised running products ``elem(p) * ... * elem(stop)`` (step -1: stop <= p; +1: stop >= p).

    ``memo[q]`` holds the product from ``q`` to ``stop``; built iteratively from the nearest stored one.
    """
    if p in memo:
        return memo[p]
    q = p
    while q != stop and (q - step) not in memo:
        q -= step
    node = elem(q) if q == stop else memo[q - step]
    if q != stop:
        node = b._inner("product", [elem(q), node] if step < 0 else [node, elem(q)])
        memo[q] = node
    while q != p:
        q += step
        node = b._inner("product", [elem(q), node] if step < 0 else [node, elem(q)])
        memo[q] = node
    return node


def _lam(k: int, n: int) -> int:
    """Alon-Schieber's lambda_k(n): lambda_2 = log n, lambda_3 = log log n, lambda_k = lambda_{k-2}^*."""
    if n <= 2:
        return 1
    if k == 2:
        return math.ceil(math.log2(n))
    if k == 3:
        return max(1, math.ceil(math.log2(math.log2(n))))
    c = 0
    while n > 2:
        n, c = _lam(k - 2, n), c + 1
    return max(1, c)


class _RangeProducts:
    """Products of elements ``lo..hi`` over any interval, each as the product of <= ``k`` stored gates.

    The recursive range-product structure of Yao (1982) and Alon & Schieber (1987), built lazily
    (only the gates some query needs are created):

    * ``k == 1``: every queried interval is stored (used over at most sqrt(n) blocks);
    * ``k == 2``: a disjoint sparse table, O(n log n) gates;
    * ``k == 3``: blocks of size ceil(sqrt(n)) with in-block prefix/suffix products, all block
      intervals stored (k=1), in-block queries recursive: O(n log log n) gates;
    * ``k >= 4``: blocks of size lambda_{k-2}(n), the block sequence handled by a (k-2) structure,
      in-block queries recursive: O(n lambda_k(n)) gates (k=4: O(n log* n)).

    A query spanning several blocks is suffix(first block) x (k-2 middle gates) x prefix(last block).
    """

    def __init__(self, b, elem, lo, hi, k):
        self.b, self.elem, self.lo, self.hi, self.k = b, elem, lo, hi, k
        L = hi - lo + 1
        if L <= max(k, 2):
            self.mode = "direct"
        elif k == 1:
            self.mode, self.memo = "all", {}
        elif k == 2:
            self.mode, self.suf, self.pre = "sparse", {}, {}
        else:
            self.mode = "blocks"
            self.bs = math.ceil(math.sqrt(L)) if k == 3 else max(2, _lam(k - 2, L))
            nb = -(-L // self.bs)
            self.sub, self.suf, self.pre = {}, {}, {}
            self.mid = _RangeProducts(b, self._full, 0, nb - 1, 1 if k == 3 else k - 2)

    def _bounds(self, t):
        s = self.lo + t * self.bs
        return s, min(self.hi, s + self.bs - 1)

    def _full(self, t):
        s, e = self._bounds(t)
        return _chain(self.suf, self.elem, s, e, -1, self.b)

    def query(self, i, j):
        """Stored gates whose product is elements ``i..j`` (``lo <= i <= j <= hi``)."""
        b, elem = self.b, self.elem
        if i == j:
            return [elem(i)]
        if self.mode == "direct":
            return [elem(p) for p in range(i, j + 1)]
        if self.mode == "all":
            key = (i, j)
            if key not in self.memo:
                q = j
                while q > i and (i, q) not in self.memo:
                    q -= 1
                node = elem(i) if q == i else self.memo[(i, q)]
                for r in range(q + 1, j + 1):
                    node = b._inner("product", [node, elem(r)])
                    self.memo[(i, r)] = node
            return [self.memo[key]]
        if self.mode == "sparse":
            ri, rj = i - self.lo, j - self.lo
            lev = (ri ^ rj).bit_length()
            mid = self.lo + ((rj >> (lev - 1)) << (lev - 1))
            left = _chain(self.suf.setdefault(lev, {}), elem, i, mid - 1, -1, b)
            right = _chain(self.pre.setdefault(lev, {}), elem, j, mid, +1, b)
            return [left, right]
        bi, bj = (i - self.lo) // self.bs, (j - self.lo) // self.bs
        if bi == bj:
            if bi not in self.sub:
                self.sub[bi] = _RangeProducts(b, elem, *self._bounds(bi), self.k)
            return self.sub[bi].query(i, j)
        parts, right = [], None
        (si, ei), (sj, ej) = self._bounds(bi), self._bounds(bj)
        mlo, mhi = bi, bj
        if i != si:
            parts.append(_chain(self.suf, elem, i, ei, -1, b))
            mlo = bi + 1
        if j != ej:
            right = _chain(self.pre, elem, j, sj, +1, b)
            mhi = bj - 1
        if mlo <= mhi:
            parts += self.mid.query(mlo, mhi)
        return parts + ([right] if right is not None else [])


@validate(circuit=StructureArg(), vtree=VtreeArg(), method=Options("interval", "near_linear", "naive"))
def smooth(circuit, vtree, *, method: str = "near_linear") -> SmoothingResult:
    r"""Smooth a structured-decomposable circuit without changing its value on complete inputs.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    Every node :math:`n` is assigned the vtree node :math:`t(n)` its scope lives in, and is made
    to cover all of :math:`\mathrm{vars}(t(n))`: an input :math:`c` of a sum at :math:`t` (or of a
    product, for its half) is multiplied by "gadgets" :math:`[X_v{=}0] + [X_v{=}1] + \dots` for
    the variables :math:`v \in \mathrm{vars}(t) \setminus \mathrm{vars}(t(c))`. A gadget is 1 on
    every complete assignment and sums over :math:`X_v` when it is marginalised. In the vtree's
    left-to-right variable order every :math:`\mathrm{vars}(t)` is an interval, so each such gap
    is at most **two intervals** (Shih et al., 2019). With :math:`n` variables, :math:`m` edges
    and :math:`q \le 2m` gap intervals:

    * ``method="naive"``: the child is lifted one vtree level at a time, times the gadget product of
      the sibling subtree (built once per vtree node). Edges added: up to the vtree depth per
      edge, :math:`O(nm)` on a right-linear vtree. The only method whose output stays
      **structured-decomposable for the same vtree** (``structured=True``).
    * ``method="interval"``: each interval is the product of <= 2 gates of a lazily built disjoint
      sparse table: :math:`O(n\log n + q)` edges.
    * ``method="near_linear"`` (default): the recursive range-product structure of Yao and of
      Alon & Schieber, with :math:`k` gates per interval after :math:`O(n\,\lambda_k(n))`
      preprocessing (:math:`\lambda_2 = \log n`, :math:`\lambda_3 = \log\log n`,
      :math:`\lambda_4 = \log^* n`, ...); :math:`k` minimises :math:`n\lambda_k(n) + kq`, so the
      total is :math:`O((n + q)\,\alpha(q, n))` with :math:`\alpha` the inverse Ackermann function.

    **What the paper proves, and what it does not.** Shih et al. reduce smoothing a
    structured-decomposable circuit to semigroup range sums over the vtree's left-to-right order
    (each gap is at most two intervals) and answer them with a range-sum structure: near-linear
    time and size, :math:`O(m\,\alpha(m, n))` for :math:`m` gates over :math:`n` variables; the
    lower bounds they discuss come from range-sum lower bounds. The theorem is about smoothness:
    the output is smooth and *decomposable*; the shared interval gates follow the linear order, not
    the vtree, so it is in general not structured for the input vtree. The last two methods are
    that construction: their padded products have up to :math:`1 + 2k` children and are **not**
    structured for the vtree (``structured=False``).

    **Keeping the vtree costs the naive price** (our statement, not the paper's). Suppose the output
    is structured for the same vtree, every node covers the variables of its vtree node, and each
    child :math:`c` is only multiplied by gadget products. Each new product above :math:`c` splits
    at a vtree node strictly above that of its factor containing :math:`c`, so :math:`c` needs a
    chain of at least :math:`d(c)` products of its own, :math:`d(c)` the most vtree levels between
    :math:`c` and a node it must cover; no product containing :math:`c` can serve another child.
    So at least :math:`\sum_c d(c)` products (``structured_lower_bound``), which ``"naive"`` adds
    exactly (``lifting_products``); on a right-linear vtree this is :math:`\Theta(n^2)` already for
    a circuit with :math:`O(n)` edges.

    Parameters
    ----------
    circuit : Circuit or (CircuitBuilder, root)
        Decomposable, structured w.r.t. ``vtree``, over discrete variables.
    vtree : nested pairs of variable ids
    method : {"near_linear", "interval", "naive"}

    Returns
    -------
    SmoothingResult
        ``builder``, ``root``, ``added_nodes``, ``added_edges``, ``structured``,
        ``gates_per_interval``, ``structured_lower_bound``, ``lifting_products`` and
        ``circuit()`` to compile it.

    References
    ----------
    Shih, Van den Broeck, Beame & Amarilli (2019), Smoothing structured decomposable circuits, NeurIPS.
    Yao (1982), Space-time tradeoff for answering range queries, STOC. Alon & Schieber (1987),
    Optimal preprocessing for answering on-line product queries, Tel Aviv University TR 71/87.

    Examples
    --------
    >>> from nips2019.circuits import CircuitBuilder, is_smooth, is_structured_decomposable
    >>> b = CircuitBuilder()
    >>> s = b.sum([b.product([b.bernoulli(0, .3), b.bernoulli(1, .6)]), b.bernoulli(0, .9)], [.5, .5])
    >>> r = smooth((b, s), (0, 1), method="naive")
    >>> is_smooth((r.builder, r.root)), is_structured_decomposable((r.builder, r.root), (0, 1))
    (True, True)
    >>> r.added_nodes, r.added_edges, r.structured_lower_bound, r.lifting_products
    (4, 4, 1, 1)
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

    # vtree node of every node, structure check, and the padding each edge needs: (child, target)
    tnode, needs = {}, []

    def lca(nodes):
        return vtree_lca(vt, min(vt.lo[tnode[c]] for c in nodes), max(vt.hi[tnode[c]] for c in nodes))

    for n in order:
        k, ch = src.kinds[n], src.children[n]
        if k in LEAF_KINDS:
            tnode[n] = vt.leaf_of[src.var[n]]
        elif k == "sum":
            tnode[n] = lca(ch)
            needs += [(c, tnode[n]) for c in ch]
        elif len(ch) == 1:
            tnode[n] = tnode[ch[0]]
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
            needs += list(zip(ch, sides))
    needs.append((root, vt.root))

    def gaps(c, t):
        s, out = tnode[c], []
        if vt.lo[t] < vt.lo[s]:
            out.append((vt.lo[t], vt.lo[s] - 1))
        if vt.hi[s] < vt.hi[t]:
            out.append((vt.hi[s] + 1, vt.hi[t]))
        return out

    n_vars = len(vt.order)
    k_gates = None
    if method == "interval":
        k_gates = 2
    elif method == "near_linear":
        q = sum(len(gaps(c, t)) for c, t in set(needs))
        k_gates = min(range(2, 8), key=lambda k: (n_vars * _lam(k, n_vars) + k * q, k))

    b, new, padded, gadgets, ones = CircuitBuilder(), {}, {}, {}, {}

    def gadget(p):
        if p not in gadgets:
            v = vt.order[p]
            c = card.get(v, 2)
            gadgets[p] = b._inner("sum", [b._leaf("indicator", v, (a,)) for a in range(c)], [1.0] * c)
        return gadgets[p]

    def one(u):  # structured gadget product over all of vars(u)
        if u not in ones:
            stack = [u]
            while stack:
                w = stack[-1]
                if vt.left[w] < 0:
                    ones[w] = gadget(vt.lo[w])
                elif vt.left[w] in ones and vt.right[w] in ones:
                    ones[w] = b._inner("product", [ones[vt.left[w]], ones[vt.right[w]]])
                else:
                    stack += [x for x in (vt.left[w], vt.right[w]) if x not in ones]
                    continue
                stack.pop()
        return ones[u]

    table = _RangeProducts(b, gadget, 0, n_vars - 1, k_gates) if k_gates else None

    def pad(c, t):  # new node for original child c, covering all of vars(t)
        if (c, t) in padded:
            return padded[(c, t)]
        if tnode[c] == t:
            return new[c]
        if method == "naive":
            w, node = tnode[c], new[c]
            while w != t:
                p = vt.parent[w]
                if (c, p) not in padded:
                    pair = [node, one(vt.right[p])] if vt.left[p] == w else [one(vt.left[p]), node]
                    padded[(c, p)] = b._inner("product", pair)
                node, w = padded[(c, p)], p
            return node
        extra = []
        for lo, hi in gaps(c, t):
            extra += table.query(lo, hi)
        padded[(c, t)] = b._inner("product", [new[c]] + extra)
        return padded[(c, t)]

    for n in order:
        k, ch = src.kinds[n], src.children[n]
        if k in LEAF_KINDS:
            new[n] = b._leaf(k, src.var[n], src.params[n])
        elif k == "sum":
            new[n] = b._inner("sum", [pad(c, tnode[n]) for c in ch], src.weights[n])
        elif len(ch) == 1:
            new[n] = b._inner("product", [new[ch[0]]])
        else:
            t = tnode[n]
            sides = [vt.left[t] if vt.lo[tnode[c]] <= vt.hi[vt.left[t]] else vt.right[t] for c in ch]
            new[n] = b._inner("product", [pad(c, side) for c, side in zip(ch, sides)])
    top = pad(root, vt.root)
    out_order = reachable(b, top)
    added_nodes = len(out_order) - len(order)
    added_edges = sum(len(b.children[n]) for n in out_order) - sum(len(src.children[n]) for n in order)

    depth = [0] * len(vt.lo)  # parents precede children in index_vtree's numbering
    for u in range(len(vt.lo)):
        if vt.parent[u] >= 0:
            depth[u] = depth[vt.parent[u]] + 1
    lift = {}  # levels each child must climb: to its sum parent's vtree node, its side of a product's
    for c, t in needs:
        lift[c] = max(lift.get(c, 0), depth[tnode[c]] - depth[t])
    return SmoothingResult(
        b, top, added_nodes, added_edges, method, method == "naive", k_gates, sum(lift.values()), len(padded)
    )
