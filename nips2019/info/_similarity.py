"""Similarity-sensitive entropy (Leinster & Cobbold), GAIT divergence, maximum diversity."""

from __future__ import annotations

import dataclasses
import math

import torch

from ..utils import Integer, Real, Tensor, validate

_P = dict(dtype="floating", low=0)


def _check_similarity(func, k):
    if k.shape[-1] != k.shape[-2]:
        raise ValueError(f"{func}: similarity must be square (n, n), got shape {tuple(k.shape)}")
    if not bool((k.diagonal(0, -2, -1) > 0).all()):
        raise ValueError(f"{func}: similarity must have a positive diagonal "
                         "(each symbol is similar to itself)")


def _check_prob(func, name, p):
    mass = p.sum(-1)
    if not bool(((mass - 1).abs() <= max(1e-6, 50 * torch.finfo(p.dtype).eps)).all()):
        raise ValueError(f"{func}: {name} must sum to 1 along its last dimension, got sums "
                         f"{mass.flatten()[:4].tolist()}")


def _kp(k, p):
    return (k @ p.unsqueeze(-1)).squeeze(-1)


def _similarity_entropy(p, k, order):
    kp = _kp(k, p)
    support = p > 0
    safe = torch.where(support, kp, torch.ones_like(kp))  # (Kp)_i >= K_ii p_i > 0 on the support
    if order == 1:
        return -(torch.where(support, p * safe.log(), torch.zeros_like(p))).sum(-1)
    if math.isinf(order):
        return -torch.where(support, safe, torch.full_like(safe, -math.inf)).amax(-1).log()
    terms = torch.where(support, p * safe.pow(order - 1), torch.zeros_like(p))
    return terms.sum(-1).log() / (1 - order)


@validate(
    p=Tensor(shape=("...", "n"), **_P),
    similarity=Tensor(shape=("n", "n"), dtype="floating", low=0, high=1, optional=True),
    order=Real(low=0, finite=False),
    same=[("p", "similarity")],
)
def similarity_entropy(p: torch.Tensor, similarity: torch.Tensor | None = None, *,
                       order: float = 1.0) -> torch.Tensor:
    r"""Similarity-sensitive (Leinster-Cobbold) entropy of order :math:`q` of a distribution on n symbols.

    With a similarity matrix :math:`K \in [0, 1]^{n \times n}` (:math:`K_{ii} > 0`; 1 for a symbol with
    itself, 0 for unrelated symbols) the "ordinariness" of symbol :math:`i` is :math:`(Kp)_i`, the
    expected similarity of a draw to it, and

    .. math::

        H^K_1(p) = -\sum_{i : p_i > 0} p_i \log (Kp)_i, \qquad
        H^K_q(p) = \frac{1}{1 - q} \log \sum_{i : p_i > 0} p_i (Kp)_i^{q - 1}, \qquad
        H^K_\infty(p) = -\log \max_{i : p_i > 0} (Kp)_i .

    :math:`K = I` gives Shannon (:math:`q = 1`) and Rényi entropies; similar symbols lower the entropy,
    since a distribution spread over near-duplicates is not diverse. :math:`\exp H^K_q` is the
    diversity :math:`D^K_q` of Leinster & Cobbold (2012), the entropy used by GAIT (Gallego-Posada
    et al. 2019). See the chapter :doc:`Comparing distributions </book/distributions>`.

    Parameters
    ----------
    p : Tensor, shape (..., n)
        Probability vectors (non-negative, summing to 1).
    similarity : Tensor, shape (n, n), optional
        :math:`K`, entries in [0, 1], positive diagonal; the identity if None.
    order : float
        :math:`q \ge 0`, ``inf`` allowed.

    Returns
    -------
    Tensor, shape (...)
        In nats.

    Examples
    --------
    >>> import torch
    >>> k = torch.tensor([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]])
    >>> p = torch.full((3,), 1 / 3)
    >>> similarity_entropy(p), similarity_entropy(p, k)  # log 3, and less: cat and kitten look alike
    (tensor(1.0986), tensor(0.6707))
    """
    _check_prob("similarity_entropy", "p", p)
    if similarity is None:
        similarity = torch.eye(p.shape[-1], device=p.device, dtype=p.dtype)
    _check_similarity("similarity_entropy", similarity)
    return _similarity_entropy(p, similarity, float(order))


@validate(
    p=Tensor(shape=("...", "n"), **_P),
    q=Tensor(shape=("...", "n"), **_P),
    similarity=Tensor(shape=("n", "n"), dtype="floating", low=0, high=1, optional=True),
    same=[("p", "q", "similarity")],
)
def gait_divergence(p: torch.Tensor, q: torch.Tensor, similarity: torch.Tensor | None = None) -> torch.Tensor:
    r"""The GAIT (geometry-aware) divergence of ``p`` from ``q``, with a similarity matrix.

    .. math::

        D^K(p \,\|\, q) = \sum_{i : p_i > 0} p_i \log \frac{(Kp)_i}{(Kq)_i}
        = H^K_1(p, q) - H^K_1(p), \qquad H^K_1(p, q) = -\sum_i p_i \log (Kq)_i,

    the similarity-sensitive cross-entropy minus the entropy (Gallego-Posada et al. 2019).
    :math:`K = I` gives :math:`\operatorname{KL}(p \| q)`. Unlike KL it is finite when ``q`` puts no
    mass where ``p`` does, as long as ``q`` has mass at *similar* symbols: to compare two point
    clouds, put both on their pooled points (``p`` zero on the second cloud, ``q`` zero on the
    first) and build :math:`K` from a kernel (:func:`nips2019.kernels.kernel_matrix`). Closed form,
    differentiable in ``p``, ``q`` and :math:`K`; :math:`O(n^2)`. It is not symmetric, and unlike KL
    it can be negative for :math:`p \ne q` even when :math:`K` is a Gaussian kernel matrix (the
    package's tests find such pairs among random distributions on 5 points). See the
    chapter :doc:`Comparing distributions </book/distributions>`.

    Parameters
    ----------
    p, q : Tensor, shape (..., n)
        Probability vectors on the same n symbols.
    similarity : Tensor, shape (n, n), optional
        :math:`K`, entries in [0, 1], positive diagonal; the identity if None.

    Returns
    -------
    Tensor, shape (...)
        In nats; ``inf`` is refused: a ``ValueError`` is raised when some symbol with :math:`p_i > 0`
        has :math:`(Kq)_i = 0` (no similar symbol carries mass under ``q``).

    Examples
    --------
    >>> import torch
    >>> p = torch.tensor([1.0, 0.0]); q = torch.tensor([0.0, 1.0])
    >>> k = torch.tensor([[1.0, 0.5], [0.5, 1.0]])
    >>> gait_divergence(p, q, k)  # log(1 / 0.5): finite on disjoint supports
    tensor(0.6931)
    """
    func = "gait_divergence"
    _check_prob(func, "p", p)
    _check_prob(func, "q", q)
    if similarity is None:
        similarity = torch.eye(p.shape[-1], device=p.device, dtype=p.dtype)
    _check_similarity(func, similarity)
    if p.shape[:-1] != q.shape[:-1]:
        raise ValueError(f"{func}: p and q must have the same batch shape, got {tuple(p.shape)} and "
                         f"{tuple(q.shape)}")
    support = p > 0
    kp, kq = _kp(similarity, p), _kp(similarity, q)
    if not bool((kq[support.expand_as(kq)] > 0).all()):
        raise ValueError(f"{func}: q gives no similar mass to a symbol that p charges "
                         "((Kq)_i = 0 where p_i > 0): "
                         "the divergence is infinite")
    one = torch.ones_like(kp)
    ratio = torch.where(support, kp, one).log() - torch.where(support, kq, one).log()
    return (torch.where(support, p * ratio, torch.zeros_like(p))).sum(-1)


@dataclasses.dataclass
class MaxDiversityResult:
    """The maximum-diversity distribution (:func:`max_diversity`).

    See the chapter :doc:`Comparing distributions </book/distributions>`.

    Attributes
    ----------
    p : Tensor, shape (n,)
        The maximising distribution (the same for every order q).
    diversity : Tensor, scalar
        The maximum diversity :math:`D^K_q(p) = \\exp H^K_q(p)`, the same for every q: the magnitude
        :math:`\\sum_i w_i` of the support's weighting :math:`K_S w = 1`.
    entropy : Tensor, scalar
        :math:`\\log` ``diversity``, the maximum similarity-sensitive entropy.
    n_steps : int
        Projected-gradient steps used.
    """

    p: torch.Tensor
    diversity: torch.Tensor
    entropy: torch.Tensor
    n_steps: int


def _project_simplex(v):
    u, _ = torch.sort(v, descending=True)
    css = u.cumsum(0) - 1
    idx = torch.arange(1, v.numel() + 1, device=v.device, dtype=v.dtype)
    rho = int((u - css / idx > 0).nonzero().max())
    theta = css[rho] / (rho + 1)
    return (v - theta).clamp_min(0)


def _weighting_on(k, support):
    ks = k[support][:, support]
    return torch.linalg.solve(ks, torch.ones(ks.shape[0], device=k.device, dtype=k.dtype))


@validate(
    similarity=Tensor(shape=("n", "n"), dtype="floating", low=0, high=1),
    n_steps=Integer(low=1),
    tol=Real(low=0, closed="neither"),
)
def max_diversity(similarity: torch.Tensor, *, n_steps: int = 5000, tol: float = 1e-10) -> MaxDiversityResult:
    r"""The distribution of maximum similarity-sensitive entropy (Leinster & Meckes 2016).

    For a symmetric similarity matrix one distribution maximises :math:`H^K_q` for every order
    :math:`q` at once, and the maximum diversity is the largest magnitude :math:`\sum_i w_i` of a
    subset :math:`S` whose weighting (:math:`K_S w = 1`) is non-negative, with :math:`p = w / \sum w`
    on :math:`S`. It is found here through order 2, :math:`D^K_2(p) = 1 / p^\top K p`: the convex
    quadratic programme :math:`\min_{p \in \Delta} p^\top K p` (for positive semi-definite K) is
    solved by accelerated projected gradient, then polished exactly by solving :math:`K_S w = 1`
    on the support found. With similar symbols the maximiser is not uniform: near-duplicates
    share the mass one distinct symbol gets. See the chapter
    :doc:`Comparing distributions </book/distributions>`.

    Parameters
    ----------
    similarity : Tensor, shape (n, n)
        Symmetric, positive semi-definite (e.g. a Gaussian kernel matrix), entries in [0, 1],
        unit diagonal.
    n_steps : int
        Cap on projected-gradient steps.
    tol : float
        Stop when a step moves ``p`` by less than this (sup norm).

    Returns
    -------
    MaxDiversityResult

    References
    ----------
    Leinster & Cobbold (2012), *Ecology* 93; Leinster & Meckes (2016), *Entropy* 18.

    Examples
    --------
    >>> import torch
    >>> k = torch.tensor([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    >>> max_diversity(k).p  # the plane gets more than a third
    tensor([0.2564, 0.2564, 0.4872], dtype=torch.float64)
    """
    func = "max_diversity"
    k = similarity
    _check_similarity(func, k)
    if not bool(torch.allclose(k, k.T, rtol=0, atol=1e-12 if k.dtype == torch.float64 else 1e-6)):
        raise ValueError(f"{func}: similarity must be symmetric")
    n = k.shape[0]
    lam = float(torch.linalg.eigvalsh(k).max())
    step = 1.0 / (2 * lam)
    p = torch.full((n,), 1.0 / n, device=k.device, dtype=k.dtype)
    z, t = p.clone(), 1.0
    used = 0
    for used in range(1, n_steps + 1):
        p_new = _project_simplex(z - step * 2 * (k @ z))
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        z = p_new + ((t - 1) / t_new) * (p_new - p)
        moved = float((p_new - p).abs().max())
        p, t = p_new, t_new
        if moved < tol:
            break
    # polish: the exact weighting on the support found (if it is positive there)
    support = p > 1e-9 * float(p.max())
    w = _weighting_on(k, support)
    if bool((w > 0).all()):
        p = torch.zeros_like(p)
        p[support] = w / w.sum()
    div = 1.0 / (p @ k @ p)
    return MaxDiversityResult(p=p, diversity=div, entropy=div.log(), n_steps=used)

