"""Waddington-OT: unbalanced entropic couplings between consecutive snapshots, with growth."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from nips2019.ot._checks import MarginalPenalty, _reg_m_pair
from nips2019.ot._cost import _NORMALIZATIONS, _cost_matrix, _normalize_with_scale
from nips2019.ot._solvers import _REG_TYPES, _UNBALANCED_METHODS, _unbalanced_ot
from nips2019.utils import Bool, Constraint, InstanceOf, Integer, Items, Options, Real, Tensor, validate
from nips2019.utils._constraints import _show


@dataclasses.dataclass
class Coupling:
    """A transport map between two snapshots (see the chapter :doc:`OT for lineage tracing </book/lineage>`).

    Attributes
    ----------
    plan : Tensor, shape (n0, n1)
        Mass transported from early cell ``i`` to late cell ``j``. Both marginals are soft, so
        the total is close to, not equal to, the target mass of one (about 0.985 on the
        chapter's snapshots at the defaults; exactly one with ``balanced=True``).
    dt : float
        Time between the snapshots.
    growth_rate : Tensor, shape (n0,)
        Growth rate of each early cell implied by the plan,
        :math:`\\log(n_0 \\, \\gamma_{i\\cdot} / \\sum\\gamma) / \\Delta t` (relative: zero on average
        in the log-mean sense; absolute rates are not identifiable from normalised snapshots).
    cost_scale : float
        The statistic the cost was divided by (``normalize``; 1 without normalisation).
    n_iter : int
        Sinkhorn iterations of the last solve (a :class:`~nips2019.ot.ConvergenceWarning` is
        issued when a solve reaches ``max_iter``).
    """

    plan: torch.Tensor
    dt: float
    growth_rate: torch.Tensor
    cost_scale: float
    n_iter: int

    @property
    def transition(self) -> torch.Tensor:
        """Row-normalised plan: where the descendants of each early cell go, shape (n0, n1)."""
        return self.plan / self.plan.sum(1, keepdim=True).clamp_min(torch.finfo(self.plan.dtype).tiny)

    @property
    def ancestry(self) -> torch.Tensor:
        """Column-normalised plan: where each late cell came from, shape (n0, n1)."""
        return self.plan / self.plan.sum(0, keepdim=True).clamp_min(torch.finfo(self.plan.dtype).tiny)


#: The solver options shared by every function that builds a Waddington-OT coupling, with their
#: constraints; :func:`wot_coupling` documents them. The defaults are Schiebinger et al.'s.
_WOT_OPTIONS = dict(
    reg=Real(low=0, closed="neither"),
    reg_m=MarginalPenalty(),
    normalize=Options(*_NORMALIZATIONS, optional=True),
    n_steps=Integer(low=1),
    reg_type=Options(*_REG_TYPES),
    method=Options(*_UNBALANCED_METHODS),
    balanced=Bool(),
    tol=Real(low=0, closed="neither"),
    max_iter=Integer(low=1),
)
_WOT_DEFAULTS = dict(reg=0.05, reg_m=(1.0, 50.0), normalize="median", n_steps=1, reg_type="kl",
                     method="sinkhorn_log", balanced=False, tol=1e-6, max_iter=10_000)


def _wot_coupling(x0, x1, dt=1.0, growth_rate=None, *, func="wot_coupling", reg=0.05, reg_m=(1.0, 50.0),
                  normalize="median", n_steps=1, reg_type="kl", method="sinkhorn_log", balanced=False, tol=1e-6,
                  max_iter=10_000) -> Coupling:
    """Unchecked :func:`wot_coupling`; ``func`` names the public caller in errors."""
    n0, n1 = x0.shape[0], x1.shape[0]
    kw = dict(device=x0.device, dtype=x0.dtype)
    if growth_rate is None:
        growth_rate = torch.zeros(n0, **kw)
    # one n0 x n1 array for the cost, normalised in place (the solver adds its one work array,
    # which becomes the plan)
    cost, scale = _normalize_with_scale(_cost_matrix(x0, x1), normalize, func, "x0 and x1", inplace=True)
    pair = _reg_m_pair(reg_m)
    a = torch.softmax(dt * growth_rate, 0)
    b = torch.full((n1,), 1.0 / n1, **kw)
    if balanced:  # both marginals exact: the log-domain solver with infinite penalties (epsilon scaling for small reg)
        pair, method = (math.inf, math.inf), "sinkhorn_log"
    for _ in range(n_steps):
        res = _unbalanced_ot(a, b, cost, reg, pair, reg_type, method, max_iter, tol, func=func)
        rows = res.plan.sum(1).clamp_min(torch.finfo(x0.dtype).tiny)
        a = rows / rows.sum()
    rel = torch.log(n0 * a) / dt
    return Coupling(plan=res.plan, dt=float(dt), growth_rate=rel, cost_scale=scale, n_iter=res.n_iter)


@validate(
    x0=Tensor(shape=("n0", "d"), dtype="floating"),
    x1=Tensor(shape=("n1", "d"), dtype="floating"),
    dt=Real(low=0, closed="neither"),
    growth_rate=Tensor(shape=("n0",), dtype="floating", optional=True),
    **_WOT_OPTIONS,
    same=[("x0", "x1", "growth_rate")],
)
def wot_coupling(
    x0: torch.Tensor,
    x1: torch.Tensor,
    *,
    dt: float = 1.0,
    growth_rate: torch.Tensor | None = None,
    reg: float = 0.05,
    reg_m: float | tuple[float, float] = (1.0, 50.0),
    normalize: str | None = "median",
    n_steps: int = 1,
    reg_type: str = "kl",
    method: str = "sinkhorn_log",
    balanced: bool = False,
    tol: float = 1e-6,
    max_iter: int = 10_000,
) -> Coupling:
    r"""The Waddington-OT coupling between two snapshots of a growing population.

    With cost :math:`C_{ij} = \lVert x_i - y_j\rVert^2 / s` (:math:`s` the median of the squared
    distances, ``normalize="median"``) and a growth prior :math:`g_i = e^{\Delta t\, r_i}`
    (:math:`r_i` = birth minus death rate), solve

    .. math::

        \min_{\gamma \ge 0} \langle \gamma, C \rangle + \mathrm{reg}\,\Omega(\gamma)
        + \lambda_1 \operatorname{KL}(\gamma 1 \,\|\, a) + \lambda_2 \operatorname{KL}(\gamma^\top 1 \,\|\, b),
        \qquad a_i = \frac{g_i}{\sum_k g_k}, \quad b_j = \frac{1}{n_1},

    with :math:`(\lambda_1, \lambda_2)` = ``reg_m``. The weak penalty :math:`\lambda_1` lets the
    mass leaving each early cell deviate from its prior (cells multiply or die), the strong
    :math:`\lambda_2` makes the plan explain every late cell. With ``n_steps > 1`` the prior is
    replaced by the plan's row sums and the problem solved again (Waddington-OT's growth
    re-estimation). Defaults are those of Schiebinger et al. (2019): ``reg=0.05`` on the
    median-normalised cost, ``reg_m=(1, 50)``. ``balanced=True`` solves the balanced entropic
    problem instead (both marginals exact). See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Parameters
    ----------
    x0 : Tensor, shape (n0, d)
        Early cells (e.g. PCA coordinates).
    x1 : Tensor, shape (n1, d)
        Late cells, same device and dtype as ``x0``.
    dt : float
        Time between the snapshots (only scales the growth prior and estimate).
    growth_rate : Tensor, shape (n0,), optional
        Prior net growth rates :math:`r_i`; zero (no prior knowledge) by default.
    reg : float
        Entropic weight; it multiplies the cost *after* normalisation (with ``normalize=None``
        it is absolute).
    reg_m : float or (float, float)
        KL marginal penalties :math:`(\lambda_1, \lambda_2)`, in the units of the normalised cost;
        one number sets both; ``inf`` enforces a marginal.
    normalize : {"median", "mean", "max"} or None
        Statistic the squared-distance cost is divided by before solving
        (:func:`nips2019.ot.normalize_cost`).
    n_steps : int
        Number of solves, each using the previous row sums as the prior.
    reg_type, method : str
        Passed to :func:`nips2019.ot.unbalanced_ot` (the balanced problem always runs its
        log-domain solver with both penalties infinite); epsilon scaling is on below a ``reg``
        of 1% of the mean normalised cost.
    balanced : bool
    tol, max_iter
        Solver stopping rule and iteration cap.

    Returns
    -------
    Coupling

    References
    ----------
    Schiebinger et al. (2019), *Optimal-transport analysis of single-cell gene expression identifies
    developmental trajectories in reprogramming*, Cell 176(4).

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
    >>> c = wot_coupling(x, x + 0.1)
    >>> c.transition.argmax(1).tolist()
    [0, 1, 2]
    """
    return _wot_coupling(x0, x1, dt, growth_rate, reg=reg, reg_m=reg_m, normalize=normalize, n_steps=n_steps,
                         reg_type=reg_type, method=method, balanced=balanced, tol=tol, max_iter=max_iter)


def _check_same_as(func: str, name: str, x: torch.Tensor, ref_name: str, ref: torch.Tensor):
    if x.device != ref.device:
        raise ValueError(f"{func}: {name} is on {x.device} but {ref_name} is on {ref.device}; move them to one device")
    if x.is_floating_point() and x.dtype != ref.dtype:
        raise TypeError(f"{func}: {name} has dtype {x.dtype} but {ref_name} has {ref.dtype}; convert one explicitly "
                        "(nothing is converted silently)")


@validate(
    xs=Items(Tensor(shape=(None, "d"), dtype="floating"), min_length=2),
    times=Items(Real(), min_length=2),
    growth_rates=Items(Tensor(ndim=1, dtype="floating"), optional=True),
    **_WOT_OPTIONS,
)
def wot_couplings(
    xs,
    times,
    growth_rates=None,
    *,
    reg: float = 0.05,
    reg_m: float | tuple[float, float] = (1.0, 50.0),
    normalize: str | None = "median",
    n_steps: int = 1,
    reg_type: str = "kl",
    method: str = "sinkhorn_log",
    balanced: bool = False,
    tol: float = 1e-6,
    max_iter: int = 10_000,
) -> list:
    """Waddington-OT couplings between every pair of consecutive snapshots.

    ``xs`` is a list of (n_k, d) tensors (one device and dtype) at increasing ``times``;
    ``growth_rates`` an optional list of per-cell prior rates, shape (n_k,), one per snapshot but
    the last. The options are those of :func:`wot_coupling`. Returns a list of
    :class:`Coupling`, one per consecutive pair, as :func:`descendants`, :func:`ancestors` and
    :func:`fate_probabilities` take it. See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Examples
    --------
    >>> import torch
    >>> xs = [torch.randn(5, 2, dtype=torch.float64) + t for t in range(3)]
    >>> [c.plan.shape for c in wot_couplings(xs, [0.0, 1.0, 2.0])]
    [torch.Size([5, 5]), torch.Size([5, 5])]
    """
    func = "wot_couplings"
    times = [float(t) for t in (times.tolist() if hasattr(times, "tolist") else times)]
    if len(xs) != len(times):
        raise ValueError(f"{func}: xs and times must have the same length, got {len(xs)} and {len(times)}")
    if any(t1 <= t0 for t0, t1 in zip(times, times[1:])):
        raise ValueError(f"{func}: times must increase, got {times}")
    for k, x in enumerate(xs[1:], 1):
        _check_same_as(func, f"xs[{k}]", x, "xs[0]", xs[0])
    if growth_rates is not None:
        if len(growth_rates) < len(xs) - 1:
            raise ValueError(f"{func}: growth_rates needs one tensor per snapshot but the last ({len(xs) - 1}), "
                             f"got {len(growth_rates)}")
        for k, g in enumerate(growth_rates[: len(xs) - 1]):
            if g.shape[0] != xs[k].shape[0]:
                raise ValueError(f"{func}: growth_rates[{k}] must have shape ({xs[k].shape[0]},) like xs[{k}], "
                                 f"got {tuple(g.shape)}")
            _check_same_as(func, f"growth_rates[{k}]", g, "xs[0]", xs[0])
    opts = dict(reg=reg, reg_m=reg_m, normalize=normalize, n_steps=n_steps, reg_type=reg_type, method=method,
                balanced=balanced, tol=tol, max_iter=max_iter)
    out = []
    for k in range(len(xs) - 1):
        g = None if growth_rates is None else growth_rates[k]
        out.append(_wot_coupling(xs[k], xs[k + 1], times[k + 1] - times[k], g, func=func, **opts))
    return out


_COUPLINGS = Items(InstanceOf(Coupling), min_length=1)
_WEIGHTS = Tensor(ndim=1, dtype="floating", low=0)


def _check_chain(func: str, couplings, ref: torch.Tensor, ref_name: str):
    """Consecutive couplings must chain (late cells of one = early cells of the next) and share device/dtype."""
    for k, (c0, c1) in enumerate(zip(couplings, couplings[1:])):
        if c0.plan.shape[1] != c1.plan.shape[0]:
            raise ValueError(f"{func}: couplings do not chain: couplings[{k}] ends with {c0.plan.shape[1]} cells "
                             f"but couplings[{k + 1}] starts with {c1.plan.shape[0]}")
    for k, c in enumerate(couplings):
        _check_same_as(func, ref_name, ref, f"couplings[{k}].plan", c.plan)


def _normalised_weights(func: str, weights: torch.Tensor, n: int, where: str):
    if weights.shape[0] != n:
        raise ValueError(f"{func}: weights must have shape ({n},), one entry per cell of {where}, "
                         f"got {tuple(weights.shape)}")
    if not bool(weights.sum() > 0):
        raise ValueError(f"{func}: weights must be non-negative with a positive sum, got all zeros")
    return weights / weights.sum()


@validate(couplings=_COUPLINGS, weights=_WEIGHTS, k_end=Integer(low=0, optional=True))
def descendants(couplings, weights: torch.Tensor, *, k_end: int | None = None) -> torch.Tensor:
    r"""Push a distribution over early cells forward through chained couplings.

    .. math::

        d^{(k+1)} \propto (\gamma^{(k)})^\top d^{(k)},

    so a cell whose lineage multiplies passes on more mass (the plan's row sums carry the
    growth). ``couplings[0]`` starts at the snapshot of ``weights``. See the chapter
    :doc:`OT for lineage tracing </book/lineage>`.

    Parameters
    ----------
    couplings : list of Coupling
        Consecutive couplings.
    weights : Tensor, shape (n0,)
        Non-negative weights over the first snapshot's cells (e.g. an indicator of a cell set),
        same device and dtype as the plans.
    k_end : int, optional
        Number of couplings to chain (all by default; 0 returns the normalised weights).

    Returns
    -------
    Tensor, shape (n_k,)
        A probability vector over the cells at the end snapshot.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    >>> c = wot_coupling(x, x, reg=0.01, normalize="max")
    >>> descendants([c], torch.tensor([1.0, 0.0], dtype=torch.float64)).round(decimals=3)
    tensor([1., 0.], dtype=torch.float64)
    """
    func = "descendants"
    k_end = len(couplings) if k_end is None else k_end
    if k_end > len(couplings):
        raise ValueError(f"{func}: k_end must be at most len(couplings) = {len(couplings)}, got {k_end}")
    _check_chain(func, couplings, weights, "weights")
    d = _normalised_weights(func, weights, couplings[0].plan.shape[0], "the first snapshot")
    for c in couplings[:k_end]:
        d = c.plan.T @ d
        d = d / d.sum().clamp_min(torch.finfo(d.dtype).tiny)
    return d


@validate(couplings=_COUPLINGS, weights=_WEIGHTS)
def ancestors(couplings, weights: torch.Tensor) -> torch.Tensor:
    r"""Pull a distribution over late cells back through chained couplings.

    .. math::

        p^{(k)} \propto \gamma^{(k)} p^{(k+1)}.

    ``couplings[-1]`` ends at the snapshot of ``weights`` (non-negative, shape (n_K,), same device
    and dtype as the plans); the result lives on the first coupling's early cells. See the
    chapter :doc:`OT for lineage tracing </book/lineage>`.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    >>> c = wot_coupling(x, x, reg=0.01, normalize="max")
    >>> ancestors([c], torch.tensor([0.0, 1.0], dtype=torch.float64)).round(decimals=3)
    tensor([0., 1.], dtype=torch.float64)
    """
    func = "ancestors"
    _check_chain(func, couplings, weights, "weights")
    p = _normalised_weights(func, weights, couplings[-1].plan.shape[1], "the last snapshot")
    for c in reversed(couplings):
        p = c.plan @ p
        p = p / p.sum().clamp_min(torch.finfo(p.dtype).tiny)
    return p


class _FateLabels(Constraint):
    """Integer fate labels (tensor, NumPy array or list), shape (n,), or soft memberships, a floating tensor (n, F)."""

    optional = False

    def check_value(self, value, name, ctx):
        if isinstance(value, (list, tuple)):
            try:
                value = np.asarray(value)
            except ValueError:
                ctx.fail(TypeError, f"{name} must be {self.describe()}, got a ragged list")
        if isinstance(value, np.ndarray):
            if value.ndim != 1 or value.dtype.kind not in "iu":
                ctx.fail(TypeError, f"{name} given as a NumPy array or list must hold integer fate indices, shape "
                                    f"(n,); got dtype {value.dtype}, shape {value.shape} (soft memberships must be "
                                    "a floating torch.Tensor: convert with torch.as_tensor)")
            value = torch.as_tensor(value)
        if not isinstance(value, torch.Tensor):
            ctx.fail(TypeError, f"{name} must be {self.describe()}, got {_show(value)}")
        if value.dim() == 1:
            if value.is_floating_point():
                ctx.fail(TypeError, f"1-D {name} must be integer fate indices (soft memberships are 2-D), "
                                    f"got {value.dtype}")
            Tensor(shape=(None,), dtype="integer", low=0).check_value(value, name, ctx)
        elif value.dim() == 2:
            if not value.is_floating_point():
                ctx.fail(TypeError, f"2-D {name} must be floating soft memberships, got {value.dtype}")
            Tensor(shape=(None, None), dtype="floating", low=0).check_value(value, name, ctx)
        else:
            ctx.fail(ValueError, f"{name} must be 1-D (integer fates) or 2-D (soft memberships), got shape "
                                 f"{tuple(value.shape)}")

    def describe(self):
        return "integer fate indices (tensor, NumPy array or list, shape (n,)) or a floating tensor (n, F)"


@validate(couplings=_COUPLINGS, labels=_FateLabels())
def fate_probabilities(couplings, labels) -> torch.Tensor:
    r"""Probability that each early cell's descendants end in each fate.

    .. math::

        F^{(k)} = \Gamma^{(k)} F^{(k+1)}, \qquad F^{(K)}_{jf} = \mathbb 1[\text{cell } j \text{ has fate } f],

    with :math:`\Gamma^{(k)}` the row-normalised plan (:attr:`Coupling.transition`): the
    fraction of a cell's descendants that reach each fate.
    See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Parameters
    ----------
    couplings : list of Coupling
        From the snapshot of interest to the last one.
    labels : Tensor, NumPy array or list, shape (n_K,), integer; or Tensor, shape (n_K, F), floating
        Fate of each cell at the last snapshot: non-negative integer labels (a NumPy array or a
        list is accepted here, and moved to the plans' device), or soft memberships (a tensor on
        the plans' device, with their dtype).

    Returns
    -------
    Tensor, shape (n_0, F)
        Rows sum to one (rows of cells with no descendants at all are zero).

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    >>> fate_probabilities([wot_coupling(x, x, reg=0.01, normalize="max")], [0, 1]).round(decimals=3)
    tensor([[1., 0.],
            [0., 1.]], dtype=torch.float64)
    """
    func = "fate_probabilities"
    ref = couplings[-1].plan
    if not isinstance(labels, torch.Tensor):
        labels = torch.as_tensor(np.asarray(labels), device=ref.device)
    if labels.shape[0] != ref.shape[1]:
        raise ValueError(f"{func}: labels must have one entry per cell of the last snapshot ({ref.shape[1]}), "
                         f"got shape {tuple(labels.shape)}")
    if labels.dim() == 1:
        if labels.device != ref.device:
            raise ValueError(f"{func}: labels is on {labels.device} but couplings[-1].plan is on {ref.device}; "
                             "move them to one device")
        labels = torch.nn.functional.one_hot(labels.long()).to(dtype=ref.dtype)
    _check_chain(func, couplings, labels, "labels")
    f = labels
    for c in reversed(couplings):
        f = c.transition @ f
    return f / f.sum(1, keepdim=True).clamp_min(torch.finfo(f.dtype).tiny)


def _independent_plan(x0, x1, growth_rate=None, dt=1.0):
    kw = dict(device=x0.device, dtype=x0.dtype)
    a = torch.full((x0.shape[0],), 1.0 / x0.shape[0], **kw) if growth_rate is None else torch.softmax(dt * growth_rate, 0)
    b = torch.full((x1.shape[0],), 1.0 / x1.shape[0], **kw)
    return a[:, None] * b[None, :]


@validate(
    x0=Tensor(shape=("n0", "d"), dtype="floating"),
    x1=Tensor(shape=("n1", "d"), dtype="floating"),
    growth_rate=Tensor(shape=("n0",), dtype="floating", optional=True),
    dt=Real(low=0, closed="neither"),
    same=[("x0", "x1", "growth_rate")],
)
def independent_plan(x0: torch.Tensor, x1: torch.Tensor, growth_rate: torch.Tensor | None = None, *,
                     dt: float = 1.0) -> torch.Tensor:
    r"""The null coupling :math:`a \otimes b`: every early cell sends mass to every late cell alike.

    ``a`` is uniform, or proportional to :math:`e^{\Delta t\, r_i}` with a growth prior
    ``growth_rate`` (shape (n0,)); ``b`` is uniform.
    See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Examples
    --------
    >>> import torch
    >>> independent_plan(torch.zeros(2, 1), torch.zeros(4, 1)).sum(0)
    tensor([0.2500, 0.2500, 0.2500, 0.2500])
    """
    return _independent_plan(x0, x1, growth_rate, dt)
