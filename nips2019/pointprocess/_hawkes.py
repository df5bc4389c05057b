"""Multivariate Hawkes processes with exponential kernels: simulation, likelihood, MLE, goodness of fit."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from scipy import optimize, stats

from ..utils import (
    AnyOf,
    Bool,
    Generator,
    InstanceOf,
    Integer,
    Items,
    Options,
    Probability,
    Real,
    Tensor,
    numpy_rng,
    validate,
)
from ..utils._progress import _quiet

_BASELINE = Tensor(shape=("d",), dtype="floating", low=0)
_ADJ = Tensor(shape=("d", "d"), dtype="floating", low=0)
_DECAY = AnyOf(Real(low=0, closed="neither"), Tensor(shape=("d", "d"), dtype="floating", low=0, closed="neither"))


@dataclasses.dataclass
class HawkesEvents:
    """One realisation of a marked point process on ``[0, t_max]``.

    Attributes
    ----------
    times : Tensor, shape (n,)
        Event times, sorted increasingly.
    marks : Tensor, shape (n,), int64
        The dimension (type) of each event, in ``[0, n_dims)``.
    t_max : float
        End of the observation window.
    n_dims : int
    """

    times: torch.Tensor
    marks: torch.Tensor
    t_max: float
    n_dims: int


def _decay_matrix(decay, adjacency: torch.Tensor) -> torch.Tensor:
    if isinstance(decay, torch.Tensor):
        return decay.to(adjacency.dtype)
    return torch.full_like(adjacency, float(decay))


def _check_params(name, baseline, adjacency, decay):
    if not bool((baseline > 0).any()):
        raise ValueError(f"{name}: baseline must have a positive entry (else no event ever happens)")
    if isinstance(decay, torch.Tensor) and (decay.dtype != adjacency.dtype or decay.device != adjacency.device):
        raise ValueError(f"{name}: decay has {decay.dtype} on {decay.device}, adjacency has {adjacency.dtype} on "
                         f"{adjacency.device}: convert one")


@validate(adjacency=_ADJ, decay=_DECAY)
def hawkes_spectral_radius(adjacency: torch.Tensor, decay) -> float:
    r"""Spectral radius of the branching matrix :math:`G_{ij} = \alpha_{ij} / \beta_{ij}`.

    :math:`G_{ij}` is the mean number of type-:math:`i` children of one type-:math:`j`
    event. The process is stationary (does not explode) iff :math:`\rho(G) < 1`.

    Parameters
    ----------
    adjacency : Tensor, shape (d, d)
        :math:`\alpha_{ij} \ge 0`: the jump of :math:`\lambda_i` caused by an event of type j.
    decay : float or Tensor, shape (d, d)
        :math:`\beta_{ij} > 0`.

    Returns
    -------
    float
        :math:`\rho(G)`, the largest modulus of an eigenvalue of :math:`G`.

    Notes
    -----
    See the chapter :doc:`Causal inference and point processes </book/causal>`.

    References
    ----------
    Hawkes, *Spectra of some self-exciting and mutually exciting point processes*, Biometrika
    1971; Bacry, Mastromatteo & Muzy 2015 (the stationarity condition).

    Examples
    --------
    >>> import torch
    >>> round(hawkes_spectral_radius(torch.tensor([[0.5]]), 1.0), 6)
    0.5
    """
    g = adjacency / _decay_matrix(decay, adjacency)
    return float(torch.linalg.eigvals(g).abs().max())


@validate(baseline=_BASELINE, adjacency=_ADJ, decay=_DECAY, t_max=Real(low=0, closed="neither"),
          same=[("baseline", "adjacency")])
def hawkes_expected_count(baseline: torch.Tensor, adjacency: torch.Tensor, decay, t_max: float) -> torch.Tensor:
    r"""Expected number of events per dimension of a *stationary* Hawkes process on ``[0, t_max]``.

    The stationary intensity solves :math:`\bar\lambda = \mu + G \bar\lambda`, so

    .. math::

        E\,N_i(T) \approx T\, \bigl[(I - G)^{-1} \mu\bigr]_i, \qquad G_{ij} = \alpha_{ij}/\beta_{ij},

    which in one dimension is :math:`\mu T / (1 - \alpha/\beta)`. A process started empty
    at time 0 has slightly fewer events (a transient of length about :math:`1/\beta`).

    Parameters
    ----------
    baseline : Tensor, shape (d,)
        :math:`\mu_i \ge 0`.
    adjacency : Tensor, shape (d, d)
        :math:`\alpha_{ij} \ge 0`, with :math:`\rho(G) < 1` (else ``ValueError``).
    decay : float or Tensor, shape (d, d)
        :math:`\beta_{ij} > 0`.
    t_max : float
        Length :math:`T` of the window.

    Returns
    -------
    Tensor, shape (d,)
        :math:`T\,[(I - G)^{-1}\mu]_i` for each dimension i.

    Notes
    -----
    See the chapter :doc:`Causal inference and point processes </book/causal>`.

    References
    ----------
    Bacry, Mastromatteo & Muzy, *Hawkes processes in finance*, 2015 (the mean intensity of a
    stationary process).

    Examples
    --------
    >>> import torch
    >>> hawkes_expected_count(torch.tensor([1.0]), torch.tensor([[0.5]]), 1.0, 100.0)
    tensor([200.])
    """
    rho = hawkes_spectral_radius(adjacency, decay)
    if rho >= 1:
        raise ValueError(f"hawkes_expected_count: the branching matrix adjacency / decay has spectral radius "
                         f"{rho:.3f} >= 1: the process is not stationary")
    g = adjacency / _decay_matrix(decay, adjacency)
    eye = torch.eye(len(baseline), dtype=baseline.dtype, device=baseline.device)
    return t_max * torch.linalg.solve(eye - g, baseline)


@validate(
    baseline=_BASELINE,
    adjacency=_ADJ,
    decay=_DECAY,
    t_max=Real(low=0, closed="neither"),
    n_realizations=Integer(low=1, optional=True),
    max_events=Integer(low=1),
    generator=Generator(),
    progress=Bool(optional=True),
    same=[("baseline", "adjacency")],
)
def simulate_hawkes(baseline: torch.Tensor, adjacency: torch.Tensor, decay, t_max: float, *,
                    n_realizations: int | None = None, max_events: int = 1_000_000, generator=None,
                    progress: bool | None = None):
    r"""Simulate a multivariate exponential Hawkes process by Ogata's thinning.

    The conditional intensity of dimension :math:`i` is

    .. math::

        \lambda_i(t) = \mu_i + \sum_{j} \sum_{t^j_k < t} \alpha_{ij}\, e^{-\beta_{ij}(t - t^j_k)}.

    Between events every :math:`\lambda_i` decreases, so the total intensity just after the
    current time bounds it until the next event: propose the next time at rate
    :math:`\bar\lambda = \sum_i \lambda_i(t^+)`, accept with probability
    :math:`\sum_i \lambda_i(s) / \bar\lambda`, and pick the mark with probability
    :math:`\lambda_i(s) / \sum_i \lambda_i(s)` (Ogata 1981). With ``n_realizations`` the
    realisations are simulated together, vectorised across realisations.

    Parameters
    ----------
    baseline : Tensor, shape (d,)
        :math:`\mu_i \ge 0`, not all zero.
    adjacency : Tensor, shape (d, d)
        :math:`\alpha_{ij} \ge 0`: the jump of :math:`\lambda_i` after a type-j event.
    decay : float or Tensor, shape (d, d)
        :math:`\beta_{ij} > 0`.
    t_max : float
        Length of the window :math:`[0, T]`.
    n_realizations : int, optional
        Return a list of that many independent realisations instead of one.
    max_events : int
        Refuse to go on past this many events in one realisation (explosive parameters).
    generator : None, int or torch.Generator
    progress : bool, optional
        Progress bar over simulated time.

    Returns
    -------
    HawkesEvents or list of HawkesEvents
        Times and marks on the device and dtype of ``baseline``.

    Notes
    -----
    Drawn with NumPy (``numpy_rng(generator)``) in float64. See the chapter
    :doc:`Causal inference and point processes </book/causal>`.

    References
    ----------
    Ogata, *On Lewis' simulation method for point processes*, IEEE Trans. Inf. Theory 1981.

    Examples
    --------
    >>> import torch
    >>> ev = simulate_hawkes(torch.tensor([0.5, 0.5]), torch.tensor([[0.3, 0.0], [0.4, 0.3]]), 1.0,
    ...                      50.0, generator=0)
    >>> ev.marks.max().item() <= 1, bool((ev.times.diff() >= 0).all())
    (True, True)
    """
    _check_params("simulate_hawkes", baseline, adjacency, decay)
    rng = numpy_rng(generator)
    mu = baseline.detach().cpu().double().numpy()
    alpha = adjacency.detach().cpu().double().numpy()
    beta = _decay_matrix(decay, adjacency).detach().cpu().double().numpy()
    d = len(mu)
    r = 1 if n_realizations is None else n_realizations
    t = np.zeros(r)
    excite = np.zeros((r, d, d))  # excite[b, i, j] = sum_k exp(-beta_ij (t - t_k^j)) over type-j events
    alive = np.ones(r, dtype=bool)
    out_t = [[] for _ in range(r)]
    out_m = [[] for _ in range(r)]
    counts = np.zeros(r, dtype=np.int64)
    bar = _progress_bar(progress, t_max)
    last = 0.0
    while alive.any():
        lam = mu[None] + (alpha[None] * excite).sum(-1)  # (r, d) at t+
        bound = lam.sum(-1)
        dt = rng.exponential(1.0, r) / bound
        t_new = np.where(alive, t + dt, t)
        decay_f = np.exp(-beta[None] * np.where(alive, dt, 0.0)[:, None, None])
        excite = excite * decay_f
        t = t_new
        alive &= t < t_max
        lam_s = mu[None] + (alpha[None] * excite).sum(-1)
        total = lam_s.sum(-1)
        accept = alive & (rng.uniform(size=r) * bound <= total)
        if accept.any():
            cum = np.cumsum(lam_s, -1)
            u = rng.uniform(size=r) * total
            mark = np.minimum((cum < u[:, None]).sum(-1), d - 1)
            for b in np.flatnonzero(accept):
                out_t[b].append(t[b])
                out_m[b].append(mark[b])
                excite[b, :, mark[b]] += 1.0
            counts += accept
            if (counts > max_events).any():
                raise ValueError(f"simulate_hawkes: more than max_events={max_events} events before t_max: the "
                                 f"parameters may be explosive (spectral radius "
                                 f"{hawkes_spectral_radius(adjacency, decay):.3f})")
        if bar is not None:
            now = float(min(t.min() if alive.all() else t[alive].min() if alive.any() else t_max, t_max))
            bar.update(max(now - last, 0.0))
            last = max(last, now)
    if bar is not None:
        bar.close()
    kw = dict(dtype=baseline.dtype, device=baseline.device)
    res = [HawkesEvents(times=torch.as_tensor(np.asarray(out_t[b], dtype=np.float64), **kw),
                        marks=torch.as_tensor(np.asarray(out_m[b], dtype=np.int64), device=baseline.device),
                        t_max=float(t_max), n_dims=d) for b in range(r)]
    return res[0] if n_realizations is None else res


def _progress_bar(flag, total):
    show = (not _quiet()) if flag is None else flag
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=float(total), desc="simulate_hawkes (time)")


def _recursion(times, marks, beta, d, block=64):
    """R[k, j] = sum_{l < k, m_l = j} exp(-beta[m_k, j] (t_k - t_l)) and N_j(t_k-), exactly, blockwise."""
    n = len(times)
    dtype, device = times.dtype, times.device
    onehot = torch.nn.functional.one_hot(marks, d).to(dtype)
    out = []
    state = torch.zeros(d, d, dtype=dtype, device=device)  # state[i, j] at the block start
    start_t = times[0] if n else times.new_zeros(())
    for s in range(0, n, block):
        tb, mb, ob = times[s:s + block], marks[s:s + block], onehot[s:s + block]
        bk = beta[mb]  # (B, d): decay of (target m_k, source j)
        delta = tb[:, None] - tb[None, :]  # (B, B)
        low = torch.tril(torch.ones_like(delta), -1)
        kern = torch.exp(-bk[:, None, :] * (delta.clamp_min(0))[:, :, None]) * low[:, :, None]  # (B, B, d)
        within = (kern * ob[None, :, :]).sum(1)  # (B, d)
        carry = torch.exp(-bk * (tb - start_t)[:, None]) * state[mb]  # (B, d)
        out.append(within + carry)
        nxt = times[s + block] if s + block < n else tb[-1]
        state = state * torch.exp(-beta * (nxt - start_t)) + (
            torch.exp(-beta[None] * (nxt - tb)[:, None, None]) * ob[:, None, :]).sum(0)
        start_t = nxt
    r = torch.cat(out) if out else times.new_zeros(0, d)
    counts_before = torch.cumsum(onehot, 0) - onehot  # N_j(t_k-)
    return r, counts_before


def _loglik_terms(events: HawkesEvents, mu, alpha, beta):
    times, marks, t_max, d = events.times, events.marks, events.t_max, events.n_dims
    r, _ = _recursion(times, marks, beta, d)
    lam = mu[marks] + (alpha[marks] * r).sum(-1)
    onehot = torch.nn.functional.one_hot(marks, d).to(times.dtype)
    tail = (1 - torch.exp(-beta[None] * (t_max - times)[:, None, None])) * onehot[:, None, :]  # (n, d, d)
    comp = mu * t_max + (alpha / beta * tail.sum(0)).sum(-1)  # (d,)
    return lam, comp


# the declared arguments of the functions that score one realisation under given parameters
_ON_EVENTS = dict(events=InstanceOf(HawkesEvents), baseline=_BASELINE, adjacency=_ADJ, decay=_DECAY,
                  same=[("baseline", "adjacency")])


def _checked_decay(name, events, baseline, adjacency, decay):
    """Refuse parameters or events the declarations cannot judge; return the (d, d) decay matrix."""
    _check_params(name, baseline, adjacency, decay)
    _check_events(name, events, baseline)
    return _decay_matrix(decay, adjacency)


def _check_events(name, events, baseline):
    if events.n_dims != len(baseline):
        raise ValueError(f"{name}: events has n_dims={events.n_dims} but baseline has {len(baseline)} entries")
    if events.times.dtype != baseline.dtype or events.times.device != baseline.device:
        raise ValueError(f"{name}: events.times has {events.times.dtype} on {events.times.device}, baseline has "
                         f"{baseline.dtype} on {baseline.device}: convert one")
    if len(events.times) and (float(events.times[-1]) > events.t_max or float(events.times[0]) < 0):
        raise ValueError(f"{name}: events.times must lie in [0, t_max = {events.t_max}]")
    if len(events.times) > 1 and bool((events.times.diff() < 0).any()):
        raise ValueError(f"{name}: events.times must be sorted")


@validate(**_ON_EVENTS)
def hawkes_log_likelihood(events: HawkesEvents, baseline: torch.Tensor, adjacency: torch.Tensor,
                          decay) -> torch.Tensor:
    r"""Exact log-likelihood of a realisation under an exponential Hawkes process.

    .. math::

        \log L = \sum_k \log \lambda_{m_k}(t_k) - \sum_i \Lambda_i(T), \qquad
        \Lambda_i(T) = \mu_i T + \sum_j \frac{\alpha_{ij}}{\beta_{ij}}
        \sum_{t^j_k \le T} \bigl(1 - e^{-\beta_{ij}(T - t^j_k)}\bigr).

    The excitation sums :math:`R_{ij}(t_k) = \sum_{t^j_l < t_k} e^{-\beta_{ij}(t_k - t^j_l)}`
    are computed exactly in blocks of 64 events (within a block a masked
    :math:`B \times B` kernel, between blocks Ozaki's recursion carried as a
    :math:`d \times d` state), so every exponent is non-positive, nothing overflows, and the
    result is differentiable in all parameters.

    Parameters
    ----------
    events : HawkesEvents
        The realisation scored (times on the device and dtype of ``baseline``).
    baseline : Tensor, shape (d,)
        :math:`\mu`; the result is differentiable in it.
    adjacency : Tensor, shape (d, d)
        :math:`\alpha`; differentiable too.
    decay : float or Tensor, shape (d, d)
        :math:`\beta`; a tensor decay receives gradients as well.

    Returns
    -------
    Tensor, shape ()
        :math:`\log L`. Can be :math:`-\infty` only when an event falls where the intensity is 0.

    Notes
    -----
    See the chapter :doc:`Causal inference and point processes </book/causal>`.

    References
    ----------
    Ozaki, *Maximum likelihood estimation of Hawkes' self-exciting point processes*,
    Ann. Inst. Stat. Math. 1979.

    Examples
    --------
    >>> import torch
    >>> ev = HawkesEvents(torch.tensor([1.0, 2.0]), torch.tensor([0, 0]), 3.0, 1)
    >>> float(hawkes_log_likelihood(ev, torch.tensor([1.0]), torch.tensor([[0.0]]), 1.0))
    -3.0
    """
    beta = _checked_decay("hawkes_log_likelihood", events, baseline, adjacency, decay)
    lam, comp = _loglik_terms(events, baseline, adjacency, beta)
    return torch.log(lam).sum() - comp.sum()


@validate(**_ON_EVENTS)
def hawkes_compensator(events: HawkesEvents, baseline: torch.Tensor, adjacency: torch.Tensor,
                       decay) -> torch.Tensor:
    r"""The compensator of each event's own dimension at the event: :math:`\Lambda_{m_k}(t_k)`.

    .. math::

        \Lambda_i(t) = \int_0^t \lambda_i(s)\,ds = \mu_i t + \sum_j \frac{\alpha_{ij}}{\beta_{ij}}
        \sum_{t^j_l < t} \bigl(1 - e^{-\beta_{ij}(t - t^j_l)}\bigr).

    By the time-rescaling theorem, under the true parameters the increments of
    :math:`\Lambda_i` between successive type-i events are i.i.d. Exp(1)
    (see :func:`time_rescaling_test`).

    Parameters
    ----------
    events : HawkesEvents
        The n events at which the compensators are evaluated.
    baseline : Tensor, shape (d,)
        :math:`\mu` of the intensity integrated.
    adjacency : Tensor, shape (d, d)
        Its :math:`\alpha`.
    decay : float or Tensor, shape (d, d)
        Its :math:`\beta`.

    Returns
    -------
    Tensor, shape (n,)
        :math:`\Lambda_{m_k}(t_k)` for event k, on the device and dtype of ``baseline``.

    Notes
    -----
    See the chapter :doc:`Causal inference and point processes </book/causal>`.

    References
    ----------
    Ozaki 1979 (the recursion); Brown et al. 2002 (time rescaling).

    Examples
    --------
    >>> import torch
    >>> ev = HawkesEvents(torch.tensor([1.0, 2.0]), torch.tensor([0, 0]), 3.0, 1)
    >>> hawkes_compensator(ev, torch.tensor([1.0]), torch.tensor([[0.0]]), 1.0)
    tensor([1., 2.])
    """
    beta = _checked_decay("hawkes_compensator", events, baseline, adjacency, decay)
    r, before = _recursion(events.times, events.marks, beta, events.n_dims)
    m = events.marks
    return baseline[m] * events.times + (adjacency[m] / beta[m] * (before - r)).sum(-1)


@dataclasses.dataclass
class TimeRescalingResult:
    """Time-rescaling goodness-of-fit test (see :func:`time_rescaling_test`).

    Attributes
    ----------
    intervals : Tensor, shape (n,)
        Rescaled inter-event intervals, pooled over dimensions (Exp(1) under the model).
    ks_statistic, p_value : float
        Kolmogorov-Smirnov test of ``intervals`` against Exp(1).
    per_dim_p_value : Tensor, shape (d,)
        The same test per dimension (1.0 where a dimension has fewer than 2 events).
    """

    intervals: torch.Tensor
    ks_statistic: float
    p_value: float
    per_dim_p_value: torch.Tensor


@validate(**_ON_EVENTS)
def time_rescaling_test(events: HawkesEvents, baseline: torch.Tensor, adjacency: torch.Tensor,
                        decay) -> TimeRescalingResult:
    r"""Goodness of fit by the time-rescaling theorem.

    If the events of dimension :math:`i` come from intensity :math:`\lambda_i`, the rescaled
    times :math:`\Lambda_i(t^i_k)` form a unit-rate Poisson process, so the intervals
    :math:`\tau_k = \Lambda_i(t^i_k) - \Lambda_i(t^i_{k-1})` (with :math:`\Lambda_i(t^i_0) = 0`)
    are i.i.d. Exp(1). A Kolmogorov-Smirnov test of the pooled intervals against Exp(1)
    checks the model (Brown et al. 2002).

    Parameters
    ----------
    events : HawkesEvents
        The realisation tested (at least one event).
    baseline : Tensor, shape (d,)
        :math:`\mu` of the model under test (true or fitted).
    adjacency : Tensor, shape (d, d)
        The model's :math:`\alpha`.
    decay : float or Tensor, shape (d, d)
        The model's :math:`\beta`.

    Returns
    -------
    TimeRescalingResult
        The pooled intervals, the KS statistic and p-values (pooled and per dimension).

    Notes
    -----
    With fitted parameters the test is conservative (the fit pulls the intervals towards
    Exp(1)). See the chapter :doc:`Causal inference and point processes </book/causal>`.

    References
    ----------
    Brown, Barbieri, Ventura, Kass & Frank, *The time-rescaling theorem and its application to
    neural spike train data analysis*, Neural Computation 2002.

    Examples
    --------
    >>> import torch
    >>> mu, a = torch.tensor([1.0]), torch.tensor([[0.5]])
    >>> ev = simulate_hawkes(mu, a, 1.0, 200.0, generator=0)
    >>> time_rescaling_test(ev, mu, a, 1.0).p_value > 0.01
    True
    """
    comp = hawkes_compensator(events, baseline, adjacency, decay)
    ints, per = [], []
    for i in range(events.n_dims):
        c = comp[events.marks == i]
        if len(c) == 0:
            per.append(1.0)
            continue
        tau = torch.diff(c, prepend=c.new_zeros(1))
        ints.append(tau)
        per.append(float(stats.kstest(tau.detach().cpu().numpy(), "expon").pvalue) if len(c) > 1 else 1.0)
    if not ints:
        raise ValueError("time_rescaling_test: events has no event to test")
    pooled = torch.cat(ints)
    ks = stats.kstest(pooled.detach().cpu().numpy(), "expon")
    return TimeRescalingResult(intervals=pooled, ks_statistic=float(ks.statistic), p_value=float(ks.pvalue),
                               per_dim_p_value=torch.tensor(per, dtype=baseline.dtype, device=baseline.device))


@dataclasses.dataclass
class HawkesFit:
    """A maximum-likelihood Hawkes fit (see :func:`fit_hawkes`).

    Attributes
    ----------
    baseline : Tensor, shape (d,)
    adjacency : Tensor, shape (d, d)
    decay : Tensor, shape ()
        The common decay :math:`\\beta` (fitted, or the given value).
    baseline_stderr, adjacency_stderr : Tensor
        Standard errors from the inverse observed information (NaN-free; 0 for parameters at
        their bound of 0, whose asymptotics are not normal).
    decay_stderr : Tensor, shape ()
        0 when the decay was fixed.
    log_likelihood : float
    n_iter : int
        L-BFGS-B iterations.
    converged : bool
    """

    baseline: torch.Tensor
    adjacency: torch.Tensor
    decay: torch.Tensor
    baseline_stderr: torch.Tensor
    adjacency_stderr: torch.Tensor
    decay_stderr: torch.Tensor
    log_likelihood: float
    n_iter: int
    converged: bool


@validate(
    events=AnyOf(InstanceOf(HawkesEvents), Items(InstanceOf(HawkesEvents), min_length=1)),
    decay=Real(low=0, closed="neither", optional=True),
    max_iter=Integer(low=1),
    tol=Real(low=0, closed="neither"),
)
def fit_hawkes(events, *, decay: float | None = None, max_iter: int = 500, tol: float = 1e-9) -> HawkesFit:
    r"""Maximum-likelihood fit of an exponential Hawkes process with a common decay.

    Maximises :func:`hawkes_log_likelihood` (summed over realisations when ``events`` is a
    list) over :math:`\mu \ge 0`, :math:`\alpha \ge 0` and, unless ``decay`` is given, a
    common :math:`\beta > 0`, by L-BFGS-B with exact gradients (autograd, float64). For a
    fixed :math:`\beta` the problem is concave in :math:`(\mu, \alpha)`. Standard errors come
    from the inverse of the observed information (the Hessian of :math:`-\log L`, by
    autograd) restricted to the parameters off their bounds.

    Parameters
    ----------
    events : HawkesEvents or list of HawkesEvents
        One or several realisations (same ``n_dims``).
    decay : float, optional
        Fix :math:`\beta` instead of fitting it.
    max_iter, tol
        L-BFGS-B cap and its ``ftol``.

    Returns
    -------
    HawkesFit
        Tensors on the device and dtype of ``events.times``.

    Notes
    -----
    See the chapter :doc:`Causal inference and point processes </book/causal>`.

    References
    ----------
    Ozaki 1979; Bacry, Mastromatteo & Muzy, *Hawkes processes in finance*, 2015.

    Examples
    --------
    >>> import torch
    >>> mu, a = torch.tensor([1.0], dtype=torch.float64), torch.tensor([[0.5]], dtype=torch.float64)
    >>> ev = simulate_hawkes(mu, a, 1.0, 500.0, generator=0)
    >>> fit = fit_hawkes(ev, decay=1.0)
    >>> abs(fit.adjacency.item() - 0.5) < 3 * fit.adjacency_stderr.item()
    True
    """
    seqs = [events] if isinstance(events, HawkesEvents) else list(events)
    d = seqs[0].n_dims
    dtype, device = seqs[0].times.dtype, seqs[0].times.device
    for i, s in enumerate(seqs):
        if s.n_dims != d:
            raise ValueError(f"fit_hawkes: events[{i}] has n_dims={s.n_dims}, events[0] has {d}")
        if s.times.dtype != dtype or s.times.device != device:
            raise ValueError(f"fit_hawkes: events[{i}] has {s.times.dtype} on {s.times.device}, events[0] has "
                             f"{dtype} on {device}")
        _check_events("fit_hawkes", s, torch.zeros(d, dtype=dtype, device=device))
    n_total = sum(len(s.times) for s in seqs)
    if n_total < 2:
        raise ValueError(f"fit_hawkes: events has {n_total} events in all; at least 2 are needed")
    seqs64 = [HawkesEvents(s.times.double(), s.marks, s.t_max, d) for s in seqs]
    t_total = sum(s.t_max for s in seqs)
    fit_decay = decay is None
    n_par = d + d * d + (1 if fit_decay else 0)

    def unpack(theta):
        mu = theta[:d]
        alpha = theta[d:d + d * d].reshape(d, d)
        beta = theta[-1] if fit_decay else theta.new_tensor(float(decay))
        return mu, alpha, beta

    def nll(theta):
        mu, alpha, beta = unpack(theta)
        bm = beta.expand(d, d)
        total = theta.new_zeros(())
        for s in seqs64:
            lam, comp = _loglik_terms(s, mu, alpha, bm)
            total = total + torch.log(lam.clamp_min(1e-300)).sum() - comp.sum()
        return -total

    def fun(x):
        theta = torch.tensor(x, dtype=torch.float64, device=device, requires_grad=True)
        val = nll(theta)
        (grad,) = torch.autograd.grad(val, theta)
        return float(val.detach()), grad.detach().cpu().numpy()

    counts = np.bincount(torch.cat([s.marks for s in seqs]).cpu().numpy(), minlength=d)
    x0 = np.concatenate([np.maximum(counts / t_total, 1e-3) * 0.5, np.full(d * d, 0.1 / d)])
    if fit_decay:
        x0 = np.append(x0, 1.0)
    bounds = [(1e-10, None)] * d + [(0.0, None)] * (d * d) + ([(1e-6, None)] if fit_decay else [])
    res = optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                            options=dict(maxiter=max_iter, ftol=tol, gtol=1e-8))
    theta = torch.tensor(res.x, dtype=torch.float64, device=device)
    hess = _information(seqs64, theta, d, decay, nll)
    free = torch.ones(n_par, dtype=torch.bool, device=device)
    free[d:d + d * d] = theta[d:d + d * d] > 1e-8
    se = torch.zeros(n_par, dtype=torch.float64, device=device)
    h = hess[free][:, free]
    try:
        cov = torch.linalg.inv(h)
        se[free] = cov.diagonal().clamp_min(0).sqrt()
    except RuntimeError:  # pragma: no cover - singular information (degenerate data)
        se[free] = torch.linalg.pinv(h).diagonal().clamp_min(0).sqrt()
    mu, alpha, beta = unpack(theta)
    se_mu, se_alpha, se_beta = unpack(se) if fit_decay else (se[:d], se[d:].reshape(d, d), se.new_zeros(()))
    kw = dict(dtype=dtype, device=device)
    return HawkesFit(baseline=mu.to(**kw), adjacency=alpha.to(**kw), decay=beta.to(**kw),
                     baseline_stderr=se_mu.to(**kw), adjacency_stderr=se_alpha.to(**kw),
                     decay_stderr=se_beta.to(**kw), log_likelihood=-float(res.fun), n_iter=int(res.nit),
                     converged=bool(res.success))


def _information(seqs, theta, d, decay, nll):
    """Observed information (Hessian of -log L) at theta; ``decay`` None means theta[-1] is the decay.

    In (mu, alpha) the intensity at each event is linear, lambda_k = phi_k . theta_{m_k}, and the
    compensator is linear too, so that block is sum_k phi_k phi_k^T / lambda_k^2, one block
    per target dimension; the decay's row and column come from one double-backward pass.
    """
    n_par = len(theta)
    hess = theta.new_zeros(n_par, n_par)
    mu = theta[:d]
    alpha = theta[d:d + d * d].reshape(d, d)
    bm = theta[-1].expand(d, d) if decay is None else theta.new_full((d, d), float(decay))
    for s in seqs:
        r, _ = _recursion(s.times, s.marks, bm, d)
        lam = (mu[s.marks] + (alpha[s.marks] * r).sum(-1)).clamp_min(1e-300)
        for i in range(d):
            sel = s.marks == i
            if not bool(sel.any()):
                continue
            phi = torch.cat([torch.ones_like(lam[sel])[:, None], r[sel]], 1) / lam[sel][:, None]
            idx = torch.cat([torch.tensor([i], device=theta.device),
                             d + i * d + torch.arange(d, device=theta.device)])
            hess[idx[:, None], idx[None, :]] += phi.T @ phi
    if decay is None:
        th = theta.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(nll(th), th, create_graph=True)
        (col,) = torch.autograd.grad(grad[-1], th)
        hess[:, -1] = col.detach()
        hess[-1, :] = col.detach()
    return hess


@dataclasses.dataclass
class GrangerGraph:
    """A Granger-causality graph read off a Hawkes fit (see :func:`granger_graph`).

    Attributes
    ----------
    adjacency : Tensor, shape (d, d), bool
        ``adjacency[i, j]``: type-j events Granger-cause type-i events (an edge j -> i).
    z_scores : Tensor, shape (d, d)
        :math:`\\hat\\alpha_{ij} / \\mathrm{se}_{ij}` (0 where the estimate sits at 0).
    precision, recall : float or None
        Against ``truth`` when it was given.
    """

    adjacency: torch.Tensor
    z_scores: torch.Tensor
    precision: float | None
    recall: float | None


@validate(fit=InstanceOf(HawkesFit), level=Probability(), method=Options("wald", "threshold"),
          threshold=Real(low=0), truth=Tensor(ndim=2, dtype="bool", optional=True),
          include_self=Bool())
def granger_graph(fit: HawkesFit, *, method: str = "wald", level: float = 0.01, threshold: float = 0.05,
                  truth: torch.Tensor | None = None, include_self: bool = False) -> GrangerGraph:
    r"""The Granger-causality graph of a fitted Hawkes process.

    For a Hawkes process, type :math:`j` Granger-causes type :math:`i` iff the kernel
    :math:`\phi_{ij} = \alpha_{ij} e^{-\beta t}` is not identically zero, i.e.
    :math:`\alpha_{ij} > 0` (Eichler, Dahlhaus & Dueck 2017). ``method="wald"`` keeps the
    edges whose one-sided Wald statistic :math:`\hat\alpha_{ij}/\mathrm{se}_{ij}` exceeds the
    normal quantile :math:`z_{1-\text{level}}`; ``"threshold"`` keeps the edges whose branching
    ratio :math:`\hat\alpha_{ij} / \hat\beta` exceeds ``threshold``.

    Parameters
    ----------
    fit : HawkesFit
    method : {"wald", "threshold"}
    level : float in [0, 1]
        One-sided level of each Wald test (no multiplicity correction).
    threshold : float
        Branching-ratio cut for ``method="threshold"``.
    truth : Tensor, shape (d, d), bool, optional
        The true graph, to report precision and recall.
    include_self : bool
        Count self-excitation (the diagonal) as edges (default False).

    Returns
    -------
    GrangerGraph
        The edges, the Wald z-scores and (with ``truth``) precision and recall.

    Notes
    -----
    See the chapter :doc:`Causal inference and point processes </book/causal>`.

    References
    ----------
    Eichler, Dahlhaus & Dueck, *Graphical modeling for multivariate Hawkes processes with
    nonparametric link functions*, J. Time Ser. Anal. 2017.

    Examples
    --------
    >>> import torch
    >>> mu = torch.full((2,), 0.5, dtype=torch.float64)
    >>> a = torch.tensor([[0.2, 0.0], [0.6, 0.2]], dtype=torch.float64)
    >>> ev = simulate_hawkes(mu, a, 1.0, 1000.0, generator=1)
    >>> granger_graph(fit_hawkes(ev, decay=1.0)).adjacency.tolist()
    [[False, False], [True, False]]
    """
    a, se = fit.adjacency, fit.adjacency_stderr
    d = a.shape[0]
    z = torch.where(se > 0, a / se.clamp_min(torch.finfo(a.dtype).tiny), torch.zeros_like(a))
    if method == "wald":
        crit = float(stats.norm.ppf(1 - level)) if 0 < level < 1 else (math.inf if level == 0 else -math.inf)
        edges = (z > crit) & (a > 0)
    else:
        edges = a / fit.decay > threshold
    if not include_self:
        edges = edges & ~torch.eye(d, dtype=torch.bool, device=a.device)
    prec = rec = None
    if truth is not None:
        if truth.shape != edges.shape:
            raise ValueError(f"granger_graph: truth must have shape {tuple(edges.shape)}, got {tuple(truth.shape)}")
        t = truth.to(edges.device)
        if not include_self:
            t = t & ~torch.eye(d, dtype=torch.bool, device=a.device)
        tp = float((edges & t).sum())
        prec = tp / float(edges.sum()) if bool(edges.any()) else 1.0
        rec = tp / float(t.sum()) if bool(t.any()) else 1.0
    return GrangerGraph(adjacency=edges, z_scores=z, precision=prec, recall=rec)
