"""Wasserstein distances between point clouds."""

from __future__ import annotations

import math

import torch

from nips2019.utils import Real, Tensor, validate

from ._cost import _cost_matrix
from ._solvers import _exact_ot, _unbalanced_ot


def _wasserstein_distance(x, y, a=None, b=None, p=2, reg=None) -> torch.Tensor:
    """Unchecked :func:`wasserstein_distance` (weights, if given, with positive mass)."""
    cost = _cost_matrix(x, y, "euclidean")
    if p != 1:
        cost = cost.pow(p)
    kw = dict(device=x.device, dtype=x.dtype)
    a = torch.full((x.shape[0],), 1.0 / x.shape[0], **kw) if a is None else a / a.sum()
    b = torch.full((y.shape[0],), 1.0 / y.shape[0], **kw) if b is None else b / b.sum()
    if reg is None:
        res = _exact_ot(a, b, cost)
    else:
        # the log-domain solver with both marginals enforced (epsilon scaling for small reg) on the
        # points that carry mass, stopped when the row marginals are off by 1e-6 in total (the
        # value is then off by at most 1e-6 max(cost); float32 stops at 64 ulps)
        rows, cols = a > 0, b > 0
        tol = max(1e-6, 64 * torch.finfo(cost.dtype).eps)
        res = _unbalanced_ot(a[rows], b[cols], cost[rows][:, cols], reg, (math.inf, math.inf), "kl",
                             "sinkhorn_log", 100_000, tol, func="wasserstein_distance")
    return res.value.clamp_min(0.0).pow(1.0 / p)


@validate(
    x=Tensor(shape=("n", "d"), dtype="floating"),
    y=Tensor(shape=("m", "d"), dtype="floating"),
    a=Tensor(shape=("n",), dtype="floating", low=0, optional=True),
    b=Tensor(shape=("m",), dtype="floating", low=0, optional=True),
    p=Real(low=0, closed="neither"),
    reg=Real(low=0, closed="neither", optional=True),
    same=[("x", "y", "a", "b")],
)
def wasserstein_distance(
    x: torch.Tensor,
    y: torch.Tensor,
    a: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    *,
    p: float = 2,
    reg: float | None = None,
) -> torch.Tensor:
    r"""The :math:`p`-Wasserstein distance between two weighted point clouds.

    .. math::

        W_p(\mu, \nu) = \Bigl(\min_{\gamma \in \Pi(a, b)} \sum_{ij} \gamma_{ij}
        \lVert x_i - y_j \rVert_2^p\Bigr)^{1/p}.

    Exact (network simplex, ``ot.emd``) by default; with ``reg`` the plan is the
    entropic one (log-domain Sinkhorn on the raw, unnormalised cost), which overestimates
    :math:`W_p` slightly but scales to larger clouds. Weights are normalised to
    probabilities. See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    y : Tensor, shape (m, d)
    a, b : Tensor, optional
        Non-negative weights with positive mass, shapes (n,) and (m,); uniform by default.
        ``x``, ``y``, ``a`` and ``b`` share a device and dtype.
    p : float
        Usually 1 or 2 (any positive number works).
    reg : float, optional
        Entropic weight, absolute: in the units of the cost :math:`\lVert x - y \rVert^p`.

    Returns
    -------
    Tensor, scalar
        On the device and with the dtype of ``x``.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    >>> wasserstein_distance(x, x + 3.0)
    tensor(3., dtype=torch.float64)
    """
    for name, w in (("a", a), ("b", b)):
        if w is not None and not bool(w.sum() > 0):
            raise ValueError(f"wasserstein_distance: {name} must have positive total mass, got all zeros")
    return _wasserstein_distance(x, y, a, b, p, reg)
