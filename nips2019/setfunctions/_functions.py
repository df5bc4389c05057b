"""Example set functions with known Fourier spectra: graph cuts, coverage, a feature-subset objective."""

from __future__ import annotations

import itertools

import torch

from ..utils import DType, Generator, Integer, Real, Tensor, as_generator, validate
from ._wht import SetFunctionSpectrum

_SETS = dict(dtype="bool")


@validate(n_nodes=Integer(low=2), n_edges=Integer(low=1), generator=Generator(), dtype=DType(optional=True))
def random_graph(n_nodes: int, n_edges: int, *, generator=None, dtype=None):
    r"""A random simple graph with ``n_edges`` distinct edges and weights uniform in :math:`[1, 2]`.

    Parameters
    ----------
    n_nodes : int >= 2
    n_edges : int in [1, n_nodes (n_nodes - 1) / 2]
    generator : None, int or torch.Generator
    dtype : torch.dtype, optional
        Of the weights (default: torch's default dtype).

    Returns
    -------
    edges : Tensor, shape (n_edges, 2), int64
        Endpoints ``u < v``.
    weights : Tensor, shape (n_edges,)

    Notes
    -----
    See the chapter :doc:`Fourier-sparse set functions </book/setfunctions>`.

    Examples
    --------
    >>> edges, weights = random_graph(10, 5, generator=0)
    >>> edges.shape, bool((edges[:, 0] < edges[:, 1]).all())
    (torch.Size([5, 2]), True)
    """
    n_pairs = n_nodes * (n_nodes - 1) // 2
    if n_edges > n_pairs:
        raise ValueError(f"random_graph: n_edges must be <= n_nodes (n_nodes - 1) / 2 = {n_pairs}, got {n_edges}")
    gen = as_generator(generator)
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < n_edges:
        u, v = torch.randint(0, n_nodes, (2,), generator=gen).tolist()
        if u != v:
            chosen.add((min(u, v), max(u, v)))
    edges = torch.tensor(sorted(chosen), dtype=torch.int64)
    weights = 1 + torch.rand(n_edges, generator=gen, dtype=dtype or torch.get_default_dtype())
    return edges, weights


@validate(sets=Tensor(shape=("m", "n"), **_SETS), edges=Tensor(shape=("k", 2), dtype="integer", high="n"),
          weights=Tensor(shape=("k",), dtype="floating"))
def cut_value(sets: torch.Tensor, edges: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    r"""The weighted cut :math:`f(A) = \sum_{(u, v) \in E} w_{uv}\, [\,|\{u, v\} \cap A| = 1\,]`.

    Parameters
    ----------
    sets : Tensor, shape (m, n), bool
        One side :math:`A` of each cut.
    edges : Tensor, shape (k, 2), integer in [0, n)
    weights : Tensor, shape (k,)

    Returns
    -------
    Tensor, shape (m,)
        Dtype and device of ``weights``.

    Notes
    -----
    Its spectrum, :func:`cut_spectrum`, has degree 2. See the chapter
    :doc:`Fourier-sparse set functions </book/setfunctions>`.

    Examples
    --------
    >>> import torch
    >>> edges, w = torch.tensor([[0, 1], [1, 2]]), torch.tensor([1.0, 2.0])
    >>> cut_value(torch.tensor([[1, 0, 0], [0, 1, 0]]).bool(), edges, w)
    tensor([1., 3.])
    """
    s = sets.bool()
    crossing = s[:, edges[:, 0]] ^ s[:, edges[:, 1]]
    return crossing.to(weights.dtype) @ weights


@validate(n_nodes=Integer(low=2), edges=Tensor(shape=("k", 2), dtype="integer", low=0),
          weights=Tensor(shape=("k",), dtype="floating"))
def cut_spectrum(n_nodes: int, edges: torch.Tensor, weights: torch.Tensor) -> SetFunctionSpectrum:
    r"""The closed-form Fourier spectrum of a cut function.

    Since :math:`[\,|\{u, v\} \cap A| = 1\,] = \tfrac12 (1 - (-1)^{|A \cap \{u, v\}|})`,

    .. math::

        \hat f(\emptyset) = \tfrac12 \sum_{(u,v) \in E} w_{uv}, \qquad
        \hat f(\{u, v\}) = -\tfrac12 w_{uv},

    and every other coefficient is zero: a graph with :math:`k` edges is
    :math:`(k + 1)`-sparse of degree 2.

    Parameters
    ----------
    n_nodes : int
        Ground-set size :math:`n`.
    edges : Tensor, shape (k, 2), integer in [0, n_nodes)
        Distinct edges.
    weights : Tensor, shape (k,)

    Returns
    -------
    SetFunctionSpectrum
        ``k + 1`` frequencies (the empty set first).

    Notes
    -----
    See the chapter :doc:`Fourier-sparse set functions </book/setfunctions>`.

    Examples
    --------
    >>> import torch
    >>> spec = cut_spectrum(3, torch.tensor([[0, 1]]), torch.tensor([2.0]))
    >>> spec.coefficients
    tensor([ 1., -1.])
    """
    if bool((edges >= n_nodes).any()):
        raise ValueError(f"cut_spectrum: edges must be < n_nodes = {n_nodes}")
    if bool((edges[:, 0] == edges[:, 1]).any()):
        raise ValueError("cut_spectrum: edges must not contain self-loops")
    k = len(edges)
    freqs = torch.zeros(k + 1, n_nodes, dtype=torch.bool, device=edges.device)
    rows = torch.arange(1, k + 1, device=edges.device)
    freqs[rows, edges[:, 0]] = True
    freqs[rows, edges[:, 1]] = True
    coefs = torch.cat([weights.sum(0, keepdim=True) / 2, -weights / 2])
    return SetFunctionSpectrum(freqs, coefs)


@validate(sets=Tensor(shape=("m", "n"), **_SETS), cover=Tensor(shape=("n", "u"), **_SETS),
          weights=Tensor(shape=("u",), dtype="floating", low=0))
def coverage_value(sets: torch.Tensor, cover: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    r"""The weighted coverage :math:`f(A) = \sum_{j} w_j\, [\exists i \in A: j \in S_i]`.

    Item :math:`i` of the ground set covers the elements :math:`S_i` of a universe of
    :math:`u` elements; ``cover[i, j]`` says whether :math:`j \in S_i`. Coverage is
    monotone submodular.

    Parameters
    ----------
    sets : Tensor, shape (m, n), bool
    cover : Tensor, shape (n, u), bool
    weights : Tensor, shape (u,), non-negative

    Returns
    -------
    Tensor, shape (m,)

    Notes
    -----
    Its spectrum is :func:`coverage_spectrum`. See the chapter
    :doc:`Fourier-sparse set functions </book/setfunctions>`.

    Examples
    --------
    >>> import torch
    >>> cover = torch.tensor([[1, 1, 0], [0, 1, 1]]).bool()
    >>> coverage_value(torch.tensor([[1, 0], [1, 1]]).bool(), cover, torch.ones(3))
    tensor([2., 3.])
    """
    hit = (sets.to(weights.dtype) @ cover.to(weights.dtype)) > 0
    return hit.to(weights.dtype) @ weights


@validate(cover=Tensor(ndim=2, **_SETS), weights=Tensor(shape=(None,), dtype="floating", low=0),
          max_degree=Integer(low=1, high=16))
def coverage_spectrum(cover: torch.Tensor, weights: torch.Tensor, *, max_degree: int = 12) -> SetFunctionSpectrum:
    r"""The closed-form Fourier spectrum of a coverage function.

    Element :math:`j` is covered unless no item of :math:`C_j = \{i : j \in S_i\}` is
    chosen, and :math:`\prod_{i \in C_j} [i \notin A] = 2^{-|C_j|} \sum_{B \subseteq C_j}
    (-1)^{|A \cap B|}`. Hence

    .. math::

        f(A) = \sum_j w_j \Bigl(1 - 2^{-|C_j|} \sum_{B \subseteq C_j} (-1)^{|A \cap B|}\Bigr),

    a spectrum supported on the subsets of the :math:`C_j`, of degree
    :math:`\max_j |C_j|`.

    Parameters
    ----------
    cover : Tensor, shape (n, u), bool
    weights : Tensor, shape (u,), non-negative
    max_degree : int
        Refuse elements covered by more than this many items (the spectrum has
        :math:`2^{|C_j|}` terms per element).

    Returns
    -------
    SetFunctionSpectrum
        Distinct frequencies with non-zero coefficients, the empty set first.

    Notes
    -----
    See the chapter :doc:`Fourier-sparse set functions </book/setfunctions>`.

    Examples
    --------
    >>> import torch
    >>> spec = coverage_spectrum(torch.tensor([[True], [True]]), torch.ones(1))  # f = [A non-empty]
    >>> spec.coefficients
    tensor([ 0.7500, -0.2500, -0.2500, -0.2500])
    """
    n, u = cover.shape
    if len(weights) != u:
        raise ValueError(f"coverage_spectrum: weights must have {u} entries (the columns of cover), got {len(weights)}")
    terms: dict[tuple[int, ...], float] = {(): 0.0}
    c = cover.bool().cpu()
    w = weights.detach().cpu().double().tolist()
    for j in range(u):
        items = torch.nonzero(c[:, j]).flatten().tolist()
        if len(items) > max_degree:
            raise ValueError(f"coverage_spectrum: element {j} is covered by {len(items)} items > max_degree = "
                             f"{max_degree}")
        if not items:
            continue
        terms[()] += w[j]
        scale = w[j] / 2 ** len(items)
        for r in range(len(items) + 1):
            for sub in itertools.combinations(items, r):
                terms[sub] = terms.get(sub, 0.0) - scale
    keys = [key for key, val in terms.items() if key == () or abs(val) > 1e-15]
    freqs = torch.zeros(len(keys), n, dtype=torch.bool)
    for row, key in enumerate(keys):
        freqs[row, list(key)] = True
    coefs = torch.tensor([terms[key] for key in keys], dtype=weights.dtype)
    return SetFunctionSpectrum(freqs.to(cover.device), coefs.to(weights.device))


@validate(sets=Tensor(shape=("m", "n"), **_SETS), x_train=Tensor(shape=("a", "n"), dtype="floating"),
          y_train=Tensor(shape=("a",), dtype="floating"), x_val=Tensor(shape=("b", "n"), dtype="floating"),
          y_val=Tensor(shape=("b",), dtype="floating"), reg=Real(low=0, closed="neither"),
          same=[("x_train", "y_train", "x_val", "y_val")])
def ridge_subset_loss(sets: torch.Tensor, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor,
                      y_val: torch.Tensor, *, reg: float = 1e-2) -> torch.Tensor:
    r"""Validation mean squared error of ridge regression on each subset of the features.

    A discrete hyperparameter search as a set function: :math:`A \subseteq [n]` is the set
    of features switched on, and

    .. math::

        f(A) = \tfrac1{n_v} \| y_v - X_{v,A} \hat\beta_A \|^2, \qquad
        \hat\beta_A = (X_{t,A}^\top X_{t,A} + \lambda a I)^{-1} X_{t,A}^\top y_t

    (:math:`a` training rows, :math:`\lambda` = ``reg``; no intercept: centre the data).
    Batched over the subsets: one masked Cholesky solve per subset.

    Parameters
    ----------
    sets : Tensor, shape (m, n), bool
    x_train : Tensor, shape (a, n)
    y_train : Tensor, shape (a,)
    x_val : Tensor, shape (b, n)
    y_val : Tensor, shape (b,)
    reg : float > 0
        Ridge penalty per training row.

    Returns
    -------
    Tensor, shape (m,)
        Dtype and device of ``x_train``.

    Notes
    -----
    See the chapter :doc:`Fourier-sparse set functions </book/setfunctions>`.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> y = x[:, 0]
    >>> loss = ridge_subset_loss(torch.tensor([[0, 0, 0], [1, 0, 0]]).bool(), x, y, x, y)
    >>> bool(loss[1] < 0.01 < loss[0])
    True
    """
    mask = sets.to(x_train.dtype)  # (m, n)
    a = x_train.shape[0]
    gram = x_train.T @ x_train  # (n, n)
    rhs = x_train.T @ y_train  # (n,)
    eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    # off-subset features: identity rows/columns, zero right-hand side, so their coefficient is 0
    outer = mask[:, :, None] * mask[:, None, :]
    system = outer * gram + reg * a * eye + (1 - mask)[:, :, None] * eye
    beta = torch.linalg.solve(system, (mask * rhs)[:, :, None])[..., 0]
    resid = y_val[None, :] - beta @ x_val.T
    return (resid**2).mean(1)
