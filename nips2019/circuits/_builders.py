"""Structure builders (HCLT, random region graphs), baselines and the binarised digits data."""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..utils import Device, DType, Generator, Integer, Items, Module, Real, Tensor, as_generator, validate
from ._circuit import Circuit
from ._structure import CircuitBuilder

#: Discrete training data: a 2-D real tensor of non-negative integer values (checked in the body,
#: by :func:`_cardinalities`, which names the function); at least one row.
DATA = Tensor(shape=("n", "v"), dtype="numeric")


@functools.lru_cache(maxsize=1)
def _digits() -> np.ndarray:
    from sklearn.datasets import load_digits

    data = load_digits().data
    data.setflags(write=False)
    return data


@validate(
    threshold=Integer(low=1, high=16),
    n_test=Integer(low=1, high=1796),
    generator=Generator(),
    dtype=DType(),
)
def load_binary_digits(*, threshold: int = 8, n_test: int = 360, generator=0, dtype=torch.float32):
    """Scikit-learn's bundled 8x8 digits, binarised (pixel >= ``threshold`` -> 1), split train/test.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    The split is ``sklearn.model_selection.train_test_split(X, test_size=n_test, random_state=seed)``;
    an int ``generator`` is that seed, so the default (``generator=0``, ``n_test=360``) is the
    conventional split of 1437 training and 360 test images of 64 binary pixels. ``None`` or a CPU
    ``torch.Generator`` draws the seed from it. Nothing is downloaded.

    Returns
    -------
    (Tensor, Tensor)
        Training data (1797 - n_test, 64) and test data (n_test, 64), values in {0, 1}.

    Examples
    --------
    >>> train, test = load_binary_digits()
    >>> tuple(train.shape), tuple(test.shape)
    ((1437, 64), (360, 64))
    """
    from sklearn.model_selection import train_test_split

    if isinstance(generator, torch.Generator) or generator is None:
        generator = int(torch.randint(0, 2**31 - 1, (1,), generator=as_generator(generator)))
    X = (_digits() >= threshold).astype(np.float64)
    tr, te = train_test_split(X, test_size=n_test, random_state=int(generator))
    return torch.tensor(tr, dtype=dtype), torch.tensor(te, dtype=dtype)


def _cardinalities(x, func):
    """Integer data and per-variable cardinalities (at least 2) of discrete data ``x``."""
    xn = x.detach().cpu().double().numpy()
    if np.isnan(xn).any() or np.isinf(xn).any():
        raise ValueError(f"{func}: x must be complete discrete data, got NaN or inf")
    if (xn < 0).any() or (xn != np.round(xn)).any():
        raise ValueError(f"{func}: x must hold non-negative integer values (discrete data)")
    return xn.astype(np.int64), np.maximum(xn.max(0).astype(np.int64) + 1, 2)


def _out_dtype(x):
    return x.dtype if x.is_floating_point() else None


@validate(x=DATA, pseudocount=Real(low=0.0), root=Integer(low=0))
def chow_liu_tree(x: torch.Tensor, *, pseudocount: float = 1.0, root: int = 0) -> list[int]:
    r"""Parents of the Chow-Liu tree: the maximum spanning tree of pairwise mutual information.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    .. math::  I(X_i; X_j) = \sum_{a,b} \hat p(a, b) \log \frac{\hat p(a,b)}{\hat p(a)\hat p(b)}

    with empirical frequencies smoothed by ``pseudocount >= 0`` (``0``: the plain maximum
    likelihood estimate, with :math:`0 \log 0 = 0`). ``x`` holds non-negative integers, shape
    (n, V). Returns ``parent`` (``-1`` for ``root``, a variable index in ``[0, V)``).
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
    xi, card = _cardinalities(x, "chow_liu_tree")
    if root >= xi.shape[1]:
        raise ValueError(f"chow_liu_tree: root must be a variable index in [0, {xi.shape[1]}), got {root}")
    return _chow_liu_tree(xi, card, pseudocount, root)


def _chow_liu_tree(xi, card, pseudocount, root=0):
    from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree

    n, V = xi.shape
    K = int(card.max())
    onehot = np.zeros((n, V, K))
    onehot[np.arange(n)[:, None], np.arange(V)[None], xi] = 1
    flat = onehot.reshape(n, V * K)
    joint = (flat.T @ flat).reshape(V, K, V, K) + pseudocount
    joint /= joint.sum(axis=(1, 3), keepdims=True)
    pa, pb = joint.sum(3, keepdims=True), joint.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 log 0 = 0 (pseudocount 0)
        terms = joint * (np.log(joint) - np.log(pa) - np.log(pb))
    mi = np.where(joint > 0, terms, 0.0).sum(axis=(1, 3))
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


@validate(x=DATA, n_latent=Integer(low=1), pseudocount=Real(low=0.0), generator=Generator())
def hclt(x: torch.Tensor, *, n_latent: int = 16, pseudocount: float = 1.0, generator=None) -> Circuit:
    r"""Hidden Chow-Liu tree circuit: a Chow-Liu tree over latent copies of the variables.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    Each variable :math:`X_v` gets a latent :math:`Z_v` with ``n_latent`` states, arranged like the
    Chow-Liu tree of the data; :math:`p(x) = \sum_z p(z_r) \prod_v p(z_v \mid z_{\mathrm{pa}(v)})
    p(x_v \mid z_v)`, compiled into a smooth, decomposable circuit with :math:`O(V k^2)` edges.
    Parameters start at random values near the data marginals; train with :func:`fit_em`.

    Parameters
    ----------
    x : Tensor, shape (n, V)
        Discrete training data (non-negative integers); the circuit gets ``x``'s device and, if
        ``x`` is floating, its dtype (else PyTorch's default dtype).
    n_latent : int
        Number of states of every latent variable.
    pseudocount : float
        Smoothing (>= 0) of the pairwise frequencies that choose the tree.
    generator : None, int or CPU torch.Generator
        Randomness of the initial parameters (see :func:`nips2019.utils.as_generator`).

    References
    ----------
    Liu & Van den Broeck (2021), Tractable regularization of probabilistic circuits (HCLT).

    Examples
    --------
    >>> import torch
    >>> x = (torch.rand(100, 5, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    >>> c = hclt(x, n_latent=3, generator=0)
    >>> c.n_vars, c.n_edges
    (5, 66)
    """
    return _hclt(x, n_latent, pseudocount, as_generator(generator))


def _hclt(x, latent, pseudocount, g):
    xi, card = _cardinalities(x, "hclt")
    parent = _chow_liu_tree(xi, card, pseudocount)
    kids, post, root = _children_lists(parent)
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
            leaf = b._leaf("bernoulli", v, (float(q[1]),)) if card[v] == 2 else b._leaf("categorical", v, q.tolist())
            prods.append(b._inner("product", [leaf] + [up[c][z] for c in kids[v]]))
        if v == root:
            up[v] = [b._inner("sum", prods, _dirichlet(latent, g))]
        else:
            up[v] = []
            for z in range(latent):
                w = 0.5 * np.array(_dirichlet(latent, g))
                w[z] += 0.5
                up[v].append(b._inner("sum", prods, w.tolist()))
    return Circuit(b, up[root][0], x.shape[1], dtype=_out_dtype(x), device=x.device)


def _dirichlet(k, g):
    w = -torch.rand(k, generator=g, dtype=torch.float64).clamp_min(1e-12).log()
    return (w / w.sum()).tolist()


@validate(x=DATA, pseudocount=Real(low=0.0, closed="neither"))
def chow_liu_circuit(x: torch.Tensor, *, pseudocount: float = 1.0) -> Circuit:
    r"""The Chow-Liu tree as a deterministic circuit, with Laplace-smoothed conditionals.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    ``x``: discrete data (non-negative integers), shape (n, V). ``pseudocount > 0`` is added to
    every count (tree selection and conditionals), so every sum weight is positive.

    :math:`p(x) = p(x_r)\prod_{v \neq r} p(x_v \mid x_{\mathrm{pa}(v)})`; node :math:`T_{v,a}`
    is :math:`[X_v = a] \prod_{c} \sum_b p(X_c = b \mid X_v = a)\, T_{c,b}`.

    Examples
    --------
    >>> import torch
    >>> x = (torch.rand(100, 4, generator=torch.Generator().manual_seed(0)) < 0.5).double()
    >>> round(chow_liu_circuit(x).log_partition().exp().item(), 6)
    1.0
    """
    xi, card = _cardinalities(x, "chow_liu_circuit")
    parent = _chow_liu_tree(xi, card, pseudocount)
    kids, post, root = _children_lists(parent)
    b, up = CircuitBuilder(), {}
    for v in post:
        T = [b._inner("product", [b._leaf("indicator", v, (a,))] + [up[c][a] for c in kids[v]]) for a in range(card[v])]
        p = parent[v]
        if p < 0:
            cnt = np.bincount(xi[:, v], minlength=card[v]) + pseudocount
            up[v] = [b._inner("sum", T, (cnt / cnt.sum()).tolist())]
        else:
            up[v] = []
            for a in range(card[p]):
                cnt = np.bincount(xi[xi[:, p] == a, v], minlength=card[v]) + pseudocount
                up[v].append(b._inner("sum", T, (cnt / cnt.sum()).tolist()))
    return Circuit(b, up[root][0], x.shape[1], dtype=_out_dtype(x), device=x.device)


@validate(x=DATA, pseudocount=Real(low=0.0))
def independent_circuit(x: torch.Tensor, *, pseudocount: float = 1.0) -> Circuit:
    r"""Fully factorised model :math:`\prod_v p(x_v)` (Bernoulli/categorical maximum a posteriori fit).

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    ``x``: discrete data (non-negative integers), shape (n, V); ``pseudocount >= 0`` is added to
    every count (probabilities are kept in ``[1e-6, 1 - 1e-6]``).

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0., 1.], [1., 1.]])
    >>> independent_circuit(x, pseudocount=0.0)(torch.tensor([[1., 1.]])).exp()
    tensor([0.5000], grad_fn=<ExpBackward0>)
    """
    xi, card = _cardinalities(x, "independent_circuit")
    b = CircuitBuilder()
    leaves = []
    for v in range(xi.shape[1]):
        cnt = np.bincount(xi[:, v], minlength=card[v]) + pseudocount
        q = np.clip(cnt / cnt.sum(), 1e-6, 1 - 1e-6)
        q = q / q.sum()
        leaves.append(b._leaf("bernoulli", v, (float(q[1]),)) if card[v] == 2 else b._leaf("categorical", v, q.tolist()))
    return Circuit(b, b._inner("product", leaves), xi.shape[1], dtype=_out_dtype(x), device=x.device)


@validate(x=DATA, n_components=Integer(low=1), generator=Generator())
def mixture_circuit(x: torch.Tensor, n_components: int, *, generator=None) -> Circuit:
    r"""Mixture of fully factorised components, :math:`\sum_k \pi_k \prod_v p_k(x_v)`, for EM.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    Components start at random training rows shrunk towards the marginals (a common EM start).
    ``x``: binary data, shape (n, V); ``generator``: see :func:`nips2019.utils.as_generator`.

    Examples
    --------
    >>> import torch
    >>> x = (torch.rand(50, 3, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    >>> mixture_circuit(x, 4, generator=0).n_edges
    16
    """
    xi, card = _cardinalities(x, "mixture_circuit")
    if card.max() > 2:
        raise ValueError("mixture_circuit: x must be binary (values 0 and 1); this model has Bernoulli leaves only")
    g = as_generator(generator)
    rows = torch.randint(0, xi.shape[0], (n_components,), generator=g).numpy()
    marg = xi.mean(0)
    b = CircuitBuilder()
    comps = []
    for r in rows:
        p = np.clip(0.5 * xi[r] + 0.5 * marg, 0.05, 0.95)
        comps.append(b._inner("product", [b._leaf("bernoulli", v, (float(p[v]),)) for v in range(xi.shape[1])]))
    root = b._inner("sum", comps, _dirichlet(n_components, g))
    return Circuit(b, root, xi.shape[1], dtype=_out_dtype(x), device=x.device)


@validate(
    n_vars=Integer(low=2),
    depth=Integer(low=1),
    n_repetitions=Integer(low=1),
    n_sums=Integer(low=1),
    n_inputs=Integer(low=1),
    generator=Generator(),
    dtype=DType(optional=True),
    device=Device(),
)
def random_region_circuit(
    n_vars: int,
    *,
    depth: int = 2,
    n_repetitions: int = 4,
    n_sums: int = 4,
    n_inputs: int = 4,
    generator=None,
    dtype=None,
    device=None,
) -> Circuit:
    r"""RAT-SPN-style circuit on a random binary region graph, Bernoulli inputs.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    Each of ``n_repetitions`` repetitions splits the ``n_vars`` variables recursively at random
    into halves, ``depth`` times (``2**depth <= n_vars``); leaf regions carry ``n_inputs``
    factorised Bernoulli distributions, internal regions ``n_sums`` mixtures of all cross products
    of their two children's nodes, and the root mixes the repetitions. Smooth and decomposable by
    construction. ``generator``: see :func:`nips2019.utils.as_generator`; ``dtype``, ``device``: of
    the parameters.

    References
    ----------
    Peharz et al. (2019), Random sum-product networks: a simple and effective approach to
    probabilistic deep learning (UAI).

    Examples
    --------
    >>> from nips2019.circuits import is_smooth, is_decomposable
    >>> c = random_region_circuit(8, depth=2, n_repetitions=2, n_sums=2, n_inputs=2, generator=0)
    >>> is_smooth(c) and is_decomposable(c)
    True
    """
    if 2**depth > n_vars:
        raise ValueError(f"random_region_circuit: depth must satisfy 2**depth <= n_vars, got depth={depth}, n_vars={n_vars}")
    g = as_generator(generator)
    b = CircuitBuilder()

    def region(vars_, d, k):
        if d == 0:
            out = []
            for _ in range(n_inputs):
                p = (0.25 + 0.5 * torch.rand(len(vars_), generator=g, dtype=torch.float64)).tolist()
                out.append(b._inner("product", [b._leaf("bernoulli", v, (q,)) for v, q in zip(vars_, p)]))
            return out
        perm = [vars_[i] for i in torch.randperm(len(vars_), generator=g).tolist()]
        half = len(perm) // 2
        left, right = region(sorted(perm[:half]), d - 1, n_sums), region(sorted(perm[half:]), d - 1, n_sums)
        prods = [b._inner("product", [l, r]) for l in left for r in right]
        return [b._inner("sum", prods, _dirichlet(len(prods), g)) for _ in range(k)]

    tops = [n for _ in range(n_repetitions) for n in region(list(range(n_vars)), depth, 1)]
    root = b._inner("sum", tops, _dirichlet(len(tops), g))
    return Circuit(b, root, n_vars, dtype=dtype, device=device)


@validate(circuits=Items(Module(), min_length=1), weights=Items(Real(low=0.0, closed="neither"), optional=True))
def mixture_of(circuits, *, weights=None) -> Circuit:
    r"""One circuit for the mixture :math:`\sum_m w_m c_m(x)` of circuits over the same variables.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    The inputs are copied (with their current parameters) under a new root sum node; the result
    can be trained further with :func:`fit_em`. ``weights``: one positive number per circuit
    (used as given, so they should sum to 1 for a normalised mixture; default uniform). The
    circuits must share their dtype and device.

    Examples
    --------
    >>> import torch
    >>> x = (torch.rand(60, 4, generator=torch.Generator().manual_seed(0)) < 0.5).double()
    >>> a, b = independent_circuit(x), chow_liu_circuit(x)
    >>> m = mixture_of([a, b], weights=[0.5, 0.5])
    >>> ref = torch.logaddexp(a(x), b(x)) - torch.tensor(2.0).log()
    >>> torch.allclose(m(x), ref)
    True
    """
    circuits = list(circuits)
    for i, c in enumerate(circuits):
        if not isinstance(c, Circuit):
            raise TypeError(f"mixture_of: circuits[{i}] must be a Circuit, got {type(c).__name__}")
    if len({c.n_vars for c in circuits}) != 1:
        raise ValueError(f"mixture_of: circuits must share n_vars, got {[c.n_vars for c in circuits]}")
    ref = circuits[0].log_weights
    for i, c in enumerate(circuits[1:], 1):
        w = c.log_weights
        if (w.device, w.dtype) != (ref.device, ref.dtype):
            raise TypeError(
                f"mixture_of: circuits[{i}] has dtype {w.dtype} on {w.device} but circuits[0] has {ref.dtype} on "
                f"{ref.device}; convert one explicitly"
            )
    if weights is not None:
        weights = [float(w) for w in weights]
        if len(weights) != len(circuits):
            raise ValueError(f"mixture_of: weights must have one entry per circuit ({len(circuits)}), got {len(weights)}")
    else:
        weights = [1.0 / len(circuits)] * len(circuits)
    b, roots = CircuitBuilder(), []
    for c in circuits:
        src, off = c.to_builder(), b.n_nodes
        b.kinds += src.kinds
        b.children += [tuple(i + off for i in ch) for ch in src.children]
        b.weights += src.weights
        b.var += src.var
        b.params += src.params
        roots.append(off + c.root_id)
    root = b._inner("sum", roots, weights)
    return Circuit(b, root, circuits[0].n_vars, dtype=ref.dtype, device=ref.device)
