"""Validation against held-out time points and against the simulator's ground truth."""

from __future__ import annotations

import dataclasses

import torch

from nips2019.ot import displacement_interpolation, wasserstein_distance
from nips2019.utils import check_tensor

from ._wot import independent_plan, wot_coupling


@dataclasses.dataclass
class InterpolationResult:
    """Distances between a held-out snapshot and its predictions (see the chapter *OT for lineage tracing*).

    Attributes
    ----------
    distances : dict[str, float]
        :math:`W_2` from the held-out cells to: ``"ot"`` (the Waddington-OT interpolation),
        ``"independent"`` / ``"independent_growth"`` (interpolating the product coupling, without
        / with the growth prior), ``"first"`` / ``"last"`` (the neighbouring snapshots themselves),
        and ``"batch"`` (a second sample at the held-out time: the noise floor), when available.
    interpolated : Tensor, shape (n_samples, d)
        The OT interpolation.
    t : float
        Relative position of the held-out time between the two ends.
    """

    distances: dict
    interpolated: torch.Tensor
    t: float


def growth_corrected_plan(plan: torch.Tensor, t: float) -> torch.Tensor:
    r"""Reweight a growth-aware coupling so that its pairs describe the population at fraction ``t``.

    A plan's row sum :math:`\gamma_{i\cdot}` is the mass early cell :math:`i` has become by the
    late time. With exponential growth its lineage weighs :math:`\gamma_{i\cdot}^{\,t}` (relative
    to its start) at fraction :math:`t` of the way, so pair :math:`(i, j)` gets weight

    .. math::

        w_{ij} \propto \gamma_{ij}\, \gamma_{i\cdot}^{\,t - 1}.

    At :math:`t = 1` nothing changes; at :math:`t = 0` every early cell weighs the same. Sampling
    the uncorrected plan would give the interpolated cloud the composition of the *late*
    population. See the chapter *OT for lineage tracing*.

    Examples
    --------
    >>> import torch
    >>> growth_corrected_plan(torch.tensor([[0.6, 0.2], [0.0, 0.2]]), 0.0).sum(1)
    tensor([0.5000, 0.5000])
    """
    check_tensor(plan, "plan", ndim=2, floating=True)
    if not 0.0 <= float(t) <= 1.0:
        raise ValueError(f"t must lie in [0, 1], got {t}")
    rows = plan.sum(1, keepdim=True).clamp_min(torch.finfo(plan.dtype).tiny)
    w = plan * (rows / rows.mean()).pow(float(t) - 1.0)
    return w / w.sum()


def validate_interpolation(
    x0: torch.Tensor,
    x1: torch.Tensor,
    x2: torch.Tensor,
    times,
    x1_batch2: torch.Tensor | None = None,
    growth_rate: torch.Tensor | None = None,
    n_samples: int | None = None,
    generator: torch.Generator | None = None,
    **wot_kwargs,
) -> InterpolationResult:
    r"""Hold out a middle snapshot, predict it from its neighbours, compare with null models.

    The coupling :math:`\gamma` of ``x0`` (time :math:`t_0`) to ``x2`` (time :math:`t_2`) is
    computed with :func:`wot_coupling`; pairs :math:`(i, j)` drawn from it (reweighted for growth by
    :func:`growth_corrected_plan`) give the McCann
    interpolant :math:`(1-s)x_i + s y_j` at :math:`s = (t_1 - t_0)/(t_2 - t_0)`, whose
    :math:`W_2` distance to the real ``x1`` is compared with that of the null models listed in
    :class:`InterpolationResult`. This is the validation of Schiebinger et al. (2019).
    See the chapter *OT for lineage tracing*.

    Parameters
    ----------
    x0, x1, x2 : Tensor, shapes (n0, d), (n1, d), (n2, d)
    times : (float, float, float)
        :math:`t_0 < t_1 < t_2`.
    x1_batch2 : Tensor, shape (n1', d), optional
        An independent sample at :math:`t_1`.
    growth_rate : Tensor, shape (n0,), optional
        Growth prior of the early cells (used by the coupling and the growth null).
    n_samples : int, optional
        Interpolated points (``n1`` by default).
    generator : torch.Generator, optional
    **wot_kwargs
        Passed to :func:`wot_coupling`.

    Returns
    -------
    InterpolationResult

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> x0 = torch.randn(40, 2, generator=g, dtype=torch.float64)
    >>> res = validate_interpolation(x0, x0 + 1.0, x0 + 2.0, (0.0, 1.0, 2.0), generator=g)
    >>> res.distances["ot"] < res.distances["independent"]
    True
    """
    for name, v in (("x0", x0), ("x1", x1), ("x2", x2)):
        check_tensor(v, name, ndim=2, shape=(None, x0.shape[1]), floating=True)
    t0, t1, t2 = (float(t) for t in times)
    if not t0 < t1 < t2:
        raise ValueError(f"times must satisfy t0 < t1 < t2, got {tuple(times)}")
    s = (t1 - t0) / (t2 - t0)
    n_samples = x1.shape[0] if n_samples is None else n_samples
    coupling = wot_coupling(x0, x2, dt=t2 - t0, growth_rate=growth_rate, **wot_kwargs)
    interp, _ = displacement_interpolation(x0, x2, growth_corrected_plan(coupling.plan, s), s, n_samples, generator)
    dist = {"ot": float(wasserstein_distance(interp, x1))}
    nulls = {"independent": independent_plan(x0, x2)}
    if growth_rate is not None:
        nulls["independent_growth"] = independent_plan(x0, x2, growth_rate, t2 - t0)
    for name, plan in nulls.items():
        pts, _ = displacement_interpolation(x0, x2, growth_corrected_plan(plan, s), s, n_samples, generator)
        dist[name] = float(wasserstein_distance(pts, x1))
    dist["first"] = float(wasserstein_distance(x0, x1))
    dist["last"] = float(wasserstein_distance(x2, x1))
    if x1_batch2 is not None:
        dist["batch"] = float(wasserstein_distance(x1_batch2, x1))
    return InterpolationResult(distances=dist, interpolated=interp, t=s)


def ancestor_error(plan: torch.Tensor, x_early: torch.Tensor, true_ancestors: torch.Tensor, relative: bool = True):
    r"""How far a coupling's inferred ancestors lie from the true ones.

    .. math::

        E(\gamma) = \frac{1}{m}\sum_j \sum_i \frac{\gamma_{ij}}{\sum_k \gamma_{kj}}
        \lVert x_i - a_j \rVert^2,

    with :math:`a_j` the true ancestor state of late cell :math:`j`. With ``relative=True``
    the value is divided by :math:`E` of the independent coupling (uniform over early cells),
    as in LineageOT's evaluation: 1 means no better than guessing, 0 is perfect (up to the
    sampling floor). See the chapter *OT for lineage tracing*.

    Parameters
    ----------
    plan : Tensor, shape (n, m)
    x_early : Tensor, shape (n, d)
    true_ancestors : Tensor, shape (m, d)
    relative : bool

    Returns
    -------
    float

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0]])
    >>> ancestor_error(torch.eye(2), x, x)
    0.0
    """
    check_tensor(x_early, "x_early", ndim=2, floating=True)
    check_tensor(true_ancestors, "true_ancestors", ndim=2, shape=(None, x_early.shape[1]), floating=True)
    check_tensor(plan, "plan", shape=(x_early.shape[0], true_ancestors.shape[0]), floating=True)
    d2 = ((x_early[:, None, :] - true_ancestors[None, :, :]) ** 2).sum(-1)
    cols = plan / plan.sum(0, keepdim=True).clamp_min(torch.finfo(plan.dtype).tiny)
    err = (cols * d2).sum(0).mean()
    if relative:
        err = err / d2.mean()
    return float(err)
