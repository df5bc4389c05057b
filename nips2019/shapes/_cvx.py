"""A 2-D CvxNet: a union of smooth convexes, each a smooth intersection of half-planes."""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from ..utils import (Bool, Generator, Integer, Module, Real, Tensor, as_generator, progress, randn, randperm,
                     validate)


class ConvexUnion(nn.Module):
    r"""A union of :math:`K` smooth convex polygons, each the smooth intersection of :math:`H` half-planes.

    Convex :math:`k` has centre :math:`c_k`, unit normals :math:`n_{kh}` and offsets
    :math:`d_{kh} > 0`; with :math:`h_{kh}(x) = n_{kh} \cdot (x - c_k) - d_{kh}` (negative on
    the inner side of plane :math:`h`),

    .. math::

        \Phi_k(x) = \frac{1}{\delta} \log \sum_{h=1}^H e^{\delta\, h_{kh}(x)}, \qquad
        C_k(x) = \operatorname{sigmoid}\big(-\sigma\, \Phi_k(x)\big), \qquad
        O(x) = \max_k C_k(x),

    as in CvxNet (Deng et al. 2020), here in the plane. :math:`\Phi_k` is a smooth maximum
    (log-sum-exp, smoothness :math:`\delta`) of the plane distances, an upper bound on the
    exact :math:`\max_h h_{kh}` within :math:`\log H / \delta`; :math:`\sigma` (the
    sharpness) sets the width of the occupancy's transition.

    Parameters
    ----------
    n_convexes : int
        :math:`K`.
    n_planes : int
        :math:`H`, >= 3.
    smoothness : float
        :math:`\delta` of the log-sum-exp (larger: sharper corners, steeper gradients).
    sharpness : float
        :math:`\sigma` of the sigmoid.
    generator : None, int or torch.Generator
        Randomness of the initialisation: randomly rotated regular :math:`H`-gons of inradius
        0.2 with random centres in :math:`[-0.5, 0.5]^2` (:func:`fit_convexes` re-centres them on the data).

    Notes
    -----
    ``forward(points)`` returns the occupancy :math:`O`, shape (m,);
    :meth:`convex_occupancy` returns all :math:`C_k`, shape (m, K); :meth:`polygons`
    returns the hard polygons (for plotting and exact areas). See the chapter
    :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> shape = ConvexUnion(2, 4, generator=0)
    >>> shape(torch.rand(10, 2)).shape
    torch.Size([10])
    """

    @validate(n_convexes=Integer(low=1), n_planes=Integer(low=3), smoothness=Real(low=0, closed="neither"),
              sharpness=Real(low=0, closed="neither"), generator=Generator())
    def __init__(self, n_convexes: int, n_planes: int, *, smoothness: float = 50.0, sharpness: float = 100.0,
                 generator=None):
        super().__init__()
        gen = as_generator(generator)
        k, h = int(n_convexes), int(n_planes)
        self.smoothness, self.sharpness = float(smoothness), float(sharpness)
        self.centers = nn.Parameter(torch.rand(k, 2, generator=gen) - 0.5)
        phase = torch.rand(k, 1, generator=gen) * (2 * math.pi / h)
        angles = torch.arange(h, dtype=torch.float32)[None] * (2 * math.pi / h) + phase  # (k, h)
        self.normals = nn.Parameter(torch.stack([torch.cos(angles), torch.sin(angles)], -1)
                                    + 0.05 * randn(k, h, 2, generator=gen))
        # offsets d = softplus(raw); start at 0.2
        self.raw_offsets = nn.Parameter(torch.full((k, h), math.log(math.expm1(0.2))))

    def offsets(self) -> torch.Tensor:
        return nn.functional.softplus(self.raw_offsets)

    def unit_normals(self) -> torch.Tensor:
        return self.normals / self.normals.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def plane_distances(self, points: torch.Tensor) -> torch.Tensor:
        """:math:`h_{kh}(x)`, shape (m, K, H)."""
        rel = points[:, None, :] - self.centers[None]  # (m, K, 2)
        return torch.einsum("mkd,khd->mkh", rel, self.unit_normals()) - self.offsets()[None]

    def convex_occupancy(self, points: torch.Tensor) -> torch.Tensor:
        """:math:`C_k(x)`, shape (m, K)."""
        phi = torch.logsumexp(self.smoothness * self.plane_distances(points), dim=-1) / self.smoothness
        return torch.sigmoid(-self.sharpness * phi)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.convex_occupancy(points).max(dim=1).values

    @torch.no_grad()
    def polygons(self, n_points: int = 256) -> list[torch.Tensor]:
        """The hard convexes :math:`\\{x: \\max_h h_{kh}(x) \\le 0\\}` as vertex lists (ray casting
        from each centre over ``n_points`` directions)."""
        t = torch.arange(n_points, device=self.centers.device, dtype=self.centers.dtype) * (2 * math.pi / n_points)
        u = torch.stack([torch.cos(t), torch.sin(t)], 1)  # (p, 2)
        n, d = self.unit_normals(), self.offsets()
        out = []
        for k in range(self.centers.shape[0]):
            proj = u @ n[k].T  # (p, H)
            r = torch.where(proj > 0, d[k][None] / proj.clamp_min(1e-12), torch.full_like(proj, float("inf")))
            out.append(self.centers[k][None] + r.min(1).values[:, None] * u)
        return out


@dataclasses.dataclass
class ConvexFitResult:
    """Output of :func:`fit_convexes`.

    Attributes
    ----------
    model : ConvexUnion
        The fitted shape.
    losses : Tensor, shape (n_steps,)
        Occupancy mean squared error per step.
    """

    model: nn.Module
    losses: torch.Tensor


@validate(points=Tensor(shape=("m", 2), dtype="floating"), occupancy=Tensor(shape=("m",), low=0, high=1),
          n_convexes=Integer(low=1), n_planes=Integer(low=3), smoothness=Real(low=0, closed="neither"),
          sharpness=Real(low=0, closed="neither"), n_steps=Integer(low=1), lr=Real(low=0, closed="neither"),
          anneal=Real(low=1), n_restarts=Integer(low=1), generator=Generator(), progress=Bool(optional=True), same=[("points", "occupancy")])
def fit_convexes(points: torch.Tensor, occupancy: torch.Tensor, *, n_convexes: int = 4, n_planes: int = 6,
                 smoothness: float = 100.0, sharpness: float = 200.0, n_steps: int = 1000, lr: float = 1e-2,
                 anneal: float = 20.0, n_restarts: int = 1, generator=None,
                 progress: bool | None = None) -> ConvexFitResult:
    r"""Fit a :class:`ConvexUnion` to occupancy samples (Adam on the occupancy MSE).

    .. math::

        \min \frac{1}{m} \sum_j \big(O(x_j) - o_j\big)^2,

    CvxNet's approximation loss :math:`\mathcal L_{approx}`, with the convexes initialised
    as regular polygons centred on random inside points (so that every convex starts where
    the shape is), of inradius :math:`0.5 / \sqrt K` times the shape's extent (a single
    convex starts around the shape and shrinks onto it, which avoids planes stuck between
    two edges), and a cosine-decayed learning rate.

    Parameters
    ----------
    points : Tensor, shape (m, 2)
        Sample locations.
    occupancy : Tensor, shape (m,)
        Target occupancy in [0, 1] (1 inside).
    n_convexes, n_planes, smoothness, sharpness
        As in :class:`ConvexUnion`.
    n_steps : int
    lr : float
    anneal : float
        Continuation factor :math:`a \ge 1`: the sharpness and smoothness start at
        :math:`\sigma / a` and :math:`\delta / a` and grow geometrically to :math:`\sigma`
        and :math:`\delta` over the first 80% of the steps (1: fixed). Soft early shapes pass
        gradients to every sample point; sharp late shapes fit the corners.
    n_restarts : int
        Independent initialisations; the fit with the lowest final loss is returned (the
        problem is non-convex: a plane can get stuck between two edges of the target).
    generator : None, int or torch.Generator
    progress : bool, optional

    Returns
    -------
    ConvexFitResult

    Notes
    -----
    The union's ``max`` sends the gradient of each point to one convex only, so convexes
    initialised away from the shape receive none: that is why the initial centres are
    drawn among the inside points. See the chapter
    :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> pts = torch.rand(200, 2) * 2 - 1
    >>> occ = (pts.abs().max(1).values < 0.5).float()
    >>> res = fit_convexes(pts, occ, n_convexes=1, n_planes=4, n_steps=50, generator=0)
    >>> bool(res.losses[-1] < res.losses[0])
    True
    """
    inside = points[occupancy > 0.5]
    if inside.shape[0] == 0:
        raise ValueError("fit_convexes: occupancy must mark at least one point as inside (> 0.5)")
    gen = as_generator(generator)
    best = None
    for _ in range(int(n_restarts)):
        res = _fit_once(points, occupancy, inside, int(n_convexes), int(n_planes), float(smoothness),
                        float(sharpness), int(n_steps), float(lr), float(anneal), gen, progress)
        if best is None or float(res.losses[-1]) < float(best.losses[-1]):
            best = res
    return best


def _fit_once(points, occupancy, inside, n_convexes, n_planes, smoothness, sharpness, n_steps, lr, anneal, gen,
              progress):
    init_scale = 0.5 / math.sqrt(n_convexes)
    model = ConvexUnion(n_convexes, n_planes, smoothness=smoothness, sharpness=sharpness, generator=gen)
    model = model.to(device=points.device, dtype=points.dtype)
    idx = randperm(inside.shape[0], generator=gen, device=points.device)
    idx = idx[torch.arange(int(n_convexes), device=points.device) % inside.shape[0]]
    spread = float((inside.max(0).values - inside.min(0).values).max())
    with torch.no_grad():
        model.centers.copy_(inside[idx])
        model.raw_offsets.fill_(math.log(math.expm1(init_scale * spread + 1e-6)))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=int(n_steps))
    losses = torch.empty(int(n_steps), device=points.device, dtype=points.dtype)
    target = occupancy.to(points.dtype)
    ramp = max(int(0.8 * int(n_steps)), 1)
    for step in _steps(n_steps, progress):
        f = float(anneal) ** (-max(1.0 - step / ramp, 0.0))
        model.sharpness, model.smoothness = sharpness * f, smoothness * f
        loss = (model(points) - target).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses[step] = loss.detach()
    return ConvexFitResult(model=model, losses=losses)


def _steps(n_steps, flag):
    return progress(range(int(n_steps)), desc="fit_convexes", disable=None if flag is None else not flag)


@validate(pred=Tensor(dtype="numeric", low=0, high=1), target=Tensor(dtype="numeric", low=0, high=1),
          threshold=Real(low=0, high=1, closed="neither"), same=[("pred", "target")])
def iou(pred: torch.Tensor, target: torch.Tensor, *, threshold: float = 0.5) -> float:
    r"""Intersection over union of two occupancies sampled at the same points.

    .. math::

        \mathrm{IoU} = \frac{|\{o > t\} \cap \{\hat o > t\}|}{|\{o > t\} \cup \{\hat o > t\}|}

    (1 when both sets are empty).

    Parameters
    ----------
    pred, target : Tensor, same shape
        Occupancies in [0, 1] (or 0/1 integers / booleans as floats).
    threshold : float
        :math:`t`.

    Returns
    -------
    float

    Notes
    -----
    On a uniform grid or uniform random points this estimates the area ratio. See the
    chapter :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> iou(torch.tensor([1.0, 1.0, 0.0, 0.0]), torch.tensor([1.0, 0.0, 1.0, 0.0]))
    0.3333333333333333
    """
    if pred.shape != target.shape:
        raise ValueError(f"iou: pred and target must have the same shape, got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    a, b = pred > threshold, target > threshold
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union
