"""Kernel matrices on point clouds (Gaussian, Laplace, IMQ, energy) and the median heuristic."""

from __future__ import annotations

import torch

from ..utils import Options, Real, Tensor, validate

KERNELS = ("gaussian", "laplace", "imq", "energy")

#: Largest number of points the median heuristic looks at (an evenly strided subsample beyond).
_MEDIAN_MAX_POINTS = 2000


def _sqdist(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances, shape (..., n, m), formed after centring and clamped at 0."""
    centre = x.mean(-2, keepdim=True)
    xc, yc = x - centre, y - centre
    sq = (xc * xc).sum(-1)[..., :, None] + (yc * yc).sum(-1)[..., None, :] - 2.0 * xc @ yc.transpose(-1, -2)
    sq = sq.clamp_min(0.0)
    if x is y:  # exact zeros on the diagonal (the expansion leaves rounding errors that sqrt amplifies)
        sq = sq * (1.0 - torch.eye(x.shape[-2], device=x.device, dtype=x.dtype))
    return sq


def _dist(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # the clamp keeps the gradient of sqrt finite (and zero) on coinciding points
    return _sqdist(x, y).clamp_min(torch.finfo(x.dtype).tiny).sqrt()


def _median_heuristic(z: torch.Tensor) -> torch.Tensor:
    """Median of the pairwise distances between distinct points of ``z`` (..., N, d), shape (...)."""
    n = z.shape[-2]
    if n > _MEDIAN_MAX_POINTS:
        z = z[..., :: -(-n // _MEDIAN_MAX_POINTS), :]
        n = z.shape[-2]
    iu = torch.triu_indices(n, n, offset=1, device=z.device)
    d = _sqdist(z, z)[..., iu[0], iu[1]]
    return d.median(-1).values.sqrt()  # the median of squares is the square of the median


@validate(
    x=Tensor(shape=("...", "n", "d"), dtype="floating"),
    y=Tensor(shape=("...", "m", "d"), dtype="floating", optional=True),
    same=[("x", "y")],
)
def median_heuristic(x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    r"""The median heuristic bandwidth: the median distance between distinct pooled points.

    .. math::

        \sigma = \operatorname{median}\{\lVert z_i - z_j \rVert_2 : i < j\},
        \qquad z = (x_1, \dots, x_n, y_1, \dots, y_m).

    The rule of Gretton et al. (2012): on the pooled sample, so that a two-sample test
    uses one bandwidth for both samples (and a permutation of the pooled sample leaves
    it unchanged). Beyond 2000 pooled points an evenly strided subsample of at most
    2000 is used. Leading batch dimensions give one bandwidth per batch. See the chapter
    :doc:`Comparing distributions </book/distributions>`.

    Parameters
    ----------
    x : Tensor, shape (..., n, d)
    y : Tensor, shape (..., m, d), optional
        Pooled with ``x`` when given; same device and dtype.

    Returns
    -------
    Tensor, shape (...)
        Positive bandwidths (raises if all the points coincide).

    Examples
    --------
    >>> import torch
    >>> median_heuristic(torch.tensor([[0.0], [1.0], [3.0]]))
    tensor(2.)
    """
    if y is not None and x.shape[:-2] != y.shape[:-2]:
        raise ValueError("median_heuristic: x and y must have the same batch shape, got "
                         f"{tuple(x.shape[:-2])} "
                         f"and {tuple(y.shape[:-2])}")
    z = x if y is None else torch.cat([x, y], -2)
    if z.shape[-2] < 2:
        raise ValueError("median_heuristic: needs at least 2 points in x and y together, got 1")
    med = _median_heuristic(z)
    if not bool((med > 0).all()):
        raise ValueError(
            "median_heuristic: the median pairwise distance is 0 (more than half the pairs of points "
            "coincide); pass a bandwidth explicitly"
        )
    return med


def _kernel_matrix(x, y, kernel: str, bandwidth) -> torch.Tensor:
    """Unchecked :func:`kernel_matrix`; ``bandwidth`` a float or a tensor of shape (...)."""
    if kernel == "energy":
        return -_dist(x, y)
    if isinstance(bandwidth, torch.Tensor):
        bandwidth = bandwidth[..., None, None]
    if kernel == "gaussian":
        return torch.exp(_sqdist(x, y) / (-2.0 * bandwidth**2))
    if kernel == "laplace":
        return torch.exp(-_dist(x, y) / bandwidth)
    return torch.rsqrt(1.0 + _sqdist(x, y) / bandwidth**2)  # imq


def _bandwidth(x, y, kernel, bandwidth):
    if kernel == "energy" or bandwidth is not None:
        return bandwidth
    return median_heuristic(x, y)


_KERNEL_ARGS = dict(
    kernel=Options(*KERNELS),
    bandwidth=Real(low=0, closed="neither", optional=True),
)


@validate(
    x=Tensor(shape=("...", "n", "d"), dtype="floating"),
    y=Tensor(shape=("...", "m", "d"), dtype="floating", optional=True),
    **_KERNEL_ARGS,
    same=[("x", "y")],
)
def kernel_matrix(
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    kernel: str = "gaussian",
    bandwidth: float | None = None,
) -> torch.Tensor:
    r"""Kernel matrix :math:`K_{ij} = k(x_i, y_j)` of a translation-invariant kernel.

    .. math::

        k_{\mathrm{gauss}}(x, y) = e^{-\lVert x - y \rVert^2 / (2\sigma^2)}, \quad
        k_{\mathrm{laplace}}(x, y) = e^{-\lVert x - y \rVert / \sigma}, \quad
        k_{\mathrm{imq}}(x, y) = \bigl(1 + \lVert x - y \rVert^2 / \sigma^2\bigr)^{-1/2},

    and the energy "kernel" :math:`k(x, y) = -\lVert x - y \rVert` (no bandwidth). The first
    three are characteristic (bounded, strictly positive definite); the energy kernel is only
    conditionally positive definite, which is enough for the MMD: with it the biased
    :math:`\mathrm{MMD}^2` is the energy distance :math:`2 E\lVert X - Y \rVert - E\lVert X - X'
    \rVert - E\lVert Y - Y' \rVert` (Sejdinovic et al. 2013). ``bandwidth=None`` uses
    :func:`median_heuristic` on the pooled points. See the chapter
    :doc:`Comparing distributions </book/distributions>`.

    Parameters
    ----------
    x : Tensor, shape (..., n, d)
    y : Tensor, shape (..., m, d), optional
        Defaults to ``x``.
    kernel : {"gaussian", "laplace", "imq", "energy"}
    bandwidth : float, optional
        :math:`\sigma > 0`; the median heuristic if None (ignored by ``"energy"``).

    Returns
    -------
    Tensor, shape (..., n, m)
        On the device and with the dtype of ``x``.

    Examples
    --------
    >>> import torch
    >>> kernel_matrix(torch.tensor([[0.0], [1.0]]), bandwidth=1.0)
    tensor([[1.0000, 0.6065],
            [0.6065, 1.0000]])
    """
    y = x if y is None else y
    if x.shape[:-2] != y.shape[:-2]:
        raise ValueError(f"kernel_matrix: x and y must have the same batch shape, got {tuple(x.shape[:-2])} "
                         f"and {tuple(y.shape[:-2])}")
    return _kernel_matrix(x, y, kernel, _bandwidth(x, None if y is x else y, kernel, bandwidth))
