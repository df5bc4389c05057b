"""Poincaré ball, Lorentz model and Euclidean space: distances and conversions.

The manifolds themselves (exp/log maps, projections, Riemannian gradients) are
geoopt's; this module adds the pieces geoopt does not have: pairwise distance
matrices computed with matrix products (what evaluation needs), and the
isometries between the two hyperbolic models.
"""

from __future__ import annotations

import geoopt
import torch

from ..utils import Options, Tensor, validate

__all__ = ["MODELS", "get_manifold", "lorentz_to_poincare", "pairwise_distance", "poincare_to_lorentz"]

#: Names of the geometries understood by :func:`get_manifold` and :func:`pairwise_distance`.
MODELS = ("poincare", "lorentz", "euclidean")


#: Floating dtypes accepted where a function creates its own tensors.
FLOAT_DTYPES = Options(torch.float32, torch.float64, optional=True)


def _check_ball(func: str, name: str, x: torch.Tensor) -> None:
    """Refuse rows of ``x`` on or outside the unit sphere (the Poincaré ball is open)."""
    norm = float(x.detach().norm(dim=-1).max())
    if not norm < 1:
        raise ValueError(f"{func}: {name} must hold points of the Poincaré ball (row norms < 1), "
                         f"got a row of norm {norm:.6g}")


def _check_hyperboloid(func: str, name: str, x: torch.Tensor) -> None:
    r"""Refuse points off the upper sheet :math:`-x_0^2 + \|x_{1:}\|^2 = -1` (relative tolerance sqrt(eps))."""
    if x.shape[-1] < 2:
        raise ValueError(f"{func}: {name} must have at least 2 coordinates (x_0, x_1, ...), got shape "
                         f"{tuple(x.shape)}")
    w = x.detach().double()
    x0 = w[..., 0]
    resid = ((w[..., 1:] ** 2).sum(-1) - x0 ** 2 + 1).abs() / x0 ** 2
    tol = torch.finfo(x.dtype).eps ** 0.5
    worst = float(resid.max())
    if not bool((x0 > 0).all()) or not worst <= tol:
        raise ValueError(f"{func}: {name} must hold points of the hyperboloid (x_0 > 0 and "
                         f"|<x, x>_L + 1| <= {tol:.1e} x_0^2), got a relative residual of {worst:.3g}")


def _check_points(func: str, model: str, **points) -> None:
    """Refuse points outside ``model``'s domain (the open ball, the hyperboloid; anything is Euclidean)."""
    for name, x in points.items():
        if x is None:
            continue
        if model == "poincare":
            _check_ball(func, name, x)
        elif model == "lorentz":
            _check_hyperboloid(func, name, x)


@validate(model=Options(*MODELS))
def get_manifold(model: str) -> geoopt.Manifold:
    """The geoopt manifold for ``model`` (curvature -1 for the hyperbolic ones).

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

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
    if model == "poincare":
        return geoopt.PoincareBall()
    if model == "lorentz":
        return geoopt.Lorentz()
    return geoopt.Euclidean(ndim=1)


@validate(x=Tensor(shape=("...", "d"), dtype="floating"))
def poincare_to_lorentz(x: torch.Tensor) -> torch.Tensor:
    r"""Map Poincaré-ball points to the hyperboloid.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

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
    _check_ball("poincare_to_lorentz", "x", x)
    sq = (x * x).sum(-1, keepdim=True)
    n = x.norm(dim=-1, keepdim=True)
    denom = (1 - n) * (1 + n)
    return torch.cat([(1 + sq) / denom, 2 * x / denom], -1)


@validate(x=Tensor(shape=("...", "d"), dtype="floating"))
def lorentz_to_poincare(x: torch.Tensor) -> torch.Tensor:
    r"""Map hyperboloid points to the Poincaré ball, :math:`x \mapsto x_{1:} / (1 + x_0)`.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Parameters
    ----------
    x : Tensor, shape (..., d + 1)
        Points of the hyperboloid (checked to a relative tolerance of ``sqrt(eps)``).

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
    _check_hyperboloid("lorentz_to_poincare", "x", x)
    return x[..., 1:] / (1 + x[..., :1])


@validate(
    x=Tensor(shape=("n", "d"), dtype="floating"),
    y=Tensor(shape=("m", "d"), dtype="floating", optional=True),
    model=Options(*MODELS),
    same=[("x", "y")],
)
def pairwise_distance(x: torch.Tensor, y: torch.Tensor | None = None, *, model: str = "poincare") -> torch.Tensor:
    r"""All distances between the rows of ``x`` and ``y``.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

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
        Points of the model: inside the unit ball (Poincaré), on the hyperboloid (Lorentz).
    y : Tensor, shape (m, d), optional
        Defaults to ``x``. Same dtype and device as ``x``.
    model : {"poincare", "lorentz", "euclidean"}

    Returns
    -------
    Tensor, shape (n, m)

    Raises
    ------
    ValueError
        If a point lies outside the model's domain.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0, 0.0], [0.5, 0.0]], dtype=torch.float64)
    >>> d = pairwise_distance(x)
    >>> round(float(d[0, 1]), 6) == round(2 * float(torch.atanh(torch.tensor(0.5))), 6)
    True
    """
    _check_points("pairwise_distance", model, x=x, y=y)
    return _pairwise_distance(x, x if y is None else y, model)


def _pairwise_distance(x: torch.Tensor, y: torch.Tensor, model: str) -> torch.Tensor:
    """:func:`pairwise_distance` without the input checks (for internal callers with valid points)."""
    if model == "euclidean":
        return torch.cdist(x, y)
    if model == "lorentz":
        inner = x[:, 1:] @ y[:, 1:].T - x[:, :1] * y[:, :1].T
        return torch.acosh((-inner).clamp_min(1.0))
    nx, ny = x.norm(dim=1), y.norm(dim=1)
    if x.shape[0] * y.shape[0] * x.shape[1] <= 50_000_000:  # direct differences: exact zeros, no cancellation
        sq = torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist") ** 2
    else:
        sq = (nx[:, None] ** 2 + ny[None, :] ** 2 - 2 * x @ y.T).clamp_min(0)
    denom = ((1 - nx) * (1 + nx))[:, None] * ((1 - ny) * (1 + ny))[None, :]
    return 2 * torch.asinh((sq / denom).sqrt())


def _pairwise_keys(x: torch.Tensor, y: torch.Tensor, model: str) -> torch.Tensor:
    """For each row ``i``, a strictly increasing function of ``d(x_i, y_j)`` over ``j`` (no arcosh, no sqrt).

    One matrix product and two passes: Euclidean ``max(|x|^2 + |y|^2 - 2 x.y, 0)`` (the squared distance);
    Lorentz ``max(-<x, y>_L, 1)`` (the arcosh argument); Poincaré ``max(|x - y|^2, 0) / (1 - |y|^2)``
    (the arcosh argument ``1 + 2|x - y|^2 / ((1 - |x|^2)(1 - |y|^2))`` less the per-row constants).
    """
    if model == "lorentz":
        yl = torch.cat([-y[:, :1], y[:, 1:]], 1)
        return torch.mm(x, yl.T).neg_().clamp_min_(1.0)
    ny2 = y.pow(2).sum(1)
    nx2 = x.pow(2).sum(1, keepdim=True)
    if model == "euclidean":
        return torch.addmm(ny2, x, y.T, alpha=-2).add_(nx2).clamp_min_(0.0)
    a = 1 / ((1 - ny2.sqrt()) * (1 + ny2.sqrt()))  # 1 / (1 - |y|^2), as the distance computes it
    keys = torch.addmm(ny2 * a, x, (y * a[:, None]).T, alpha=-2)
    return keys.addcmul_(nx2, a[None, :]).clamp_min_(0.0)
