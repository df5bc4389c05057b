"""Reference tests for nips2019.pointprocess: naive loops, closed forms, Monte Carlo, KS tests."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from nips2019.pointprocess import (
    HawkesEvents,
    fit_hawkes,
    granger_graph,
    hawkes_compensator,
    hawkes_expected_count,
    hawkes_log_likelihood,
    simulate_hawkes,
    time_rescaling_test,
)

F64 = torch.float64
MU3 = torch.tensor([0.3, 0.5, 0.2], dtype=F64)
A3 = torch.tensor([[0.2, 0.0, 0.3], [0.5, 0.1, 0.0], [0.0, 0.4, 0.2]], dtype=F64)
B3 = torch.tensor([[1.0, 2.0, 3.0], [1.5, 1.0, 2.0], [1.0, 1.0, 2.5]], dtype=F64)


def _naive_intensity(ev, mu, a, b, t, i):
    ts, ms = ev.times.numpy(), ev.marks.numpy()
    past = ts < t
    return mu[i].item() + sum(a[i, m].item() * math.exp(-b[i, m].item() * (t - s)) for s, m in zip(ts[past], ms[past]))


def _naive_loglik(ev, mu, a, b):
    ll = sum(math.log(_naive_intensity(ev, mu, a, b, t, m)) for t, m in zip(ev.times.tolist(), ev.marks.tolist()))
    for i in range(len(mu)):
        comp = mu[i].item() * ev.t_max
        for s, m in zip(ev.times.tolist(), ev.marks.tolist()):
            comp += a[i, m].item() / b[i, m].item() * (1 - math.exp(-b[i, m].item() * (ev.t_max - s)))
        ll -= comp
    return ll


@pytest.fixture(scope="module")
def ev3():
    return simulate_hawkes(MU3, A3, B3, 150.0, generator=3)


def test_log_likelihood_matches_naive_loop(ev3):
    assert len(ev3.times) > 128  # spans several blocks of the recursion
    ours = float(hawkes_log_likelihood(ev3, MU3, A3, B3))
    assert ours == pytest.approx(_naive_loglik(ev3, MU3, A3, B3), rel=1e-12, abs=1e-9)


def test_compensator_matches_quadrature(ev3):
    comp = hawkes_compensator(ev3, MU3, A3, B3)
    ts, ms = ev3.times.numpy(), ev3.marks.numpy()
    a, b = A3.numpy(), B3.numpy()
    for k in (5, 60, 200):
        t, i = ts[k], ms[k]
        # trapezoid rule on a fine grid whose knots include every event time (the jumps)
        knots = np.concatenate([[0.0], ts[:k], [t]])
        pieces = [np.linspace(lo, hi, 1000) for lo, hi in zip(knots[:-1], knots[1:]) if hi > lo]
        total = 0.0
        for g in pieces:
            lag = g[:, None] - ts[None, :k]
            on = lag >= 0
            # right-continuous at the knots except the left end of each piece (left limit)
            on[0] = lag[0] > 0
            lam = MU3[i].item() + (a[i, ms[:k]] * np.exp(-b[i, ms[:k]] * np.where(on, lag, 0)) * on).sum(1)
            total += np.trapezoid(lam, g)
        assert comp[k].item() == pytest.approx(total, rel=1e-4)


def test_event_count_matches_stationary_formula():
    mu, a, beta, t = torch.tensor([1.0], dtype=F64), torch.tensor([[0.6]], dtype=F64), 1.5, 200.0
    evs = simulate_hawkes(mu, a, beta, t, n_realizations=200, generator=0)
    n = np.array([len(e.times) for e in evs])
    expected = float(hawkes_expected_count(mu, a, beta, t))
    assert expected == pytest.approx(1.0 * t / (1 - 0.6 / 1.5))
    # sd of N(T) ~ sqrt(mu T) / (1 - G)^{3/2}; the transient from an empty start costs < 1 event
    se = math.sqrt(t) / (1 - 0.4) ** 1.5 / math.sqrt(len(n))
    assert abs(n.mean() - expected) < 4 * se, (n.mean(), expected, se)


def test_multivariate_counts_match_stationary_formula():
    evs = simulate_hawkes(MU3, A3, B3, 100.0, n_realizations=100, generator=1)
    counts = np.array([np.bincount(e.marks.numpy(), minlength=3) for e in evs])
    expected = hawkes_expected_count(MU3, A3, B3, 100.0).numpy()
    se = counts.std(0, ddof=1) / math.sqrt(len(counts))
    assert (np.abs(counts.mean(0) - expected) < 4 * se + 1.0).all(), (counts.mean(0), expected, se)


def test_time_rescaling_under_truth_and_misspecification(ev3):
    pvals = [time_rescaling_test(simulate_hawkes(MU3, A3, B3, 100.0, generator=s), MU3, A3, B3).p_value
             for s in range(20)]
    assert np.mean(np.array(pvals) < 0.05) <= 0.2, pvals
    big = simulate_hawkes(MU3, A3, B3, 1000.0, generator=7)
    poisson = time_rescaling_test(big, hawkes_expected_count(MU3, A3, B3, 1.0), torch.zeros(3, 3, dtype=F64), 1.0)
    assert poisson.p_value < 1e-3, poisson.p_value
    assert stats.kstest(time_rescaling_test(big, MU3, A3, B3).intervals.numpy(), "expon").pvalue > 1e-3


def test_mle_within_two_standard_errors_over_seeds():
    mu = torch.tensor([0.5, 0.3], dtype=F64)
    a = torch.tensor([[0.4, 0.0], [0.5, 0.3]], dtype=F64)
    inside, total = 0, 0
    for s in range(6):
        fit = fit_hawkes(simulate_hawkes(mu, a, 1.2, 400.0, generator=s))
        assert fit.converged
        est = torch.cat([fit.baseline, fit.adjacency[a > 0], fit.decay[None]])
        se = torch.cat([fit.baseline_stderr, fit.adjacency_stderr[a > 0], fit.decay_stderr[None]])
        truth = torch.cat([mu, a[a > 0], torch.tensor([1.2], dtype=F64)])
        inside += int(((est - truth).abs() < 2 * se).sum())
        total += len(truth)
    assert inside / total >= 0.85, inside / total  # 95% nominal


def test_mle_with_fixed_decay_is_the_concave_optimum(ev3):
    fit = fit_hawkes(ev3, decay=1.0)
    ll = hawkes_log_likelihood(ev3, fit.baseline, fit.adjacency, 1.0)
    assert float(ll) == pytest.approx(fit.log_likelihood, rel=1e-9)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):  # random feasible perturbations never do better
        da = (fit.adjacency + 0.02 * torch.rand(3, 3, generator=g, dtype=F64)).clamp_min(0)
        assert float(hawkes_log_likelihood(ev3, fit.baseline, da, 1.0)) <= fit.log_likelihood + 1e-8


def test_granger_graph_recovery_5d():
    d = 5
    truth = torch.zeros(d, d, dtype=torch.bool)
    for i, j in [(1, 0), (2, 1), (3, 1), (4, 3), (0, 4)]:
        truth[i, j] = True
    a = 0.15 * torch.eye(d, dtype=F64) + 0.45 * truth.to(F64)
    ev = simulate_hawkes(torch.full((d,), 0.2, dtype=F64), a, 1.0, 1500.0, generator=5)
    g = granger_graph(fit_hawkes(ev, decay=1.0), truth=truth)
    assert g.precision >= 0.8 and g.recall == 1.0, (g.precision, g.recall, g.adjacency)


def test_bad_inputs():
    ev = HawkesEvents(torch.tensor([2.0, 1.0], dtype=F64), torch.tensor([0, 0]), 3.0, 1)
    with pytest.raises(ValueError, match="sorted"):
        hawkes_log_likelihood(ev, torch.ones(1, dtype=F64), torch.zeros(1, 1, dtype=F64), 1.0)
    with pytest.raises(ValueError, match="max_events"):
        simulate_hawkes(torch.ones(1, dtype=F64), torch.full((1, 1), 2.0, dtype=F64), 1.0, 1e4, max_events=500,
                        generator=0)
    with pytest.raises(ValueError, match="not stationary"):
        hawkes_expected_count(torch.ones(1, dtype=F64), torch.full((1, 1), 2.0, dtype=F64), 1.0, 1.0)


@pytest.mark.gpu
def test_gpu_core_path():
    mu, a = MU3.cuda(), A3.cuda()
    ev = simulate_hawkes(mu, a, 1.0, 100.0, generator=0)
    assert ev.times.device.type == "cuda"
    ll_gpu = hawkes_log_likelihood(ev, mu, a, 1.0)
    ev_cpu = HawkesEvents(ev.times.cpu(), ev.marks.cpu(), ev.t_max, 3)
    torch.testing.assert_close(ll_gpu.cpu(), hawkes_log_likelihood(ev_cpu, MU3, A3, 1.0))
    fit = fit_hawkes(ev, decay=1.0)
    assert fit.adjacency.device.type == "cuda"
