"""Benchmarks for the fairness chapter, each against fairlearn on the same inputs.

Group rates of a thresholded score (``nips2019.fairness.group_rates``, one pass of one-hot
matrix products) against fairlearn 0.15's ``MetricFrame`` with five metrics (pandas group-by and
scikit-learn metrics per group); the equalised-odds post-processing LP
(``equalized_odds_postprocess``, scipy HiGHS over every threshold) against fairlearn's
``ThresholdOptimizer(constraints="equalized_odds")`` (ROC hulls and a 1000-point grid); and the
fair-PCA SDP (cvxpy + Clarabel) against ordinary PCA of the pooled data (no peer library).
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.run import Case
from nips2019.fairness import equalized_odds_postprocess, fair_pca, group_rates, make_credit_data


def _metricframe(data, y_pred):
    from fairlearn.metrics import (MetricFrame, false_negative_rate, false_positive_rate, selection_rate,
                                   true_positive_rate)
    from sklearn.metrics import precision_score

    metrics = dict(sr=selection_rate, tpr=true_positive_rate, fpr=false_positive_rate,
                   fnr=false_negative_rate, ppv=precision_score)
    yt, yp, a = data.y.numpy(), y_pred.numpy(), data.group.numpy()
    return lambda: MetricFrame(metrics=metrics, y_true=yt, y_pred=yp, sensitive_features=a).by_group


def _threshold_optimizer(data):
    from fairlearn.postprocessing import ThresholdOptimizer
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Score(ClassifierMixin, BaseEstimator):
        def fit(self, x, y):
            self.fitted_ = True
            return self

        def predict(self, x):
            return np.asarray(x)[:, 0]

    feats, y, a = data.score.numpy()[:, None], data.y.numpy(), data.group.numpy()

    def run():
        opt = ThresholdOptimizer(estimator=Score().fit(None, None), constraints="equalized_odds",
                                 prefit=True, predict_method="predict")
        return opt.fit(feats, y, sensitive_features=a)

    return run


def _pooled_pca(xs, r):
    def run():
        x = torch.cat(xs)
        x = x - x.mean(0)
        return torch.linalg.eigh(x.T @ x)[1][:, -r:]

    return run


def cases(quick: bool) -> list:
    out = []
    for n in ([5_000] if quick else [20_000, 200_000]):
        data = make_credit_data(n, generator=0)
        y_pred = (data.score >= 0.5).long()
        out.append(Case(name=f"group rates, {n} applicants, 2 groups",
                        ours=lambda d=data, p=y_pred: group_rates(d.y, p, d.group),
                        baselines={"fairlearn MetricFrame (5 metrics)": _metricframe(data, y_pred)},
                        note="same numbers to 1e-12 (tests/fairness)"))
        out.append(Case(name=f"equalised-odds post-processing, {n} applicants",
                        ours=lambda d=data: equalized_odds_postprocess(d.score, d.y, d.group),
                        baselines={"fairlearn ThresholdOptimizer": _threshold_optimizer(data)},
                        repeat=1 if n > 50_000 else 3,
                        note="exact LP over all thresholds vs a 1000-point grid; errors agree to 1e-3"))
    g = torch.Generator().manual_seed(0)
    for d in ([8] if quick else [8, 30]):
        xs = [torch.randn(2000, d, generator=g, dtype=torch.float64) * torch.linspace(3, 0.3, d),
              torch.randn(500, d, generator=g, dtype=torch.float64) * torch.linspace(0.3, 3, d)]
        out.append(Case(name=f"fair PCA SDP, d = {d}, r = 2, 2 groups",
                        ours=lambda xs=xs: fair_pca(xs, 2),
                        baselines={"ordinary PCA (eigh), not fair": _pooled_pca(xs, 2)},
                        repeat=1, note="cvxpy + Clarabel; the SDP has d(d+1)/2 variables"))
    return out
