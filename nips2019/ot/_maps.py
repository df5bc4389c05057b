"""Using a coupling: barycentric projection, sampling pairs, displacement interpolation."""

from __future__ import annotations

import torch

from nips2019.utils import check_finite, check_tensor


def _check_plan(plan, n=None, m=None):
    check_tensor(plan, "plan", ndim=2, shape=(n, m), floating=True)
    check_finite(plan, "plan")
    if bool((plan < 0).any()):
        raise ValueError("plan must be non-negative")
    return plan


def barycentric_projection(plan: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Map each source point to the conditional mean of its targets under a coupling.

    .. math::

        T(x_i) = \frac{\sum_j \gamma_{ij} y_j}{\sum_j \gamma_{ij}} .

    For an exact OT plan between uniform clouds of equal size this is the Monge map.
    Rows with no mass give NaN-free zeros. See the chapter *OT for lineage tracing*.

    Parameters
    ----------
    plan : Tensor, shape (n, m)
    y : Tensor, shape (m, d)

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
    check_tensor(y, "y", ndim=2, floating=True)
    _check_plan(plan, None, y.shape[0])
    mass = plan.sum(1, keepdim=True)
    return (plan @ y) / mass.clamp_min(torch.finfo(plan.dtype).tiny)


def sample_coupling(plan: torch.Tensor, n_samples: int, generator: torch.Generator | None = None):
    r"""Draw index pairs :math:`(i, j)` with probability :math:`\gamma_{ij} / \sum \gamma`.

    See the chapter *OT for lineage tracing*.

    Parameters
    ----------
    plan : Tensor, shape (n, m)
    n_samples : int
    generator : torch.Generator, optional
        On the plan's device.

    Returns
    -------
    (Tensor, Tensor)
        Row and column indices, each of shape (n_samples,), int64.

    Examples
    --------
    >>> import torch
    >>> i, j = sample_coupling(torch.tensor([[0.0, 1.0], [0.0, 0.0]]), 3)
    >>> i.tolist(), j.tolist()
    ([0, 0, 0], [1, 1, 1])
    """
    _check_plan(plan)
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    flat = plan.reshape(-1)
    if not bool(flat.sum() > 0):
        raise ValueError("plan has no mass to sample from")
    idx = torch.multinomial(flat, n_samples, replacement=True, generator=generator)
    return idx // plan.shape[1], idx % plan.shape[1]


def displacement_interpolation(
    x: torch.Tensor,
    y: torch.Tensor,
    plan: torch.Tensor,
    t: float,
    n_samples: int | None = None,
    generator: torch.Generator | None = None,
):
    r"""McCann (displacement) interpolation of two point clouds along a coupling.

    .. math::

        \mu_t = \sum_{ij} \frac{\gamma_{ij}}{\sum \gamma} \, \delta_{(1-t) x_i + t y_j}, \qquad t \in [0, 1].

    For an optimal plan this is the Wasserstein geodesic between the two clouds.
    With ``n_samples=None`` every pair with positive mass becomes a weighted
    point (up to ``n * m`` points); otherwise ``n_samples`` pairs are drawn
    from the plan and carry equal weight. See the chapter *OT for lineage tracing*.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    y : Tensor, shape (m, d)
    plan : Tensor, shape (n, m)
    t : float
        Position along the path, 0 gives ``x``-side, 1 the ``y``-side.
    n_samples : int, optional
    generator : torch.Generator, optional

    Returns
    -------
    (Tensor, Tensor)
        Points, shape (k, d), and probability weights, shape (k,).

    Examples
    --------
    >>> import torch
    >>> pts, w = displacement_interpolation(torch.zeros(1, 2), torch.ones(1, 2), torch.ones(1, 1), 0.25)
    >>> pts, w
    (tensor([[0.2500, 0.2500]]), tensor([1.]))
    """
    check_tensor(x, "x", ndim=2, floating=True)
    check_tensor(y, "y", ndim=2, shape=(None, x.shape[1]), floating=True)
    _check_plan(plan, x.shape[0], y.shape[0])
    if not 0.0 <= float(t) <= 1.0:
        raise ValueError(f"t must lie in [0, 1], got {t}")
    if n_samples is None:
        i, j = torch.nonzero(plan > 0, as_tuple=True)
        w = plan[i, j]
        w = w / w.sum()
    else:
        i, j = sample_coupling(plan, n_samples, generator)
        w = torch.full((n_samples,), 1.0 / n_samples, device=x.device, dtype=x.dtype)
    return (1.0 - t) * x[i] + t * y[j], w
