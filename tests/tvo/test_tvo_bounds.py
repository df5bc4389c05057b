"""Schedules, integrand, Riemann sums and the covariance surrogate against naive loops."""

import math

import pytest
import torch

from nips2019.tvo import iwae_bound, moment_schedule, partition_schedule, tvo_bound, tvo_integrand, tvo_surrogate

F64 = torch.float64


def _lw(n=3, s=6, seed=0):
    return 2 * torch.randn(n, s, generator=torch.Generator().manual_seed(seed), dtype=F64)


def test_partition_schedules():
    torch.testing.assert_close(partition_schedule(4, kind="linear", dtype=F64),
                               torch.tensor([0, 0.25, 0.5, 0.75, 1], dtype=F64))
    log = partition_schedule(5, kind="log", beta_min=1e-3, dtype=F64)
    assert log[0] == 0 and log[-1] == 1 and log[1] == pytest.approx(1e-3)
    ratios = log[2:] / log[1:-1]
    torch.testing.assert_close(ratios, torch.full_like(ratios, 10 ** 0.75))
    for kind in ("linear", "log"):
        torch.testing.assert_close(partition_schedule(1, kind=kind, dtype=F64), torch.tensor([0.0, 1.0], dtype=F64))


def test_integrand_naive_loop():
    lw, betas = _lw(), torch.tensor([0.0, 0.3, 1.0, 0.7], dtype=F64)
    out = tvo_integrand(lw, betas)
    for i in range(lw.shape[0]):
        for k, beta in enumerate(betas.tolist()):
            w = [math.exp(beta * v) for v in lw[i].tolist()]
            ref = sum(wi * v for wi, v in zip(w, lw[i].tolist())) / sum(w)
            assert out[i, k].item() == pytest.approx(ref, rel=1e-12)


def test_integrand_is_nondecreasing_and_handles_huge_weights():
    lw = _lw()
    eta = tvo_integrand(lw, torch.linspace(0, 1, 50, dtype=F64))
    assert (eta[:, 1:] >= eta[:, :-1] - 1e-12).all()
    big = torch.tensor([[-1e4, 0.0, 1e4]], dtype=F64)
    out = tvo_integrand(big, torch.tensor([0.0, 1.0], dtype=F64))
    assert torch.isfinite(out).all() and out[0, 1] == 1e4


def test_bounds_reduce_to_elbo_and_eubo_at_one_partition():
    lw, betas = _lw(), torch.tensor([0.0, 1.0], dtype=F64)
    torch.testing.assert_close(tvo_bound(lw, betas), lw.mean(-1))
    w = torch.softmax(lw, -1)
    torch.testing.assert_close(tvo_bound(lw, betas, side="upper"), (w * lw).sum(-1))


def test_estimated_bounds_sandwich_iwae_at_one_partition():
    """mean log w <= log mean w <= sum softmax(log w) log w, for any sample (Jensen and Gibbs)."""
    lw, betas = _lw(n=20, s=5), torch.tensor([0.0, 1.0], dtype=F64)
    assert (tvo_bound(lw, betas) <= iwae_bound(lw) + 1e-12).all()
    assert (iwae_bound(lw) <= tvo_bound(lw, betas, side="upper") + 1e-12).all()


def test_iwae_naive():
    lw = _lw()
    ref = torch.tensor([math.log(sum(math.exp(v) for v in row) / len(row)) for row in lw.tolist()], dtype=F64)
    torch.testing.assert_close(iwae_bound(lw), ref)


def test_moment_schedule_spaces_the_integrand_equally():
    lw = _lw(n=4, s=50)
    betas = moment_schedule(lw, 5)
    eta = tvo_integrand(lw, betas).mean(0)
    steps = eta[1:] - eta[:-1]
    torch.testing.assert_close(steps, torch.full_like(steps, float(eta[-1] - eta[0]) / 5), atol=1e-9, rtol=0)
    assert betas[0] == 0 and betas[-1] == 1 and (betas[1:] > betas[:-1]).all()
    torch.testing.assert_close(moment_schedule(lw, 1), torch.tensor([0.0, 1.0], dtype=F64))


def test_surrogate_value_and_reinforce_gradient():
    """K = 1, lower: the covariance estimator is REINFORCE with the sample mean as baseline."""
    mu = torch.tensor(0.3, dtype=F64, requires_grad=True)
    theta = torch.tensor(-0.5, dtype=F64, requires_grad=True)
    z = torch.tensor([-1.0, 0.2, 0.9, 2.0], dtype=F64)
    log_q = -0.5 * (z - mu) ** 2 - 0.5 * math.log(2 * math.pi)
    log_joint = -0.5 * (z - theta) ** 2 - 0.5 * z ** 2
    lw = log_joint - log_q
    betas = torch.tensor([0.0, 1.0], dtype=F64)
    s = tvo_surrogate(lw, log_q, betas)
    torch.testing.assert_close(s, tvo_bound(lw.detach(), betas))
    g_mu, g_theta = torch.autograd.grad(s, (mu, theta))
    f = lw.detach()
    score_mu = z - mu.detach()  # d log q / d mu
    # E[grad f] + Cov(grad log q, f): grad_mu f = -score_mu, grad_theta f = (z - theta)
    ref_mu = (-score_mu).mean() + (score_mu * (f - f.mean())).mean()
    ref_theta = (z - theta.detach()).mean()
    torch.testing.assert_close(g_mu, ref_mu)
    torch.testing.assert_close(g_theta, ref_theta)


def test_surrogate_matches_naive_covariance_formula():
    mu = torch.tensor([0.3, -0.2], dtype=F64, requires_grad=True)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(7, 2, generator=g, dtype=F64)
    log_q = -0.5 * ((z - mu) ** 2).sum(-1)
    lw = -0.5 * ((z - 1.0) ** 2).sum(-1) * 1.7 - log_q
    betas = torch.tensor([0.0, 0.2, 0.6, 1.0], dtype=F64)
    for side, pts in (("lower", betas[:-1]), ("upper", betas[1:])):
        (grad,) = torch.autograd.grad(tvo_surrogate(lw, log_q, betas, side=side), mu, retain_graph=True)
        ref = torch.zeros(2, dtype=F64)
        f = lw.detach()
        for k, beta in enumerate(pts.tolist()):
            w = torch.softmax(beta * f, 0)
            grad_f = [torch.autograd.grad(lw[s_], mu, retain_graph=True)[0] for s_ in range(7)]
            grad_pi = [torch.autograd.grad(log_q[s_] + beta * lw[s_], mu, retain_graph=True)[0] for s_ in range(7)]
            mean_f = sum(w[s_] * f[s_] for s_ in range(7))
            mean_gpi = sum(w[s_] * grad_pi[s_] for s_ in range(7))
            term = sum(w[s_] * (grad_f[s_] + (grad_pi[s_] - mean_gpi) * (f[s_] - mean_f)) for s_ in range(7))
            ref = ref + (betas[k + 1] - betas[k]) * term
        torch.testing.assert_close(grad, ref)


@pytest.mark.parametrize("bad, match", [
    (torch.tensor([0.0, 0.5], dtype=F64), "end at 1"),
    (torch.tensor([0.0, 0.7, 0.3, 1.0], dtype=F64), "strictly increasing"),
    (torch.tensor([1.0], dtype=F64), "at least 2"),
])
def test_bad_partitions(bad, match):
    with pytest.raises(ValueError, match=match):
        tvo_bound(_lw(), bad)


def test_bad_inputs():
    with pytest.raises(ValueError, match="n_partitions"):
        partition_schedule(0)
    with pytest.raises(ValueError, match="kind"):
        partition_schedule(3, kind="cosine")
    with pytest.raises(ValueError, match="log_weight"):
        iwae_bound(torch.tensor([float("nan"), 0.0]))
    with pytest.raises(TypeError, match="log_weight"):
        tvo_integrand(torch.tensor([1, 2]), torch.tensor([0.0, 1.0]))
