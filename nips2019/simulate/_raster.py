"""A soft 2-D rasteriser: coverage = sigmoid(-signed distance / softness), images differentiable in shapes."""

from __future__ import annotations

import torch

from ..utils import Integer, Real, Tensor, validate


@validate(size=Integer(low=1))
def pixel_grid(size: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    r"""Centres of the pixels of a ``size`` x ``size`` image of the unit square.

    Pixel :math:`(i, j)` (row :math:`i` from the top) has centre
    :math:`\big((j + \tfrac12)/\mathrm{size},\ 1 - (i + \tfrac12)/\mathrm{size}\big)`, so that
    ``y`` points up as in the simulator.

    Parameters
    ----------
    size : int
    device, dtype
        Of the returned tensor.

    Returns
    -------
    Tensor, shape (size * size, 2)
        Row-major, matching ``image.reshape(size * size)``.

    Notes
    -----
    See the chapter :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> pixel_grid(2).tolist()
    [[0.25, 0.75], [0.75, 0.75], [0.25, 0.25], [0.75, 0.25]]
    """
    c = (torch.arange(int(size), dtype=torch.float64) + 0.5) / size
    yy, xx = torch.meshgrid(1 - c, c, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1).to(device=device, dtype=dtype)


def _segment_distance(points, a, b):
    """Distance from each point (m, 2) to each segment a[v] -> b[v], shape (m, v)."""
    ab = b - a
    ap = points[:, None, :] - a[None]
    t = ((ap * ab[None]).sum(-1) / (ab * ab).sum(-1).clamp_min(torch.finfo(points.dtype).tiny)).clamp(0, 1)
    diff = ap - t[..., None] * ab[None]
    return torch.sqrt((diff * diff).sum(-1) + torch.finfo(points.dtype).tiny)


def _inside(points, a, b):
    """Even-odd rule (crossing number) for a closed polygon with edges a -> b."""
    py = points[:, None, 1]
    px = points[:, None, 0]
    crosses = (a[None, :, 1] > py) != (b[None, :, 1] > py)
    dy = b[None, :, 1] - a[None, :, 1]
    safe = torch.where(dy == 0, torch.ones_like(dy), dy)
    x_at = a[None, :, 0] + (py - a[None, :, 1]) * (b[None, :, 0] - a[None, :, 0]) / safe
    return ((crosses & (px < x_at)).sum(1) % 2) == 1


@validate(points=Tensor(shape=("m", 2), dtype="floating"), vertices=Tensor(shape=("v", 2), dtype="floating"),
          same=[("points", "vertices")])
def polygon_sdf(points: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
    r"""Signed distance from points to a simple polygon, negative inside.

    .. math::

        \phi(p) = \pm \min_{e} \operatorname{dist}(p, e),

    the distance to the nearest edge :math:`e`, with the sign from the even-odd rule. It is
    differentiable in the points and the vertices (except on the medial axis).

    Parameters
    ----------
    points : Tensor, shape (m, 2)
    vertices : Tensor, shape (v, 2)
        The polygon's vertices in order (either orientation), ``v >= 3``; not repeated at
        the end.

    Returns
    -------
    Tensor, shape (m,)

    Notes
    -----
    See the chapter :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> square = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    >>> polygon_sdf(torch.tensor([[0.5, 0.5], [2.0, 0.5]]), square).tolist()
    [-0.5, 1.0]
    """
    if vertices.shape[0] < 3:
        raise ValueError(f"polygon_sdf: vertices must hold at least 3 points, got {vertices.shape[0]}")
    a, b = vertices, torch.roll(vertices, -1, dims=0)
    dist = _segment_distance(points, a, b).min(1).values
    return torch.where(_inside(points, a, b), -dist, dist)


def _soft(sdf, softness):
    return torch.sigmoid(-sdf / softness)


@validate(centers=Tensor(shape=("k", 2), dtype="floating"), radii=Tensor(shape=("k",), dtype="floating", low=0),
          colors=Tensor(shape=("k", "c"), dtype="floating"), size=Integer(low=1),
          softness=Real(low=0, closed="neither", optional=True),
          background=Tensor(shape=("c",), dtype="floating", optional=True),
          same=[("centers", "radii", "colors", "background")])
def render_disks(centers: torch.Tensor, radii: torch.Tensor, colors: torch.Tensor, *, size: int = 64,
                 softness: float | None = None, background: torch.Tensor | None = None) -> torch.Tensor:
    r"""Soft rendering of coloured disks on the unit square, back to front.

    Each disk has the soft coverage :math:`a_k(p) = \operatorname{sigmoid}\big((r_k -
    \|p - c_k\|)/\tau\big)` at pixel centre :math:`p`, and the disks are composited in order
    with the *over* operator,

    .. math::

        I \leftarrow a_k\, \mathrm{col}_k + (1 - a_k)\, I, \qquad k = 1, \dots, K,

    starting from the background. As :math:`\tau \to 0` this is the hard rasteriser, whose
    derivative in :math:`c_k, r_k` is zero almost everywhere; :math:`\tau > 0` spreads each
    edge over a few pixels so gradients reach the shape parameters (the idea of "soft
    rasterizers", Liu et al. 2019).

    Parameters
    ----------
    centers : Tensor, shape (k, 2)
        Disk centres in the unit square (y up).
    radii : Tensor, shape (k,)
        Radii, >= 0.
    colors : Tensor, shape (k, c)
        Colours (c channels).
    size : int
        Image side in pixels.
    softness : float, optional
        :math:`\tau`, the edge width in image units; default one pixel, ``1 / size``.
    background : Tensor, shape (c,), optional
        Background colour; default black.

    Returns
    -------
    Tensor, shape (c, size, size)

    Notes
    -----
    Memory and time are :math:`O(k\, \mathrm{size}^2)`. See the chapter
    :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> img = render_disks(torch.tensor([[0.5, 0.5]]), torch.tensor([0.25]), torch.ones(1, 1), size=8)
    >>> img.shape, round(float(img.mean()), 2)  # about pi / 16 of the square is covered
    (torch.Size([1, 8, 8]), 0.2)
    """
    tau = float(softness) if softness is not None else 1.0 / size
    p = pixel_grid(size, device=centers.device, dtype=centers.dtype)
    d = torch.sqrt(((p[None] - centers[:, None]) ** 2).sum(-1) + torch.finfo(centers.dtype).tiny)  # (k, m)
    cover = _soft(d - radii[:, None], tau)
    c = colors.shape[1]
    img = (background if background is not None else torch.zeros(c, device=centers.device,
                                                                 dtype=centers.dtype))[:, None].expand(c, p.shape[0])
    for k in range(centers.shape[0]):
        img = cover[k][None] * colors[k][:, None] + (1 - cover[k][None]) * img
    return img.reshape(c, size, size)


@validate(vertices=Tensor(shape=("v", 2), dtype="floating"), size=Integer(low=1),
          softness=Real(low=0, closed="neither", optional=True))
def render_polygon(vertices: torch.Tensor, *, size: int = 64, softness: float | None = None) -> torch.Tensor:
    r"""Soft coverage image of a simple polygon: :math:`\operatorname{sigmoid}(-\phi(p)/\tau)`.

    :math:`\phi` is :func:`polygon_sdf`; differentiable in the vertices.

    Parameters
    ----------
    vertices : Tensor, shape (v, 2)
        In the unit square, in order.
    size : int
    softness : float, optional
        Edge width :math:`\tau`; default ``1 / size``.

    Returns
    -------
    Tensor, shape (size, size)
        Coverage in (0, 1).

    Notes
    -----
    See the chapter :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> tri = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> round(float(render_polygon(tri, size=32).mean()), 2)
    0.5
    """
    tau = float(softness) if softness is not None else 1.0 / size
    p = pixel_grid(size, device=vertices.device, dtype=vertices.dtype)
    return _soft(polygon_sdf(p, vertices), tau).reshape(size, size)
