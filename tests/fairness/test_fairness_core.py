"""Reference tests for nips2019.fairness: fairlearn, scikit-learn, brute force and closed forms."""

import numpy as np
import pytest
import torch

from nips2019.fairness import (
    calibration_by_group,
    chouldechova_fpr,
    consistency_score,
    equalized_odds_postprocess,
    equalized_odds_predict,
    fair_pca,
    fairness_gaps,
    group_rates,
    make_credit_data,
)

fl_metrics = pytest.importorskip("fairlearn.metrics")


@pytest.fixture(scope="module")
def data():
    return make_credit_data(3000, base_rates=(0.7, 0.45), generator=3)


def _three_groups(data):
    g = torch.randint(0, 3, data.group.shape, generator=torch.Generator().manual_seed(0))
    return g


@pytest.mark.parametrize("n_groups", [2, 3])
def test_group_rates_match_fairlearn_metricframe(data, n_groups):
    group = data.group if n_groups == 2 else _three_groups(data)
    y_pred = (data.score > 0.55).long()
    ours = group_rates(data.y, y_pred, group)
    from sklearn.metrics import accuracy_score, precision_score
    mf = fl_metrics.MetricFrame(
        metrics=dict(selection_rate=fl_metrics.selection_rate, tpr=fl_metrics.true_positive_rate,
                     fpr=fl_metrics.false_positive_rate, fnr=fl_metrics.false_negative_rate,
                     ppv=precision_score, accuracy=accuracy_score, count=fl_metrics.count),
        y_true=data.y.numpy(), y_pred=y_pred.numpy(), sensitive_features=group.numpy())
    by = mf.by_group
    for name in ["selection_rate", "tpr", "fpr", "fnr", "ppv", "accuracy", "count"]:
        np.testing.assert_allclose(getattr(ours, name).numpy(), by[name].to_numpy(dtype=float), rtol=0,
                                   atol=1e-12, err_msg=name)
    assert ours.groups.tolist() == list(by.index)


@pytest.mark.parametrize("threshold", [0.3, 0.55, 0.8])
def test_gaps_match_fairlearn_difference_functions(data, threshold):
    y_pred = (data.score > threshold).long()
    yt, yp, a = data.y.numpy(), y_pred.numpy(), data.group.numpy()
    gaps = fairness_gaps(data.y, y_pred, data.group)
    ref = {
        "demographic_parity_difference": fl_metrics.demographic_parity_difference(
            yt, yp, sensitive_features=a),
        "demographic_parity_ratio": fl_metrics.demographic_parity_ratio(yt, yp, sensitive_features=a),
        "equalized_odds_difference": fl_metrics.equalized_odds_difference(yt, yp, sensitive_features=a),
        "equalized_odds_ratio": fl_metrics.equalized_odds_ratio(yt, yp, sensitive_features=a),
        "equal_opportunity_difference": fl_metrics.equal_opportunity_difference(yt, yp, sensitive_features=a),
        "equal_opportunity_ratio": fl_metrics.equal_opportunity_ratio(yt, yp, sensitive_features=a),
    }
    for name, value in ref.items():
        assert abs(getattr(gaps, name) - value) <= 1e-12, (name, getattr(gaps, name), value)


def test_expected_rates_of_probabilities_equal_mean_of_draws(data):
    prob = data.score
    exact = group_rates(data.y, prob, data.group)
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([(torch.rand(prob.shape, generator=g, dtype=prob.dtype) < prob).long()
                         for _ in range(200)])
    tprs = torch.stack([group_rates(data.y, d, data.group).tpr for d in draws]).mean(0)
    torch.testing.assert_close(tprs, exact.tpr, atol=5e-3, rtol=0)


def test_chouldechova_identity_holds_per_group(data):
    for t in (0.3, 0.5, 0.7):
        r = group_rates(data.y, (data.score > t).long(), data.group)
        torch.testing.assert_close(chouldechova_fpr(r.base_rate, r.ppv, r.fnr), r.fpr, atol=1e-12, rtol=0)


def test_calibration_by_brute_force(data):
    cal = calibration_by_group(data.y, data.score, data.group, n_bins=5)
    s, y, a = data.score.numpy(), data.y.numpy(), data.group.numpy()
    for gi in range(2):
        ece = 0.0
        for b in range(5):
            m = (a == gi) & (np.minimum((s * 5).astype(int), 4) == b)
            if m.any():
                assert abs(cal.mean_score[gi, b].item() - s[m].mean()) < 1e-12
                ece += m.sum() / (a == gi).sum() * abs(y[m].mean() - s[m].mean())
        assert abs(cal.calibration_error[gi].item() - ece) < 1e-12
    # the generator's score is the exact posterior: calibrated within both groups
    assert cal.calibration_error.max() < 0.05


def test_consistency_matches_sklearn_neighbours(data):
    from sklearn.neighbors import NearestNeighbors
    x, y_pred = data.x[:500], (data.score[:500] > 0.5).long()
    nn = NearestNeighbors(n_neighbors=6).fit(x.numpy())
    idx = nn.kneighbors(x.numpy(), return_distance=False)[:, 1:]
    ref = 1 - np.abs(y_pred.numpy() - y_pred.numpy()[idx].mean(1)).mean()
    assert abs(consistency_score(x, y_pred, n_neighbors=5) - ref) < 1e-12


def test_postprocess_matches_or_beats_fairlearn(data):
    from fairlearn.postprocessing import ThresholdOptimizer
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Score(ClassifierMixin, BaseEstimator):
        def fit(self, x, y):
            self.fitted_ = True
            return self

        def predict(self, x):
            return np.asarray(x)[:, 0]

    post = equalized_odds_postprocess(data.score, data.y, data.group)
    prob = equalized_odds_predict(post, data.score, data.group, sample=False)
    gaps = fairness_gaps(data.y, prob, data.group)
    assert gaps.equalized_odds_difference < 1e-9
    err = 1 - float(group_rates(data.y, prob, torch.zeros_like(data.group)).accuracy)
    assert abs(err - post.error) < 1e-9
    opt = ThresholdOptimizer(estimator=Score().fit(None, None), constraints="equalized_odds", prefit=True,
                             predict_method="predict")
    feats = data.score.numpy()[:, None]
    opt.fit(feats, data.y.numpy(), sensitive_features=data.group.numpy())
    pmf = torch.as_tensor(opt._pmf_predict(feats, sensitive_features=data.group.numpy())[:, 1])
    err_fl = 1 - float(group_rates(data.y, pmf, torch.zeros_like(data.group)).accuracy)
    assert err <= err_fl + 1e-9  # the exact LP optimum is at least as good as the grid search
    assert err_fl - err < 1e-3  # and fairlearn's grid lands next to it
    # the sampled classifier reaches the expected rates up to sampling noise
    drawn = equalized_odds_predict(post, data.score, data.group, generator=0)
    assert fairness_gaps(data.y, drawn, data.group).equalized_odds_difference < 0.06


def test_postprocess_is_optimal_against_brute_force_on_a_tiny_problem():
    # two groups of 4: enumerate all deterministic threshold pairs and their mixtures on a grid
    score = torch.tensor([0.9, 0.2, 0.6, 0.4, 0.8, 0.1, 0.7, 0.3], dtype=torch.float64)
    y = torch.tensor([1, 0, 1, 0, 1, 0, 0, 1])
    a = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    post = equalized_odds_postprocess(score, y, a)
    from scipy.optimize import linprog
    best = np.inf
    # every feasible mixture is a point of both groups' hulls: solve the LP in (f, t) by hand
    pts = []
    for gi in (0, 1):
        s, yy = score[a == gi].numpy(), y[a == gi].numpy()
        ts = np.append(np.unique(s), 2.0)
        pts.append([((s >= t)[yy == 0].mean(), (s >= t)[yy == 1].mean()) for t in ts])
    for f in np.linspace(0, 1, 401):
        tmax = []
        for p in pts:
            # max t at this f over the convex hull of the group's points
            p = np.array(p)
            r = linprog(-p[:, 1], A_eq=np.vstack([np.ones(len(p)), p[:, 0]]), b_eq=[1, f],
                        bounds=[(0, None)] * len(p), method="highs")
            tmax.append(-r.fun if r.status == 0 else -np.inf)
        t = min(tmax)
        if np.isfinite(t):
            best = min(best, (4 * (1 - t) + 4 * f) / 8)
    assert post.error <= best + 1e-9
    assert best - post.error < 1e-2


def test_fair_pca_rank_and_equal_losses():
    g = torch.Generator().manual_seed(1)
    d = 6
    kw = dict(generator=g, dtype=torch.float64)
    a = torch.randn(200, d, **kw) @ torch.randn(d, d, **kw)
    b = torch.randn(150, d, **kw) @ torch.randn(d, d, **kw)
    for r in (1, 2, 3):
        res = fair_pca([a, b], r)
        assert res.rank == r
        torch.testing.assert_close(res.eigenvalues[:r], torch.ones(r, dtype=torch.float64), atol=1e-5, rtol=0)
        assert res.marginal_loss.min() >= res.pca_marginal_loss.min() - 1e-6
        assert float(res.marginal_loss.max() - res.marginal_loss.min()) < 1e-5


def test_fair_pca_beats_every_rank_one_projection_on_a_grid():
    # d = 2, r = 1: projections are lines at angle theta; brute force the worst-group loss
    g = torch.Generator().manual_seed(2)
    a = torch.randn(100, 2, generator=g, dtype=torch.float64) * torch.tensor([3.0, 1.0])
    b = torch.randn(80, 2, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2.0])
    res = fair_pca([a, b], 1, center=False)
    best = -np.inf
    for th in np.linspace(0, np.pi, 20001):
        u = np.array([np.cos(th), np.sin(th)])
        losses = []
        for x in (a.numpy(), b.numpy()):
            cov = x.T @ x / len(x)
            losses.append(u @ cov @ u - np.linalg.eigvalsh(cov)[-1])
        best = max(best, min(losses))
    assert res.rank == 1
    assert res.marginal_loss.min().item() >= best - 1e-9  # at least as good as every grid line
    assert res.marginal_loss.min().item() - best < 1e-3  # and the grid gets close to it


def test_credit_data_base_rates_and_reproducibility():
    d1 = make_credit_data(20000, base_rates=(0.8, 0.3), generator=5)
    d2 = make_credit_data(20000, base_rates=(0.8, 0.3), generator=5)
    assert torch.equal(d1.x, d2.x)
    for a, p in enumerate((0.8, 0.3)):
        assert abs(d1.y[d1.group == a].double().mean().item() - p) < 0.02


def test_bad_inputs():
    with pytest.raises(ValueError, match="n_neighbors must be <= n - 1"):
        consistency_score(torch.zeros(3, 2, dtype=torch.float64), torch.tensor([0, 1, 0]), n_neighbors=3)
    with pytest.raises(ValueError, match="needs both labels"):
        equalized_odds_postprocess(torch.tensor([0.1, 0.2, 0.3, 0.4]), torch.tensor([1, 1, 0, 1]),
                                   torch.tensor([0, 0, 1, 1]))
    with pytest.raises(TypeError, match="torch.Tensor"):
        group_rates(np.array([0, 1]), torch.tensor([0, 1]), torch.tensor([0, 1]))


@pytest.mark.gpu
def test_gpu_core_path(data):
    dev = "cuda"
    y, s, a = data.y.to(dev), data.score.to(dev), data.group.to(dev)
    r = group_rates(y, (s > 0.5).long(), a)
    ref = group_rates(data.y, (data.score > 0.5).long(), data.group)
    torch.testing.assert_close(r.tpr.cpu(), ref.tpr)
    post = equalized_odds_postprocess(s, y, a)
    prob = equalized_odds_predict(post, s, a, sample=False)
    assert prob.device.type == "cuda"
    assert fairness_gaps(y, prob, a).equalized_odds_difference < 1e-9
