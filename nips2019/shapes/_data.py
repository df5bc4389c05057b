"""Target shapes for the CvxNet experiments: an L and a star, as polygons and occupancies."""

from __future__ import annotations

import math

import torch

from ..simulate._raster import polygon_sdf
from ..utils import Integer, Real, Tensor, validate


def l_shape(*, dtype=torch.float32, device=None) -> torch.Tensor:
    """Vertices of an L-shaped hexagon inside [-0.8, 0.8]^2 (two convex pieces make it).

    Returns
    -------
    Tensor, shape (6, 2)
        Counter-clockwise.

    Notes
    -----
    See the chapter :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> l_shape().shape
    torch.Size([6, 2])
    """
    v = [[-0.8, -0.8], [0.8, -0.8], [0.8, -0.2], [-0.2, -0.2], [-0.2, 0.8], [-0.8, 0.8]]
    return torch.tensor(v, dtype=dtype, device=device)


@validate(n_tips=Integer(low=3), r_outer=Real(low=0, closed="neither"), r_inner=Real(low=0, closed="neither"))
def star_polygon(n_tips: int = 5, r_outer: float = 0.8, r_inner: float = 0.35, *, dtype=torch.float32,
                 device=None) -> torch.Tensor:
    r"""Vertices of a star with ``n_tips`` points, alternating radii ``r_outer`` and ``r_inner``.

    Vertex :math:`j` is at angle :math:`\pi/2 + \pi j / n` and radius :math:`r_{outer}` for even
    :math:`j`, :math:`r_{inner}` for odd :math:`j`.

    Parameters
    ----------
    n_tips : int
    r_outer, r_inner : float
        ``r_outer > r_inner > 0``.
    dtype, device
        Of the returned tensor.

    Returns
    -------
    Tensor, shape (2 * n_tips, 2)

    Notes
    -----
    See the chapter :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> star_polygon(5).shape
    torch.Size([10, 2])
    """
    if r_inner >= r_outer:
        raise ValueError(f"star_polygon: r_inner must be < r_outer = {r_outer}, got {r_inner}")
    j = torch.arange(2 * int(n_tips), dtype=torch.float64)
    ang = math.pi / 2 + math.pi * j / n_tips
    r = torch.where(j % 2 == 0, torch.tensor(float(r_outer), dtype=torch.float64),
                    torch.tensor(float(r_inner), dtype=torch.float64))
    return torch.stack([r * torch.cos(ang), r * torch.sin(ang)], 1).to(dtype=dtype, device=device)


@validate(points=Tensor(shape=("m", 2), dtype="floating"), vertices=Tensor(shape=("v", 2), dtype="floating"),
          same=[("points", "vertices")])
def polygon_occupancy(points: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
    """Hard occupancy (1.0 inside, 0.0 outside) of a simple polygon at the points.

    Parameters
    ----------
    points : Tensor, shape (m, 2)
    vertices : Tensor, shape (v, 2)

    Returns
    -------
    Tensor, shape (m,)
        Same dtype as ``points``.

    Notes
    -----
    The sign of :func:`nips2019.simulate.polygon_sdf` (even-odd rule). See the chapter
    :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> polygon_occupancy(torch.tensor([[0.0, 0.0], [0.5, -0.5]]), l_shape()).tolist()
    [0.0, 1.0]
    """
    return (polygon_sdf(points, vertices) < 0).to(points.dtype)
