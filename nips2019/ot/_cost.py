"""Cost matrices between point clouds and their normalisation."""

from __future__ import annotations

import torch

from nips2019.utils import check_finite, check_tensor

_METRICS = ("sqeuclidean", "euclidean")
_NORMALIZATIONS = ("median", "mean", "max")


def normalize_cost(cost: torch.Tensor, method: str | None = "median") -> torch.Tensor:
    r"""Divide a cost matrix by a scale statistic of its entries.

    .. math::

        \tilde C = C / s(C), \qquad s \in \{\operatorname{median}, \operatorname{mean}, \max\}.

    With entropic regularisation the kernel is :math:`e^{-C/\varepsilon}`, so
    :math:`\varepsilon` only has a meaning relative to the scale of :math:`C`;
    Waddington-OT divides by the median. See the chapter *OT for lineage tracing*.

    Parameters
    ----------
    cost : Tensor, shape (n, m)
        Non-negative cost matrix.
    method : {"median", "mean", "max"} or None
        Scale statistic; ``None`` returns ``cost`` unchanged.

    Returns
    -------
    Tensor, shape (n, m)
        Same device and dtype as ``cost``.

    Raises
    ------
    ValueError
        If ``method`` is unknown or the statistic is not positive.

    Examples
    --------
    >>> import torch
    >>> normalize_cost(torch.tensor([[0.0, 2.0], [4.0, 6.0]]), "max")
    tensor([[0.0000, 0.3333],
            [0.6667, 1.0000]])
    """
    check_tensor(cost, "cost", ndim=2, floating=True)
    if method is None:
        return cost
    if method not in _NORMALIZATIONS:
        raise ValueError(f"method must be one of {_NORMALIZATIONS} or None, got {method!r}")
    if method == "median":
        scale = cost.flatten().median()
    elif method == "mean":
        scale = cost.mean()
    else:
        scale = cost.max()
    if not bool(scale > 0):
        raise ValueError(f"cannot normalise cost by its {method}: it is {float(scale)} (all points coincide?)")
    return cost / scale


def cost_matrix(
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    metric: str = "sqeuclidean",
    normalize: str | None = None,
) -> torch.Tensor:
    r"""Pairwise ground cost between two point clouds.

    .. math::

        C_{ij} = \lVert x_i - y_j \rVert_2^2 \ (\text{sqeuclidean}) \quad\text{or}\quad
        C_{ij} = \lVert x_i - y_j \rVert_2 \ (\text{euclidean}),

    optionally divided by a scale statistic (:func:`normalize_cost`).
    Unlike ``torch.cdist``, the squared distance is formed directly and clamped
    at zero, so it is exactly symmetric and never negative. See the chapter
    *OT for lineage tracing*.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    y : Tensor, shape (m, d), optional
        Defaults to ``x``.
    metric : {"sqeuclidean", "euclidean"}
    normalize : {"median", "mean", "max"} or None

    Returns
    -------
    Tensor, shape (n, m)
        On the device and with the dtype of ``x``.

    Examples
    --------
    >>> import torch
    >>> cost_matrix(torch.tensor([[0.0, 0.0], [1.0, 1.0]]), torch.tensor([[0.0, 1.0]]))
    tensor([[1.],
            [1.]])
    """
    check_tensor(x, "x", ndim=2, floating=True)
    y = x if y is None else y
    check_tensor(y, "y", ndim=2, floating=True)
    if y.shape[1] != x.shape[1]:
        raise ValueError(f"x and y must have the same number of columns, got {x.shape[1]} and {y.shape[1]}")
    if y.dtype != x.dtype or y.device != x.device:
        raise ValueError(f"x and y must share dtype and device, got {x.dtype}/{x.device} and {y.dtype}/{y.device}")
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {_METRICS}, got {metric!r}")
    check_finite(x, "x")
    check_finite(y, "y")
    # centre both clouds on a common point: the expansion below loses less precision
    centre = x.mean(0, keepdim=True)
    xc, yc = x - centre, y - centre
    sq = (xc * xc).sum(1)[:, None] + (yc * yc).sum(1)[None, :] - 2.0 * xc @ yc.T
    cost = sq.clamp_min(0.0)
    if metric == "euclidean":
        cost = cost.sqrt()
    return normalize_cost(cost, normalize)
