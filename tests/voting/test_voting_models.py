"""Preference learning against scikit-learn and scipy; sampling against its analytic probabilities."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.special import log_ndtr

from nips2019.voting import (
    agreement,
    fit_preferences,
    make_dilemmas,
    make_voters,
    predict_utilities,
    rankings_from_utilities,
    sample_comparisons,
    thurstone_rankings,
    vote,
)


@pytest.fixture(scope="module")
def data():
    beta = make_voters(6, 3, spread=1.0, generator=0)
    return beta, sample_comparisons(beta, 40, generator=1)


def test_bradley_terry_matches_sklearn_logistic_regression(data):
    from sklearn.linear_model import LogisticRegression

    _, c = data
    reg = 0.5
    fit = fit_preferences(c.diff, c.y, model="bradley_terry", reg=reg)
    assert fit.converged
    for i in range(c.diff.shape[0]):
        lr = LogisticRegression(C=1 / reg, fit_intercept=False, tol=1e-12, max_iter=10_000)
        lr.fit(c.diff[i].numpy(), c.y[i].numpy())
        np.testing.assert_allclose(fit.weights[i].numpy(), lr.coef_[0], atol=1e-6)


def test_thurstone_matches_scipy_minimize(data):
    _, c = data
    reg = 0.5
    fit = fit_preferences(c.diff, c.y, model="thurstone", reg=reg)
    for i in range(c.diff.shape[0]):
        d, s = c.diff[i].numpy(), 2 * c.y[i].numpy() - 1

        def f(b):
            return -log_ndtr(s * (d @ b)).sum() + 0.5 * reg * b @ b

        ref = minimize(f, np.zeros(3), method="BFGS", options=dict(gtol=1e-10)).x
        np.testing.assert_allclose(fit.weights[i].numpy(), ref, atol=1e-5)
        assert abs(float(fit.loss[i]) - f(ref)) < 1e-8


def test_separable_data_stays_finite():
    diff = torch.tensor([[[1.0, 0.0], [2.0, 1.0]]], dtype=torch.float64)
    y = torch.ones(1, 2, dtype=torch.float64)
    for model in ("thurstone", "bradley_terry"):
        fit = fit_preferences(diff, y, model=model, reg=1e-3)
        assert fit.converged and torch.isfinite(fit.weights).all()


def test_mle_is_consistent():
    beta = torch.tensor([[1.5, -1.0, 0.5], [-0.5, 2.0, 0.0]], dtype=torch.float64)
    errs = []
    for k in (200, 5000):
        c = sample_comparisons(beta, k, generator=k)
        errs.append(float((fit_preferences(c.diff, c.y, reg=1e-3).weights - beta).norm(dim=1).max()))
    assert errs[1] < 0.15 and errs[1] < errs[0] / 2, errs


@pytest.mark.parametrize("model, cdf", [("thurstone", lambda z: 0.5 * (1 + torch.erf(z / math.sqrt(2)))),
                                        ("bradley_terry", torch.sigmoid)])
def test_sampled_outcomes_follow_the_model(model, cdf):
    beta = torch.tensor([[1.0, -0.5]], dtype=torch.float64)
    c = sample_comparisons(beta, 40_000, model=model, generator=2)
    p = cdf(c.diff[0] @ beta[0])
    gap = float(c.y.mean() - p.mean())
    assert abs(gap) < 4 * math.sqrt(0.25 / 40_000), gap
    # and per bin of the predicted probability
    hi = p > 0.8
    assert abs(float(c.y[0][hi].mean() - p[hi].mean())) < 0.02


def test_thurstone_rankings_pairwise_probability():
    u = torch.tensor([[0.0, 0.5]], dtype=torch.float64).expand(50_000, 2).contiguous()
    r = thurstone_rankings(u, scale=1.0, generator=3)
    p_hat = float((r[:, 0] == 1).double().mean())
    p = 0.5 * (1 + math.erf(0.5 / math.sqrt(2) / math.sqrt(2)))  # Phi(0.5 / sqrt(2))
    assert abs(p_hat - p) < 4 * math.sqrt(p * (1 - p) / 50_000), (p_hat, p)
    assert torch.equal(thurstone_rankings(u[:3], scale=0.0), rankings_from_utilities(u[:3]))


def test_agreement_of_identical_and_reversed_profiles():
    beta = make_voters(9, 3, generator=4)
    dil = make_dilemmas(30, 4, 3, generator=5)
    r = rankings_from_utilities(predict_utilities(beta, dil))
    assert agreement(r, r) == {rule: 1.0 for rule in ("borda", "plurality", "copeland", "maximin", "kemeny")}
    assert agreement(r, r.flip(-1), "borda")["borda"] < 0.2
    with pytest.raises(ValueError, match="rules"):
        agreement(r, r, ["approval"])
    with pytest.raises(ValueError, match="predicted_rankings"):
        agreement(r, r[:5])


def test_learned_models_agree_more_with_more_data():
    beta = make_voters(30, 4, spread=2.0, generator=6)
    dil = make_dilemmas(400, 4, 4, generator=7)
    truth = rankings_from_utilities(predict_utilities(beta, dil))
    rates = []
    for k in (5, 200):
        c = sample_comparisons(beta, k, generator=8)
        fit = fit_preferences(c.diff, c.y)
        rates.append(agreement(truth, rankings_from_utilities(predict_utilities(fit.weights, dil)), "borda")["borda"])
    assert rates[1] > rates[0] + 0.05 and rates[1] > 0.9, rates


def test_bad_inputs():
    with pytest.raises(ValueError, match="y"):
        fit_preferences(torch.zeros(1, 2, 2, dtype=torch.float64), torch.tensor([[0.0, 2.0]], dtype=torch.float64))
    with pytest.raises(TypeError, match="y"):
        fit_preferences(torch.zeros(1, 2, 2, dtype=torch.float64), torch.tensor([[0.0, 1.0]], dtype=torch.float32))
    with pytest.raises(ValueError, match="weights"):
        predict_utilities(torch.zeros(2, 3, dtype=torch.float64), torch.zeros(4, 2, dtype=torch.float64))


@pytest.mark.gpu
def test_gpu_fit_and_vote():
    beta = make_voters(8, 3, generator=0)
    c = sample_comparisons(beta, 50, generator=1)
    ref = fit_preferences(c.diff, c.y)
    fit = fit_preferences(c.diff.cuda(), c.y.cuda())
    assert fit.weights.device.type == "cuda"
    torch.testing.assert_close(fit.weights.cpu(), ref.weights, atol=1e-8, rtol=1e-8)
    dil = make_dilemmas(20, 4, 3, generator=2, device="cuda")
    r = rankings_from_utilities(predict_utilities(fit.weights, dil))
    assert vote(r, "kemeny").winner.device.type == "cuda"
    # same seed, same comparisons on either device
    c2 = sample_comparisons(beta.cuda(), 50, generator=1)
    torch.testing.assert_close(c2.diff.cpu(), c.diff)
