"""Reference tests for nips2019.causal: linearmodels, cvxpy, pysyncon, brute-force formulas."""

import numpy as np
import pytest
import torch

from nips2019.causal import (
    in_time_placebo,
    kernel_iv,
    make_factor_panel,
    make_iv_data,
    placebo_test,
    synthetic_control,
    two_stage_least_squares,
)
from nips2019.causal._iv import _gram


@pytest.fixture(scope="module")
def linear():
    return make_iv_data(400, confounding=0.8, n_instruments=2, generator=0)


@pytest.mark.parametrize("cov_type", ["unadjusted", "robust"])
def test_tsls_matches_linearmodels(linear, cov_type):
    iv = pytest.importorskip("linearmodels.iv")
    w = torch.randn(400, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    ours = two_stage_least_squares(linear.y, linear.x, linear.z, exog=w, cov_type=cov_type)
    exog = np.column_stack([np.ones(400), w.numpy()])
    ref = iv.IV2SLS(linear.y.numpy(), exog, linear.x.numpy(), linear.z.numpy()).fit(cov_type=cov_type)
    np.testing.assert_allclose(ours.coef.numpy(), ref.params.to_numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.stderr.numpy(), ref.std_errors.to_numpy(), rtol=1e-8)
    f_ref = ref.first_stage.diagnostics["f.stat"].to_numpy()
    if cov_type == "unadjusted":  # linearmodels' first-stage F follows the fit's covariance
        np.testing.assert_allclose(ours.first_stage_f.numpy(), f_ref / 1.0, rtol=0.05)


def test_tsls_with_z_equal_x_is_ols(linear):
    ours = two_stage_least_squares(linear.y, linear.x, linear.x)
    design = torch.cat([torch.ones(400, 1, dtype=torch.float64), linear.x], 1)
    ref = torch.linalg.lstsq(design, linear.y[:, None]).solution[:, 0]
    torch.testing.assert_close(ours.coef, ref, rtol=1e-10, atol=1e-12)


def test_ols_biased_tsls_not_over_seeds():
    ols, tsls = [], []
    for s in range(20):
        d = make_iv_data(1000, confounding=0.8, generator=s)
        ols.append(two_stage_least_squares(d.y, d.x, d.x).effect.item())
        tsls.append(two_stage_least_squares(d.y, d.x, d.z).effect.item())
    # OLS converges to 1 + 2 rho / (s^2 + 2) = 1.533
    assert abs(np.mean(ols) - (1 + 1.6 / 3)) < 0.03, np.mean(ols)
    assert abs(np.mean(tsls) - 1.0) < 0.03, np.mean(tsls)


def test_kiv_linear_no_split_equals_tsls(linear):
    k = kernel_iv(linear.x, linear.y, linear.z, kernel="linear", lam=1e-10, xi=1e-10, sample_split=False)
    t = two_stage_least_squares(linear.y, linear.x, linear.z, intercept=False)
    torch.testing.assert_close(k.alpha @ k.x_train, t.effect, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(k.predict(linear.x_test), linear.x_test @ t.effect, rtol=1e-6, atol=1e-7)


def test_kiv_linear_split_equals_split_sample_tsls(linear):
    k = kernel_iv(linear.x, linear.y, linear.z, kernel="linear", lam=1e-10, xi=1e-10, split=0.4)
    n = 160
    x1, z1, z2, y2 = linear.x[:n], linear.z[:n], linear.z[n:], linear.y[n:]
    pi = torch.linalg.lstsq(z1, x1).solution  # first stage on sample 1
    xhat2 = z2 @ pi
    beta = torch.linalg.lstsq(xhat2, y2[:, None]).solution[:, 0]  # second stage on sample 2
    torch.testing.assert_close(k.alpha @ k.x_train, beta, rtol=1e-6, atol=1e-8)


def test_kiv_matches_paper_formula_and_tuning_curves():
    d = make_iv_data(120, design="sigmoid", generator=2)
    grid = torch.logspace(-5, 0, 6, dtype=torch.float64)
    fit = kernel_iv(d.x, d.y, d.z, lam_grid=grid, xi_grid=grid)
    n = m = 60
    x1, z1, y1, x2, z2, y2 = d.x[:n], d.z[:n], d.y[:n], d.x[n:], d.z[n:], d.y[n:]
    lx, lz = fit.lengthscale_x, fit.lengthscale_z
    kxx, kzz, kzz2 = _gram(x1, x1, "gaussian", lx), _gram(z1, z1, "gaussian", lz), _gram(z1, z2, "gaussian", lz)
    kx2x2, kx2x = _gram(x2, x2, "gaussian", lx), _gram(x2, x1, "gaussian", lx)
    # stage-1 loss, brute force per lambda (the paper's Appendix formula)
    for lam, loss in zip(grid, fit.stage1_loss):
        gamma = torch.linalg.solve(kzz + n * lam * torch.eye(n, dtype=torch.float64), kzz2)
        ref = torch.trace(kx2x2 - 2 * kx2x @ gamma + gamma.T @ kxx @ gamma) / m
        torch.testing.assert_close(loss, ref, rtol=1e-7, atol=1e-9)
    # stage-2 loss and alpha: the paper's (W W' + m xi K)^+ W y formula, via a pseudo-inverse
    gamma = torch.linalg.solve(kzz + n * fit.lam * torch.eye(n, dtype=torch.float64), kzz2)
    w = kxx @ gamma
    for xi, loss in zip(grid, fit.stage2_loss):
        alpha = torch.linalg.lstsq(w @ w.T + m * xi * kxx, (w @ y2)[:, None], driver="gelsd").solution[:, 0]
        ref = ((y1 - kxx @ alpha) ** 2).mean()
        torch.testing.assert_close(loss, ref, rtol=1e-4, atol=1e-6)
    assert fit.lam == float(grid[fit.stage1_loss.argmin()])
    assert fit.xi == float(grid[fit.stage2_loss.argmin()])


def test_kiv_beats_tsls_on_the_sigmoid_design():
    d = make_iv_data(1000, design="sigmoid", confounding=0.5, generator=4)
    fit = kernel_iv(d.x, d.y, d.z)
    t = two_stage_least_squares(d.y, d.x, d.z)
    mse_kiv = ((fit.predict(d.x_test) - d.f_test) ** 2).mean()
    mse_tsls = ((t.coef[0] + d.x_test[:, 0] * t.coef[1] - d.f_test) ** 2).mean()
    assert mse_kiv < 0.7 * mse_tsls, (mse_kiv, mse_tsls)


def test_tsls_bad_inputs(linear):
    with pytest.raises(ValueError, match="order condition"):
        two_stage_least_squares(linear.y, torch.cat([linear.x] * 3, 1), linear.z)
    with pytest.raises(ValueError, match="rank condition"):
        two_stage_least_squares(linear.y, torch.cat([linear.x, linear.x], 1), linear.z)
    with pytest.raises(TypeError, match="convert one explicitly"):
        two_stage_least_squares(linear.y.float(), linear.x, linear.z)


def test_kiv_bad_inputs(linear):
    with pytest.raises(ValueError, match="give lam and xi"):
        kernel_iv(linear.x, linear.y, linear.z, sample_split=False)
    fit = kernel_iv(linear.x, linear.y, linear.z, lam=1e-3, xi=1e-3)
    with pytest.raises(ValueError, match="convert x"):
        fit.predict(linear.x_test.float())


# --------------------------------------------------------------------------- synthetic control


def _scaled_predictors(p, covariates=True):
    x = torch.cat([p.outcomes[: p.t0], p.covariates] if covariates else [p.outcomes[: p.t0]]).numpy()
    return x / x.std(1, ddof=1, keepdims=True)


def test_synthetic_control_matches_cvxpy():
    cp = pytest.importorskip("cvxpy")
    p = make_factor_panel(20, 40, 30, effect=2.0, generator=1)
    v = torch.rand(33, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    fit = synthetic_control(p.outcomes, p.t0, covariates=p.covariates, v=v)
    xs = _scaled_predictors(p)
    vn = (v / v.sum()).numpy()
    w = cp.Variable(19)
    obj = cp.sum_squares(cp.multiply(np.sqrt(vn), xs[:, 0] - xs[:, 1:] @ w))
    cp.Problem(cp.Minimize(obj), [w >= 0, cp.sum(w) == 1]).solve(solver=cp.CLARABEL)
    np.testing.assert_allclose(fit.weights.numpy(), w.value, atol=1e-6)
    assert abs(float(fit.weights.sum()) - 1) < 1e-12 and float(fit.weights.min()) >= 0


def test_synthetic_control_matches_pysyncon():
    pd = pytest.importorskip("pandas")
    synth = pytest.importorskip("pysyncon")
    p = make_factor_panel(12, 30, 20, effect=1.0, generator=5)
    v = torch.ones(23, dtype=torch.float64)
    fit = synthetic_control(p.outcomes, p.t0, covariates=p.covariates, v=v)
    xs = _scaled_predictors(p)
    # pysyncon's own inner QP (SLSQP), with a tolerance tight enough to converge
    w, _ = synth.Synth.w_optimize(V_mat=np.diag(v.numpy() / 23), X0=xs[:, 1:], X1=xs[:, 0],
                                  qp_options={"maxiter": 5000, "ftol": 1e-15})
    np.testing.assert_allclose(fit.weights.numpy(), w, atol=1e-4)
    # and its public fit with custom_V (default SLSQP tolerance): our objective is never worse
    x = torch.cat([p.outcomes[: p.t0], p.covariates]).numpy()
    names = [f"u{i}" for i in range(12)]
    df = pd.DataFrame(x, columns=names)
    z = pd.DataFrame(p.outcomes[: p.t0].numpy(), columns=names)
    s = synth.Synth()
    s.fit(X0=df[names[1:]], X1=df["u0"], Z0=z[names[1:]], Z1=z["u0"], custom_V=v.numpy() / 23)

    def loss(wt):
        r = xs[:, 0] - xs[:, 1:] @ wt
        return float(r @ r)

    assert loss(fit.weights.numpy()) <= loss(np.asarray(s.W)) + 1e-12


def test_synthetic_control_recovers_effect_and_placebos_are_consistent():
    p = make_factor_panel(15, 40, 30, effect=2.0, noise=0.05, generator=3)
    fit = synthetic_control(p.outcomes, p.t0)
    assert abs(fit.effect - 2.0) < 0.15, fit.effect
    pl = placebo_test(p.outcomes, p.t0)
    assert pl.p_value == pytest.approx(1 / 15)
    for i in (0, 4):  # the batched placebo equals a one-unit fit
        one = synthetic_control(p.outcomes, p.t0, treated=i)
        torch.testing.assert_close(pl.gaps[:, i], one.gap, rtol=1e-9, atol=1e-9)
    itp = in_time_placebo(p.outcomes, p.t0, 20)
    assert abs(itp.effect) < 0.15, itp.effect
    assert itp.gap.shape == (30,)


def test_optimized_v_fits_the_pre_period_better():
    p = make_factor_panel(15, 30, 20, effect=1.0, noise=0.3, generator=2)
    eq = synthetic_control(p.outcomes, p.t0, covariates=p.covariates, v="equal")
    opt = synthetic_control(p.outcomes, p.t0, covariates=p.covariates, v="optimize", max_iter=2000)
    assert opt.pre_rmspe <= eq.pre_rmspe + 1e-12, (opt.pre_rmspe, eq.pre_rmspe)
    assert abs(float(opt.v.sum()) - 1) < 1e-12 and float(opt.v.min()) >= 0


@pytest.mark.slow
def test_optimized_v_matches_pysyncon_outer_problem():
    pd = pytest.importorskip("pandas")
    synth = pytest.importorskip("pysyncon")
    p = make_factor_panel(20, 40, 30, effect=2.0, noise=0.3, generator=1)
    opt = synthetic_control(p.outcomes, p.t0, covariates=p.covariates, v="optimize")
    x = torch.cat([p.outcomes[: p.t0], p.covariates]).numpy()
    names = [f"u{i}" for i in range(20)]
    frame, outc = pd.DataFrame(x, columns=names), pd.DataFrame(p.outcomes[: p.t0].numpy(), columns=names)
    s = synth.Synth()
    s.fit(X0=frame[names[1:]], X1=frame["u0"], Z0=outc[names[1:]], Z1=outc["u0"])
    # a non-convex outer problem: both are local searches; ours must be at least as good (1e-3 slack)
    assert opt.pre_rmspe**2 <= s.loss_V * (1 + 1e-3), (opt.pre_rmspe**2, s.loss_V)


@pytest.mark.slow
def test_placebo_p_values_uniform_under_the_null():
    from scipy import stats

    pv = [placebo_test(make_factor_panel(20, 30, 20, treated_in_hull=False, generator=s).outcomes, 20).p_value
          for s in range(400)]
    # discrete uniform on {1/20, ..., 1}: chi-square over the 20 values
    counts = np.bincount(np.rint(np.array(pv) * 20).astype(int) - 1, minlength=20)
    assert stats.chisquare(counts).pvalue > 0.001, counts


@pytest.mark.gpu
def test_gpu_core_path():
    d = make_iv_data(300, design="sigmoid", generator=0, device="cuda")
    fit = kernel_iv(d.x, d.y, d.z)
    assert fit.predict(d.x_test).device.type == "cuda"
    t = two_stage_least_squares(d.y, d.x, d.z)
    assert t.coef.device.type == "cuda"
    p = make_factor_panel(10, 30, 20, effect=1.0, generator=0, device="cuda")
    assert synthetic_control(p.outcomes, p.t0).weights.device.type == "cuda"
    assert placebo_test(p.outcomes, p.t0).gaps.device.type == "cuda"
    from nips2019.causal import fit_masked_policy, make_braking_episodes

    demo = make_braking_episodes(20, generator=0, device="cuda")
    pol = fit_masked_policy(demo.obs, demo.actions, (1, 0))
    assert make_braking_episodes(5, policy=pol, generator=1, device="cuda").success.device.type == "cuda"


# --------------------------------------------------------------------------- causal confusion


def test_masked_policy_matches_sklearn_logistic_regression():
    lm = pytest.importorskip("sklearn.linear_model")
    from nips2019.causal import fit_masked_policy, make_braking_episodes

    data = make_braking_episodes(100, noise=5.0, generator=0)
    pol = fit_masked_policy(data.obs, data.actions, (1, 1), reg=1e-3)
    x = ((data.obs - pol.mean) / pol.scale).numpy()
    n = len(x)
    ref = lm.LogisticRegression(C=1 / (n * 1e-3), tol=1e-12, max_iter=10_000).fit(x, data.actions.numpy())
    np.testing.assert_allclose(pol.weight.numpy(), ref.coef_[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(pol.bias.item(), ref.intercept_[0], rtol=1e-4, atol=1e-6)
    masked = fit_masked_policy(data.obs, data.actions, (1, 0))
    assert masked.weight[1].item() == 0.0


def test_causal_confusion_reversal_and_mask_search():
    from nips2019.causal import fit_masked_policy, intervention_mask_search, make_braking_episodes

    demo = make_braking_episodes(300, noise=5.0, generator=0)
    test = make_braking_episodes(300, noise=5.0, generator=1)
    full = fit_masked_policy(demo.obs, demo.actions, (1, 1))
    causal = fit_masked_policy(demo.obs, demo.actions, (1, 0))
    acc = {k: (p.act(test.obs) == test.actions).double().mean().item() for k, p in [("full", full), ("causal", causal)]}
    succ = {k: make_braking_episodes(300, policy=p, noise=5.0, generator=2).success.double().mean().item()
            for k, p in [("full", full), ("causal", causal)]}
    assert acc["full"] > acc["causal"] + 0.1, acc  # the nuisance helps offline ...
    assert succ["causal"] > succ["full"] + 0.1, succ  # ... and hurts in closed loop
    cands = [fit_masked_policy(demo.obs, demo.actions, m) for m in [(1, 1), (1, 0), (0, 1), (0, 0)]]
    found = intervention_mask_search(cands, generator=3)
    assert found.best == (1, 0) and found.n_queries == 160, found
