"""Poincaré ball, Lorentz model and Euclidean space: distances and conversions.

The manifolds themselves (exp/log maps, projections, Riemannian gradients) are
geoopt's; this module adds the pieces geoopt does not have: pairwise distance
matrices computed with matrix products (what evaluation needs), and the
isometries between the two hyperbolic models.
"""

from __future__ import annotations

import geoopt
import torch

from ..utils import check_tensor

__all__ = ["MODELS", "get_manifold", "lorentz_to_poincare", "pairwise_distance", "poincare_to_lorentz"]

#: Names of the geometries understood by :func:`get_manifold` and :func:`pairwise_distance`.
MODELS = ("poincare", "lorentz", "euclidean")


def _check_model(model: str) -> str:
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    return model


def get_manifold(model: str) -> geoopt.Manifold:
    """The geoopt manifold for ``model`` (curvature -1 for the hyperbolic ones).

    See the chapter *Hyperbolic embeddings of hierarchies*.

    Parameters
    ----------
    model : {"poincare", "lorentz", "euclidean"}

    Returns
    -------
    geoopt.Manifold
        ``PoincareBall()``, ``Lorentz()`` or ``Euclidean(ndim=1)``.

    Examples
    --------
    >>> import torch
    >>> ball = get_manifold("poincare")
    >>> x = ball.expmap0(torch.tensor([[1.0, 0.0]]))
    >>> round(float(ball.dist0(x)), 4)  # the metric at 0 is 4x Euclidean: a unit tangent vector has length 2
    2.0
    """
    _check_model(model)
    if model == "poincare":
        return geoopt.PoincareBall()
    if model == "lorentz":
        return geoopt.Lorentz()
    return geoopt.Euclidean(ndim=1)


def poincare_to_lorentz(x: torch.Tensor) -> torch.Tensor:
    r"""Map Poincaré-ball points to the hyperboloid.

    See the chapter *Hyperbolic embeddings of hierarchies*.

    .. math:: \phi(x) = \frac{(1 + \|x\|^2,\; 2x)}{1 - \|x\|^2},
       \qquad -\phi_0^2 + \|\phi_{1:}\|^2 = -1.

    Parameters
    ----------
    x : Tensor, shape (..., d)
        Points with ``|x| < 1``.

    Returns
    -------
    Tensor, shape (..., d + 1)

    Examples
    --------
    >>> import torch
    >>> poincare_to_lorentz(torch.zeros(1, 2)).tolist()
    [[1.0, 0.0, 0.0]]
    """
    x = check_tensor(x, "x", floating=True)
    sq = (x * x).sum(-1, keepdim=True)
    if bool((sq >= 1).any()):
        raise ValueError("x must lie strictly inside the unit ball")
    n = x.norm(dim=-1, keepdim=True)
    denom = (1 - n) * (1 + n)
    return torch.cat([(1 + sq) / denom, 2 * x / denom], -1)


def lorentz_to_poincare(x: torch.Tensor) -> torch.Tensor:
    r"""Map hyperboloid points to the Poincaré ball, :math:`x \mapsto x_{1:} / (1 + x_0)`.

    See the chapter *Hyperbolic embeddings of hierarchies*.

    Parameters
    ----------
    x : Tensor, shape (..., d + 1)

    Returns
    -------
    Tensor, shape (..., d)

    Examples
    --------
    >>> import torch
    >>> y = poincare_to_lorentz(torch.tensor([[0.3, -0.2]], dtype=torch.float64))
    >>> lorentz_to_poincare(y).tolist()
    [[0.3, -0.2]]
    """
    x = check_tensor(x, "x", floating=True)
    if x.shape[-1] < 2:
        raise ValueError(f"x must have at least 2 coordinates, got shape {tuple(x.shape)}")
    return x[..., 1:] / (1 + x[..., :1])


def pairwise_distance(x: torch.Tensor, y: torch.Tensor | None = None, model: str = "poincare") -> torch.Tensor:
    r"""All distances between the rows of ``x`` and ``y``.

    See the chapter *Hyperbolic embeddings of hierarchies*.

    .. math::
        d_{\mathbb{B}}(x, y) = \operatorname{arcosh}\Big(1 + \frac{2\|x - y\|^2}{(1 - \|x\|^2)(1 - \|y\|^2)}\Big)
        = 2\operatorname{arsinh}\frac{\|x - y\|}{\sqrt{(1 - \|x\|^2)(1 - \|y\|^2)}},
        \qquad d_{\mathbb{L}}(x, y) = \operatorname{arcosh}(-\langle x, y\rangle_{\mathcal{L}}),

    and the Euclidean distance. Computed from ``torch.cdist`` (direct differences; matrix products
    for very large inputs),
    clamped so that round-off never leaves the domain of :math:`\operatorname{arcosh}`; ``1 - |x|^2`` is
    formed as ``(1 - |x|)(1 + |x|)``.

    Parameters
    ----------
    x : Tensor, shape (n, d) (``d + 1`` for Lorentz)
    y : Tensor, shape (m, d), optional
        Defaults to ``x``.
    model : {"poincare", "lorentz", "euclidean"}

    Returns
    -------
    Tensor, shape (n, m)

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0, 0.0], [0.5, 0.0]], dtype=torch.float64)
    >>> d = pairwise_distance(x)
    >>> round(float(d[0, 1]), 6) == round(2 * float(torch.atanh(torch.tensor(0.5))), 6)
    True
    """
    _check_model(model)
    x = check_tensor(x, "x", ndim=2, floating=True)
    y = x if y is None else check_tensor(y, "y", ndim=2, floating=True)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got {x.shape[1]} and {y.shape[1]}")
    if model == "euclidean":
        return torch.cdist(x, y)
    if model == "lorentz":
        inner = x[:, 1:] @ y[:, 1:].T - x[:, :1] * y[:, :1].T
        return torch.acosh((-inner).clamp_min(1.0))
    nx, ny = x.norm(dim=1), y.norm(dim=1)
    if bool((nx >= 1).any()) or bool((ny >= 1).any()):
        raise ValueError("Poincaré points must lie strictly inside the unit ball")
    if x.shape[0] * y.shape[0] * x.shape[1] <= 50_000_000:  # direct differences: exact zeros, no cancellation
        sq = torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist") ** 2
    else:
        sq = (nx[:, None] ** 2 + ny[None, :] ** 2 - 2 * x @ y.T).clamp_min(0)
    denom = ((1 - nx) * (1 + nx))[:, None] * ((1 - ny) * (1 + ny))[None, :]
    return 2 * torch.asinh((sq / denom).sqrt())
