"""Benchmarks for the causal-inference and point-process chapter, each against a peer or a naive baseline.

Two-stage least squares (``nips2019.causal.two_stage_least_squares``, QR in torch) against
linearmodels 7.1's ``IV2SLS``; kernel IV (``kernel_iv`` with given regularisers: the push-through
form, one m x m eigendecomposition) against the paper's formula
:math:`(W W^\\top + m\\xi K_{XX})^{-1} W \\tilde y` solved directly; the synthetic-control QP
(``synthetic_control``, active-set NNLS) against cvxpy + Clarabel and pysyncon 1.7's ``Synth``
(SLSQP) with the same V, and with V optimised (full mode only); the in-space placebo test (``placebo_test``, N fits) against N pysyncon fits;
and the exact Hawkes log-likelihood (``hawkes_log_likelihood``, blockwise recursion) against the
direct O(n^2) sum over pairs of events in NumPy; double machine learning with a linear final stage
(``dml_cate``: 2-fold cross-fitting of boosted trees, OLS with HC0 errors in NumPy) against the same
cross-fit followed by statsmodels 0.15's ``OLS(...).fit(cov_type="HC0")``, and against the naive
T-learner (two boosted fits, no intervals).
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.run import Case
from nips2019.causal import kernel_iv, make_factor_panel, make_iv_data, placebo_test, synthetic_control
from nips2019.causal import dml_cate, make_cate_data, t_learner, two_stage_least_squares
from nips2019.causal._iv import _gram
from nips2019.pointprocess import hawkes_log_likelihood, simulate_hawkes


def _iv2sls(d):
    from linearmodels.iv import IV2SLS

    y, x, z = d.y.numpy(), d.x.numpy(), d.z.numpy()
    const = np.ones((len(y), 1))
    return lambda: IV2SLS(y, const, x, z).fit(cov_type="unadjusted")


def _kiv_direct(d, lam, xi):
    n = len(d.y) // 2
    x1, z1, z2, y2 = d.x[:n], d.z[:n], d.z[n:], d.y[n:]

    def run():
        kxx = _gram(x1, x1, "gaussian", 0.3)
        kzz = _gram(z1, z1, "gaussian", 0.3)
        w = kxx @ torch.linalg.solve(kzz + n * lam * torch.eye(n, dtype=kxx.dtype), _gram(z1, z2, "gaussian", 0.3))
        return torch.linalg.solve(w @ w.T + len(y2) * xi * kxx, w @ y2)

    return run


def _scaled(p):
    x = torch.cat([p.outcomes[: p.t0], p.covariates]).numpy()
    return x, x / x.std(1, ddof=1, keepdims=True)


def _cvxpy(xs):
    import cvxpy as cp

    def run():
        w = cp.Variable(xs.shape[1] - 1)
        cp.Problem(cp.Minimize(cp.sum_squares(xs[:, 0] - xs[:, 1:] @ w)), [w >= 0, cp.sum(w) == 1]).solve(
            solver=cp.CLARABEL)
        return w.value

    return run


def _pysyncon(p, x, treated=0):
    import pandas as pd
    from pysyncon import Synth

    names = [f"u{i}" for i in range(x.shape[1])]
    frame = pd.DataFrame(x, columns=names)
    outc = pd.DataFrame(p.outcomes[: p.t0].numpy(), columns=names)
    v = np.ones(len(x)) / len(x)

    def one(i):
        others = [n for n in names if n != names[i]]
        s = Synth()
        s.fit(X0=frame[others], X1=frame[names[i]], Z0=outc[others], Z1=outc[names[i]], custom_V=v)
        return s.W

    return one


def _pysyncon_v(p, x):
    import pandas as pd
    from pysyncon import Synth

    names = [f"u{i}" for i in range(x.shape[1])]
    frame = pd.DataFrame(x, columns=names)
    outc = pd.DataFrame(p.outcomes[: p.t0].numpy(), columns=names)

    def run():
        s = Synth()
        s.fit(X0=frame[names[1:]], X1=frame["u0"], Z0=outc[names[1:]], Z1=outc["u0"])
        return s.W

    return run


def _naive_loglik(ev, mu, a, beta):
    t, m = ev.times.numpy(), ev.marks.numpy()
    mu, a = mu.numpy(), a.numpy()

    def run():
        lag = t[:, None] - t[None, :]
        past = lag > 0
        contrib = np.where(past, np.exp(-beta * np.where(past, lag, 0.0)), 0.0)  # (n, n)
        lam = mu[m] + (a[m][:, m] * contrib).sum(1)
        comp = mu.sum() * ev.t_max + (a[:, m].sum(0) / beta * (1 - np.exp(-beta * (ev.t_max - t)))).sum()
        return np.log(lam).sum() - comp

    return run


def _dml_statsmodels(d):
    import statsmodels.api as sm
    from sklearn.base import clone

    from nips2019.causal._cate import _default_classifier, _default_regressor, _folds

    x, t, y = d.x.numpy(), d.t.numpy(), d.y.numpy()

    def run():
        fold = _folds(len(y), 2, 0)
        m, e = np.empty(len(y)), np.empty(len(y))
        for k in range(2):
            tr, te = fold != k, fold == k
            m[te] = clone(_default_regressor()).fit(x[tr], y[tr]).predict(x[te])
            e[te] = clone(_default_classifier()).fit(x[tr], t[tr].astype(int)).predict_proba(x[te])[:, 1]
        design = (t - e)[:, None] * np.c_[np.ones(len(y)), x]
        return sm.OLS(y - m, design).fit(cov_type="HC0")

    return run


def cases(quick: bool) -> list:
    out = []
    for n in ([10_000] if quick else [10_000, 200_000]):
        d = make_iv_data(n, confounding=0.8, n_instruments=3, generator=0)
        out.append(Case(name=f"2SLS, n = {n}, 1 endogenous, 3 instruments",
                        ours=lambda d=d: two_stage_least_squares(d.y, d.x, d.z),
                        baselines={"linearmodels IV2SLS": _iv2sls(d)},
                        note="same coefficients and standard errors to 1e-10 (tests/causal)"))
    for n in ([1000] if quick else [1000, 3000]):
        d = make_iv_data(n, design="sigmoid", generator=0)
        out.append(Case(name=f"kernel IV fit, n = {n} (given lambda, xi)",
                        ours=lambda d=d: kernel_iv(d.x, d.y, d.z, lam=1e-4, xi=1e-3, lengthscale_x=0.3,
                                                   lengthscale_z=0.3),
                        baselines={"paper's formula, direct solves": _kiv_direct(d, 1e-4, 1e-3)},
                        repeat=2, note="float64; the direct form is ill-conditioned when K_XX is"))
    for units in ([20] if quick else [20, 60]):
        p = make_factor_panel(units, 40, 30, effect=1.0, generator=0)
        x, xs = _scaled(p)
        one = _pysyncon(p, x)
        out.append(Case(name=f"synthetic-control weights, {units - 1} donors, 33 predictors",
                        ours=lambda p=p: synthetic_control(p.outcomes, p.t0, covariates=p.covariates),
                        baselines={"cvxpy + Clarabel": _cvxpy(xs), "pysyncon Synth (custom V)": lambda: one(0)},
                        note="same weights as cvxpy to 1e-12; pysyncon's SLSQP stops about 1e-2 away"))
        out.append(Case(name=f"placebo test, {units} units",
                        ours=lambda p=p: placebo_test(p.outcomes, p.t0, covariates=p.covariates),
                        baselines={f"{units} pysyncon fits": lambda: [one(i) for i in range(units)]},
                        repeat=1))
    if not quick:
        p = make_factor_panel(20, 40, 30, effect=2.0, noise=0.3, generator=1)
        x, _ = _scaled(p)
        out.append(Case(name="synthetic control with data-driven V (Nelder-Mead outer problem), 19 donors",
                        ours=lambda p=p: synthetic_control(p.outcomes, p.t0, covariates=p.covariates, v="optimize"),
                        baselines={"pysyncon Synth (V optimised)": _pysyncon_v(p, x)}, repeat=1,
                        note="non-convex; ours reaches a pre-period MSPE at least as low (tests/causal, slow)"))
    for horizon in ([500.0] if quick else [500.0, 2000.0]):
        mu = torch.full((5,), 0.3, dtype=torch.float64)
        a = 0.1 + 0.05 * torch.eye(5, dtype=torch.float64)
        ev = simulate_hawkes(mu, a, 1.0, horizon, generator=0)
        out.append(Case(name=f"Hawkes log-likelihood, d = 5, {len(ev.times)} events",
                        ours=lambda ev=ev, mu=mu, a=a: hawkes_log_likelihood(ev, mu, a, 1.0),
                        baselines={"direct O(n^2) sum (NumPy)": _naive_loglik(ev, mu, a, 1.0)},
                        note="agree to 1e-12 (tests/pointprocess compares a Python loop)"))
    n_cate = 2000 if quick else 20_000
    cate = make_cate_data(n_cate, 3, confounding=1.0, generator=0)
    out.append(Case(name=f"CATE with a linear final stage, n = {n_cate}, d = 3",
                    ours=lambda: dml_cate(cate.x, cate.t, cate.y, generator=0),
                    baselines={"same cross-fit + statsmodels OLS HC0": _dml_statsmodels(cate),
                               "T-learner (two boosted fits, no intervals)":
                                   lambda: t_learner(cate.x, cate.t, cate.y, cate.x)},
                    repeat=1, note="same folds and nuisances as ours in the statsmodels row"))
    return out
