"""Reference tests for nips2019.score: analytic mixture scores, Langevin samplers, denoising score matching."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from nips2019.score import (NoiseConditionalCNN, NoiseConditionalMLP, annealed_langevin, dsm_loss, geometric_sigmas,
                            langevin, mixture_log_prob, mixture_score, sample_mixture, train_score)

MEANS = torch.tensor([[-5.0, -5.0], [5.0, 5.0]], dtype=torch.float64)
WEIGHTS = torch.tensor([0.2, 0.8], dtype=torch.float64)


def mmd2(x, y, bandwidth):
    """Unbiased squared MMD with a Gaussian kernel (a small independent implementation)."""
    def k(a, b):
        return torch.exp(-torch.cdist(a, b).pow(2) / (2 * bandwidth**2))
    n, m = x.shape[0], y.shape[0]
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return ((kxx.sum() - kxx.diag().sum()) / (n * (n - 1)) + (kyy.sum() - kyy.diag().sum()) / (m * (m - 1))
            - 2 * kxy.mean())


def mmd_permutation_test(x, y, bandwidth, n_permutations=100, seed=0):
    """(statistic, p-value) of the permutation test of equal distributions."""
    g = torch.Generator().manual_seed(seed)
    stat = float(mmd2(x, y, bandwidth))
    z = torch.cat([x, y])
    count = 0
    for _ in range(n_permutations):
        p = torch.randperm(z.shape[0], generator=g)
        count += float(mmd2(z[p[: x.shape[0]]], z[p[x.shape[0]:]], bandwidth)) >= stat
    return stat, (count + 1) / (n_permutations + 1)


@pytest.mark.parametrize("sigma", [0.0, 0.5, 3.0])
def test_log_prob_matches_scipy(sigma):
    x = torch.randn(20, 2, dtype=torch.float64) * 4
    ours = mixture_log_prob(x, MEANS, WEIGHTS, 1.0, sigma=sigma)
    var = 1.0 + sigma**2
    ref = np.log(sum(float(w) * multivariate_normal(m.numpy(), var * np.eye(2)).pdf(x.numpy())
                     for m, w in zip(MEANS, WEIGHTS)))
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-10)


@pytest.mark.parametrize("sigma", [0.0, 1.0, 10.0])
def test_score_is_gradient_of_log_prob(sigma):
    x = (torch.randn(30, 2, dtype=torch.float64) * 6).requires_grad_(True)
    lp = mixture_log_prob(x, MEANS, WEIGHTS, 1.0, sigma=sigma).sum()
    (grad,) = torch.autograd.grad(lp, x)
    torch.testing.assert_close(mixture_score(x.detach(), MEANS, WEIGHTS, 1.0, sigma=sigma), grad,
                               rtol=1e-9, atol=1e-10)


def test_noised_density_is_monte_carlo_convolution():
    # q_sigma(x) = E_y N(x; y, sigma^2 I), y from the mixture
    y = sample_mixture(400_000, MEANS, WEIGHTS, 1.0, generator=0)
    x = torch.tensor([[0.0, 0.0], [4.0, 5.0], [-6.0, -4.0]], dtype=torch.float64)
    sigma = 2.0
    mc = torch.exp(-torch.cdist(x, y).pow(2) / (2 * sigma**2)).mean(1) / (2 * math.pi * sigma**2)
    exact = mixture_log_prob(x, MEANS, WEIGHTS, 1.0, sigma=sigma).exp()
    torch.testing.assert_close(mc, exact, rtol=0.02, atol=0)


def test_score_finite_far_away():
    x = torch.tensor([[1e4, -1e4], [300.0, 300.0]], dtype=torch.float32)
    s = mixture_score(x, MEANS.float(), WEIGHTS.float(), 0.1)
    assert torch.isfinite(s).all()


def test_sample_mixture_weights_and_moments():
    x = sample_mixture(20_000, MEANS, WEIGHTS, 1.0, generator=1)
    share = float((x.sum(1) < 0).double().mean())
    assert abs(share - 0.2) < 4 * math.sqrt(0.2 * 0.8 / 20_000), share
    assert x.dtype == torch.float64
    assert abs(float(x[x.sum(1) > 0].std(0).mean()) - 1.0) < 0.03


def test_bad_weights():
    with pytest.raises(ValueError, match="weights must sum to 1"):
        mixture_score(torch.zeros(2, 2), MEANS.float(), torch.tensor([0.5, 0.6]))
    with pytest.raises(ValueError, match="weights"):
        sample_mixture(3, MEANS, torch.tensor([-0.2, 1.2], dtype=torch.float64))


def test_geometric_sigmas():
    s = geometric_sigmas(20.0, 0.01, 12, dtype=torch.float64)
    ratios = s[:-1] / s[1:]
    torch.testing.assert_close(ratios, ratios[0].expand(11))
    assert float(s[0]) == pytest.approx(20.0) and float(s[-1]) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="sigma_max must be >= sigma_min"):
        geometric_sigmas(0.1, 1.0, 3)


def test_langevin_gaussian_stationary_variance():
    # ULA on N(0, v): stationary variance v / (1 - eps / (4 v)) exactly
    v, eps = 2.0, 0.2
    y = langevin(lambda x: -x / v, torch.zeros(20_000, 1, dtype=torch.float64), step_size=eps, n_steps=300,
                 generator=0)
    expected = v / (1 - eps / (4 * v))
    assert abs(float(y.var()) - expected) < 0.05, float(y.var())


def test_annealed_langevin_exact_score_samples_the_mixture():
    """Annealed Langevin with the exact scores passes an MMD test against exact samples."""
    n = 400
    x0 = torch.rand(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 16 - 8
    sig = geometric_sigmas(20.0, 0.1, 10, dtype=torch.float64)
    score = lambda x, s: mixture_score(x, MEANS, WEIGHTS, 1.0, sigma=s)  # noqa: E731
    y = annealed_langevin(score, x0, sig, step_size=2e-3, n_steps_each=300, generator=1)
    ref = sample_mixture(n, MEANS, WEIGHTS, 1.0, generator=2)
    stat, p = mmd_permutation_test(y, ref, bandwidth=2.0)
    assert p > 0.01, (stat, p)
    # ... and plain Langevin with the same exact score does not: it keeps the initial split
    z = langevin(lambda x: mixture_score(x, MEANS, WEIGHTS, 1.0), x0, step_size=0.1, n_steps=300, generator=1)
    stat, p = mmd_permutation_test(z, ref, bandwidth=2.0)
    assert p < 0.01, (stat, p)
    assert abs(float((z.sum(1) < 0).double().mean()) - 0.5) < 0.08


def test_annealed_langevin_bad_inputs():
    sig = torch.tensor([0.1, 1.0])
    with pytest.raises(ValueError, match="non-increasing"):
        annealed_langevin(lambda x, s: -x, torch.zeros(3, 2), sig)
    with pytest.raises(ValueError, match="score must return a tensor of shape"):
        annealed_langevin(lambda x, s: x[:, :1], torch.zeros(3, 2), sig.flip(0))
    with pytest.raises(FloatingPointError, match="diverged"):
        langevin(lambda x: 10 * x, torch.ones(3, 2), step_size=1.0, n_steps=400)


def test_dsm_loss_is_minimised_by_the_true_noised_score():
    """E[loss] for the exact noised score is below that of a perturbed score (DSM's minimiser)."""
    means, weights = MEANS / 5, WEIGHTS
    sig = torch.tensor([1.0, 0.5, 0.25], dtype=torch.float64)

    class Exact(torch.nn.Module):
        def __init__(self, scale):
            super().__init__()
            self.scale = scale
            self.dummy = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))

        def forward(self, x, s):
            out = torch.zeros_like(x)
            for level in s.unique():
                rows = s == level
                out[rows] = mixture_score(x[rows], means, weights, 0.2, sigma=float(level))
            return self.scale * out

    x = sample_mixture(4000, means, weights, 0.2, generator=0)
    exact = float(dsm_loss(Exact(1.0), x, sig, generator=1))
    worse = float(dsm_loss(Exact(1.1), x, sig, generator=1))
    assert exact < worse, (exact, worse)


def _relative_l2(net, means, weights, std, sigma, n=2000):
    x = sample_mixture(n, means, weights, std, generator=5)
    x = x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(6), dtype=x.dtype)
    with torch.no_grad():
        learned = net(x, sigma)
    exact = mixture_score(x, means, weights, std, sigma=sigma)
    return float((learned - exact).norm() / exact.norm())


def test_learned_score_matches_analytic_noised_mixture_score():
    """Relative L2 error of a trained MLP against the exact noised-mixture score, larger levels."""
    torch.manual_seed(0)
    means = torch.tensor([[-1.0, -1.0], [1.0, 1.0]])
    weights = torch.tensor([0.2, 0.8])
    std = 0.3
    x = sample_mixture(4000, means, weights, std, generator=0)
    sig = geometric_sigmas(2.0, 0.1, 8)
    net = NoiseConditionalMLP(2, n_hidden=64, generator=0)
    train_score(net, x, sig, n_steps=800, batch_size=256, lr=3e-3, generator=1)
    errors = {round(float(s), 3): _relative_l2(net, means, weights, std, float(s)) for s in sig[:4]}
    print(errors)
    assert max(errors.values()) < 0.1, errors


def test_cnn_shapes_and_training_step():
    net = NoiseConditionalCNN(8, n_channels=4, generator=0).double()
    x = torch.rand(16, 64, dtype=torch.float64)
    res = train_score(net, x, torch.tensor([1.0, 0.1], dtype=torch.float64), n_steps=3, generator=0)
    assert res.losses.shape == (3,) and torch.isfinite(res.losses).all()


def test_generator_reproducible():
    a = sample_mixture(5, MEANS, WEIGHTS, generator=3)
    b = sample_mixture(5, MEANS, WEIGHTS, generator=3)
    torch.testing.assert_close(a, b)
    n1 = NoiseConditionalMLP(2, n_hidden=8, generator=4)
    n2 = NoiseConditionalMLP(2, n_hidden=8, generator=4)
    for p, q in zip(n1.parameters(), n2.parameters()):
        torch.testing.assert_close(p, q)


def test_dtype_follows_inputs(dtype, device):
    means, weights = MEANS.to(device, dtype), WEIGHTS.to(device, dtype)
    x = torch.zeros(4, 2, device=device, dtype=dtype)
    assert mixture_score(x, means, weights, sigma=1.0).dtype == dtype
    y = annealed_langevin(lambda z, s: mixture_score(z, means, weights, sigma=s), x,
                          geometric_sigmas(2.0, 0.5, 2, device=device, dtype=dtype), n_steps_each=2, generator=0)
    assert y.dtype == dtype and y.device.type == device.type


@pytest.mark.gpu
def test_gpu_training_and_sampling():
    dev = torch.device("cuda")
    x = sample_mixture(512, MEANS.float().to(dev) / 5, WEIGHTS.float().to(dev), 0.2, generator=0)
    sig = geometric_sigmas(2.0, 0.1, 4, device=dev)
    net = NoiseConditionalMLP(2, n_hidden=32, data_std=0.5, generator=0).to(dev)
    train_score(net, x, sig, n_steps=20, ema=0.9, generator=0)
    y = annealed_langevin(net, torch.zeros(64, 2, device=dev), sig, n_steps_each=5, generator=0)
    assert y.device.type == "cuda" and torch.isfinite(y).all()


@pytest.mark.parametrize("sigma", [0.05, 0.7, 5.0])
def test_preconditioned_mlp_is_a_gaussian_score_plus_a_correction(sigma):
    """With its last layer zeroed, the data_std network is the exact score of N(0, data_std^2 I) noised by sigma."""
    net = NoiseConditionalMLP(3, n_hidden=8, data_std=0.4, generator=0).double()
    with torch.no_grad():
        net.net[-1].weight.zero_()
        net.net[-1].bias.zero_()
    x = torch.randn(10, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ref = mixture_score(x, torch.zeros(1, 3, dtype=torch.float64), torch.ones(1, dtype=torch.float64), 0.4,
                        sigma=sigma)
    torch.testing.assert_close(net(x, sigma), ref, rtol=1e-12, atol=1e-12)
    # ... and the correction enters with the weight data_std / (sigma sqrt(sigma^2 + data_std^2))
    with torch.no_grad():
        net.net[-1].bias.fill_(1.0)
    corr = net(x, sigma) - ref
    torch.testing.assert_close(corr, torch.full_like(x, 0.4 / (sigma * math.sqrt(sigma**2 + 0.16))))


def test_ema_matches_a_naive_average_of_the_trajectory():
    """train_score(ema=b) leaves in the model the warmed-up EMA of a hand-written replay of its Adam steps."""
    from nips2019.utils import as_generator, randint, randn

    x = torch.randn(32, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sig = torch.tensor([1.0, 0.3], dtype=torch.float64)
    n_steps, beta = 12, 0.8
    net = NoiseConditionalMLP(2, n_hidden=8, n_layers=1, generator=0).double()
    train_score(net, x, sig, n_steps=n_steps, batch_size=8, lr=1e-2, ema=beta, generator=3)

    ref = NoiseConditionalMLP(2, n_hidden=8, n_layers=1, generator=0).double()
    opt = torch.optim.Adam(ref.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n_steps)
    gen = as_generator(3)
    avg = [p.detach().clone() for p in ref.parameters()]
    for t in range(n_steps):
        xb = x[randint(0, 32, (8,), generator=gen)]
        s = sig[randint(0, 2, (8,), generator=gen)]
        z = randn(*xb.shape, generator=gen, dtype=xb.dtype)
        loss = 0.5 * (s[:, None] * ref(xb + s[:, None] * z, s) + z).pow(2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        b = min(beta, (1 + t) / (10 + t))
        avg = [b * a + (1 - b) * p.detach() for a, p in zip(avg, ref.parameters())]
    for p, a in zip(net.parameters(), avg):
        torch.testing.assert_close(p, a, rtol=1e-10, atol=1e-12)
    last = [p.detach().clone() for p in ref.parameters()]
    assert max(float((a - b).abs().max()) for a, b in zip(avg, last)) > 1e-4  # the average is not the last step


def test_ema_zero_is_plain_training():
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(0))
    sig = torch.tensor([1.0, 0.3])
    a = NoiseConditionalMLP(2, n_hidden=8, generator=0)
    b = NoiseConditionalMLP(2, n_hidden=8, generator=0)
    train_score(a, x, sig, n_steps=5, ema=0.0, generator=1)
    train_score(b, x, sig, n_steps=5, generator=1)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)


@pytest.mark.slow
def test_digits_samples_are_new_and_closer_than_a_gaussian_fit():
    """The chapter's digits recipe: nearest-neighbour diagnostics against held-out digits and a Gaussian fit."""
    from sklearn.datasets import load_digits

    digits = torch.tensor(load_digits().data, dtype=torch.float32) / 16
    order = torch.randperm(len(digits), generator=torch.Generator().manual_seed(0))
    train, held = digits[order[:1297]], digits[order[1297:]]
    sig = geometric_sigmas(float(torch.cdist(train, train).max()), 0.1, 14)
    net = NoiseConditionalMLP(64, n_hidden=256, data_std=float(train.std()), generator=0)
    train_score(net, train, sig, n_steps=1500, batch_size=128, lr=1e-3, ema=0.999, generator=1)
    start = torch.rand(300, 64, generator=torch.Generator().manual_seed(2))
    y = annealed_langevin(net, start, sig, step_size=0.05 * 0.1**2, n_steps_each=60, generator=3, denoise=True)
    gauss = torch.distributions.MultivariateNormal(train.mean(0), torch.cov(train.T) + 1e-4 * torch.eye(64))
    torch.manual_seed(4)
    g = gauss.sample((300,))
    med = {k: float(torch.cdist(v, train).min(1).values.median()) for k, v in
           [("samples", y), ("held", held[:300]), ("gauss", g)]}
    assert med["samples"] > 0.9 * med["held"], med
    assert med["samples"] < 0.9 * med["gauss"], med
