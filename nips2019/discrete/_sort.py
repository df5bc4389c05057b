r"""Soft sorting, ranking and quantiles as entropic OT to a fixed sorted target (Cuturi, Teboul & Vert 2019).

Sorting :math:`x \in \mathbb{R}^n` is the optimal assignment of its entries to any increasing
target :math:`y_1 < \dots < y_m` for a convex cost :math:`h(x_i - y_j)`; with uniform weights
and :math:`m = n` the optimal plan is the sorting permutation (divided by n). Replacing the
assignment by entropic OT (:func:`nips2019.ot.sinkhorn_log`) makes the plan :math:`P` a smooth
function of :math:`x`, and with it

.. math::

    \tilde S(x) = b^{-1} \circ P^\top x \quad (\text{sorted values}), \qquad
    \tilde R(x) = n\, a^{-1} \circ P \bar b \quad (\text{ranks}),\ \bar b = \operatorname{cumsum}(b).
"""

from __future__ import annotations

import torch

from nips2019.ot._batched import _sinkhorn_log
from nips2019.utils import Bool, Integer, Options, Probability, Real, Tensor, validate

_X = Tensor(shape=("...", "n"), dtype="floating")

_COMMON = dict(
    x=_X,
    reg=Real(low=0, closed="neither"),
    squash=Bool(),
    max_iter=Integer(low=1),
    tol=Real(low=0, closed="neither"),
    grad=Options("implicit", "unroll"),
)


def _squash(x):
    """Sigmoid of the standardised values along the last axis (Cuturi et al.'s squashing), in (0, 1)."""
    mean = x.mean(-1, keepdim=True)
    std = x.std(-1, unbiased=False, keepdim=True)
    tiny = torch.finfo(x.dtype).tiny ** 0.5
    return torch.sigmoid((x - mean) / std.clamp_min(tiny))


def _soft_plan(x, target, target_weights, reg, squash, max_iter, tol, grad, func):
    """The (..., n, m) plan from the n values of x (uniform weights) to the sorted target."""
    z = _squash(x) if squash else x
    cost = (z.unsqueeze(-1) - target) ** 2
    return _sinkhorn_log(None, target_weights, cost, reg, max_iter, tol, None, grad, func=func).plan


def _grid(m, like):
    return torch.linspace(0.0, 1.0, m, dtype=like.dtype, device=like.device)


def _check_n(x, func):
    if x.shape[-1] < 2:
        raise ValueError(f"{func}: x must have at least 2 values along its last axis, "
                         f"got shape {tuple(x.shape)}")


def _sorting_plan(x, reg, squash, max_iter, tol, grad, func):
    """The (..., n, n) plan of soft_sort and soft_rank: the n values to the grid of n sorted targets."""
    _check_n(x, func)
    return _soft_plan(x, _grid(x.shape[-1], x), None, reg, squash, max_iter, tol, grad, func)


@validate(descending=Bool(), **_COMMON)
def soft_sort(x: torch.Tensor, *, reg: float = 1e-2, descending: bool = False, squash: bool = True,
              max_iter: int = 10_000, tol: float = 1e-6, grad: str = "implicit") -> torch.Tensor:
    r"""Differentiable sorted values along the last axis: :math:`\tilde S(x) = n P^\top x`.

    :math:`P` is the entropic OT plan (:func:`nips2019.ot.sinkhorn_log`) from the n values
    (weights :math:`1/n`) to the grid :math:`y_j = (j-1)/(n-1)` (weights :math:`1/n`) for the cost
    :math:`(s(x_i) - y_j)^2`, where :math:`s` squashes the values into (0, 1) by a sigmoid of their
    standardised values (``squash=True``; with ``squash=False`` the values themselves are compared
    with the grid, so they should lie in [0, 1]). The output is a weighted average of the
    *original* values: each :math:`\tilde S_j` lies in :math:`[\min x, \max x]`, the sum is
    preserved, and as ``reg`` -> 0 it tends to ``torch.sort(x).values``. Squashing makes ``reg``
    scale-free: it is measured against squared distances in (0, 1), where neighbouring targets
    are :math:`1/(n-1)^2` apart. See the chapter :doc:`/book/discrete`.

    Parameters
    ----------
    x : Tensor, shape (..., n)
        Values to sort along the last axis (n >= 2); leading axes are a batch.
    reg : float
        Entropic weight on the squashed scale (default 1e-2: smooth; 1e-4: nearly hard, slower).
    descending : bool
        Sort from largest to smallest.
    squash : bool
        Squash the values into (0, 1) before comparing them with the grid (default True).
    max_iter, tol : int, float
        Sinkhorn iteration cap and tolerance (:func:`nips2019.ot.sinkhorn_log`; epsilon scaling
        is on automatically at small ``reg``).
    grad : {"implicit", "unroll"}
        How the plan is differentiated (see :func:`nips2019.ot.sinkhorn_log`).

    Returns
    -------
    Tensor, shape (..., n)
        Entry j is the soft j-th smallest value (j-th largest with ``descending``).

    References
    ----------
    Cuturi, Teboul & Vert (2019), *Differentiable ranking and sorting using optimal transport*, NeurIPS.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([0.3, -1.0, 2.0, 0.5], dtype=torch.float64)
    >>> soft_sort(x, reg=1e-4)
    tensor([-1.0000,  0.3000,  0.5000,  2.0000], dtype=torch.float64)
    >>> soft_sort(x, reg=0.1).sum()  # smooth, the total is kept
    tensor(1.8000, dtype=torch.float64)
    """
    plan = _sorting_plan(x, reg, squash, max_iter, tol, grad, "soft_sort")
    values = x.shape[-1] * (plan.transpose(-1, -2) @ x.unsqueeze(-1)).squeeze(-1)
    return values.flip(-1) if descending else values


@validate(descending=Bool(), **_COMMON)
def soft_rank(x: torch.Tensor, *, reg: float = 1e-2, descending: bool = False, squash: bool = True,
              max_iter: int = 10_000, tol: float = 1e-6, grad: str = "implicit") -> torch.Tensor:
    r"""Differentiable ranks along the last axis, in [1, n]: :math:`\tilde R_i = n \sum_j P_{ij}\, j`.

    With the plan :math:`P` of :func:`soft_sort` (rows summing to :math:`1/n`), the soft rank of
    :math:`x_i` is the average position of the targets it is sent to, i.e. Cuturi et al.'s
    :math:`n\, a^{-1} \circ P \bar b` with :math:`\bar b_j = j / n`. As ``reg`` -> 0 it tends to the
    1-based ranks (``scipy.stats.rankdata`` for distinct values; tied values share their mean rank
    for every ``reg``). The ranks always sum to :math:`n(n+1)/2`. See the chapter
    :doc:`/book/discrete`.

    Parameters
    ----------
    x : Tensor, shape (..., n)
    reg, descending, squash, max_iter, tol, grad
        As in :func:`soft_sort` (``descending=True``: rank 1 for the largest value).

    Returns
    -------
    Tensor, shape (..., n)
        The soft rank of each entry of ``x``, in [1, n].

    References
    ----------
    Cuturi, Teboul & Vert (2019), NeurIPS.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([0.3, -1.0, 2.0, 0.5], dtype=torch.float64)
    >>> soft_rank(x, reg=1e-4)
    tensor([2.0000, 1.0000, 4.0000, 3.0000], dtype=torch.float64)
    """
    n = x.shape[-1]
    plan = _sorting_plan(-x if descending else x, reg, squash, max_iter, tol, grad, "soft_rank")
    positions = torch.arange(1, n + 1, dtype=x.dtype, device=x.device)
    return n * (plan @ positions.unsqueeze(-1)).squeeze(-1)


@validate(q=Probability(), width=Real(low=0, high=1, closed="right"), **_COMMON)
def soft_quantile(
    x: torch.Tensor,
    q: float,
    *,
    width: float = 0.05,
    reg: float = 1e-2,
    squash: bool = True,
    max_iter: int = 10_000,
    tol: float = 1e-6,
    grad: str = "implicit",
) -> torch.Tensor:
    r"""Differentiable ``q``-quantile along the last axis: the mean of the values in a window of ranks.

    Cuturi et al.'s construction with three targets :math:`(0, \tfrac12, 1)` of weights
    :math:`(q - t/2,\ t,\ 1 - q - t/2)`, :math:`t` = ``width``: the entropic plan sends the
    lowest :math:`q - t/2` of the mass to the first target, the middle :math:`t` to the second,
    and the soft quantile is the mean of what reaches the middle,
    :math:`\tilde Q = t^{-1} (P^\top x)_2`. As ``reg`` -> 0 it tends to the average of the
    empirical quantile function over :math:`[q - t/2, q + t/2]` (with :math:`t = 1/n` and
    :math:`q = (k - \tfrac12)/n`, the k-th smallest value). A zero end weight drops that target:
    ``q = (1 - trim) / 2, width = 1 - trim`` is the **trimmed mean** of the lowest ``1 - trim``
    fraction. See the chapter :doc:`/book/discrete`.

    Parameters
    ----------
    x : Tensor, shape (..., n)
    q : float
        Quantile level, with ``width / 2 <= q <= 1 - width / 2``.
    width : float
        Fraction of the mass averaged, in (0, 1].
    reg, squash, max_iter, tol, grad
        As in :func:`soft_sort`.

    Returns
    -------
    Tensor, shape (...)

    References
    ----------
    Cuturi, Teboul & Vert (2019), NeurIPS, section 5 (soft quantile regression).

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([5.0, 1.0, 3.0, 100.0, 2.0], dtype=torch.float64)
    >>> soft_quantile(x, 0.5, width=0.2, reg=1e-4)  # the median, 3
    tensor(3.0000, dtype=torch.float64)
    >>> soft_quantile(x, 0.4, width=0.8, reg=1e-4)  # trimmed mean of the lowest 80%
    tensor(2.7500, dtype=torch.float64)
    """
    func = "soft_quantile"
    _check_n(x, func)
    lo, hi = q - width / 2, 1.0 - q - width / 2
    slack = 1e-12
    if lo < -slack or hi < -slack:
        raise ValueError(f"{func}: q must be in [width / 2, 1 - width / 2] = "
                         f"[{width / 2:g}, {1 - width / 2:g}], got q = {q:g} with width = {width:g}")
    kw = dict(dtype=x.dtype, device=x.device)
    points, weights, middle = [], [], 0
    if lo > slack:
        points.append(0.0)
        weights.append(lo)
        middle = 1
    points.append(0.5)
    weights.append(width)
    if hi > slack:
        points.append(1.0)
        weights.append(hi)
    if len(points) == 1:  # width = 1: the plain mean
        return x.mean(-1)
    target = torch.tensor(points, **kw)
    b = torch.tensor(weights, **kw)
    b = b / b.sum()
    plan = _soft_plan(x, target, b, reg, squash, max_iter, tol, grad, func)
    return (plan[..., :, middle] * x).sum(-1) / b[middle]
