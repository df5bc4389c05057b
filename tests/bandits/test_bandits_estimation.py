"""Adaptive experiments and propensity-weighted estimators: exact enumeration, Monte Carlo, references."""

import itertools
import math

import pytest
import torch

from nips2019.bandits import (AdaptiveExperiment, arm_estimates, policy_probabilities,
                              run_adaptive_experiment)

D = torch.float64


def _enumerate_tree(p_success, n_steps, **policy):
    """Every path of a Bernoulli bandit under a history-dependent policy, with its probability."""
    k = len(p_success)
    arms, rewards, props, weights = [], [], [], []
    for choice in itertools.product(range(k), repeat=n_steps):
        for outcome in itertools.product((0.0, 1.0), repeat=n_steps):
            counts, sums = torch.zeros(k, dtype=D), torch.zeros(k, dtype=D)
            prob, es = 1.0, []
            for w, y in zip(choice, outcome):
                e = policy_probabilities(counts, sums, **policy)
                es.append(e)
                prob *= float(e[w]) * (p_success[w] if y else 1 - p_success[w])
                counts[w] += 1
                sums[w] += y
            arms.append(choice)
            rewards.append(outcome)
            props.append(torch.stack(es))
            weights.append(prob)
    exp = AdaptiveExperiment(arms=torch.tensor(arms), rewards=torch.tensor(rewards, dtype=D),
                             propensities=torch.stack(props), means=torch.tensor(p_success, dtype=D))
    return exp, torch.tensor(weights, dtype=D)


@pytest.mark.parametrize("policy", [dict(policy="epsilon_greedy", epsilon=0.2, floor=0.05),
                                    dict(policy="thompson", floor=0.1)])
def test_ipw_and_aipw_unbiased_by_enumeration(policy):
    exp, w = _enumerate_tree([0.3, 0.7], 3, **policy)
    torch.testing.assert_close(w.sum(), torch.tensor(1.0, dtype=D), rtol=0, atol=1e-12)
    for method in ("ipw", "aipw"):
        expected = (w.unsqueeze(1) * arm_estimates(exp, method=method).estimate).sum(0)
        torch.testing.assert_close(expected, exp.means, rtol=0, atol=1e-12)
    # the sample mean, conditional on the arm having been pulled, is biased (downwards for both arms)
    onehot = torch.nn.functional.one_hot(exp.arms, 2).to(D)
    pulled = onehot.sum(1) > 0
    sm = arm_estimates(exp, method="sample_mean").estimate
    cond = (w.unsqueeze(1) * sm * pulled).sum(0) / (w.unsqueeze(1) * pulled).sum(0)
    assert bool((cond - exp.means < -1e-3).all()), cond - exp.means


def test_thompson_two_arm_closed_form_matches_monte_carlo():
    counts = torch.tensor([[3.0, 5.0], [0.0, 1.0]], dtype=D)
    sums = torch.tensor([[1.0, 3.0], [0.0, -0.4]], dtype=D)
    e = policy_probabilities(counts, sums, policy="thompson")
    v = 1 / (1 + counts)
    m = sums * v
    g = torch.Generator().manual_seed(1)
    draws = m + v.sqrt() * torch.randn(400_000, 2, 2, generator=g, dtype=D)
    mc = (draws[..., 0] > draws[..., 1]).double().mean(0)
    torch.testing.assert_close(e[:, 0], mc, rtol=0, atol=4e-3)


def test_thompson_many_arms_monte_carlo_against_quadrature():
    counts = torch.tensor([2.0, 4.0, 1.0], dtype=D)
    sums = torch.tensor([1.0, 1.0, 0.8], dtype=D)
    e = policy_probabilities(counts, sums, policy="thompson", n_draws=100_000, generator=0)
    v = 1 / (1 + counts)
    m, sd = sums * v, v.sqrt()
    # P(theta_k is the largest) = int pdf_k(x) prod_j cdf_j(x) dx, by the trapezoidal rule on a fine grid
    x = torch.linspace(-8, 8, 20_001, dtype=D).unsqueeze(1)
    pdf = torch.exp(-0.5 * ((x - m) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
    cdf = torch.special.ndtr((x - m) / sd)
    ref = torch.stack([torch.trapezoid(pdf[:, k] * cdf[:, [j for j in range(3) if j != k]].prod(1), x[:, 0])
                       for k in range(3)])
    torch.testing.assert_close(ref.sum(), torch.tensor(1.0, dtype=D), rtol=0, atol=1e-8)
    torch.testing.assert_close(e, ref, rtol=0, atol=6e-3)


def test_floor_and_epsilon_greedy_ties():
    e = policy_probabilities(torch.zeros(4, dtype=D), torch.zeros(4, dtype=D), policy="epsilon_greedy",
                             epsilon=0.0)
    torch.testing.assert_close(e, torch.full((4,), 0.25, dtype=D))
    e = policy_probabilities(torch.tensor([10.0, 10.0], dtype=D), torch.tensor([10.0, -10.0], dtype=D),
                             policy="epsilon_greedy", epsilon=0.0, floor=0.1)
    torch.testing.assert_close(e, torch.tensor([0.9, 0.1], dtype=D))


def test_uniform_design_ipw_is_scaled_sum():
    exp = run_adaptive_experiment(torch.tensor([0.0, 1.0, 2.0], dtype=D), 30, 5, policy="epsilon_greedy",
                                  epsilon=1.0, generator=3, progress=False)
    torch.testing.assert_close(exp.propensities, torch.full_like(exp.propensities, 1 / 3))
    onehot = torch.nn.functional.one_hot(exp.arms, 3).to(D)
    ref = 3 / 30 * (onehot * exp.rewards.unsqueeze(-1)).sum(1)
    torch.testing.assert_close(arm_estimates(exp, method="ipw").estimate, ref)


def test_experiment_is_reproducible_and_follows_dtype():
    mu = torch.tensor([0.0, 0.3], dtype=torch.float32)
    a = run_adaptive_experiment(mu, 20, 4, floor=0.05, generator=7, progress=False)
    b = run_adaptive_experiment(mu, 20, 4, floor=0.05, generator=7, progress=False)
    assert torch.equal(a.arms, b.arms) and a.rewards.dtype == torch.float32
    assert a.propensities.dtype == torch.float32


def test_monte_carlo_bias_variance():
    mu = torch.tensor([0.0, 0.3], dtype=D)
    exp = run_adaptive_experiment(mu, 200, 3000, floor=0.02, batch_size=5, generator=0, progress=False)
    res = {m: arm_estimates(exp, method=m) for m in ("sample_mean", "ipw", "aipw", "aw_aipw")}
    r = exp.arms.shape[0]
    for m in ("ipw", "aipw"):
        se = res[m].estimate.std(0) / math.sqrt(r)
        assert bool(((res[m].estimate.mean(0) - mu).abs() < 4 * se).all()), m
    sm = res["sample_mean"].estimate[:, 0]
    assert float(sm.mean() - mu[0]) < -6 * float(sm.std() / math.sqrt(r))
    # inverse weighting pays in variance for the under-sampled arm
    assert float(res["ipw"].estimate[:, 0].std()) > float(sm.std())


def test_standard_error_of_uniform_weights_matches_spread():
    mu = torch.tensor([0.0, 0.0], dtype=D)
    exp = run_adaptive_experiment(mu, 100, 2000, policy="epsilon_greedy", epsilon=1.0, generator=1,
                                  progress=False)
    est = arm_estimates(exp, method="aipw")
    ratio = est.stderr.mean(0) / est.estimate.std(0)
    assert bool(((ratio - 1).abs() < 0.08).all()), ratio
    lo, hi = est.interval(0.9)
    cover = ((lo <= mu) & (mu <= hi)).double().mean()
    assert abs(float(cover) - 0.9) < 0.03


def test_bad_inputs():
    with pytest.raises(ValueError, match="floor must be <= 1/K"):
        run_adaptive_experiment(torch.zeros(3, dtype=D), 5, 2, floor=0.4)
    with pytest.raises(ValueError, match="method"):
        arm_estimates(run_adaptive_experiment(torch.zeros(2, dtype=D), 3, 2, floor=0.1, progress=False),
                      method="median")
    with pytest.raises(TypeError, match="experiment"):
        arm_estimates("data")


@pytest.mark.gpu
def test_gpu_core_path():
    mu = torch.tensor([0.0, 0.3, 0.5], dtype=D)
    cpu = run_adaptive_experiment(mu, 30, 16, floor=0.05, generator=0, progress=False)
    gpu = run_adaptive_experiment(mu.cuda(), 30, 16, floor=0.05, generator=0, progress=False)
    assert gpu.arms.device.type == "cuda"
    est = arm_estimates(gpu, method="aw_aipw")
    assert est.estimate.device.type == "cuda" and bool(torch.isfinite(est.estimate).all())
    # same seed, same uniforms: the paths agree unless an MC propensity ties differently
    assert (cpu.arms == gpu.arms.cpu()).double().mean() > 0.9


def test_weighted_estimates_against_naive_loop():
    exp = run_adaptive_experiment(torch.tensor([0.0, 0.4, 0.2], dtype=D), 40, 3, floor=0.05, n_draws=100,
                                  generator=2, progress=False)
    for method in ("ipw", "aipw", "aw_aipw"):
        got = arm_estimates(exp, method=method)
        for r in range(3):
            for k in range(3):
                n = s = num = den = num2 = 0.0
                gammas, hs = [], []
                for t in range(40):
                    mu = s / n if (n > 0 and method != "ipw") else 0.0
                    e = float(exp.propensities[r, t, k])
                    hit = int(exp.arms[r, t]) == k
                    g = mu + hit / e * (float(exp.rewards[r, t]) - mu)
                    h = math.sqrt(e) if method == "aw_aipw" else 1.0
                    gammas.append(g)
                    hs.append(h)
                    if hit:
                        n += 1
                        s += float(exp.rewards[r, t])
                q = sum(h * g for h, g in zip(hs, gammas)) / sum(hs)
                v = sum(h * h * (g - q) ** 2 for h, g in zip(hs, gammas)) / sum(hs) ** 2
                assert abs(float(got.estimate[r, k]) - q) < 1e-12
                assert abs(float(got.stderr[r, k]) - math.sqrt(v)) < 1e-12
