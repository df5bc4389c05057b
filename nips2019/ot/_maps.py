"""Using a coupling: barycentric projection, sampling pairs, displacement interpolation."""

from __future__ import annotations

import dataclasses

import torch

from nips2019.utils import Generator, Integer, Real, Tensor, as_generator, validate

_PLAN = Tensor(shape=("n", "m"), dtype="floating", low=0)


@dataclasses.dataclass
class CouplingSampleResult:
    """Index pairs drawn from a coupling by :func:`sample_coupling`.

    See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Attributes
    ----------
    rows : Tensor, shape (n_samples,), int64
        Source indices :math:`i`.
    cols : Tensor, shape (n_samples,), int64
        Target indices :math:`j`.
    """

    rows: torch.Tensor
    cols: torch.Tensor


@dataclasses.dataclass
class DisplacementResult:
    """A weighted point cloud on the displacement path, from :func:`displacement_interpolation`.

    See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Attributes
    ----------
    points : Tensor, shape (k, d)
        Interpolated points :math:`(1-t) x_i + t y_j`.
    weights : Tensor, shape (k,)
        Their probability weights (summing to one).
    """

    points: torch.Tensor
    weights: torch.Tensor


def _check_mass(plan: torch.Tensor, func: str):
    if not bool(plan.sum() > 0):
        raise ValueError(f"{func}: plan has no mass (all entries are zero)")


@validate(plan=_PLAN, y=Tensor(shape=("m", "d"), dtype="floating"), same=[("plan", "y")])
def barycentric_projection(plan: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Map each source point to the conditional mean of its targets under a coupling.

    .. math::

        T(x_i) = \frac{\sum_j \gamma_{ij} y_j}{\sum_j \gamma_{ij}} .

    For an exact OT plan between uniform clouds of equal size this is the Monge map.
    Rows with no mass give NaN-free zeros. See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Parameters
    ----------
    plan : Tensor, shape (n, m)
        Non-negative coupling.
    y : Tensor, shape (m, d)
        Target points, same device and dtype as ``plan``.

    Returns
    -------
    Tensor, shape (n, d)

    Examples
    --------
    >>> import torch
    >>> plan = torch.tensor([[0.25, 0.25], [0.0, 0.5]])
    >>> barycentric_projection(plan, torch.tensor([[0.0], [2.0]]))
    tensor([[1.],
            [2.]])
    """
    mass = plan.sum(1, keepdim=True)
    return (plan @ y) / mass.clamp_min(torch.finfo(plan.dtype).tiny)


def _sample_coupling(plan: torch.Tensor, n_samples: int, generator: torch.Generator):
    """Unchecked :func:`sample_coupling`: draws on the CPU with a CPU generator, moves to the plan's device."""
    flat = plan.detach().reshape(-1).cpu()
    idx = torch.multinomial(flat, n_samples, replacement=True, generator=generator).to(plan.device)
    return idx // plan.shape[1], idx % plan.shape[1]


@validate(plan=_PLAN, n_samples=Integer(low=1), generator=Generator())
def sample_coupling(plan: torch.Tensor, n_samples: int, *, generator=None) -> CouplingSampleResult:
    r"""Draw index pairs :math:`(i, j)` with probability :math:`\gamma_{ij} / \sum \gamma`.

    The draws are made on the CPU and moved to the plan's device (the package's
    randomness rule), so CPU and CUDA plans give the same pairs. See the chapter
    :doc:`OT for lineage tracing </book/lineage>`.

    Parameters
    ----------
    plan : Tensor, shape (n, m)
        Non-negative coupling with positive mass.
    n_samples : int
    generator : None, int or CPU torch.Generator
        See :func:`nips2019.utils.as_generator`.

    Returns
    -------
    CouplingSampleResult
        Row and column indices, each of shape (n_samples,), int64.

    Examples
    --------
    >>> import torch
    >>> pairs = sample_coupling(torch.tensor([[0.0, 1.0], [0.0, 0.0]]), 3, generator=0)
    >>> pairs.rows.tolist(), pairs.cols.tolist()
    ([0, 0, 0], [1, 1, 1])
    """
    _check_mass(plan, "sample_coupling")
    i, j = _sample_coupling(plan, n_samples, as_generator(generator))
    return CouplingSampleResult(rows=i, cols=j)


def _displacement_interpolation(x, y, plan, t, n_samples, generator):
    """Unchecked :func:`displacement_interpolation` (``generator`` a CPU generator or None)."""
    if n_samples is None:
        i, j = torch.nonzero(plan > 0, as_tuple=True)
        w = plan[i, j]
        w = w / w.sum()
    else:
        i, j = _sample_coupling(plan, n_samples, generator)
        w = torch.full((n_samples,), 1.0 / n_samples, device=x.device, dtype=x.dtype)
    return (1.0 - t) * x[i] + t * y[j], w


@validate(
    x=Tensor(shape=("n", "d"), dtype="floating"),
    y=Tensor(shape=("m", "d"), dtype="floating"),
    plan=_PLAN,
    t=Real(0.0, 1.0),
    n_samples=Integer(low=1, optional=True),
    generator=Generator(),
    same=[("x", "y", "plan")],
)
def displacement_interpolation(
    x: torch.Tensor,
    y: torch.Tensor,
    plan: torch.Tensor,
    t: float,
    *,
    n_samples: int | None = None,
    generator=None,
) -> DisplacementResult:
    r"""McCann (displacement) interpolation of two point clouds along a coupling.

    .. math::

        \mu_t = \sum_{ij} \frac{\gamma_{ij}}{\sum \gamma} \, \delta_{(1-t) x_i + t y_j}, \qquad t \in [0, 1].

    For an optimal plan this is the Wasserstein geodesic between the two clouds.
    With ``n_samples=None`` every pair with positive mass becomes a weighted
    point (up to ``n * m`` points); otherwise ``n_samples`` pairs are drawn
    from the plan (:func:`sample_coupling`) and carry equal weight. See the chapter
    :doc:`OT for lineage tracing </book/lineage>`.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    y : Tensor, shape (m, d)
    plan : Tensor, shape (n, m)
        Non-negative coupling with positive mass; ``x``, ``y`` and ``plan`` share a device and dtype.
    t : float
        Position along the path in [0, 1]: 0 gives the ``x`` side, 1 the ``y`` side.
    n_samples : int, optional
    generator : None, int or CPU torch.Generator
        Used only when ``n_samples`` is given.

    Returns
    -------
    DisplacementResult
        Points, shape (k, d), and probability weights, shape (k,).

    Examples
    --------
    >>> import torch
    >>> res = displacement_interpolation(torch.zeros(1, 2), torch.ones(1, 2), torch.ones(1, 1), 0.25)
    >>> res.points, res.weights
    (tensor([[0.2500, 0.2500]]), tensor([1.]))
    """
    _check_mass(plan, "displacement_interpolation")
    gen = None if n_samples is None else as_generator(generator)
    points, weights = _displacement_interpolation(x, y, plan, float(t), n_samples, gen)
    return DisplacementResult(points=points, weights=weights)
