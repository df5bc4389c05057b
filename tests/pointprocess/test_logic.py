"""Reference tests for the temporal logic point process: naive loops, quadrature, moments, MLE."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from nips2019.pointprocess import (
    HawkesEvents,
    TemporalRule,
    fit_logic_rules,
    logic_compensator,
    logic_features,
    logic_intensity,
    logic_log_likelihood,
    simulate_logic,
)

F64 = torch.float64
RULES = [TemporalRule(2, (0,), 1.0), TemporalRule(2, (0, 1), 2.0), TemporalRule(2, (3,), 1.0),
         TemporalRule(1, (2,), 0.5)]
BASE = torch.log(torch.tensor([0.4, 0.4, 0.2, 0.4], dtype=F64))
W = torch.tensor([1.0, 1.5, 0.0, -0.7], dtype=F64)


def _naive_feature(ts, ms, rule, t):
    """All pairs checked by brute force (no binary search, no 'latest c' shortcut)."""
    ts, ms = np.asarray(ts), np.asarray(ms)
    ta = ts[(ms == rule.body[0]) & (ts < t) & (ts > t - rule.window)]
    if len(rule.body) == 1:
        return float(len(ta) > 0)
    tc = ts[(ms == rule.body[1]) & (ts < t)]
    return float(bool((ta[:, None] < tc[None, :]).any()))


def _naive_intensity(ts, ms, t, i):
    logit = BASE[i].item()
    for k, r in enumerate(RULES):
        if r.head == i:
            logit += W[k].item() * _naive_feature(ts, ms, r, t)
    return math.exp(logit)


@pytest.fixture(scope="module")
def ev():
    return simulate_logic(RULES, BASE, W, 30.0, generator=1)


def test_features_match_naive_loop(ev):
    ts, ms = ev.times.tolist(), ev.marks.tolist()
    q = torch.cat([torch.linspace(0, 30, 61, dtype=F64), ev.times[:15], ev.times[:15] + 1e-9])
    ours = logic_features(ev, RULES, q)
    ref = torch.tensor([[_naive_feature(ts, ms, r, t) for r in RULES] for t in q.tolist()], dtype=F64)
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)


def test_compensator_matches_quadrature(ev):
    ts, ms = ev.times.tolist(), ev.marks.tolist()
    q = torch.tensor([7.3, 18.0, 30.0], dtype=F64)
    comp = logic_compensator(ev, RULES, BASE, W, q)
    # adaptive quadrature of the naive intensity over a coarse grid (it finds the jumps itself)
    grid = np.linspace(0.0, 30.0, 31)
    jumps = np.concatenate([ev.times.numpy() + r.window for r in RULES] + [ev.times.numpy()])

    def quad(i, a, b):  # told where the event times and their window ends are (quad's `points`)
        pts = jumps[(jumps > a) & (jumps < b)]
        return integrate.quad(lambda s: _naive_intensity(ts, ms, s, i), a, b, points=pts if len(pts) else None,
                              limit=200, epsabs=1e-10)[0]

    for i in (1, 2):  # the heads of rules (types 0 and 3 are Poisson)
        parts = [quad(i, a, b) for a, b in zip(grid[:-1], grid[1:])]
        cum = np.concatenate([[0.0], np.cumsum(parts)])
        for a, t in enumerate(q.tolist()):
            k = int(np.searchsorted(grid, t, side="right")) - 1
            extra = quad(i, grid[k], t) if t > grid[k] else 0.0
            assert comp[a, i].item() == pytest.approx(cum[k] + extra, rel=1e-6, abs=1e-6)


def test_compensator_at_events_is_the_own_type_column(ev):
    at = logic_compensator(ev, RULES, BASE, W)
    full = logic_compensator(ev, RULES, BASE, W, ev.times)
    torch.testing.assert_close(at, full.gather(1, ev.marks[:, None]).squeeze(1))


def test_log_likelihood_matches_brute_force(ev):
    ts, ms = ev.times.tolist(), ev.marks.tolist()
    ll = sum(math.log(_naive_intensity(ts, ms, t, m)) for t, m in zip(ts, ms))
    ll -= float(logic_compensator(ev, RULES, BASE, W, torch.tensor([30.0], dtype=F64)).sum())
    assert float(logic_log_likelihood(ev, RULES, BASE, W)) == pytest.approx(ll, rel=1e-12)
    lam = logic_intensity(ev, RULES, BASE, W, ev.times).gather(1, ev.marks[:, None]).squeeze(1)
    ref = torch.tensor([_naive_intensity(ts, ms, t, m) for t, m in zip(ts, ms)], dtype=F64)
    torch.testing.assert_close(lam, ref)


def test_thinning_matches_the_exact_expected_count():
    """A -> B rule with A Poisson(rho): E N_B(T) = e^b int_0^T (1 + (e^w - 1)(1 - e^{-rho min(t, D)})) dt."""
    rho, b, w, d, t_max = 0.5, math.log(0.3), 1.2, 1.5, 100.0
    rules = [TemporalRule(1, (0,), d)]
    base = torch.tensor([math.log(rho), b], dtype=F64)
    evs = simulate_logic(rules, base, torch.tensor([w], dtype=F64), t_max, n_realizations=100, generator=0)
    n_b = np.array([int((e.marks == 1).sum()) for e in evs])
    n_a = np.array([int((e.marks == 0).sum()) for e in evs])
    p_on = (t_max - d) * (1 - math.exp(-rho * d)) + (d - (1 - math.exp(-rho * d)) / rho)  # int of P(phi = 1)
    expected = math.exp(b) * (t_max + (math.exp(w) - 1) * p_on)
    se = n_b.std(ddof=1) / math.sqrt(len(n_b))
    assert abs(n_b.mean() - expected) < 4 * se, (n_b.mean(), expected, se)
    assert abs(n_a.mean() - rho * t_max) < 4 * math.sqrt(rho * t_max / len(n_a))


def test_mle_recovers_weights_and_zeroes_the_wrong_rule():
    rules = RULES[:3]
    w = W[:3]
    ev = simulate_logic(rules, BASE, w, 1500.0, generator=2)
    fit = fit_logic_rules(ev, rules)
    assert fit.converged
    z = (fit.weights - w) / fit.weights_stderr
    assert bool((z.abs() < 3.5).all()), (fit.weights, fit.weights_stderr)
    assert abs(fit.weights[2].item()) < 3 * fit.weights_stderr[2].item()  # the rule D -> B is wrong
    # the optimum: zero gradient of the exact log-likelihood, and no better nearby point
    th = torch.cat([fit.base, fit.weights]).clone().requires_grad_(True)
    ll = logic_log_likelihood(ev, rules, th[:4], th[4:])
    (g,) = torch.autograd.grad(ll, th)
    assert float(g.abs().max()) < 1e-6
    assert float(ll.detach()) == pytest.approx(fit.log_likelihood, rel=1e-10)


def test_bad_inputs(ev):
    with pytest.raises(ValueError, match="window"):
        TemporalRule(0, (1,), 0.0)
    with pytest.raises(ValueError, match="body"):
        TemporalRule(0, (1, 2, 3), 1.0)
    with pytest.raises(ValueError, match="only 4 types"):
        logic_log_likelihood(ev, [TemporalRule(5, (0,), 1.0)], BASE, W[:1])
    with pytest.raises(ValueError, match="weights has 3 entries for 4 rules"):
        logic_log_likelihood(ev, RULES, BASE, W[:3])
    with pytest.raises(ValueError, match="never true|singular"):
        fit_logic_rules(HawkesEvents(ev.times, ev.marks.clamp_max(2), ev.t_max, 4), [TemporalRule(2, (3,), 1.0)])


@pytest.mark.gpu
def test_gpu_core_path():
    base, w = BASE.cuda(), W.cuda()
    ev = simulate_logic(RULES, base, w, 50.0, generator=0)
    assert ev.times.device.type == "cuda"
    cpu = HawkesEvents(ev.times.cpu(), ev.marks.cpu(), ev.t_max, 4)
    torch.testing.assert_close(logic_log_likelihood(ev, RULES, base, w).cpu(), logic_log_likelihood(cpu, RULES, BASE, W))
    assert fit_logic_rules(ev, RULES[:2]).weights.device.type == "cuda"
