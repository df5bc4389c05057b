"""Synthetic control (Abadie, Diamond & Hainmueller 2010): simplex weights, placebo tests, factor panels."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from scipy.optimize import minimize, nnls

from ..utils import AnyOf, Bool, InstanceOf, Integer, Real, Tensor, as_generator, rand, randn, validate
from ._common import _DRAWN


@dataclasses.dataclass
class PanelData:
    """A generated panel with one treated unit and a known effect (see :func:`make_factor_panel`).

    Attributes
    ----------
    outcomes : Tensor, shape (T, N)
        Observed outcomes; column ``treated`` is the treated unit, the others are donors.
    counterfactual : Tensor, shape (T,)
        The treated unit's outcome without treatment.
    effect : Tensor, shape (T,)
        The true effect path (zero before ``t0``).
    covariates : Tensor, shape (F, N)
        Observed covariates: the factor loadings plus noise.
    loadings : Tensor, shape (N, F)
    true_weights : Tensor, shape (N - 1,)
        Donor weights whose loadings reproduce the treated unit's exactly (zeros when the
        treated unit was drawn like the others).
    t0 : int
        Number of pre-treatment periods.
    treated : int
        Column of the treated unit (0).
    """

    outcomes: torch.Tensor
    counterfactual: torch.Tensor
    effect: torch.Tensor
    covariates: torch.Tensor
    loadings: torch.Tensor
    true_weights: torch.Tensor
    t0: int
    treated: int


@validate(
    n_units=Integer(low=3),
    n_periods=Integer(low=3),
    t0=Integer(low=2),
    n_factors=Integer(low=1),
    effect=Real(),
    noise=Real(low=0),
    treated_in_hull=Bool(),
    **_DRAWN,
)
def make_factor_panel(n_units: int, n_periods: int, t0: int, *, n_factors: int = 3, effect: float = 0.0,
                      noise: float = 0.1, treated_in_hull: bool = True, generator=None,
                      dtype: torch.dtype = torch.float64, device=None) -> PanelData:
    r"""Draw a panel from a linear factor model with a known treatment effect.

    .. math::

        y_{it}(0) = \delta_t + \lambda_t^\top \mu_i + \varepsilon_{it}, \qquad
        y_{it} = y_{it}(0) + \tau\, [i = 0,\ t \ge t_0],

    with a common trend :math:`\delta_t`, smooth random factors :math:`\lambda_t \in
    \mathbb R^F` (random walks), loadings :math:`\mu_i \sim U[0, 1]^F` and noise
    :math:`\varepsilon_{it} \sim \mathcal N(0, \sigma^2)`. This is the model under which
    Abadie et al. (2010) show that a synthetic control that matches the pre-period outcomes
    is nearly unbiased. With ``treated_in_hull=True`` the treated unit's loadings are a
    convex combination of three donors' (so a perfect synthetic control exists); with
    False the treated unit is drawn like every other unit, so all units are exchangeable
    and placebo p-values are uniform under the null (``effect=0``).

    Parameters
    ----------
    n_units : int
        N, the treated unit plus N - 1 donors.
    n_periods : int
        T.
    t0 : int
        First treated period (0-based), so ``t0`` pre-treatment periods; ``t0 < n_periods``.
    n_factors : int
    effect : float
        :math:`\tau`, added to the treated unit from ``t0`` on.
    noise : float
        :math:`\sigma`.
    treated_in_hull : bool
        Make the treated unit's loadings a mix of three donors' (see above).
    generator : None, int or torch.Generator
        Draws the factors, the loadings and the noise.
    dtype, device
        Of the returned tensors.

    Returns
    -------
    PanelData
        The outcomes, the treated unit's counterfactual and the true effect and weights.

    Notes
    -----
    See the chapter :doc:`Causal inference and point processes </book/causal>`.

    Examples
    --------
    >>> p = make_factor_panel(10, 30, 20, effect=1.0, generator=0)
    >>> p.outcomes.shape, float(p.effect[-1])
    (torch.Size([30, 10]), 1.0)
    """
    if t0 >= n_periods:
        raise ValueError(f"make_factor_panel: t0 must be < n_periods = {n_periods}, got {t0}")
    g = as_generator(generator)
    kw = dict(generator=g, dtype=dtype, device=device)
    delta = torch.cumsum(0.3 * randn(n_periods, **kw), 0)
    lam = torch.cumsum(0.5 * randn(n_periods, n_factors, **kw), 0) + 2 * randn(1, n_factors, **kw)
    mu = rand(n_units, n_factors, **kw)
    true_w = torch.zeros(n_units - 1, dtype=dtype, device=device)
    if treated_in_hull:
        k = min(3, n_units - 1)
        pick = torch.randperm(n_units - 1, generator=g)[:k].to(device)
        w = -torch.log(rand(k, **kw))
        w = w / w.sum()
        true_w[pick] = w
        mu[0] = true_w @ mu[1:]
    y0 = delta[:, None] + lam @ mu.T + noise * randn(n_periods, n_units, **kw)
    tau = torch.zeros(n_periods, dtype=dtype, device=device)
    tau[t0:] = effect
    y = y0.clone()
    y[:, 0] += tau
    covariates = (mu.T + 0.05 * randn(n_factors, n_units, **kw)).contiguous()
    return PanelData(outcomes=y, counterfactual=y0[:, 0], effect=tau, covariates=covariates, loadings=mu,
                     true_weights=true_w, t0=t0, treated=0)


def _project_simplex(v: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of each row of ``v`` (B, J) on the probability simplex."""
    u, _ = torch.sort(v, dim=-1, descending=True)
    css = u.cumsum(-1) - 1
    idx = torch.arange(1, v.shape[-1] + 1, device=v.device, dtype=v.dtype)
    cond = u - css / idx > 0
    rho = cond.to(v.dtype).cumsum(-1).argmax(-1, keepdim=True)  # last True (cond is a prefix)
    theta = css.gather(-1, rho) / (rho + 1).to(v.dtype)
    return (v - theta).clamp_min(0)


def _simplex_ls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """min_w ||b - a w||^2 over the probability simplex, a (k, J), b (k,), in float64 NumPy.

    Lawson-Hanson NNLS on the system with the row ``M 1^T = M`` appended (M large), then the
    equality-constrained least squares on the support found, which makes the sum exact.
    """
    j = a.shape[1]
    big = 1e4 * (np.linalg.norm(a) + np.linalg.norm(b) + 1.0)
    w, _ = nnls(np.vstack([a, np.full((1, j), big)]), np.append(b, big), maxiter=50 * (j + 1))
    s = w > 0
    if s.any():
        a_s = a[:, s]
        kkt = np.block([[a_s.T @ a_s, np.ones((s.sum(), 1))], [np.ones((1, s.sum())), np.zeros((1, 1))]])
        rhs = np.append(a_s.T @ b, 1.0)
        try:
            sol = np.linalg.solve(kkt, rhs)[:-1]
            if (sol >= 0).all():
                w = np.zeros(j)
                w[s] = sol
        except np.linalg.LinAlgError:  # pragma: no cover - a singular support: keep the NNLS point
            pass
    w = np.clip(w, 0, None)
    return w / w.sum()


def _simplex_qp(x1: torch.Tensor, x0: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Batched min_w (x1 - x0 w)' diag(v) (x1 - x0 w) over the simplex; x1 (B, k), x0 (B, k, J)."""
    sv = v.sqrt().detach().cpu().double().numpy()
    a = x0.detach().cpu().double().numpy() * sv[None, :, None]
    b = x1.detach().cpu().double().numpy() * sv[None, :]
    w = np.stack([_simplex_ls(a[i], b[i]) for i in range(len(b))])
    return torch.as_tensor(w, dtype=x1.dtype, device=x1.device)


@dataclasses.dataclass
class SyntheticControlResult:
    """A synthetic control (see :func:`synthetic_control`).

    Attributes
    ----------
    weights : Tensor, shape (J,)
        Donor weights on the simplex.
    synthetic : Tensor, shape (T,)
        The synthetic unit's outcomes :math:`Y_0 w`.
    gap : Tensor, shape (T,)
        Treated minus synthetic: the estimated effect path after ``t0``.
    effect : float
        Mean gap over the post-treatment periods.
    pre_rmspe, post_rmspe : float
        Root mean squared gap before and after ``t0``.
    v : Tensor, shape (k,)
        The predictor weights used (normalised to sum to 1).
    """

    weights: torch.Tensor
    synthetic: torch.Tensor
    gap: torch.Tensor
    effect: float
    pre_rmspe: float
    post_rmspe: float
    v: torch.Tensor


def _predictors(outcomes: torch.Tensor, t0: int, covariates: torch.Tensor | None) -> torch.Tensor:
    """Pre-period outcomes (and covariates) of every unit, each row scaled by its std across units."""
    x = outcomes[:t0]
    if covariates is not None:
        x = torch.cat([x, covariates], 0)
    sd = x.std(1, keepdim=True)
    return x / torch.where(sd > 0, sd, torch.ones_like(sd))


def _check_v(v, k, name, dtype, device):
    if v is None:
        return torch.full((k,), 1.0 / k, dtype=dtype, device=device)
    if v.shape[0] != k:
        raise ValueError(f"{name}: v must have one weight per predictor (t0 pre-period outcomes + rows of "
                         f"covariates "
                         f"= {k}), got {v.shape[0]}")
    if float(v.sum()) <= 0:
        raise ValueError(f"{name}: v must have a positive entry")
    return v / v.sum()


def _optimize_v(x: torch.Tensor, z: torch.Tensor, treated: int, donors: list, max_iter: int) -> torch.Tensor:
    """Abadie's outer problem: V minimising the pre-period outcome fit of w*(V)."""
    xn = x.detach().cpu().double().numpy()
    zn = z.detach().cpu().double().numpy()
    x1, x0 = xn[:, treated], xn[:, donors]
    z1, z0 = zn[:, treated], zn[:, donors]

    def loss(theta):
        v = np.abs(theta)
        if v.sum() <= 0:
            return np.inf
        sv = np.sqrt(v / v.sum())
        w = _simplex_ls(x0 * sv[:, None], x1 * sv)
        r = z1 - z0 @ w
        return float(r @ r) / len(r)

    k = x.shape[0]
    res = minimize(loss, np.full(k, 1.0 / k), method="Nelder-Mead",
                   options=dict(maxiter=max_iter, xatol=1e-8, fatol=1e-12))
    v = np.abs(res.x)
    return torch.as_tensor(v / v.sum(), device=x.device)


def _rmspe(gap: torch.Tensor) -> torch.Tensor:
    return gap.pow(2).mean(0).sqrt()


@validate(
    outcomes=Tensor(shape=("T", "N"), dtype="floating"),
    t0=Integer(low=1),
    treated=Integer(low=0),
    covariates=Tensor(shape=(None, "N"), dtype="floating", optional=True),
    v=AnyOf(Tensor(ndim=1, dtype="floating", low=0), InstanceOf(str), optional=True),
    max_iter=Integer(low=1),
    same=[("outcomes", "covariates", "v")],
)
def synthetic_control(outcomes: torch.Tensor, t0: int, *, treated: int = 0,
                      covariates: torch.Tensor | None = None, v=None,
                      max_iter: int = 5000) -> SyntheticControlResult:
    r"""Synthetic-control weights on the simplex, for a given or a data-driven predictor weighting V.

    Stack each unit's predictors (its ``t0`` pre-period outcomes, then the ``covariates``
    rows), scale every predictor by its standard deviation across units (as R's ``Synth``
    and ``pysyncon`` do) into :math:`X_1` (treated, shape (k,)) and :math:`X_0` (donors,
    (k, J)), and solve

    .. math::

        w^\star(V) = \arg\min_{w \in \Delta^{J-1}} (X_1 - X_0 w)^\top V (X_1 - X_0 w),
        \qquad V = \mathrm{diag}(v),

    exactly: Lawson-Hanson non-negative least squares (scipy) with the sum constraint as a
    heavily weighted extra row finds the support, and the equality-constrained least squares
    on that support makes the weights sum to one (computed in float64 on the CPU, returned
    on the inputs' device; the :math:`N` problems of a placebo test are independent). The estimated effect is the gap :math:`Y_{1t} - \sum_j w_j Y_{jt}` for
    :math:`t \ge t_0`. With ``v="optimize"`` V is chosen as in Abadie et al.: it minimises the
    pre-period outcome fit :math:`\lVert Z_1 - Z_0 w^\star(V) \rVert^2` (the outer problem,
    non-convex; Nelder-Mead on :math:`V = |\theta| / \sum|\theta|` from equal weights, as
    ``pysyncon`` does). Otherwise pass your own ``v`` (default ``"equal"``).

    Parameters
    ----------
    outcomes : Tensor, shape (T, N)
        One column per unit, one row per period.
    t0 : int
        Number of pre-treatment periods (1 <= t0 < T allows a post period; t0 = T fits only).
    treated : int
        Column of the treated unit; all other columns are donors.
    covariates : Tensor, shape (k_c, N), optional
        Further predictors (one row each).
    v : Tensor, shape (t0 + k_c,), "equal" or "optimize", optional
        Non-negative predictor weights; None means "equal".
    max_iter : int
        Nelder-Mead iterations of the outer problem (``v="optimize"`` only).

    Returns
    -------
    SyntheticControlResult
        The donor weights, the synthetic unit, the gap and its summaries.

    Notes
    -----
    The reference tests match ``pysyncon.Synth(custom_V=v)`` and an independent cvxpy QP.
    See the chapter :doc:`Causal inference and point processes </book/causal>`.

    References
    ----------
    Abadie, Diamond & Hainmueller, *Synthetic control methods for comparative case studies*,
    JASA 2010.

    Examples
    --------
    >>> p = make_factor_panel(12, 40, 30, effect=2.0, generator=1)
    >>> fit = synthetic_control(p.outcomes, p.t0)
    >>> round(float(fit.weights.sum()), 6), abs(fit.effect - 2.0) < 0.5
    (1.0, True)
    """
    big_t, n_units = outcomes.shape
    if t0 > big_t:
        raise ValueError(f"synthetic_control: t0 must be <= T = {big_t}, got {t0}")
    if treated >= n_units:
        raise ValueError(f"synthetic_control: treated must be < N = {n_units}, got {treated}")
    if n_units < 2:
        raise ValueError("synthetic_control: outcomes needs at least one donor column")
    x = _predictors(outcomes, t0, covariates)
    donors = [i for i in range(n_units) if i != treated]
    if isinstance(v, str) and v not in ("equal", "optimize"):
        raise ValueError(f"synthetic_control: v must be a tensor, 'equal' or 'optimize', got {v!r}")
    if isinstance(v, str) and v == "optimize":
        vv = _optimize_v(x, outcomes[:t0], treated, donors, max_iter).to(outcomes.dtype)
    else:
        vv = _check_v(None if isinstance(v, str) else v, x.shape[0], "synthetic_control", outcomes.dtype,
                      outcomes.device)
    w = _simplex_qp(x[:, treated][None], x[:, donors][None], vv)[0]
    synth = outcomes[:, donors] @ w
    gap = outcomes[:, treated] - synth
    post = gap[t0:]
    return SyntheticControlResult(
        weights=w, synthetic=synth, gap=gap, effect=float(post.mean()) if len(post) else 0.0,
        pre_rmspe=float(_rmspe(gap[:t0])), post_rmspe=float(_rmspe(post)) if len(post) else 0.0, v=vv)


@dataclasses.dataclass
class PlaceboResult:
    """In-space placebo test of a synthetic control (see :func:`placebo_test`).

    Attributes
    ----------
    gaps : Tensor, shape (T, N)
        Column i: unit i minus its synthetic control built from all other units.
    pre_rmspe, post_rmspe : Tensor, shape (N,)
    ratios : Tensor, shape (N,)
        Post/pre RMSPE ratio of every unit.
    p_value : float
        Share of units whose ratio is at least the treated unit's: :math:`1/N` is the smallest
        attainable value.
    treated : int
    """

    gaps: torch.Tensor
    pre_rmspe: torch.Tensor
    post_rmspe: torch.Tensor
    ratios: torch.Tensor
    p_value: float
    treated: int


@validate(
    outcomes=Tensor(shape=("T", "N"), dtype="floating"),
    t0=Integer(low=1),
    treated=Integer(low=0),
    covariates=Tensor(shape=(None, "N"), dtype="floating", optional=True),
    v=Tensor(ndim=1, dtype="floating", low=0, optional=True),
    same=[("outcomes", "covariates", "v")],
)
def placebo_test(outcomes: torch.Tensor, t0: int, *, treated: int = 0, covariates: torch.Tensor | None = None,
                 v: torch.Tensor | None = None) -> PlaceboResult:
    r"""In-space placebo test: refit the synthetic control with every unit as the treated one.

    For each unit :math:`i` the synthetic control is built from the other :math:`N - 1`
    units (the true treated unit among them when :math:`i` is a donor), all :math:`N`
    quadratic programmes solved in one batch. The test statistic is the ratio of post- to
    pre-treatment root mean squared prediction error, :math:`r_i = \mathrm{RMSPE}^{post}_i /
    \mathrm{RMSPE}^{pre}_i`, and the permutation p-value is

    .. math::

        p = \tfrac1N \#\{i : r_i \ge r_{\text{treated}}\}.

    When the units are exchangeable and there is no effect, :math:`p` is uniform on
    :math:`\{1/N, \dots, 1\}`.

    Parameters
    ----------
    outcomes : Tensor, shape (T, N)
    t0 : int
        Number of pre-treatment periods, 1 <= t0 < T.
    treated : int
    covariates : Tensor, shape (k_c, N), optional
    v : Tensor, shape (t0 + k_c,), optional

    Returns
    -------
    PlaceboResult
        Every unit's gap and RMSPE ratio, and the treated unit's permutation p-value.

    Notes
    -----
    See the chapter :doc:`Causal inference and point processes </book/causal>`.

    References
    ----------
    Abadie, Diamond & Hainmueller, JASA 2010, section 2.4 and figure 7.

    Examples
    --------
    >>> p = make_factor_panel(10, 30, 20, effect=3.0, generator=0)
    >>> placebo_test(p.outcomes, p.t0).p_value
    0.1
    """
    big_t, n_units = outcomes.shape
    if not 1 <= t0 < big_t:
        raise ValueError(f"placebo_test: t0 must be in [1, T) = [1, {big_t}) to leave a post period, got {t0}")
    if treated >= n_units:
        raise ValueError(f"placebo_test: treated must be < N = {n_units}, got {treated}")
    if n_units < 3:
        raise ValueError(f"placebo_test: outcomes needs at least 3 units, got {n_units}")
    x = _predictors(outcomes, t0, covariates)
    vv = _check_v(v, x.shape[0], "placebo_test", outcomes.dtype, outcomes.device)
    others = torch.tensor([[j for j in range(n_units) if j != i] for i in range(n_units)], device=outcomes.device)
    x0 = x[:, others].permute(1, 0, 2)  # (N, k, N-1)
    w = _simplex_qp(x.T, x0, vv)
    synth = (outcomes[:, others] * w[None]).sum(-1)  # (T, N)
    gaps = outcomes - synth
    pre, post = _rmspe(gaps[:t0]), _rmspe(gaps[t0:])
    ratios = post / pre.clamp_min(torch.finfo(outcomes.dtype).tiny)
    p = float((ratios >= ratios[treated]).to(outcomes.dtype).mean())
    return PlaceboResult(gaps=gaps, pre_rmspe=pre, post_rmspe=post, ratios=ratios, p_value=p, treated=treated)


@validate(
    outcomes=Tensor(shape=("T", "N"), dtype="floating"),
    t0=Integer(low=2),
    t_placebo=Integer(low=1),
    treated=Integer(low=0),
    covariates=Tensor(shape=(None, "N"), dtype="floating", optional=True),
    same=[("outcomes", "covariates")],
)
def in_time_placebo(outcomes: torch.Tensor, t0: int, t_placebo: int, *, treated: int = 0,
                    covariates: torch.Tensor | None = None) -> SyntheticControlResult:
    r"""In-time placebo: pretend the treatment started at ``t_placebo < t0``.

    Only the true pre-treatment periods :math:`t < t_0` are used: the synthetic control is
    fitted on :math:`t < t_{placebo}` and its "effect" over :math:`t_{placebo} \le t < t_0`
    should be close to zero. A large placebo effect says the pre-period fit does not
    extrapolate, so the real estimate should not be trusted either.

    Parameters
    ----------
    outcomes : Tensor, shape (T, N)
    t0 : int
        The real first treated period.
    t_placebo : int
        The pretended one, 1 <= t_placebo < t0.
    treated : int
    covariates : Tensor, shape (k_c, N), optional

    Returns
    -------
    SyntheticControlResult
        Over the periods ``[0, t0)`` only; ``effect`` is the placebo effect.

    Notes
    -----
    A clear placebo effect before the real treatment date says that the pre-period fit does
    not carry over in time, which undermines the post-period gap as well.
    See the chapter :doc:`Causal inference and point processes </book/causal>`.

    References
    ----------
    Abadie, Diamond & Hainmueller, *Comparative politics and the synthetic control method*,
    AJPS 2015 (their in-time placebo moves German reunification to 1975).

    Examples
    --------
    >>> # a real effect of 3 from period 30 on; a placebo date of 20 must find none
    >>> p = make_factor_panel(10, 40, 30, effect=3.0, generator=0)
    >>> abs(in_time_placebo(p.outcomes, p.t0, 20).effect) < 0.5
    True
    """
    if t0 > outcomes.shape[0]:
        raise ValueError(f"in_time_placebo: t0 must be <= T = {outcomes.shape[0]}, got {t0}")
    if t_placebo >= t0:
        raise ValueError(f"in_time_placebo: t_placebo must be < t0 = {t0}, got {t_placebo}")
    return synthetic_control(outcomes[:t0], t_placebo, treated=treated, covariates=covariates)
