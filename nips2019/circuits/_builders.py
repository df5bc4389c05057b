"""Structure builders (HCLT, random region graphs), baselines and the binarised digits data."""

from __future__ import annotations

import numpy as np
import torch

from ..utils import check_tensor
from ._circuit import Circuit
from ._structure import CircuitBuilder


def load_binary_digits(threshold: int = 8, test_size: int = 360, random_state: int = 0, dtype=torch.float32):
    """Scikit-learn's bundled 8x8 digits, binarised (pixel >= ``threshold`` -> 1), split train/test.

    See the chapter *Probabilistic circuits*.

    The split is ``sklearn.model_selection.train_test_split(X, test_size=360, random_state=0)``:
    1437 training and 360 test images of 64 binary pixels. Nothing is downloaded.

    Returns
    -------
    (Tensor, Tensor)
        Training data (1437, 64) and test data (360, 64), values in {0, 1}.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X = (load_digits().data >= threshold).astype(np.float64)
    tr, te = train_test_split(X, test_size=test_size, random_state=random_state)
    return torch.tensor(tr, dtype=dtype), torch.tensor(te, dtype=dtype)


def _cardinalities(x):
    check_tensor(x, "x", ndim=2)
    xn = x.detach().cpu().double().numpy()
    if np.isnan(xn).any() or (xn < 0).any() or (xn != np.round(xn)).any():
        raise ValueError("x must hold non-negative integer values (discrete data) without NaN")
    return xn.astype(np.int64), np.maximum(xn.max(0).astype(np.int64) + 1, 2)


def chow_liu_tree(x: torch.Tensor, pseudocount: float = 1.0, root: int = 0) -> list[int]:
    r"""Parents of the Chow-Liu tree: the maximum spanning tree of pairwise mutual information.

    See the chapter *Probabilistic circuits*.

    .. math::  I(X_i; X_j) = \sum_{a,b} \hat p(a, b) \log \frac{\hat p(a,b)}{\hat p(a)\hat p(b)}

    with Laplace-smoothed empirical frequencies. Returns ``parent`` (``-1`` for ``root``).
    The spanning tree comes from ``scipy.sparse.csgraph.minimum_spanning_tree``.

    References
    ----------
    Chow & Liu (1968), Approximating discrete probability distributions with dependence trees.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> a = (torch.rand(500, 1, generator=g) < 0.5).float()
    >>> x = torch.cat([a, a, 1 - a, (torch.rand(500, 1, generator=g) < 0.5).float()], 1)
    >>> chow_liu_tree(x)[:3]
    [-1, 0, 0]
    """
    from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree

    xi, card = _cardinalities(x)
    n, V = xi.shape
    K = int(card.max())
    onehot = np.zeros((n, V, K))
    onehot[np.arange(n)[:, None], np.arange(V)[None], xi] = 1
    flat = onehot.reshape(n, V * K)
    joint = (flat.T @ flat).reshape(V, K, V, K) + pseudocount
    joint /= joint.sum(axis=(1, 3), keepdims=True)
    pa, pb = joint.sum(3, keepdims=True), joint.sum(1, keepdims=True)
    mi = (joint * (np.log(joint) - np.log(pa) - np.log(pb))).sum(axis=(1, 3))
    np.fill_diagonal(mi, 0)
    w = mi.max() + 1.0 - mi  # positive weights; the minimum tree maximises MI
    np.fill_diagonal(w, 0)
    tree = minimum_spanning_tree(w)
    tree = tree + tree.T
    order, pred = breadth_first_order(tree, root, directed=False)
    parent = [int(p) if p >= 0 else -1 for p in pred]
    parent[root] = -1
    return parent


def _children_lists(parent):
    kids = [[] for _ in parent]
    for v, p in enumerate(parent):
        if p >= 0:
            kids[p].append(v)
    root = parent.index(-1)
    post, stack = [], [(root, False)]
    while stack:
        v, done = stack.pop()
        if done:
            post.append(v)
        else:
            stack.append((v, True))
            stack.extend((c, False) for c in kids[v])
    return kids, post, root


def hclt(x: torch.Tensor, latent: int = 16, generator: torch.Generator | None = None, pseudocount: float = 1.0):
    r"""Hidden Chow-Liu tree circuit: a Chow-Liu tree over latent copies of the variables.

    See the chapter *Probabilistic circuits*.

    Each variable :math:`X_v` gets a latent :math:`Z_v` with ``latent`` states, arranged like the
    Chow-Liu tree of the data; :math:`p(x) = \sum_z p(z_r) \prod_v p(z_v \mid z_{\mathrm{pa}(v)})
    p(x_v \mid z_v)`, compiled into a smooth, decomposable circuit with :math:`O(V k^2)` edges.
    Parameters start at random values near the data marginals; train with :func:`fit_em`.

    References
    ----------
    Liu & Van den Broeck (2021), Tractable regularization of probabilistic circuits (HCLT).

    Examples
    --------
    >>> import torch
    >>> x = (torch.rand(100, 5, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    >>> c = hclt(x, latent=3, generator=torch.Generator().manual_seed(0))
    >>> c.num_vars, c.num_edges
    (5, 66)
    """
    if not isinstance(latent, int) or latent < 1:
        raise ValueError(f"latent must be a positive int, got {latent!r}")
    xi, card = _cardinalities(x)
    parent = chow_liu_tree(x, pseudocount)
    kids, post, root = _children_lists(parent)
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    n, K = xi.shape[0], int(card.max())
    onehot = np.eye(K)[xi]  # (n, V, K)
    marg = onehot.mean(0)
    # Latent state z starts as a prototype (a random training row shrunk towards the marginals),
    # shared by all variables, with transitions near the identity: the initial HCLT is close to
    # a mixture of `latent` factorised components, which EM then refines.
    rows = torch.randint(0, n, (latent,), generator=g).numpy()
    proto = 0.5 * onehot[rows] + 0.5 * marg  # (latent, V, K)
    b = CircuitBuilder()
    up = {}  # up[v][z]: sum node S_{v, z} = sum_z' p(z_v = z' | z_pa = z) P_{v, z'}
    for v in post:
        prods = []
        for z in range(latent):
            q = np.clip(proto[z, v, : card[v]], 0.02, None)
            q = q / q.sum()
            leaf = b.bernoulli(v, float(q[1])) if card[v] == 2 else b.categorical(v, q.tolist())
            prods.append(b.product([leaf] + [up[c][z] for c in kids[v]]))
        if v == root:
            up[v] = [b.sum(prods, _dirichlet(latent, g))]
        else:
            up[v] = []
            for z in range(latent):
                w = 0.5 * np.array(_dirichlet(latent, g))
                w[z] += 0.5
                up[v].append(b.sum(prods, w.tolist()))
    return b.build(up[root][0], num_vars=x.shape[1], dtype=x.dtype if x.is_floating_point() else None, device=x.device)


def _dirichlet(k, g):
    w = -torch.rand(k, generator=g, dtype=torch.float64).clamp_min(1e-12).log()
    return (w / w.sum()).tolist()


def chow_liu_circuit(x: torch.Tensor, pseudocount: float = 1.0) -> Circuit:
    r"""The Chow-Liu tree as a deterministic circuit, with Laplace-smoothed conditionals.

    See the chapter *Probabilistic circuits*.

    :math:`p(x) = p(x_r)\prod_{v \neq r} p(x_v \mid x_{\mathrm{pa}(v)})`; node :math:`T_{v,a}`
    is :math:`[X_v = a] \prod_{c} \sum_b p(X_c = b \mid X_v = a)\, T_{c,b}`.

    Examples
    --------
    >>> import torch
    >>> x = (torch.rand(100, 4, generator=torch.Generator().manual_seed(0)) < 0.5).double()
    >>> round(chow_liu_circuit(x).log_partition().exp().item(), 6)
    1.0
    """
    xi, card = _cardinalities(x)
    parent = chow_liu_tree(x, pseudocount)
    kids, post, root = _children_lists(parent)
    b, up = CircuitBuilder(), {}
    for v in post:
        T = [b.product([b.indicator(v, a)] + [up[c][a] for c in kids[v]]) for a in range(card[v])]
        p = parent[v]
        if p < 0:
            cnt = np.bincount(xi[:, v], minlength=card[v]) + pseudocount
            up[v] = [b.sum(T, (cnt / cnt.sum()).tolist())]
        else:
            up[v] = []
            for a in range(card[p]):
                cnt = np.bincount(xi[xi[:, p] == a, v], minlength=card[v]) + pseudocount
                up[v].append(b.sum(T, (cnt / cnt.sum()).tolist()))
    return b.build(up[root][0], num_vars=x.shape[1], dtype=x.dtype if x.is_floating_point() else None, device=x.device)


def independent_circuit(x: torch.Tensor, pseudocount: float = 1.0) -> Circuit:
    r"""Fully factorised model :math:`\prod_v p(x_v)` (Bernoulli/categorical maximum a posteriori fit).

    See the chapter *Probabilistic circuits*.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0., 1.], [1., 1.]])
    >>> independent_circuit(x, pseudocount=0.0)(torch.tensor([[1., 1.]])).exp()
    tensor([0.5000], grad_fn=<ExpBackward0>)
    """
    xi, card = _cardinalities(x)
    b = CircuitBuilder()
    leaves = []
    for v in range(xi.shape[1]):
        cnt = np.bincount(xi[:, v], minlength=card[v]) + pseudocount
        q = np.clip(cnt / cnt.sum(), 1e-6, 1 - 1e-6)
        leaves.append(b.bernoulli(v, float(q[1])) if card[v] == 2 else b.categorical(v, (q / q.sum()).tolist()))
    return b.build(b.product(leaves), dtype=x.dtype if x.is_floating_point() else None, device=x.device)


def mixture_circuit(x: torch.Tensor, components: int, generator: torch.Generator | None = None) -> Circuit:
    r"""Mixture of fully factorised components, :math:`\sum_k \pi_k \prod_v p_k(x_v)`, for EM.

    See the chapter *Probabilistic circuits*.

    Components start at random training rows shrunk towards the marginals (a common EM start).

    Examples
    --------
    >>> import torch
    >>> x = (torch.rand(50, 3, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    >>> mixture_circuit(x, 4).num_edges
    16
    """
    if not isinstance(components, int) or components < 1:
        raise ValueError(f"components must be a positive int, got {components!r}")
    xi, card = _cardinalities(x)
    if card.max() > 2:
        raise ValueError("mixture_circuit supports binary data only")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    rows = torch.randint(0, xi.shape[0], (components,), generator=g).numpy()
    marg = xi.mean(0)
    b = CircuitBuilder()
    comps = []
    for r in rows:
        p = np.clip(0.5 * xi[r] + 0.5 * marg, 0.05, 0.95)
        comps.append(b.product([b.bernoulli(v, float(p[v])) for v in range(xi.shape[1])]))
    root = b.sum(comps, _dirichlet(components, g))
    return b.build(root, dtype=x.dtype if x.is_floating_point() else None, device=x.device)


def random_region_circuit(
    num_vars: int,
    depth: int = 2,
    repetitions: int = 4,
    sums: int = 4,
    inputs: int = 4,
    generator: torch.Generator | None = None,
    dtype=None,
    device=None,
) -> Circuit:
    r"""RAT-SPN-style circuit on a random binary region graph, Bernoulli inputs.

    See the chapter *Probabilistic circuits*.

    Each repetition splits the variables recursively at random into halves, ``depth`` times;
    leaf regions carry ``inputs`` factorised Bernoulli distributions, internal regions ``sums``
    mixtures of all cross products of their two children's nodes, and the root mixes the
    repetitions. Smooth and decomposable by construction.

    References
    ----------
    Peharz et al. (2019), Random sum-product networks: a simple and effective approach to
    probabilistic deep learning (UAI).

    Examples
    --------
    >>> from nips2019.circuits import is_smooth, is_decomposable
    >>> c = random_region_circuit(8, depth=2, repetitions=2, sums=2, inputs=2)
    >>> is_smooth(c) and is_decomposable(c)
    True
    """
    if num_vars < 2 or depth < 1 or 2**depth > num_vars:
        raise ValueError(f"need num_vars >= 2**depth >= 2, got num_vars={num_vars}, depth={depth}")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    b = CircuitBuilder()

    def region(vars_, d, k):
        if d == 0:
            out = []
            for _ in range(inputs):
                p = (0.25 + 0.5 * torch.rand(len(vars_), generator=g, dtype=torch.float64)).tolist()
                out.append(b.product([b.bernoulli(v, q) for v, q in zip(vars_, p)]))
            return out
        perm = [vars_[i] for i in torch.randperm(len(vars_), generator=g).tolist()]
        half = len(perm) // 2
        left, right = region(sorted(perm[:half]), d - 1, sums), region(sorted(perm[half:]), d - 1, sums)
        prods = [b.product([l, r]) for l in left for r in right]
        return [b.sum(prods, _dirichlet(len(prods), g)) for _ in range(k)]

    tops = [n for _ in range(repetitions) for n in region(list(range(num_vars)), depth, 1)]
    root = b.sum(tops, _dirichlet(len(tops), g))
    return b.build(root, num_vars=num_vars, dtype=dtype, device=device)


def mixture_of(circuits, weights=None) -> Circuit:
    r"""One circuit for the mixture :math:`\sum_m w_m c_m(x)` of circuits over the same variables.

    See the chapter *Probabilistic circuits*.

    The inputs are copied (with their current parameters) under a new root sum node; the result
    can be trained further with :func:`fit_em`. Weights default to uniform.

    Examples
    --------
    >>> import torch
    >>> x = (torch.rand(60, 4, generator=torch.Generator().manual_seed(0)) < 0.5).double()
    >>> a, b = independent_circuit(x), chow_liu_circuit(x)
    >>> m = mixture_of([a, b], [0.5, 0.5])
    >>> ref = torch.logaddexp(a(x), b(x)) - torch.tensor(2.0).log()
    >>> torch.allclose(m(x), ref)
    True
    """
    circuits = list(circuits)
    if not circuits or not all(isinstance(c, Circuit) for c in circuits):
        raise TypeError("circuits must be a non-empty sequence of Circuit")
    if len({c.num_vars for c in circuits}) != 1:
        raise ValueError(f"circuits must share num_vars, got {[c.num_vars for c in circuits]}")
    b, roots = CircuitBuilder(), []
    for c in circuits:
        src, off = c.to_builder(), b.num_nodes
        b.kinds += src.kinds
        b.children += [tuple(i + off for i in ch) for ch in src.children]
        b.weights += src.weights
        b.var += src.var
        b.params += src.params
        roots.append(off + c.root_id)
    root = b.sum(roots, weights)
    ref = circuits[0].log_weights
    return b.build(root, num_vars=circuits[0].num_vars, dtype=ref.dtype, device=ref.device)
