"""Point-process destructors: time rescaling layers composed until no structure is left."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from scipy import stats

from ..utils import Generator, InstanceOf, Integer, Items, Options, Probability, Real, Tensor, validate
from ._hawkes import HawkesEvents, _check_events, fit_hawkes, hawkes_compensator, simulate_hawkes

_FAMILIES = ("poisson", "piecewise", "hawkes")


@dataclasses.dataclass
class DestructorLayer:
    """One fitted layer of a point-process destructor (see :func:`fit_destructor_layer`).

    Attributes
    ----------
    family : str
        ``"poisson"`` (constant rate), ``"piecewise"`` (piecewise-constant rate) or ``"hawkes"``.
    params : dict
        ``rate`` (Tensor, shape (n_bins,)) and ``edges`` (shape (n_bins + 1,)) for the rate
        families; ``baseline``, ``adjacency``, ``decay`` (floats) for ``"hawkes"``.
    t_max : float
        End of the window the layer was fitted on (in its input clock).
    log_likelihood : float
        Of the layer's input under the layer.
    gain : float
        ``log_likelihood`` minus that of a unit-rate Poisson process on the same window
        (:math:`-T`): what the layer explains.
    n_params : int
    """

    family: str
    params: dict
    t_max: float
    log_likelihood: float
    gain: float
    n_params: int


def _rate_compensator(params, t):
    edges, rate = params["edges"], params["rate"]
    width = edges[1:] - edges[:-1]
    cum = torch.cat([rate.new_zeros(1), torch.cumsum(rate * width, 0)])
    b = (torch.searchsorted(edges, t, side="right") - 1).clamp(0, len(rate) - 1)
    return cum[b] + rate[b] * (t - edges[b])


def _apply(layer, times, t_max):
    """The layer's compensator at the event times and at t_max: the next clock."""
    if layer.family == "hawkes":
        p = layer.params
        one = lambda v: times.new_tensor(v).reshape(1, 1)  # noqa: E731
        ev = HawkesEvents(times, torch.zeros(len(times), dtype=torch.int64, device=times.device), t_max, 1)
        u = hawkes_compensator(ev, times.new_tensor([p["baseline"]]), one(p["adjacency"]), p["decay"])
        tail = p["baseline"] * t_max + p["adjacency"] / p["decay"] * float(
            (1 - torch.exp(-p["decay"] * (t_max - times))).sum())
        return u, float(tail)
    u = _rate_compensator(layer.params, torch.cat([times, times.new_tensor([t_max])]))
    return u[:-1], float(u[-1])


@validate(events=InstanceOf(HawkesEvents), family=Options(*_FAMILIES), n_bins=Integer(low=1))
def fit_destructor_layer(events: HawkesEvents, family: str, *, n_bins: int = 10) -> DestructorLayer:
    r"""Fit one destructor layer (a simple point-process model) to a univariate realisation.

    ``"poisson"``: the constant rate :math:`n / T`. ``"piecewise"``: ``n_bins`` equal bins with
    their maximum-likelihood rates (count / width, floored at :math:`10^{-3} n / T` so the
    transform stays strictly increasing). ``"hawkes"``: an exponential Hawkes process by
    :func:`fit_hawkes` (baseline, jump and decay fitted).

    Parameters
    ----------
    events : HawkesEvents
        One dimension (``n_dims == 1``), at least 2 events.
    family : {"poisson", "piecewise", "hawkes"}
    n_bins : int
        Bins of the piecewise family.

    Returns
    -------
    DestructorLayer

    Notes
    -----
    See the chapter :doc:`Events with structure </book/events>`.

    Examples
    --------
    >>> import torch
    >>> ev = HawkesEvents(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), torch.zeros(3, dtype=torch.long),
    ...                   6.0, 1)
    >>> fit_destructor_layer(ev, "poisson").params["rate"].tolist()
    [0.5]
    """
    _check_univariate("fit_destructor_layer", events)
    t, t_max = events.times, events.t_max
    n = len(t)
    if family == "hawkes":
        fit = fit_hawkes(events)
        p = dict(baseline=float(fit.baseline[0]), adjacency=float(fit.adjacency[0, 0]), decay=float(fit.decay))
        return DestructorLayer("hawkes", p, t_max, fit.log_likelihood, fit.log_likelihood + t_max, 3)
    k = 1 if family == "poisson" else n_bins
    edges = torch.linspace(0.0, t_max, k + 1, dtype=t.dtype, device=t.device)
    counts = torch.bincount((torch.searchsorted(edges, t, side="right") - 1).clamp(0, k - 1), minlength=k)
    width = edges[1:] - edges[:-1]
    rate = (counts.to(t.dtype) / width).clamp_min(1e-3 * n / t_max)
    params = dict(edges=edges, rate=rate)
    ll = float(torch.log(rate[(torch.searchsorted(edges, t, side="right") - 1).clamp(0, k - 1)]).sum()
               - (rate * width).sum())
    return DestructorLayer(family, params, t_max, ll, ll + t_max, k)


def _check_univariate(name, events):
    if events.n_dims != 1:
        raise ValueError(f"{name}: events must be univariate (n_dims == 1), got n_dims={events.n_dims}")
    _check_events(name, events, events.times.new_zeros(1))
    if len(events.times) < 2:
        raise ValueError(f"{name}: events has {len(events.times)} events; at least 2 are needed")


@validate(layer=InstanceOf(DestructorLayer), events=InstanceOf(HawkesEvents))
def apply_destructor_layer(layer: DestructorLayer, events: HawkesEvents) -> HawkesEvents:
    r"""Transform a realisation by a layer's compensator: :math:`t_k \mapsto \hat\Lambda(t_k)`.

    By the time-rescaling theorem the result is a unit-rate Poisson process on
    :math:`[0, \hat\Lambda(T)]` when the layer is the true model (Meyer 1971; Brown et al.
    2002): the layer has "destroyed" the structure it describes. The map is increasing, so
    order and the number of events are kept.

    Parameters
    ----------
    layer : DestructorLayer
    events : HawkesEvents
        Univariate, on the layer's window (``t_max`` equal to ``layer.t_max``).

    Returns
    -------
    HawkesEvents
        Times :math:`\hat\Lambda(t_k)` on the window :math:`[0, \hat\Lambda(T)]`.

    Notes
    -----
    See the chapter :doc:`Events with structure </book/events>`.

    Examples
    --------
    >>> import torch
    >>> ev = HawkesEvents(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), torch.zeros(3, dtype=torch.long),
    ...                   6.0, 1)
    >>> apply_destructor_layer(fit_destructor_layer(ev, "poisson"), ev).times.tolist()
    [0.5, 1.0, 1.5]
    """
    _check_univariate("apply_destructor_layer", events)
    if abs(events.t_max - layer.t_max) > 1e-9 * max(1.0, layer.t_max):
        raise ValueError(f"apply_destructor_layer: events.t_max = {events.t_max} but the layer was fitted on "
                         f"[0, {layer.t_max}]")
    u, u_max = _apply(layer, events.times, events.t_max)
    u = torch.minimum(torch.cummax(u, 0).values, u.new_tensor(u_max))
    return HawkesEvents(u, events.marks, u_max, 1)


@dataclasses.dataclass
class UnitPoissonTest:
    """Tests of a realisation against a unit-rate Poisson process (see :func:`unit_poisson_test`).

    Attributes
    ----------
    interval_statistic, interval_p_value : float
        Kolmogorov-Smirnov test of the intervals against Exp(1) (local structure: clustering,
        refractoriness, a wrong overall rate).
    uniform_statistic, uniform_p_value : float
        Kolmogorov-Smirnov test of the times divided by the window against Uniform(0, 1)
        (global structure: trends, seasons).
    p_value : float
        Bonferroni combination, ``min(1, 2 * min(both p-values))``.
    """

    interval_statistic: float
    interval_p_value: float
    uniform_statistic: float
    uniform_p_value: float
    p_value: float


@validate(events=InstanceOf(HawkesEvents))
def unit_poisson_test(events: HawkesEvents) -> UnitPoissonTest:
    r"""Is a univariate realisation a unit-rate Poisson process? Two Kolmogorov-Smirnov tests.

    For a unit-rate Poisson process on :math:`[0, U]` the intervals
    :math:`\tau_k = t_k - t_{k-1}` (:math:`t_0 = 0`) are i.i.d. Exp(1), and given their number
    the times :math:`t_k / U` are i.i.d. Uniform(0, 1). The first test sees clustering and
    a wrong rate, the second slow trends that barely change the pooled intervals
    (``scipy.stats.kstest`` for both; the second ignores the dependence that estimating a
    layer from the same data introduces).

    Parameters
    ----------
    events : HawkesEvents
        Univariate, at least 2 events (typically the output of the last destructor layer).

    Returns
    -------
    UnitPoissonTest

    Notes
    -----
    See the chapter :doc:`Events with structure </book/events>`.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> t = torch.cumsum(torch.empty(500, dtype=torch.float64).exponential_(generator=g), 0)
    >>> unit_poisson_test(HawkesEvents(t, torch.zeros(500, dtype=torch.long), float(t[-1]) + 1.0, 1)).p_value > 0.01
    True
    """
    _check_univariate("unit_poisson_test", events)
    t = events.times.detach().cpu().numpy()
    tau = np.diff(t, prepend=0.0)
    a = stats.kstest(tau, "expon")
    b = stats.kstest(t / events.t_max, "uniform")
    return UnitPoissonTest(float(a.statistic), float(a.pvalue), float(b.statistic), float(b.pvalue),
                           float(min(1.0, 2 * min(a.pvalue, b.pvalue))))


@dataclasses.dataclass
class DestructorResult:
    """A greedy point-process destructor (see :func:`destroy_point_process`).

    Attributes
    ----------
    layers : list of DestructorLayer
        In the order they were applied.
    events : list of HawkesEvents
        The realisation before any layer, then after each layer.
    tests : list of UnitPoissonTest
        :func:`unit_poisson_test` of each entry of ``events`` (the raw data is tested as if it
        were already in unit-rate time).
    log_likelihood : float
        Of the data under the composed model: :math:`\\sum_l \\text{gain}_l - T`, with
        :math:`T` the data's window (the chain rule of compensators).
    """

    layers: list
    events: list
    tests: list
    log_likelihood: float


@validate(events=InstanceOf(HawkesEvents), families=Items(Options(*_FAMILIES), min_length=1),
          max_layers=Integer(low=1), level=Probability(), n_bins=Integer(low=1),
          penalty=Real(low=0))
def destroy_point_process(events: HawkesEvents, *, families=("poisson", "piecewise", "hawkes"),
                          max_layers: int = 4, level: float = 0.05, n_bins: int = 10,
                          penalty: float = 1.0) -> DestructorResult:
    r"""Destructive learning for a point process: find structure, transform it away, repeat.

    At each step: test the current times against a unit-rate Poisson process
    (:func:`unit_poisson_test`); if the test does not reject at ``level``, stop (no structure left).
    Otherwise fit every family to the current times (:func:`fit_destructor_layer`), keep the one
    with the largest penalised gain :math:`\text{gain} - \text{penalty} \times n_\text{params}`
    (AIC for ``penalty=1``), stop if no gain is positive, and transform the times by its
    compensator (:func:`apply_destructor_layer`).

    The composition is a point-process model: if :math:`u = \Lambda_1(t)` and the second layer
    has intensity :math:`\lambda_2` in the clock :math:`u`, the composed intensity is
    :math:`\lambda_2(\Lambda_1(t))\,\lambda_1(t)` and its compensator :math:`\Lambda_2(\Lambda_1(t))`,
    so the log-likelihood of the data is the sum of the layers' gains over unit-rate Poisson
    minus :math:`T` (the unit-rate Poisson log-likelihood of the data), the analogue of the log-Jacobian sum of a density
    destructor (Inouye & Ravikumar 2018).

    Parameters
    ----------
    events : HawkesEvents
        Univariate realisation.
    families : tuple of str
        Candidate layer families.
    max_layers : int
    level : float
        Stop when the KS test's p-value exceeds this.
    n_bins : int
        Bins of the piecewise family.
    penalty : float
        Log-likelihood price of one parameter.

    Returns
    -------
    DestructorResult

    Notes
    -----
    Fitting a layer and testing with the same data makes the final test optimistic
    (conservative p-values). See the chapter :doc:`Events with structure </book/events>`.

    References
    ----------
    Inouye & Ravikumar, *Deep density destructors*, ICML 2018; Brown et al., *The
    time-rescaling theorem and its application to neural spike train data analysis*, Neural
    Computation 2002.

    Examples
    --------
    >>> import torch
    >>> ev = simulate_hawkes(torch.tensor([1.0], dtype=torch.float64), torch.tensor([[0.6]], dtype=torch.float64),
    ...                      1.0, 500.0, generator=0)
    >>> res = destroy_point_process(ev)
    >>> [layer.family for layer in res.layers], res.tests[-1].p_value > 0.05
    (['hawkes'], True)
    """
    _check_univariate("destroy_point_process", events)
    cur = events
    evs, layers = [cur], []
    tests = [unit_poisson_test(cur)]
    while len(layers) < max_layers and tests[-1].p_value <= level:
        cands = [fit_destructor_layer(cur, f, n_bins=n_bins) for f in families]
        score = [c.gain - penalty * c.n_params for c in cands]
        best = int(np.argmax(score))
        if score[best] <= 0:
            break
        layers.append(cands[best])
        cur = apply_destructor_layer(cands[best], cur)
        evs.append(cur)
        tests.append(unit_poisson_test(cur))
    ll = sum(layer.gain for layer in layers) - events.t_max
    return DestructorResult(layers=layers, events=evs, tests=tests, log_likelihood=float(ll))


@validate(baseline=Real(low=0, closed="neither"), adjacency=Real(low=0), decay=Real(low=0, closed="neither"),
          t_max=Real(low=0, closed="neither"), amplitude=Real(low=0, high=1, closed="left"),
          period=Real(low=0, closed="neither"), generator=Generator(), dtype=InstanceOf(torch.dtype))
def simulate_warped_hawkes(baseline: float, adjacency: float, decay: float, t_max: float, *, amplitude: float = 0.8,
                           period: float = 100.0, generator=None, dtype: torch.dtype = torch.float64):
    r"""A univariate Hawkes process run on a seasonal clock.

    Simulate a Hawkes process (:func:`simulate_hawkes`) in operational time :math:`u`, and map
    each event back to calendar time by the inverse of

    .. math::

        M(t) = t + \frac{a P}{2\pi}\Bigl(1 - \cos\frac{2\pi t}{P}\Bigr), \qquad
        M'(t) = 1 + a \sin\frac{2\pi t}{P} \ge 1 - a > 0,

    so busy and quiet seasons alternate with period :math:`P` while each event still excites
    the next ones. Its compensator is the Hawkes compensator evaluated at :math:`M(t)`.

    Parameters
    ----------
    baseline, adjacency, decay : float
        The Hawkes parameters in operational time (``adjacency < decay``).
    t_max : float
        Calendar window.
    amplitude : float in [0, 1)
        :math:`a`.
    period : float
        :math:`P`.
    generator : None, int or torch.Generator
    dtype : torch.dtype

    Returns
    -------
    HawkesEvents
        Calendar-time events on ``[0, t_max]``.

    Notes
    -----
    See the chapter :doc:`Events with structure </book/events>`.

    Examples
    --------
    >>> ev = simulate_warped_hawkes(1.0, 0.5, 1.0, 200.0, generator=0)
    >>> ev.t_max, ev.n_dims
    (200.0, 1)
    """
    if adjacency >= decay:
        raise ValueError(f"simulate_warped_hawkes: adjacency / decay = {adjacency / decay:.3f} >= 1: explosive")
    u_max = float(warp_clock(torch.tensor([t_max], dtype=torch.float64), amplitude=amplitude, period=period))
    ev = simulate_hawkes(torch.tensor([baseline], dtype=torch.float64), torch.tensor([[adjacency]],
                         dtype=torch.float64), decay, u_max, generator=generator,
                         progress=False)
    grid = torch.linspace(0.0, t_max, 200_001, dtype=torch.float64)
    m = warp_clock(grid, amplitude=amplitude, period=period).numpy()
    t = np.interp(ev.times.numpy(), m, grid.numpy())
    # one Newton step on the interpolated inverse: error ~ 1e-12
    tt = torch.as_tensor(t)
    f = warp_clock(tt, amplitude=amplitude, period=period) - ev.times
    tt = (tt - f / (1 + amplitude * torch.sin(2 * math.pi * tt / period))).clamp(0.0, t_max)
    tt = torch.cummax(tt, 0).values if len(tt) else tt
    return HawkesEvents(tt.to(dtype), ev.marks, float(t_max), 1)


@validate(times=Tensor(ndim=1, dtype="floating", nonempty=False), amplitude=Real(low=0, high=1, closed="left"),
          period=Real(low=0, closed="neither"))
def warp_clock(times: torch.Tensor, *, amplitude: float = 0.8, period: float = 100.0) -> torch.Tensor:
    r"""The seasonal clock :math:`M(t) = t + \frac{aP}{2\pi}(1 - \cos(2\pi t / P))` of :func:`simulate_warped_hawkes`.

    Parameters
    ----------
    times : Tensor, shape (n,)
    amplitude : float in [0, 1)
    period : float

    Returns
    -------
    Tensor, shape (n,)
        Increasing in ``times``.

    Notes
    -----
    See the chapter :doc:`Events with structure </book/events>`.

    Examples
    --------
    >>> import torch
    >>> warp_clock(torch.tensor([0.0, 50.0], dtype=torch.float64), amplitude=0.5, period=100.0)
    tensor([ 0.0000, 65.9155], dtype=torch.float64)
    """
    return times + amplitude * period / (2 * math.pi) * (1 - torch.cos(2 * math.pi * times / period))
