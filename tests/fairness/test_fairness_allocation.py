"""Equalised-odds allocation of k goods vs scipy's linprog, and its failure of resource monotonicity."""

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from nips2019.fairness import equalized_odds_allocation


def _lp_efficiency(p, g, k):
    n = len(p)
    a_eq, b_eq = [np.ones(n)], [k]
    m0 = g == 0
    for a in np.unique(g)[1:]:
        ma = g == a
        for w in (p, 1 - p):
            row = np.zeros(n)
            row[m0] = w[m0] / w[m0].sum()
            row[ma] = -w[ma] / w[ma].sum()
            a_eq.append(row)
            b_eq.append(0.0)
    res = linprog(-p, A_eq=np.array(a_eq), b_eq=b_eq, bounds=[(0, 1)] * n, method="highs")
    assert res.status == 0
    return -res.fun


@pytest.mark.parametrize("n_groups", [2, 3])
def test_efficiency_equals_the_lp_optimum_and_constraints_hold(n_groups):
    rng = np.random.default_rng(n_groups)
    for _ in range(40):
        sizes = rng.integers(2, 6, n_groups)
        p = rng.uniform(0.02, 0.98, sizes.sum())
        g = np.repeat(np.arange(n_groups), sizes)
        k = float(rng.uniform(0, len(p)))
        res = equalized_odds_allocation(torch.tensor(p), torch.tensor(g), k)
        x = res.allocation.numpy()
        assert x.min() >= -1e-12 and x.max() <= 1 + 1e-12
        assert x.sum() == pytest.approx(k, abs=1e-9)
        for a in range(n_groups):
            m = g == a
            assert (x[m] @ p[m]) / p[m].sum() == pytest.approx(res.tpr, abs=1e-9)
            assert (x[m] @ (1 - p[m])) / (1 - p[m]).sum() == pytest.approx(res.fpr, abs=1e-9)
        assert res.efficiency == pytest.approx(_lp_efficiency(p, g, k), abs=1e-7)


def test_raising_k_can_take_a_good_away():
    prob = torch.tensor([0.68, 0.33, 0.31, 0.72, 0.71, 0.51], dtype=torch.float64)
    group = torch.tensor([0, 0, 0, 1, 1, 1])
    x3 = equalized_odds_allocation(prob, group, 3.0).allocation
    x4 = equalized_odds_allocation(prob, group, 4.0).allocation
    assert float(x3[2] - x4[2]) > 0.19  # the applicant with p = 0.31 loses a fifth of a loan


def test_extremes_and_errors():
    prob = torch.tensor([0.9, 0.2, 0.6, 0.4], dtype=torch.float64)
    group = torch.tensor([0, 0, 1, 1])
    assert torch.equal(equalized_odds_allocation(prob, group, 0.0).allocation, torch.zeros(4, dtype=torch.float64))
    assert torch.allclose(equalized_odds_allocation(prob, group, 4.0).allocation, torch.ones(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="k must be <= n = 4"):
        equalized_odds_allocation(prob, group, 5.0)
    with pytest.raises(ValueError, match="group 1 needs"):
        equalized_odds_allocation(torch.tensor([0.9, 0.2, 1.0, 1.0], dtype=torch.float64), group, 1.0)
