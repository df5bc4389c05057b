"""Numerical accuracy far from the origin: float coordinates vs an integer tiling model.

Yu & De Sa (NeurIPS 2019) store a point of the hyperbolic plane as an *integer* group
element times a float point in a bounded fundamental domain. We build the same kind of
representation from the modular group :math:`SL(2, \\mathbb{Z})` acting on the upper
half-plane: its integer matrices tile the plane with copies of the standard fundamental
domain :math:`F = \\{|\\Re z| \\le 1/2, |z| \\ge 1\\}`. (Their L-tiling uses a different
integer group on the Lorentz model; the mechanism, exact integer products plus a bounded
float part, is the same.)
"""

from __future__ import annotations

import dataclasses
import math

import mpmath
import torch

from ..utils import (
    Device,
    Generator,
    InstanceOf,
    Integer,
    Items,
    Options,
    Real,
    Tensor,
    check_arguments,
    rand,
    validate,
)
from ._ltiling import _POINT, _ltiling_distance, _to_ltiling
from ._model import _point_distance

_DTYPE = Options(torch.float32, torch.float64)
_DEVICE = Device()
#: Farthest distance from the origin the experiment builds (the modular tiling's int64 elements reach ~85).
_MAX_RADIUS = 80.0

__all__ = ["PrecisionResult", "TilingPoints", "precision_experiment", "tiling_distance", "to_tiling"]


@dataclasses.dataclass
class TilingPoints:
    r"""Points :math:`z = g \cdot \bar z` of the upper half-plane, :math:`g \in SL(2, \mathbb{Z})`.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Attributes
    ----------
    g : Tensor, shape (n, 2, 2), int64
        Integer matrices ``[[a, b], [c, d]]`` with ``ad - bc = 1``, acting by :math:`(az + b)/(cz + d)`.
    z : Tensor, shape (n, 2)
        ``(Re, Im)`` of :math:`\bar z \in F`, in the float dtype of the representation.

    Both are checked on construction: ``ad - bc = 1`` exactly, ``z`` in :math:`F` (to ``sqrt(eps)``),
    on one device.
    """

    g: torch.Tensor
    z: torch.Tensor

    def __post_init__(self):
        check_arguments(
            "TilingPoints",
            g=(self.g, Tensor(shape=("n", 2, 2), dtype="integer")),
            z=(self.z, Tensor(shape=("n", 2), dtype="floating")),
        )
        if self.g.device != self.z.device:
            raise ValueError(f"TilingPoints: g is on {self.g.device} but z is on {self.z.device}")
        if any(a * d - b * c != 1 for (a, b), (c, d) in self.g.tolist()):
            raise ValueError("TilingPoints: g must hold elements of SL(2, Z) (integer matrices with ad - bc = 1)")
        z = self.z.detach().double()
        tol = torch.finfo(self.z.dtype).eps ** 0.5
        if not bool(((z[:, 1] > 0) & (z[:, 0].abs() <= 0.5 + tol) & ((z * z).sum(1) >= 1 - tol)).all()):
            raise ValueError("TilingPoints: z must hold points of the fundamental domain "
                             "F = {|Re z| <= 1/2, |z| >= 1}")

    @property
    def device_dtype(self):
        """``(device, dtype)`` of the float part, for the package's same-device/dtype checks."""
        return self.z.device, self.z.dtype


def _reduce(z: mpmath.mpc) -> tuple[tuple[int, int, int, int], mpmath.mpc]:
    """Return ``(g, zbar)`` with ``z = g . zbar`` and ``zbar`` in the fundamental domain."""
    a, b, c, d = 1, 0, 0, 1  # g accumulates the inverse moves: z = g . w
    w = z
    for _ in range(100_000):
        n = int(mpmath.nint(w.real))
        if n:
            w = w - n  # w -> T^{-n} w, so g <- g T^n
            a, b, c, d = a, a * n + b, c, c * n + d
        if abs(w) < 1:
            w = -1 / w  # w -> S w (S = [[0, -1], [1, 0]], S^{-1} = -S), so g <- g S^{-1}
            a, b, c, d = b, -a, d, -c
        else:
            return (a, b, c, d), w
    raise RuntimeError("reduction to the fundamental domain did not terminate")


@validate(points=Items(_POINT, min_length=1), dtype=_DTYPE, device=_DEVICE)
def to_tiling(points: list, *, dtype: torch.dtype = torch.float64, device=None) -> TilingPoints:
    r"""Reduce upper-half-plane points (``mpmath.mpc`` or complex) to the tiling representation.

    The reduction (translate by the nearest integer, invert in the unit circle, repeat)
    runs in the working precision of ``mpmath``; only the bounded remainder :math:`\bar z`
    is rounded to ``dtype``. See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Parameters
    ----------
    points : list of mpmath.mpc or complex, with positive imaginary part
    dtype : torch.float32 or torch.float64
        Float dtype of the remainder.
    device : optional

    Returns
    -------
    TilingPoints

    Raises
    ------
    ValueError
        If a point is not in the upper half-plane, or its group element overflows int64.

    Examples
    --------
    >>> t = to_tiling([complex(3.2, 0.01)])
    >>> a, b, c, d = t.g[0].flatten().tolist(); a * d - b * c
    1
    """
    return _to_tiling(points, dtype, device)


def _to_tiling(points, dtype=torch.float64, device=None) -> TilingPoints:
    gs, zs = [], []
    for p in points:
        p = mpmath.mpc(p)
        if not p.imag > 0:
            raise ValueError(f"to_tiling: points must have a positive imaginary part, got {p}")
        g, w = _reduce(p)
        if max(abs(v) for v in g) >= 2**62:
            raise ValueError("to_tiling: a group element overflows int64; one of the points is too far from i "
                             "(distance > ~85)")
        gs.append(g)
        zs.append((float(w.real), float(w.imag)))
    g = torch.tensor(gs, dtype=torch.long, device=device).reshape(-1, 2, 2)
    return TilingPoints(g, torch.tensor(zs, dtype=dtype, device=device).reshape(-1, 2))


@validate(x=InstanceOf(TilingPoints), y=InstanceOf(TilingPoints), same=[("x", "y")])
def tiling_distance(x: TilingPoints, y: TilingPoints) -> torch.Tensor:
    r"""Distances between corresponding points of two :class:`TilingPoints`.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    With :math:`h = g_x^{-1} g_y = \begin{pmatrix} a & b \\ c & d \end{pmatrix}` computed exactly
    in integers,

    .. math::
        d(g_x \bar x, g_y \bar y) = d(\bar x, h \bar y)
        = 2 \operatorname{arsinh} \frac{|c \bar x \bar y + d \bar x - a \bar y - b|}{2\sqrt{\Im \bar x\, \Im \bar y}},

    so only bounded floats and the (exactly known) entries of :math:`h` meet in float arithmetic:
    the error stays at the level of machine epsilon however far the points are from the origin.

    Parameters
    ----------
    x, y : TilingPoints
        Of equal length, one float dtype and device.

    Returns
    -------
    Tensor, shape (n,)
        In the dtype and on the device of ``x.z``.

    Examples
    --------
    >>> import mpmath
    >>> x = to_tiling([mpmath.mpc(0, 1)]); y = to_tiling([mpmath.mpc(0, mpmath.e)])
    >>> round(float(tiling_distance(x, y)[0]), 12)
    1.0
    """
    return _tiling_distance(x, y)


def _tiling_distance(x: TilingPoints, y: TilingPoints) -> torch.Tensor:
    if x.g.shape != y.g.shape:
        raise ValueError(f"tiling_distance: x and y must hold the same number of points, got {x.g.shape[0]} and "
                         f"{y.g.shape[0]}")
    hs = []
    for (a1, b1, c1, d1), (a2, b2, c2, d2) in zip(x.g.reshape(-1, 4).tolist(), y.g.reshape(-1, 4).tolist()):
        # g_x^{-1} = [[d1, -b1], [-c1, a1]]; Python ints: exact
        hs.append((d1 * a2 - b1 * c2, d1 * b2 - b1 * d2, -c1 * a2 + a1 * c2, -c1 * b2 + a1 * d2))
    dt = x.z.dtype
    h = torch.tensor([[float(v) for v in row] for row in hs], dtype=torch.float64).to(device=x.z.device, dtype=dt)
    a, b, c, d = h.reshape(-1, 4).unbind(1)
    xr, xi = x.z[:, 0], x.z[:, 1]
    yr, yi = y.z[:, 0], y.z[:, 1]
    # num = c x y + d x - a y - b, complex arithmetic spelled out
    xy_r, xy_i = xr * yr - xi * yi, xr * yi + xi * yr
    num_r = c * xy_r + d * xr - a * yr - b
    num_i = c * xy_i + d * xi - a * yi
    return 2 * torch.asinh(torch.hypot(num_r, num_i) / (2 * torch.sqrt(xi * yi)))


@dataclasses.dataclass
class PrecisionResult:
    """Output of :func:`precision_experiment`.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Attributes
    ----------
    radius : Tensor, shape (r,)
        Distance of the pairs from the origin.
    errors : dict of str -> Tensor, shape (r,)
        Median absolute distance error per representation (``inf`` where the representation
        returned a non-finite value, i.e. broke down; ``nan`` where it cannot store the points at all:
        the L-tiling's int64 group elements beyond distance ~41).
    """

    radius: torch.Tensor
    errors: dict


def _disk_to_uhp(p):
    return mpmath.mpc(0, 1) * (1 + p) / (1 - p)


@validate(
    radii=Items(Real(low=0, high=_MAX_RADIUS), min_length=1),
    delta=Real(low=0, closed="neither"),
    n_pairs=Integer(low=1),
    generator=Generator(),
)
def precision_experiment(radii, *, delta: float = 1.0, n_pairs: int = 16, generator=None) -> PrecisionResult:
    r"""Distance error of each representation for pairs of points far from the origin.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    For each radius :math:`r`, ``n_pairs`` pairs :math:`(x, y)` are built in ``mpmath`` (with enough
    digits): :math:`x` at distance :math:`r` from the origin in a random direction, :math:`y = M_x(q)`
    with :math:`M_x` the Möbius map sending 0 to :math:`x` and :math:`|q| = \tanh(\delta/2)`, so that the
    true distance is exactly :math:`\delta`. The points are then rounded into float32/float64 Poincaré
    and Lorentz coordinates and into the two tiling representations (Yu & De Sa's L-tiling,
    :func:`to_ltiling`, and the modular-group tiling, :func:`to_tiling`, each with float64 and float32
    remainders), and the distance computed by each is compared with :math:`\delta`.

    Parameters
    ----------
    radii : sequence of float
        Distances from the origin, in ``[0, 80]``.
    delta : float
        True distance within each pair (> 0, with ``max(radii) + delta <= 80``).
    n_pairs : int
    generator : None, int or CPU torch.Generator
        Draws the directions (the package's randomness rule).

    Returns
    -------
    PrecisionResult

    Examples
    --------
    >>> res = precision_experiment([1.0, 40.0], n_pairs=2, generator=0)
    >>> bool(res.errors["L-tiling float64"][-1] < 1e-10), bool(res.errors["Poincaré float64"][-1] > 1e-2)
    (True, True)
    """
    if max(radii) + delta > _MAX_RADIUS:
        raise ValueError(f"precision_experiment: max(radii) + delta must be <= {_MAX_RADIUS:g} (the tilings' int64 "
                         f"group elements), got {max(radii)} + {delta}")
    angles = rand(len(radii), n_pairs, 2, generator=generator, dtype=torch.float64).tolist()
    names = ["Poincaré float32", "Poincaré float64", "Lorentz float32", "Lorentz float64",
             "L-tiling float32", "L-tiling float64", "modular tiling float32", "modular tiling float64"]
    errors = {k: [] for k in names}
    for r, pair_angles in zip(radii, angles):
        with mpmath.workdps(30 + int(r) + int(delta)):
            xs, ys = [], []
            for a_x, a_q in pair_angles:
                x = mpmath.tanh(mpmath.mpf(r) / 2) * mpmath.expjpi(2 * mpmath.mpf(a_x))
                q = mpmath.tanh(mpmath.mpf(delta) / 2) * mpmath.expjpi(2 * mpmath.mpf(a_q))
                xs.append(x)
                ys.append((q + x) / (1 + mpmath.conj(x) * q))
            per = {}
            for dt, tag in ((torch.float32, "float32"), (torch.float64, "float64")):
                px = torch.tensor([[float(p.real), float(p.imag)] for p in xs], dtype=dt)
                py = torch.tensor([[float(p.real), float(p.imag)] for p in ys], dtype=dt)
                per[f"Poincaré {tag}"] = _point_distance(px, py, "poincare")

                def lor(ps):
                    out = []
                    for p in ps:
                        s = abs(p) ** 2
                        out.append([float((1 + s) / (1 - s)), float(2 * p.real / (1 - s)),
                                    float(2 * p.imag / (1 - s))])
                    return torch.tensor(out, dtype=dt)

                per[f"Lorentz {tag}"] = _point_distance(lor(xs), lor(ys), "lorentz")
                tx = _to_tiling([_disk_to_uhp(p) for p in xs], dt)
                ty = _to_tiling([_disk_to_uhp(p) for p in ys], dt)
                per[f"modular tiling {tag}"] = _tiling_distance(tx, ty)
                try:
                    per[f"L-tiling {tag}"] = _ltiling_distance(_to_ltiling(xs, dt), _to_ltiling(ys, dt))
                except ValueError:  # int64 group elements cannot reach this far: not representable
                    per[f"L-tiling {tag}"] = None
        for k in names:
            if per[k] is None:
                errors[k].append(math.nan)
                continue
            err = (per[k].double() - delta).abs()
            err = torch.where(torch.isfinite(err), err, torch.full_like(err, math.inf))
            errors[k].append(float(err.median()))
    return PrecisionResult(torch.tensor([float(r) for r in radii], dtype=torch.float64),
                           {k: torch.tensor(v, dtype=torch.float64) for k, v in errors.items()})
