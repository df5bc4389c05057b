"""Validation against held-out time points and against the simulator's ground truth."""

from __future__ import annotations

import dataclasses

import torch

from nips2019.ot._distance import _wasserstein_distance
from nips2019.ot._maps import _displacement_interpolation
from nips2019.utils import Bool, Generator, Integer, Items, Real, Tensor, as_generator, validate

from ._wot import _WOT_OPTIONS, _independent_plan, _wot_coupling


@dataclasses.dataclass
class InterpolationResult:
    """Distances between a held-out snapshot and its predictions.

    See the chapter :doc:`OT for lineage tracing </book/lineage>`.

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


def _growth_corrected_plan(plan: torch.Tensor, t: float) -> torch.Tensor:
    rows = plan.sum(1, keepdim=True).clamp_min(torch.finfo(plan.dtype).tiny)
    w = plan * (rows / rows.mean()).pow(float(t) - 1.0)
    return w / w.sum()


@validate(plan=Tensor(ndim=2, dtype="floating", low=0), t=Real(0.0, 1.0))
def growth_corrected_plan(plan: torch.Tensor, t: float) -> torch.Tensor:
    r"""Reweight a growth-aware coupling so that its pairs describe the population at fraction ``t``.

    A plan's row sum :math:`\gamma_{i\cdot}` is the mass early cell :math:`i` has become by the
    late time. With exponential growth its lineage weighs :math:`\gamma_{i\cdot}^{\,t}` (relative
    to its start) at fraction :math:`t` of the way, so pair :math:`(i, j)` gets weight

    .. math::

        w_{ij} \propto \gamma_{ij}\, \gamma_{i\cdot}^{\,t - 1}.

    At :math:`t = 1` nothing changes; at :math:`t = 0` every early cell weighs the same. Sampling
    the uncorrected plan would give the interpolated cloud the composition of the *late*
    population. ``plan`` is a non-negative (n, m) coupling with positive mass, ``t`` in [0, 1].
    See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Examples
    --------
    >>> import torch
    >>> growth_corrected_plan(torch.tensor([[0.6, 0.2], [0.0, 0.2]]), 0.0).sum(1)
    tensor([0.5000, 0.5000])
    """
    if not bool(plan.sum() > 0):
        raise ValueError("growth_corrected_plan: plan has no mass (all entries are zero)")
    return _growth_corrected_plan(plan, t)


@validate(
    x0=Tensor(shape=("n0", "d"), dtype="floating"),
    x1=Tensor(shape=(None, "d"), dtype="floating"),
    x2=Tensor(shape=(None, "d"), dtype="floating"),
    times=Items(Real(), length=3),
    x1_batch2=Tensor(shape=(None, "d"), dtype="floating", optional=True),
    growth_rate=Tensor(shape=("n0",), dtype="floating", optional=True),
    n_samples=Integer(low=1, optional=True),
    generator=Generator(),
    **_WOT_OPTIONS,
    same=[("x0", "x1", "x2", "x1_batch2", "growth_rate")],
)
def validate_interpolation(
    x0: torch.Tensor,
    x1: torch.Tensor,
    x2: torch.Tensor,
    times,
    *,
    x1_batch2: torch.Tensor | None = None,
    growth_rate: torch.Tensor | None = None,
    n_samples: int | None = None,
    generator=None,
    reg: float = 0.05,
    reg_m: float | tuple[float, float] = (1.0, 50.0),
    normalize: str | None = "median",
    n_steps: int = 1,
    reg_type: str = "kl",
    method: str = "sinkhorn_log",
    balanced: bool = False,
    tol: float = 1e-6,
    max_iter: int = 10_000,
) -> InterpolationResult:
    r"""Hold out a middle snapshot, predict it from its neighbours, compare with null models.

    The coupling :math:`\gamma` of ``x0`` (time :math:`t_0`) to ``x2`` (time :math:`t_2`) is
    computed with :func:`wot_coupling`; pairs :math:`(i, j)` drawn from it (reweighted for growth by
    :func:`growth_corrected_plan`) give the McCann
    interpolant :math:`(1-s)x_i + s y_j` at :math:`s = (t_1 - t_0)/(t_2 - t_0)`, whose
    :math:`W_2` distance to the real ``x1`` is compared with that of the null models listed in
    :class:`InterpolationResult`. This is the validation of Schiebinger et al. (2019).
    See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Parameters
    ----------
    x0, x1, x2 : Tensor, shapes (n0, d), (n1, d), (n2, d)
        One device and dtype.
    times : (float, float, float)
        :math:`t_0 < t_1 < t_2`.
    x1_batch2 : Tensor, shape (n1', d), optional
        An independent sample at :math:`t_1`.
    growth_rate : Tensor, shape (n0,), optional
        Growth prior of the early cells (used by the coupling and the growth null).
    n_samples : int, optional
        Interpolated points (``n1`` by default).
    generator : None, int or CPU torch.Generator
        For drawing the interpolated pairs (:func:`nips2019.utils.as_generator`).
    reg, reg_m, normalize, n_steps, reg_type, method, balanced, tol, max_iter
        Options of the coupling, as in :func:`wot_coupling` (``reg`` multiplies the normalised cost).

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
    func = "validate_interpolation"
    t0, t1, t2 = (float(t) for t in (times.tolist() if hasattr(times, "tolist") else times))
    if not t0 < t1 < t2:
        raise ValueError(f"{func}: times must satisfy t0 < t1 < t2, got {tuple(times)}")
    s = (t1 - t0) / (t2 - t0)
    n_samples = x1.shape[0] if n_samples is None else n_samples
    gen = as_generator(generator)
    coupling = _wot_coupling(x0, x2, t2 - t0, growth_rate, func=func, reg=reg, reg_m=reg_m, normalize=normalize,
                             n_steps=n_steps, reg_type=reg_type, method=method, balanced=balanced, tol=tol,
                             max_iter=max_iter)
    interp, _ = _displacement_interpolation(x0, x2, _growth_corrected_plan(coupling.plan, s), s, n_samples, gen)
    dist = {"ot": float(_wasserstein_distance(interp, x1))}
    nulls = {"independent": _independent_plan(x0, x2)}
    if growth_rate is not None:
        nulls["independent_growth"] = _independent_plan(x0, x2, growth_rate, t2 - t0)
    for name, plan in nulls.items():
        pts, _ = _displacement_interpolation(x0, x2, _growth_corrected_plan(plan, s), s, n_samples, gen)
        dist[name] = float(_wasserstein_distance(pts, x1))
    dist["first"] = float(_wasserstein_distance(x0, x1))
    dist["last"] = float(_wasserstein_distance(x2, x1))
    if x1_batch2 is not None:
        dist["batch"] = float(_wasserstein_distance(x1_batch2, x1))
    return InterpolationResult(distances=dist, interpolated=interp, t=s)


@validate(
    plan=Tensor(shape=("n", "m"), dtype="floating", low=0),
    x_early=Tensor(shape=("n", "d"), dtype="floating"),
    true_ancestors=Tensor(shape=("m", "d"), dtype="floating"),
    relative=Bool(),
    same=[("plan", "x_early", "true_ancestors")],
)
def ancestor_error(plan: torch.Tensor, x_early: torch.Tensor, true_ancestors: torch.Tensor, *,
                   relative: bool = True) -> float:
    r"""How far a coupling's inferred ancestors lie from the true ones.

    .. math::

        E(\gamma) = \frac{1}{m}\sum_j \sum_i \frac{\gamma_{ij}}{\sum_k \gamma_{kj}}
        \lVert x_i - a_j \rVert^2,

    with :math:`a_j` the true ancestor state of late cell :math:`j`. With ``relative=True``
    the value is divided by :math:`E` of the independent coupling (uniform over early cells),
    as in LineageOT's evaluation: 1 means no better than guessing, 0 is perfect (up to the
    sampling floor). See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Parameters
    ----------
    plan : Tensor, shape (n, m)
        Non-negative coupling (columns without mass count as zero error).
    x_early : Tensor, shape (n, d)
    true_ancestors : Tensor, shape (m, d)
        Same device and dtype as ``plan`` and ``x_early``.
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
    d2 = ((x_early[:, None, :] - true_ancestors[None, :, :]) ** 2).sum(-1)
    cols = plan / plan.sum(0, keepdim=True).clamp_min(torch.finfo(plan.dtype).tiny)
    err = (cols * d2).sum(0).mean()
    if relative:
        base = d2.mean()
        if not bool(base > 0):
            raise ValueError("ancestor_error: x_early and true_ancestors all coincide, so the relative error is "
                             "undefined; use relative=False")
        err = err / base
    return float(err)
