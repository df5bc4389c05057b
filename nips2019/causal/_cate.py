"""Heterogeneous treatment effects: double machine learning (R-learner), DR-learner and T-learner.

Orthogonal, cross-fitted estimators of the conditional average treatment effect (CATE) with a linear final
stage and heteroskedasticity-robust confidence intervals, in the spirit of the EconML library
(Battocchi et al. 2019) but written from the papers (Chernozhukov et al. 2018; Nie & Wager 2021;
Kennedy 2020).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from ..utils import InstanceOf, Integer, Options, Real, Tensor, as_generator, numpy_rng, rand, randn, validate
from ._common import _DRAWN


@dataclasses.dataclass
class CATEData:
    r"""A confounded sample with a binary treatment and a known effect (see :func:`make_cate_data`).

    Attributes
    ----------
    x : Tensor, shape (n, d)
        Covariates.
    t : Tensor, shape (n,)
        Treatment, 0 or 1 (as floats).
    y : Tensor, shape (n,)
        Outcome :math:`Y = \mu_0(X) + T\,\tau(X) + \varepsilon`.
    tau : Tensor, shape (n,)
        The true effect :math:`\tau(x_i)`.
    propensity : Tensor, shape (n,)
        :math:`e(x_i) = P(T = 1 \mid X = x_i)`.
    """

    x: torch.Tensor
    t: torch.Tensor
    y: torch.Tensor
    tau: torch.Tensor
    propensity: torch.Tensor


def _tau_true(x: torch.Tensor, effect: str) -> torch.Tensor:
    if effect == "linear":
        return 1 + 2 * x[:, 0] - x[:, 1]
    return 1 + 2 * torch.tanh(2 * x[:, 0]) * (x[:, 1] > 0)


@validate(n_samples=Integer(low=10), n_features=Integer(low=2), effect=Options("linear", "nonlinear"),
          confounding=Real(low=0), noise=Real(low=0, closed="neither"), **_DRAWN)
def make_cate_data(n_samples: int = 2000, n_features: int = 5, *, effect: str = "linear",
                   confounding: float = 1.5, noise: float = 1.0, generator=None, dtype=torch.float64,
                   device=None) -> CATEData:
    r"""Observational data with a binary treatment whose effect varies with the covariates.

    .. math::

        X \sim \mathcal N(0, I_d), \quad e(X) = \sigma(c\,(X_0 + X_2)), \quad T \sim \mathrm{Bernoulli}(e(X)),
        \quad Y = \mu_0(X) + T\,\tau(X) + \sigma_\varepsilon \varepsilon,

    with baseline :math:`\mu_0(x) = 2 \sin(2 x_0) + x_2^2 + x_3` (non-linear, and driven by the same
    covariates as the treatment choice: confounding) and effect
    :math:`\tau(x) = 1 + 2 x_0 - x_1` (``"linear"``) or :math:`1 + 2 \tanh(2 x_0)\,\mathbb 1[x_1 > 0]`
    (``"nonlinear"``). The propensity stays in :math:`[\sigma(-c\,m), \sigma(c\,m)]` for the sample's range.

    Parameters
    ----------
    n_samples : int
    n_features : int >= 2
        :math:`d`; the design uses up to four of them, the rest are noise covariates.
    effect : {"linear", "nonlinear"}
    confounding : float >= 0
        :math:`c`; 0 gives a randomised trial with :math:`e = 1/2`.
    noise : float > 0
        :math:`\sigma_\varepsilon`.
    generator : None, int or torch.Generator
    dtype, device

    Returns
    -------
    CATEData

    Notes
    -----
    See the chapter :doc:`Causal inference and point processes </book/causal>`.

    Examples
    --------
    >>> data = make_cate_data(500, 4, generator=0)
    >>> data.x.shape, sorted(set(data.t.tolist()))
    (torch.Size([500, 4]), [0.0, 1.0])
    """
    gen = as_generator(generator)
    x = randn(n_samples, n_features, generator=gen, dtype=dtype, device=device)
    x2 = x[:, 2] if n_features > 2 else torch.zeros_like(x[:, 0])
    x3 = x[:, 3] if n_features > 3 else torch.zeros_like(x[:, 0])
    e = torch.sigmoid(confounding * (x[:, 0] + x2))
    t = (rand(n_samples, generator=gen, dtype=dtype, device=device) < e).to(dtype)
    tau = _tau_true(x, effect)
    mu0 = 2 * torch.sin(2 * x[:, 0]) + x2**2 + x3
    y = mu0 + t * tau + noise * randn(n_samples, generator=gen, dtype=dtype, device=device)
    return CATEData(x, t, y, tau, e)


@dataclasses.dataclass
class LinearCATEResult:
    r"""A linear CATE model :math:`\tau(x) = \theta^\top \phi(x)`, :math:`\phi(x) = (1, x)`, with its covariance.

    Attributes
    ----------
    coef : Tensor, shape (d + 1,)
        :math:`\hat\theta` (intercept first).
    cov : Tensor, shape (d + 1, d + 1)
        Heteroskedasticity-robust (HC0 sandwich) covariance of :math:`\hat\theta`.
    stderr : Tensor, shape (d + 1,)
    method : str
        ``"dml"`` or ``"dr"``.
    nuisance_r2 : dict
        Out-of-fold :math:`R^2` of the nuisance regressions (a check that they learned something).
    """

    coef: torch.Tensor
    cov: torch.Tensor
    stderr: torch.Tensor
    method: str
    nuisance_r2: dict

    def effect(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`\\hat\\tau(x) = \\hat\\theta^\\top (1, x)` for rows ``x`` of shape (m, d)."""
        return _phi(x) @ self.coef

    def effect_interval(self, x: torch.Tensor, alpha: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
        """Pointwise normal confidence interval ``(lower, upper)`` of level ``1 - alpha`` for :math:`\\tau(x)`."""
        phi = _phi(x)
        se = torch.einsum("mi,ij,mj->m", phi, self.cov, phi).clamp_min(0).sqrt()
        z = _z(alpha)
        est = phi @ self.coef
        return est - z * se, est + z * se

    def coef_interval(self, alpha: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
        """Normal confidence intervals ``(lower, upper)`` of level ``1 - alpha`` for the coefficients."""
        z = _z(alpha)
        return self.coef - z * self.stderr, self.coef + z * self.stderr


def _z(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    from statistics import NormalDist

    return NormalDist().inv_cdf(1 - alpha / 2)


def _phi(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([torch.ones_like(x[:, :1]), x], 1)


def _folds(n: int, n_folds: int, generator) -> np.ndarray:
    rng = numpy_rng(generator)
    return rng.permutation(n) % n_folds


def _crossfit(model, x: np.ndarray, target: np.ndarray, fold: np.ndarray, *, proba: bool = False) -> np.ndarray:
    out = np.empty(len(target))
    for k in np.unique(fold):
        train, test = fold != k, fold == k
        m = clone(model).fit(x[train], target[train])
        out[test] = m.predict_proba(x[test])[:, 1] if proba else m.predict(x[test])
    return out


def _r2(target: np.ndarray, pred: np.ndarray) -> float:
    return float(1 - ((target - pred) ** 2).sum() / max(((target - target.mean()) ** 2).sum(), 1e-300))


def _weighted_ols(design: np.ndarray, target: np.ndarray):
    """OLS of ``target`` on ``design`` with the HC0 sandwich covariance."""
    gram = design.T @ design
    coef = np.linalg.solve(gram, design.T @ target)
    resid = target - design @ coef
    bread = np.linalg.inv(gram)
    meat = (design * resid[:, None] ** 2).T @ design
    return coef, bread @ meat @ bread


def _default_regressor():
    return HistGradientBoostingRegressor(max_iter=100, learning_rate=0.05, min_samples_leaf=40)


def _default_classifier():
    return HistGradientBoostingClassifier(max_iter=50, learning_rate=0.05, min_samples_leaf=80)


def _check_treatment(func: str, t: torch.Tensor):
    bad = ~((t == 0) | (t == 1))
    if bad.any():
        raise ValueError(f"{func}: t must hold 0/1 treatment indicators, got {t[bad][:3].tolist()}")
    if t.min() == t.max():
        raise ValueError(f"{func}: t must contain both treated (1) and control (0) units")


def _result(coef, cov, x, method, r2):
    dev, dt = x.device, x.dtype
    coef_t = torch.as_tensor(coef, dtype=dt).to(dev)
    cov_t = torch.as_tensor(cov, dtype=dt).to(dev)
    return LinearCATEResult(coef_t, cov_t, cov_t.diagonal().clamp_min(0).sqrt(), method, r2)


_DATA = dict(x=Tensor(shape=("n", "d"), dtype="floating"), t=Tensor(shape=("n",), dtype="floating"),
             y=Tensor(shape=("n",), dtype="floating"))


@validate(**_DATA, model_y=InstanceOf(BaseEstimator, optional=True), model_t=InstanceOf(BaseEstimator, optional=True),
          n_folds=Integer(low=2), generator=_DRAWN["generator"], same=[("x", "t", "y")])
def dml_cate(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, *, model_y=None, model_t=None,
             n_folds: int = 2, generator=None) -> LinearCATEResult:
    r"""Double machine learning (the R-learner) with a linear final stage and robust standard errors.

    Cross-fitting: the sample is split into ``n_folds`` folds; for each fold the nuisances
    :math:`m(x) = E[Y \mid X = x]` and :math:`e(x) = E[T \mid X = x]` are fitted on the other folds and
    predicted on it. With the residuals :math:`\tilde Y = Y - \hat m(X)`, :math:`\tilde T = T - \hat e(X)`
    and :math:`\phi(x) = (1, x)`, the final stage minimises the R-loss (Nie & Wager 2021)

    .. math::

        \hat\theta = \arg\min_\theta \sum_i \bigl(\tilde Y_i - \tilde T_i\,\theta^\top \phi(X_i)\bigr)^2,

    an ordinary least-squares fit of :math:`\tilde Y` on :math:`\tilde T \phi(X)`. The residualisation is
    Neyman-orthogonal (Chernozhukov et al. 2018): first-order errors in :math:`\hat m, \hat e` do not move
    :math:`\hat\theta`, so the usual sandwich covariance (HC0) gives valid confidence intervals when the
    nuisances converge faster than :math:`n^{-1/4}` and the CATE is linear in :math:`\phi`.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    t : Tensor, shape (n,)
        Binary treatment (0/1).
    y : Tensor, shape (n,)
    model_y : scikit-learn regressor, optional
        Unfitted estimator for :math:`m` (cloned per fold); default: histogram gradient boosting (100 trees,
        learning rate 0.05, leaves of at least 40).
    model_t : scikit-learn classifier with ``predict_proba``, optional
        For :math:`e`; default: histogram gradient boosting (50 trees, leaves of at least 80).
    n_folds : int >= 2
    generator : None, int or torch.Generator
        Draws the folds.

    Returns
    -------
    LinearCATEResult

    Notes
    -----
    See the chapter :doc:`Causal inference and point processes </book/causal>`.

    Examples
    --------
    >>> data = make_cate_data(2000, 3, confounding=0.5, generator=0)
    >>> res = dml_cate(data.x, data.t, data.y, generator=0)
    >>> [round(v, 1) for v in res.coef.tolist()]  # truth (1, 2, -1, 0)
    [1.1, 2.1, -1.0, 0.1]
    """
    _check_treatment("dml_cate", t)
    xn, tn, yn = (a.detach().cpu().double().numpy() for a in (x, t, y))
    fold = _folds(len(yn), n_folds, generator)
    m_hat = _crossfit(model_y if model_y is not None else _default_regressor(), xn, yn, fold)
    e_hat = _crossfit(model_t if model_t is not None else _default_classifier(), xn, tn.astype(int), fold,
                      proba=True)
    y_res, t_res = yn - m_hat, tn - e_hat
    phi = np.concatenate([np.ones((len(yn), 1)), xn], 1)
    coef, cov = _weighted_ols(t_res[:, None] * phi, y_res)
    return _result(coef, cov, x, "dml", {"y": _r2(yn, m_hat), "t": _r2(tn, e_hat)})


@validate(**_DATA, model_y=InstanceOf(BaseEstimator, optional=True), model_t=InstanceOf(BaseEstimator, optional=True),
          n_folds=Integer(low=2), clip=Real(low=0, high=0.5, closed="neither"), generator=_DRAWN["generator"],
          same=[("x", "t", "y")])
def dr_cate(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, *, model_y=None, model_t=None,
            n_folds: int = 2, clip: float = 0.01, generator=None) -> LinearCATEResult:
    r"""The DR-learner (Kennedy 2020): doubly robust pseudo-outcomes regressed linearly on :math:`(1, x)`.

    With cross-fitted outcome regressions :math:`\hat\mu_t(x) = E[Y \mid X = x, T = t]` (fitted on each
    arm) and propensity :math:`\hat e(x)` (clipped to ``[clip, 1 - clip]``), the pseudo-outcome

    .. math::

        \psi_i = \hat\mu_1(X_i) - \hat\mu_0(X_i) + \frac{T_i (Y_i - \hat\mu_1(X_i))}{\hat e(X_i)}
                 - \frac{(1 - T_i)(Y_i - \hat\mu_0(X_i))}{1 - \hat e(X_i)}

    has :math:`E[\psi \mid X = x] = \tau(x)` when either the outcome models or the propensity are right;
    the final stage is OLS of :math:`\psi` on :math:`\phi(X) = (1, X)` with HC0 standard errors.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    t : Tensor, shape (n,)
    y : Tensor, shape (n,)
    model_y : scikit-learn regressor, optional
        For :math:`\mu_0, \mu_1` (cloned per arm and fold); default as in :func:`dml_cate`.
    model_t : scikit-learn classifier with ``predict_proba``, optional
        For :math:`e`; default as in :func:`dml_cate`.
    n_folds : int >= 2
    clip : float in (0, 0.5)
        Propensity clipping.
    generator : None, int or torch.Generator

    Returns
    -------
    LinearCATEResult

    Notes
    -----
    See the chapter :doc:`Causal inference and point processes </book/causal>`.

    Examples
    --------
    >>> data = make_cate_data(2000, 3, confounding=0.5, generator=0)
    >>> res = dr_cate(data.x, data.t, data.y, generator=0)
    >>> bool((res.coef - torch.tensor([1.0, 2.0, -1.0, 0.0], dtype=torch.float64)).abs().max() < 0.3)
    True
    """
    _check_treatment("dr_cate", t)
    xn, tn, yn = (a.detach().cpu().double().numpy() for a in (x, t, y))
    fold = _folds(len(yn), n_folds, generator)
    reg = model_y if model_y is not None else _default_regressor()
    e_hat = np.clip(_crossfit(model_t if model_t is not None else _default_classifier(), xn, tn.astype(int),
                              fold, proba=True), clip, 1 - clip)
    mu = np.empty((2, len(yn)))
    for k in np.unique(fold):
        train, test = fold != k, fold == k
        for arm in (0, 1):
            sel = train & (tn == arm)
            if sel.sum() < 2:
                raise ValueError(f"dr_cate: fold {k} has fewer than 2 units in arm {arm}; use fewer folds")
            mu[arm, test] = clone(reg).fit(xn[sel], yn[sel]).predict(xn[test])
    psi = mu[1] - mu[0] + tn * (yn - mu[1]) / e_hat - (1 - tn) * (yn - mu[0]) / (1 - e_hat)
    phi = np.concatenate([np.ones((len(yn), 1)), xn], 1)
    coef, cov = _weighted_ols(phi, psi)
    r2 = {"y": _r2(yn, np.where(tn == 1, mu[1], mu[0])), "t": _r2(tn, e_hat)}
    return _result(coef, cov, x, "dr", r2)


@validate(**_DATA, x_eval=Tensor(shape=(None, "d"), dtype="floating"), model_y=InstanceOf(BaseEstimator, optional=True),
          same=[("x", "t", "y", "x_eval")])
def t_learner(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, x_eval: torch.Tensor, *,
              model_y=None) -> torch.Tensor:
    r"""The naive T-learner: :math:`\hat\tau(x) = \hat\mu_1(x) - \hat\mu_0(x)`, one regression per arm.

    No orthogonalisation and no cross-fitting: regularisation bias of each arm's regression (shrinkage
    towards each arm's own covariate distribution, which differs under confounding) goes straight into
    :math:`\hat\tau`. The baseline the orthogonal learners are compared with.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    t : Tensor, shape (n,)
    y : Tensor, shape (n,)
    x_eval : Tensor, shape (m, d)
        Where to evaluate the effect.
    model_y : scikit-learn regressor, optional
        Default: histogram gradient boosting.

    Returns
    -------
    Tensor, shape (m,)

    Notes
    -----
    See the chapter :doc:`Causal inference and point processes </book/causal>`.

    Examples
    --------
    >>> data = make_cate_data(1000, 3, confounding=0.0, generator=0)
    >>> t_learner(data.x, data.t, data.y, data.x[:3]).shape
    torch.Size([3])
    """
    _check_treatment("t_learner", t)
    xn, tn, yn = (a.detach().cpu().double().numpy() for a in (x, t, y))
    xe = x_eval.detach().cpu().double().numpy()
    reg = model_y if model_y is not None else _default_regressor()
    mu1 = clone(reg).fit(xn[tn == 1], yn[tn == 1]).predict(xe)
    mu0 = clone(reg).fit(xn[tn == 0], yn[tn == 0]).predict(xe)
    return torch.as_tensor(mu1 - mu0, dtype=x.dtype).to(x.device)

