"""Temporal logic point processes: intensities built from logic-rule features, exact likelihood, MLE."""

from __future__ import annotations

import bisect
import dataclasses
import math

import numpy as np
import torch
from scipy import optimize

from ..utils import InstanceOf, Integer, Items, Real, Tensor, Generator, numpy_rng, validate
from ._hawkes import HawkesEvents, _check_events


@dataclasses.dataclass(frozen=True)
class TemporalRule:
    r"""A first-order temporal rule whose truth switches the intensity of its head event type.

    ``body=(a,)`` reads "an event of type ``a`` happened within ``window`` before :math:`t`";
    ``body=(a, c)`` reads "an ``a`` happened before a ``c``, both within ``window`` before
    :math:`t`". The rule's feature is the indicator

    .. math::

        \phi(t) = \mathbf 1\{\exists\, t_a \in (t - \Delta, t)\}, \qquad
        \phi(t) = \mathbf 1\{\exists\, t_a < t_c < t:\ t_a > t - \Delta\},

    and it enters the intensity of type ``head`` (see :func:`logic_intensity`).

    Attributes
    ----------
    head : int
        The event type whose intensity the rule modulates.
    body : tuple of int
        One or two event types (the order of two is the "before" relation).
    window : float
        :math:`\Delta > 0`, how far back the body may lie.
    """

    head: int
    body: tuple
    window: float

    def __post_init__(self):
        body = tuple(self.body)
        object.__setattr__(self, "body", body)
        if isinstance(self.head, bool) or not isinstance(self.head, (int, np.integer)) or self.head < 0:
            raise ValueError(f"TemporalRule: head must be a non-negative int, got {self.head!r}")
        if len(body) not in (1, 2) or any(isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 0
                                          for b in body):
            raise ValueError(f"TemporalRule: body must be one or two non-negative ints, got {self.body!r}")
        w = self.window
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
            raise ValueError(f"TemporalRule: window must be a finite number > 0, got {self.window!r}")


@dataclasses.dataclass
class LogicFit:
    """A maximum-likelihood fit of a temporal logic point process (see :func:`fit_logic_rules`).

    Attributes
    ----------
    base : Tensor, shape (d,)
        :math:`b_i`, the log base rate of each event type.
    weights : Tensor, shape (n_rules,)
        :math:`w_f`, one per rule (positive: the rule excites its head; negative: inhibits).
    base_stderr, weights_stderr : Tensor
        Standard errors from the inverse observed information.
    log_likelihood : float
    n_iter : int
    converged : bool
    """

    base: torch.Tensor
    weights: torch.Tensor
    base_stderr: torch.Tensor
    weights_stderr: torch.Tensor
    log_likelihood: float
    n_iter: int
    converged: bool


_RULES = Items(InstanceOf(TemporalRule), min_length=1)


def _check_rules(name, rules, d):
    for k, r in enumerate(rules):
        if r.head >= d or max(r.body) >= d:
            raise ValueError(f"{name}: rules[{k}] uses event type {max(r.head, max(r.body))}, but there are only "
                             f"{d} types (n_dims)")


def _features(times, marks, rules, query):
    """(m, n_rules) indicators of each rule at the query times, from the history strictly before them."""
    cols = []
    by_type = {}
    for r in rules:
        for b in r.body:
            if b not in by_type:
                by_type[b] = times[marks == b]
    for r in rules:
        lo = query - r.window
        ta = by_type[r.body[0]]
        if len(r.body) == 1:
            n_in = torch.searchsorted(ta, query, side="left") - torch.searchsorted(ta, lo, side="right")
            cols.append(n_in > 0)
        else:
            tc = by_type[r.body[1]]
            idx = torch.searchsorted(tc, query, side="left")  # number of c-events before each query
            has_c = idx > 0
            last_c = torch.where(has_c, tc[(idx - 1).clamp_min(0)] if len(tc) else query, query)
            n_in = torch.searchsorted(ta, last_c, side="left") - torch.searchsorted(ta, lo, side="right")
            cols.append(has_c & (n_in > 0))
    return torch.stack(cols, -1).to(times.dtype)


def _head_matrix(rules, d, dtype, device):
    h = torch.zeros(len(rules), d, dtype=dtype, device=device)
    for k, r in enumerate(rules):
        h[k, r.head] = 1.0
    return h


def _log_intensity(feat, base, weights, heads):
    return base + (feat * weights) @ heads  # (m, d)


def _pieces(events, rules, extra=None):
    """Breakpoints of the piecewise-constant features on [0, t_max] (every event and event + window)."""
    t = events.times
    pts = [t.new_tensor([0.0, events.t_max]), t]
    for w in sorted({r.window for r in rules}):
        pts.append(t + w)
    if extra is not None:
        pts.append(extra)
    knots = torch.unique(torch.cat(pts).clamp(0.0, events.t_max))  # sorted
    return knots


def _piece_integrals(events, rules, base, weights, knots):
    """Integral of each intensity over each piece between consecutive knots: (n_knots - 1, d)."""
    mid = 0.5 * (knots[1:] + knots[:-1])
    feat = _features(events.times, events.marks, rules, mid)
    heads = _head_matrix(rules, events.n_dims, base.dtype, base.device)
    return torch.exp(_log_intensity(feat, base, weights, heads)) * (knots[1:] - knots[:-1])[:, None]


_ON = dict(events=InstanceOf(HawkesEvents), rules=_RULES, base=Tensor(shape=("d",), dtype="floating"),
           weights=Tensor(shape=("n_rules",), dtype="floating"), same=[("base", "weights")])


def _check_all(name, events, rules, base, weights):
    _check_events(name, events, base)
    _check_rules(name, rules, events.n_dims)
    if len(weights) != len(rules):
        raise ValueError(f"{name}: weights has {len(weights)} entries for {len(rules)} rules")


@validate(events=InstanceOf(HawkesEvents), rules=_RULES, times=Tensor(ndim=1, dtype="floating", nonempty=False))
def logic_features(events: HawkesEvents, rules, times: torch.Tensor) -> torch.Tensor:
    r"""The rule indicators :math:`\phi_f(t)` at the given times, from the history before each time.

    Parameters
    ----------
    events : HawkesEvents
        The history (times sorted).
    rules : list of TemporalRule
    times : Tensor, shape (m,)
        Query times (any order); an event exactly at a query time is not yet history.

    Returns
    -------
    Tensor, shape (m, n_rules)
        0/1 in the dtype of ``events.times``.

    Notes
    -----
    Found by binary search per rule: :math:`O((m + n) \log n)`. See the chapter
    :doc:`Events with structure </book/events>`.

    Examples
    --------
    >>> import torch
    >>> ev = HawkesEvents(torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([0, 1]), 5.0, 2)
    >>> rule = TemporalRule(head=1, body=(0, 1), window=1.5)
    >>> logic_features(ev, [rule], torch.tensor([1.5, 2.1, 2.6], dtype=torch.float64)).ravel().tolist()
    [0.0, 1.0, 0.0]
    """
    _check_events("logic_features", events, events.times.new_zeros(events.n_dims))
    _check_rules("logic_features", rules, events.n_dims)
    if times.dtype != events.times.dtype or times.device != events.times.device:
        raise ValueError(f"logic_features: times has {times.dtype} on {times.device}, events.times has "
                         f"{events.times.dtype} on {events.times.device}: convert one")
    return _features(events.times, events.marks, rules, times)


@validate(**_ON, times=Tensor(ndim=1, dtype="floating", nonempty=False))
def logic_intensity(events: HawkesEvents, rules, base: torch.Tensor, weights: torch.Tensor,
                    times: torch.Tensor) -> torch.Tensor:
    r"""Conditional intensities of a temporal logic point process.

    .. math::

        \lambda_i(t) = \exp\Bigl(b_i + \sum_{f:\ \mathrm{head}(f) = i} w_f\, \phi_f(t)\Bigr),

    a log-linear combination of rule indicators, as in Li et al. (2020), here with unconstrained
    real weights (a negative weight is an inhibiting rule).

    Parameters
    ----------
    events : HawkesEvents
        The history.
    rules : list of TemporalRule
    base : Tensor, shape (d,)
        :math:`b_i`.
    weights : Tensor, shape (n_rules,)
        :math:`w_f`.
    times : Tensor, shape (m,)

    Returns
    -------
    Tensor, shape (m, d)

    Notes
    -----
    See the chapter :doc:`Events with structure </book/events>`.

    References
    ----------
    Li, Wang, Zhang, Chang, Liu, Xie, Qi & Song, *Temporal logic point processes*, ICML 2020.

    Examples
    --------
    >>> import torch
    >>> ev = HawkesEvents(torch.tensor([1.0], dtype=torch.float64), torch.tensor([0]), 5.0, 2)
    >>> b, w = torch.zeros(2, dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)
    >>> lam = logic_intensity(ev, [TemporalRule(1, (0,), 1.0)], b, w, torch.tensor([1.5, 3.0], dtype=torch.float64))
    >>> [round(v, 4) for v in lam[:, 1].tolist()]
    [2.7183, 1.0]
    """
    _check_all("logic_intensity", events, rules, base, weights)
    feat = logic_features(events, rules, times)
    heads = _head_matrix(rules, events.n_dims, base.dtype, base.device)
    return torch.exp(_log_intensity(feat, base, weights, heads))


@validate(**_ON, times=Tensor(ndim=1, dtype="floating", nonempty=False, optional=True))
def logic_compensator(events: HawkesEvents, rules, base: torch.Tensor, weights: torch.Tensor,
                      times: torch.Tensor | None = None) -> torch.Tensor:
    r"""Exact compensators :math:`\Lambda_i(t) = \int_0^t \lambda_i(s)\, ds` of a temporal logic process.

    The indicators change only at event times and at event times plus a rule's window, so
    every :math:`\lambda_i` is piecewise constant between those knots and the integral is
    a finite sum of rectangle areas, exactly.

    Parameters
    ----------
    events : HawkesEvents
    rules : list of TemporalRule
    base : Tensor, shape (d,)
    weights : Tensor, shape (n_rules,)
    times : Tensor, shape (m,), optional
        Where to evaluate (in ``[0, t_max]``); default the event times, returning
        :math:`\Lambda_{m_k}(t_k)` for each event (shape ``(n,)``, for time rescaling).

    Returns
    -------
    Tensor, shape (m, d), or (n,) without ``times``
        Differentiable in ``base`` and ``weights``.

    Notes
    -----
    See the chapter :doc:`Events with structure </book/events>`.

    Examples
    --------
    >>> import torch
    >>> ev = HawkesEvents(torch.tensor([1.0], dtype=torch.float64), torch.tensor([0]), 5.0, 2)
    >>> b, w = torch.zeros(2, dtype=torch.float64), torch.tensor([math.log(3.0)], dtype=torch.float64)
    >>> logic_compensator(ev, [TemporalRule(1, (0,), 1.0)], b, w, torch.tensor([5.0], dtype=torch.float64))
    tensor([[5., 7.]], dtype=torch.float64)
    """
    _check_all("logic_compensator", events, rules, base, weights)
    own = times is None
    q = events.times if own else times
    if q.dtype != events.times.dtype or q.device != events.times.device:
        raise ValueError(f"logic_compensator: times has {q.dtype} on {q.device}, events.times has "
                         f"{events.times.dtype} on {events.times.device}: convert one")
    if len(q) and (float(q.min()) < 0 or float(q.max()) > events.t_max):
        raise ValueError(f"logic_compensator: times must lie in [0, t_max = {events.t_max}]")
    knots = _pieces(events, rules, q)
    area = _piece_integrals(events, rules, base, weights, knots)
    cum = torch.cat([area.new_zeros(1, events.n_dims), torch.cumsum(area, 0)])  # at each knot
    idx = torch.searchsorted(knots, q)
    out = cum[idx]
    if own:
        return out.gather(1, events.marks[:, None]).squeeze(1)
    return out


def _loglik(events, rules, base, weights):
    heads = _head_matrix(rules, events.n_dims, base.dtype, base.device)
    feat = _features(events.times, events.marks, rules, events.times)
    log_lam = _log_intensity(feat, base, weights, heads).gather(1, events.marks[:, None]).sum()
    knots = _pieces(events, rules)
    return log_lam - _piece_integrals(events, rules, base, weights, knots).sum()


@validate(**_ON)
def logic_log_likelihood(events: HawkesEvents, rules, base: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    r"""Exact log-likelihood of a realisation under a temporal logic point process.

    .. math::

        \log L = \sum_k \log \lambda_{m_k}(t_k) - \sum_i \Lambda_i(T),

    with :math:`\lambda_i` from :func:`logic_intensity` and the compensators summed exactly over
    the pieces on which the rule indicators are constant (see :func:`logic_compensator`).
    As a function of ``(base, weights)`` it is concave: :math:`\log\lambda` is linear in them
    and each compensator is a positive combination of exponentials of linear functions.

    Parameters
    ----------
    events : HawkesEvents
    rules : list of TemporalRule
    base : Tensor, shape (d,)
    weights : Tensor, shape (n_rules,)

    Returns
    -------
    Tensor, shape ()
        Differentiable in ``base`` and ``weights``.

    Notes
    -----
    See the chapter :doc:`Events with structure </book/events>`.

    References
    ----------
    Li et al., *Temporal logic point processes*, ICML 2020.

    Examples
    --------
    >>> import torch
    >>> ev = HawkesEvents(torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([0, 0]), 4.0, 1)
    >>> b, w = torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    >>> logic_log_likelihood(ev, [TemporalRule(0, (0,), 1.0)], b, w).item()  # unit Poisson: -T
    -4.0
    """
    _check_all("logic_log_likelihood", events, rules, base, weights)
    return _loglik(events, rules, base, weights)


@validate(rules=_RULES, base=Tensor(shape=("d",), dtype="floating"),
          weights=Tensor(shape=("n_rules",), dtype="floating"), t_max=Real(low=0, closed="neither"),
          n_realizations=Integer(low=1, optional=True), max_events=Integer(low=1), generator=Generator(),
          same=[("base", "weights")])
def simulate_logic(rules, base: torch.Tensor, weights: torch.Tensor, t_max: float, *,
                   n_realizations: int | None = None, max_events: int = 1_000_000, generator=None):
    r"""Simulate a temporal logic point process by Ogata's thinning.

    Each indicator is 0 or 1, so :math:`\lambda_i(t) \le \bar\lambda_i =
    \exp(b_i + \sum_{f \to i} \max(w_f, 0))` at all times: propose candidates at the constant
    rate :math:`\sum_i \bar\lambda_i`, give each a type :math:`i` with probability
    :math:`\propto \bar\lambda_i`, and keep it with probability :math:`\lambda_i(t) / \bar\lambda_i`
    (Ogata 1981). Exact, whatever the rules.

    Parameters
    ----------
    rules : list of TemporalRule
    base : Tensor, shape (d,)
        :math:`b_i` (types without a rule are Poisson at rate :math:`e^{b_i}`).
    weights : Tensor, shape (n_rules,)
    t_max : float
    n_realizations : int, optional
        Return a list of that many independent realisations.
    max_events : int
        Refuse to go on past this many events in one realisation.
    generator : None, int or torch.Generator

    Returns
    -------
    HawkesEvents or list of HawkesEvents
        On the device and dtype of ``base``.

    Notes
    -----
    Drawn with NumPy (``numpy_rng(generator)``) in float64, one candidate at a time. See the
    chapter :doc:`Events with structure </book/events>`.

    References
    ----------
    Ogata, *On Lewis' simulation method for point processes*, IEEE Trans. Inf. Theory 1981.

    Examples
    --------
    >>> import torch
    >>> b = torch.log(torch.tensor([0.5, 0.2], dtype=torch.float64))
    >>> ev = simulate_logic([TemporalRule(1, (0,), 1.0)], b, torch.tensor([1.5], dtype=torch.float64), 50.0,
    ...                     generator=0)
    >>> ev.n_dims, bool((ev.times.diff() >= 0).all())
    (2, True)
    """
    d = len(base)
    _check_rules("simulate_logic", rules, d)
    if len(weights) != len(rules):
        raise ValueError(f"simulate_logic: weights has {len(weights)} entries for {len(rules)} rules")
    rng = numpy_rng(generator)
    b = base.detach().cpu().double().numpy()
    w = weights.detach().cpu().double().numpy()
    bound = b.copy()
    for k, r in enumerate(rules):
        bound[r.head] += max(w[k], 0.0)
    bound = np.exp(bound)
    if not np.isfinite(bound).all() or bound.sum() * t_max > 1e9:
        raise ValueError("simulate_logic: base and weights give an intensity bound too large to simulate")
    total = bound.sum()
    cum = np.cumsum(bound / total)
    by_head = [[k for k, r in enumerate(rules) if r.head == i] for i in range(d)]
    out = []
    for _ in range(1 if n_realizations is None else n_realizations):
        hist = [[] for _ in range(d)]  # sorted times per type
        ts, ms = [], []
        t = 0.0
        done = False
        while not done:  # candidates drawn in batches: gaps, proposed types, acceptance uniforms
            gaps = rng.exponential(1.0 / total, 1024)
            kinds = np.minimum(np.searchsorted(cum, rng.uniform(size=1024), side="right"), d - 1)
            us = rng.uniform(size=1024)
            for gap, i, u in zip(gaps, kinds, us):
                t += gap
                if t >= t_max:
                    done = True
                    break
                logit = b[i]
                for k in by_head[i]:
                    if _rule_true(hist, rules[k], t):
                        logit += w[k]
                if u * bound[i] <= math.exp(logit):
                    hist[i].append(t)
                    ts.append(t)
                    ms.append(int(i))
                    if len(ts) > max_events:
                        raise ValueError(f"simulate_logic: more than max_events={max_events} events before t_max")
        out.append(HawkesEvents(times=torch.tensor(ts, dtype=base.dtype, device=base.device),
                                marks=torch.tensor(ms, dtype=torch.int64, device=base.device),
                                t_max=float(t_max), n_dims=d))
    return out[0] if n_realizations is None else out


def _rule_true(hist, rule, t):
    lo = t - rule.window
    ta = hist[rule.body[0]]
    if len(rule.body) == 1:
        return bool(ta) and ta[-1] > lo  # history times are all < t
    tc = hist[rule.body[1]]
    if not tc:
        return False
    c = tc[-1]
    j = bisect.bisect_left(ta, c)  # a-events strictly before c
    return j > 0 and ta[j - 1] > lo


@validate(events=InstanceOf(HawkesEvents), rules=_RULES, max_iter=Integer(low=1),
          tol=Real(low=0, closed="neither"))
def fit_logic_rules(events, rules, *, max_iter: int = 200, tol: float = 1e-10) -> LogicFit:
    r"""Maximum-likelihood rule weights and base rates of a temporal logic point process.

    Maximises :func:`logic_log_likelihood` over :math:`(b, w)` by Newton's method with a
    backtracking line search; the problem is concave, so the optimum is global.
    The feature values on every piece and at every event are computed once, after which
    each step costs :math:`O(\text{pieces} \times \text{rules})`. Standard errors come from
    the inverse observed information (the Hessian, exact here).

    Parameters
    ----------
    events : HawkesEvents
    rules : list of TemporalRule
    max_iter, tol
        Newton-step cap; stop when the Newton decrement falls below ``tol``.

    Returns
    -------
    LogicFit
        On the device and dtype of ``events.times``.

    Notes
    -----
    A rule that is never true (or always true together with another) leaves its weight
    unidentified: the information matrix is then singular and ``ValueError`` says so. See the
    chapter :doc:`Events with structure </book/events>`.

    References
    ----------
    Li et al., *Temporal logic point processes*, ICML 2020.

    Examples
    --------
    >>> import torch
    >>> b = torch.log(torch.tensor([0.5, 0.2], dtype=torch.float64))
    >>> rules = [TemporalRule(1, (0,), 1.0)]
    >>> ev = simulate_logic(rules, b, torch.tensor([1.5], dtype=torch.float64), 2000.0, generator=0)
    >>> fit = fit_logic_rules(ev, rules)
    >>> abs(fit.weights.item() - 1.5) < 3 * fit.weights_stderr.item()
    True
    """
    _check_events("fit_logic_rules", events, events.times.new_zeros(events.n_dims))
    _check_rules("fit_logic_rules", rules, events.n_dims)
    d, nr = events.n_dims, len(rules)
    dtype, device = events.times.dtype, events.times.device
    ev = HawkesEvents(events.times.double(), events.marks, events.t_max, d)
    heads = _head_matrix(rules, d, torch.float64, device)  # (nr, d)
    knots = _pieces(ev, rules)
    mid = 0.5 * (knots[1:] + knots[:-1])
    length = knots[1:] - knots[:-1]
    fp = _features(ev.times, ev.marks, rules, mid)  # (P, nr)
    fe = _features(ev.times, ev.marks, rules, ev.times)  # (n, nr)
    # design: theta = (b_0..b_{d-1}, w_0..w_{nr-1}); for type i on piece p, x = (e_i, phi_p * heads[:, i])
    onehot = torch.nn.functional.one_hot(ev.marks, d).double()
    x_ev = torch.cat([onehot, fe * heads.T[ev.marks]], 1)  # (n, d + nr)
    suff = x_ev.sum(0)

    def design(i):
        return torch.cat([torch.zeros(len(mid), d, dtype=torch.float64, device=device).index_fill_(
            1, torch.tensor([i], device=device), 1.0), fp * heads[:, i]], 1)

    xs = [design(i) for i in range(d)]

    def terms(theta):
        val, grad, hess = -(suff @ theta), -suff.clone(), torch.zeros(d + nr, d + nr, dtype=torch.float64,
                                                                     device=device)
        for x in xs:
            a = length * torch.exp(x @ theta)
            val = val + a.sum()
            grad = grad + x.T @ a
            hess = hess + (x * a[:, None]).T @ x
        return val, grad, hess

    counts = torch.bincount(ev.marks, minlength=d).double()
    theta = torch.cat([torch.log(counts.clamp_min(0.5) / ev.t_max), torch.zeros(nr, dtype=torch.float64,
                                                                             device=device)])
    converged, n_iter = False, 0
    val, grad, hess = terms(theta)
    for n_iter in range(1, max_iter + 1):
        try:
            step = torch.linalg.solve(hess, grad)
        except RuntimeError:
            raise ValueError("fit_logic_rules: the information matrix is singular: a rule is never true, or two "
                             "rules are true on exactly the same pieces (unidentified weights)") from None
        dec = float(grad @ step)
        if dec / 2 < tol:
            converged = True
            break
        s = 1.0
        while True:
            cand = theta - s * step
            v2, g2, h2 = terms(cand)
            if float(v2) <= float(val) - 0.25 * s * dec or s < 1e-10:
                break
            s *= 0.5
        theta, val, grad, hess = cand, v2, g2, h2
    cov = torch.linalg.inv(hess)
    if not bool(torch.isfinite(cov).all()) or bool((cov.diagonal() <= 0).any()):
        raise ValueError("fit_logic_rules: the information matrix is singular (a rule never true?)")
    se = cov.diagonal().sqrt()
    kw = dict(dtype=dtype, device=device)
    return LogicFit(base=theta[:d].to(**kw), weights=theta[d:].to(**kw), base_stderr=se[:d].to(**kw),
                    weights_stderr=se[d:].to(**kw), log_likelihood=-float(val), n_iter=n_iter,
                    converged=converged)
