"""Cost matrices between point clouds and their normalisation."""

from __future__ import annotations

import numpy as np
import torch

from nips2019.utils import Options, Tensor, validate

_METRICS = ("sqeuclidean", "euclidean")
_NORMALIZATIONS = ("median", "mean", "max")


def _scale(cost: torch.Tensor, normalize: str) -> torch.Tensor:
    if normalize == "median":
        # torch's median (the lower of the two middle values) by a linear-time selection:
        # torch.median sorts, about 5x slower on a large CPU cost matrix
        if cost.device.type == "cpu" and cost.dtype in (torch.float32, torch.float64) and not cost.requires_grad:
            flat = cost.reshape(-1).numpy()
            k = (flat.size - 1) // 2
            return torch.as_tensor(np.partition(flat, k)[k], dtype=cost.dtype)
        return cost.flatten().median()
    if normalize == "mean":
        return cost.mean()
    return cost.max()


def _normalize_cost(cost: torch.Tensor, normalize: str | None, func: str = "normalize_cost", what: str = "cost",
                    inplace: bool = False):
    """Unchecked :func:`normalize_cost`; ``func`` and ``what`` name the caller and its inputs in the error;
    ``inplace`` divides ``cost`` itself (no second n x m array)."""
    return _normalize_with_scale(cost, normalize, func, what, inplace)[0]


def _normalize_with_scale(cost, normalize, func="normalize_cost", what="cost", inplace=False):
    """(normalised cost, the statistic it was divided by as a float; 1.0 without normalisation)."""
    if normalize is None:
        return cost, 1.0
    scale = _scale(cost, normalize)
    if not bool(scale > 0):
        raise ValueError(
            f"{func}: cannot normalise the cost of {what} by its {normalize}: it is {float(scale)} "
            f"(do the points coincide?); use normalize=None or another statistic"
        )
    return (cost.div_(scale) if inplace and not cost.requires_grad else cost / scale), float(scale)


def _cost_matrix(x: torch.Tensor, y: torch.Tensor, metric: str = "sqeuclidean") -> torch.Tensor:
    """Unchecked :func:`cost_matrix` without normalisation."""
    # centre both clouds on a common point: the expansion below loses less precision
    centre = x.mean(0, keepdim=True)
    xc, yc = x - centre, y - centre
    xsq, ysq = (xc * xc).sum(1), (yc * yc).sum(1)
    # one n x m array, filled in place: |x_i|^2 + |y_j|^2 (a rank-2 product), then - 2 <x_i, y_j>
    # (the order of the old out-of-place expression, so a cost of x against itself stays symmetric)
    sq = torch.stack([xsq, torch.ones_like(xsq)], 1) @ torch.stack([torch.ones_like(ysq), ysq], 0)
    if sq.requires_grad:  # autograd: out of place
        cost = (sq - 2.0 * xc @ yc.T).clamp_min(0.0)
        return cost.sqrt() if metric == "euclidean" else cost
    cost = torch.addmm(sq, xc, yc.T, alpha=-2.0, out=sq).clamp_min_(0.0)
    if metric == "euclidean":
        cost = cost.sqrt_()
    return cost


@validate(
    cost=Tensor(shape=("n", "m"), dtype="floating", low=0),
    normalize=Options(*_NORMALIZATIONS, optional=True),
)
def normalize_cost(cost: torch.Tensor, *, normalize: str | None = "median") -> torch.Tensor:
    r"""Divide a cost matrix by a scale statistic of its entries.

    .. math::

        \tilde C = C / s(C), \qquad s \in \{\operatorname{median}, \operatorname{mean}, \max\}.

    With entropic regularisation the kernel is :math:`e^{-C/\mathrm{reg}}`, so ``reg``
    only has a meaning relative to the scale of :math:`C`; Waddington-OT divides by the
    median. Functions that normalise the cost themselves take the same ``normalize=``
    option, and their ``reg`` then multiplies the normalised cost. See the chapter
    :doc:`OT for lineage tracing </book/lineage>`.

    Parameters
    ----------
    cost : Tensor, shape (n, m)
        Non-negative, finite cost matrix.
    normalize : {"median", "mean", "max"} or None
        Scale statistic; ``None`` returns ``cost`` unchanged.

    Returns
    -------
    Tensor, shape (n, m)
        Same device and dtype as ``cost``.

    Raises
    ------
    ValueError
        If the statistic is not positive (all points coincide).

    Examples
    --------
    >>> import torch
    >>> normalize_cost(torch.tensor([[0.0, 2.0], [4.0, 6.0]]), normalize="max")
    tensor([[0.0000, 0.3333],
            [0.6667, 1.0000]])
    """
    return _normalize_cost(cost, normalize)


@validate(
    x=Tensor(shape=("n", "d"), dtype="floating"),
    y=Tensor(shape=("m", "d"), dtype="floating", optional=True),
    metric=Options(*_METRICS),
    normalize=Options(*_NORMALIZATIONS, optional=True),
    same=[("x", "y")],
)
def cost_matrix(
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
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
    :doc:`OT for lineage tracing </book/lineage>`.

    Parameters
    ----------
    x : Tensor, shape (n, d)
        Non-empty, finite points.
    y : Tensor, shape (m, d), optional
        Defaults to ``x``; same device and dtype as ``x``.
    metric : {"sqeuclidean", "euclidean"}
    normalize : {"median", "mean", "max"} or None
        Divide by this statistic of the cost (:func:`normalize_cost`).

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
    y = x if y is None else y
    return _normalize_cost(_cost_matrix(x, y, metric), normalize, "cost_matrix", "x and y", inplace=True)
