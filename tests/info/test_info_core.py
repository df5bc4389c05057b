"""Reference tests for nips2019.info: scipy, brute force (Leinster-Meckes), closed forms, Monte Carlo."""

import itertools
import math

import numpy as np
import pytest
import scipy.stats
import torch

from nips2019.info import (
    gait_divergence,
    gaussian_entropy,
    gaussian_mutual_information,
    gaussian_total_correlation,
    infonce_bound,
    max_diversity,
    que_robust_mean,
    que_scores,
    similarity_entropy,
)
from nips2019.kernels import kernel_matrix

F64 = dict(dtype=torch.float64)


def _prob(n, seed=0, zeros=0):
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(n, generator=g, **F64)
    p[:zeros] = 0
    return p / p.sum()


def _similarity(n=6, seed=0, bw=0.7):
    g = torch.Generator().manual_seed(seed)
    pts = torch.randn(n, 2, generator=g, **F64)
    return kernel_matrix(pts, bandwidth=bw)


@pytest.mark.parametrize("zeros", [0, 2])
def test_identity_similarity_gives_shannon_and_kl_from_scipy(zeros):
    p, q = _prob(7, 0, zeros), _prob(7, 1)
    assert float(similarity_entropy(p)) == pytest.approx(scipy.stats.entropy(p.numpy()), rel=1e-12)
    assert float(gait_divergence(p, q)) == pytest.approx(scipy.stats.entropy(p.numpy(), q.numpy()), rel=1e-12)


@pytest.mark.parametrize("order", [0.0, 0.5, 2.0, 3.0, math.inf])
def test_identity_similarity_gives_renyi_entropies(order):
    p = _prob(6, 2)
    pn = p.numpy()
    ref = -np.log(pn.max()) if math.isinf(order) else np.log((pn**order).sum()) / (1 - order)
    assert float(similarity_entropy(p, order=order)) == pytest.approx(ref, rel=1e-12)


def test_similarity_entropy_matches_a_direct_sum_and_is_continuous_in_the_order():
    p, k = _prob(6, 3), _similarity()
    kp = k.numpy() @ p.numpy()
    ref = -(p.numpy() * np.log(kp)).sum()
    assert float(similarity_entropy(p, k)) == pytest.approx(ref, rel=1e-12)
    near = similarity_entropy(p, k, order=1 + 1e-6)
    assert float(near) == pytest.approx(ref, rel=1e-5)
    # similarity lowers the entropy
    assert float(similarity_entropy(p, k)) < float(similarity_entropy(p))


def _brute_force_max_diversity(k):
    """Leinster-Meckes: the largest magnitude over subsets whose weighting is non-negative."""
    n = k.shape[0]
    best, best_p = -math.inf, None
    for r in range(1, n + 1):
        for s in itertools.combinations(range(n), r):
            idx = list(s)
            w = np.linalg.solve(k[np.ix_(idx, idx)], np.ones(r))
            if (w >= 0).all() and w.sum() > best:
                best, best_p = w.sum(), np.zeros(n)
                best_p[idx] = w / w.sum()
    return best, best_p


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_max_diversity_matches_brute_force_and_is_the_same_for_every_order(seed):
    k = _similarity(7, seed, bw=0.9)
    res = max_diversity(k)
    best, best_p = _brute_force_max_diversity(k.numpy())
    assert float(res.diversity) == pytest.approx(best, rel=1e-8)
    np.testing.assert_allclose(res.p.numpy(), best_p, atol=1e-8)
    for q in (0.0, 0.5, 1.0, 2.0, math.inf):
        assert float(similarity_entropy(res.p, k, order=q)) == pytest.approx(math.log(best), rel=1e-7)
    g = torch.Generator().manual_seed(seed)
    for _ in range(200):
        p = torch.distributions.Dirichlet(torch.ones(7, **F64)).sample()
        assert float(similarity_entropy(p, k)) <= float(res.entropy) + 1e-10


def test_cat_kitten_plane():
    k = torch.tensor([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]], **F64)
    res = max_diversity(k)
    assert float(res.p[2]) == pytest.approx(1 / (1 + 2 / 1.9), rel=1e-9)
    assert float(res.p[2]) > 1 / 3
    assert max_diversity(torch.eye(4, **F64)).p.tolist() == pytest.approx([0.25] * 4)


def test_gait_divergence_is_zero_at_equality_finite_on_disjoint_supports_and_differentiable():
    k = _similarity(6, 4)
    p = _prob(6, 5)
    assert abs(float(gait_divergence(p, p, k))) < 1e-14
    a = torch.tensor([0.5, 0.5, 0, 0, 0, 0], **F64)
    b = torch.tensor([0, 0, 0, 0.2, 0.3, 0.5], **F64)
    assert torch.isfinite(gait_divergence(a, b, k))
    q = _prob(6, 6).requires_grad_(True)
    (grad,) = torch.autograd.grad(gait_divergence(p, q, k), q)
    assert torch.isfinite(grad).all()


def test_gait_divergence_can_be_negative_even_for_a_gaussian_kernel_similarity():
    """Not a bug to hide: unlike KL, D^K(p || q) < 0 happens (documented in the docstring)."""
    torch.manual_seed(7)
    values = []
    for seed in range(50):
        k = _similarity(5, seed, bw=0.5 + seed / 50)
        p = torch.distributions.Dirichlet(torch.ones(5, **F64)).sample()
        q = torch.distributions.Dirichlet(torch.ones(5, **F64)).sample()
        values.append(float(gait_divergence(p, q, k)))
    assert min(values) < -1e-3 and sum(v > 0 for v in values) > 25, values


def test_gaussian_closed_forms_against_scipy_and_their_definitions():
    g = torch.Generator().manual_seed(8)
    a = torch.randn(5, 5, generator=g, **F64)
    cov = a @ a.T + 0.5 * torch.eye(5, **F64)
    c = cov.numpy()
    ent = lambda m: scipy.stats.multivariate_normal(cov=m).entropy()  # noqa: E731
    assert float(gaussian_entropy(cov)) == pytest.approx(ent(c), rel=1e-12)
    idx = [0, 2]
    rest = [1, 3, 4]
    mi_ref = ent(c[np.ix_(idx, idx)]) + ent(c[np.ix_(rest, rest)]) - ent(c)
    assert float(gaussian_mutual_information(cov, idx)) == pytest.approx(mi_ref, rel=1e-10)
    tc_ref = sum(ent(c[i:i + 1, i:i + 1]) for i in range(5)) - ent(c)
    tc = float(gaussian_total_correlation(cov))
    assert tc == pytest.approx(tc_ref, rel=1e-10) and tc > 0
    # the review's signs give minus these
    assert ent(c) - sum(ent(c[i:i + 1, i:i + 1]) for i in range(5)) < 0
    assert float(gaussian_total_correlation(torch.diag(torch.tensor([1.0, 2.0, 3.0], **F64)))) == 0.0


def test_gaussian_total_correlation_plug_in_converges_to_the_closed_form():
    g = torch.Generator().manual_seed(9)
    a = torch.randn(4, 4, generator=g, **F64)
    cov = a @ a.T + torch.eye(4, **F64)
    exact = float(gaussian_total_correlation(cov))
    chol = torch.linalg.cholesky(cov)
    errs = []
    for n in (1_000, 100_000):
        x = torch.randn(n, 4, generator=g, **F64) @ chol.T
        errs.append(abs(float(gaussian_total_correlation(torch.cov(x.T))) - exact))
    assert errs[1] < 0.01 * exact and errs[1] < errs[0], (errs, exact)


def test_infonce_bound_is_at_most_log_n_and_matches_a_loop():
    g = torch.Generator().manual_seed(10)
    s = torch.randn(3, 16, 16, generator=g, **F64) * 5
    b = infonce_bound(s)
    loop = [math.log(16) + np.mean([float(s[k, i, i] - torch.logsumexp(s[k, i], 0)) for i in range(16)])
            for k in range(3)]
    np.testing.assert_allclose(b.numpy(), loop, rtol=1e-12)
    assert (b <= math.log(16)).all()
    assert float(infonce_bound(1e3 * torch.eye(16, **F64))) == pytest.approx(math.log(16), abs=1e-9)


def test_infonce_with_the_optimal_critic_estimates_gaussian_mi():
    """The log density ratio is an optimal critic; its bound is below MI and close when MI << log N."""
    rho, n, d = 0.5, 512, 2
    mi = -0.5 * d * math.log(1 - rho**2)
    g = torch.Generator().manual_seed(11)
    x = torch.randn(20, n, d, generator=g, **F64)
    y = rho * x + math.sqrt(1 - rho**2) * torch.randn(20, n, d, generator=g, **F64)
    # s_ij = log p(y_j | x_i) - log p(y_j), up to a constant (which cancels in the log-softmax)
    s = (-((y[:, None, :, :] - rho * x[:, :, None, :]) ** 2).sum(-1) / (2 * (1 - rho**2))
         + (y[:, None, :, :] ** 2).sum(-1) / 2)
    est = float(infonce_bound(s).mean())  # 20 batches
    assert mi - 0.03 < est < mi + 0.02, (est, mi)


def _spiked(n, d, eps, r, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, **F64)
    k = int(eps * n)
    v = torch.zeros(d, **F64)
    v[0] = 1.0
    sign = torch.where(torch.rand(k, generator=g) < 0.5, -1.0, 1.0).to(torch.float64)
    x[:k] += r * sign[:, None] * v
    return x, k, v


def test_que_limits_are_the_norm_and_the_top_eigenvector_projection():
    x, _, _ = _spiked(600, 30, 0.05, 4.0, 12)
    xc = x - x.mean(0)
    s0 = que_scores(x, alpha=0.0)
    np.testing.assert_allclose(s0.numpy(), (xc**2).sum(1).numpy() / 30, rtol=1e-10)
    v = torch.linalg.eigh(torch.cov(xc.T, correction=0))[1][:, -1]
    proj = (xc @ v) ** 2
    big = que_scores(x, alpha=1e4)
    corr = np.corrcoef(big.numpy(), proj.numpy())[0, 1]
    assert corr > 0.9995, corr
    torch.testing.assert_close(que_scores(x, alpha=math.inf), proj, rtol=1e-8, atol=1e-10)


def test_que_robust_mean_beats_the_sample_mean():
    g = torch.Generator().manual_seed(13)
    x = torch.randn(2000, 50, generator=g, **F64)
    x[:100] += 6 * torch.ones(50, **F64) / math.sqrt(50)  # 5% shifted by 6 along one direction
    res = que_robust_mean(x, contamination=0.05)
    assert float(res.mean.norm()) < 0.6 * float(x.mean(0).norm())
    assert int((~res.inliers[:100]).sum()) >= 70 and int((~res.inliers[100:]).sum()) <= 5
    clean = que_robust_mean(x[100:], contamination=0.05)  # nothing to remove: the filter stops at once
    assert int((~clean.inliers).sum()) == 0


def test_bad_inputs():
    p = _prob(4)
    with pytest.raises(ValueError, match="must sum to 1"):
        similarity_entropy(2 * p)
    with pytest.raises(ValueError, match="positive diagonal"):
        similarity_entropy(p, torch.zeros(4, 4, **F64))
    with pytest.raises(ValueError, match="divergence is infinite"):
        gait_divergence(torch.tensor([1.0, 0.0], **F64), torch.tensor([0.0, 1.0], **F64))
    with pytest.raises(ValueError, match="positive definite"):
        gaussian_total_correlation(torch.tensor([[1.0, 2.0], [2.0, 1.0]], **F64))
    with pytest.raises(ValueError, match="leave at least one out"):
        gaussian_mutual_information(torch.eye(2, **F64), [0, 1])
    with pytest.raises(ValueError, match="symmetric"):
        max_diversity(torch.tensor([[1.0, 0.2], [0.5, 1.0]], **F64))


@pytest.mark.gpu
def test_gpu_core_paths():
    k = _similarity(7, 0).cuda()
    res = max_diversity(k)
    assert res.p.device.type == "cuda"
    torch.testing.assert_close(res.p.cpu(), max_diversity(k.cpu()).p, rtol=1e-8, atol=1e-10)
    x, _, _ = _spiked(600, 30, 0.05, 4.0, 12)
    torch.testing.assert_close(que_scores(x.cuda(), alpha=4.0).cpu(), que_scores(x, alpha=4.0), rtol=1e-8,
                               atol=1e-10)


def _modular_data(n, p=48, m=4, seed=14):
    g = torch.Generator().manual_seed(seed)
    cluster = torch.arange(p) % m
    load = 0.5 + 0.4 * torch.rand(p, generator=g, **F64)
    z = torch.randn(n, m, generator=g, **F64)
    x = load * z[:, cluster] + torch.sqrt(1 - load**2) * torch.randn(n, p, generator=g, **F64)
    return x, cluster, load


def test_linear_corex_objective_matches_total_correlations_computed_directly():
    """TC(X|Z) + TC(Z) + lam sum TC(Z|X_i) from the joint covariance, up to -1/2 log det Cov(x)."""
    from nips2019.info._corex import _objective

    x, _, _ = _modular_data(400, p=6, m=2)
    xs = (x - x.mean(0)) / x.std(0)
    s = xs.T @ xs / 400
    g = torch.Generator().manual_seed(0)
    w = torch.randn(2, 6, generator=g, **F64)
    joint = torch.zeros(8, 8, **F64)
    joint[:6, :6] = s
    joint[:6, 6:] = s @ w.T
    joint[6:, :6] = w @ s
    joint[6:, 6:] = w @ s @ w.T + torch.eye(2, **F64)

    def cond(idx, given):
        a = joint[idx][:, idx]
        b = joint[idx][:, given]
        c = joint[given][:, given]
        return a - b @ torch.linalg.solve(c, b.T)

    tc_x_given_z = gaussian_total_correlation(cond(list(range(6)), [6, 7]))
    tc_z = gaussian_total_correlation(joint[6:, 6:])
    tc_z_given_xi = sum(gaussian_total_correlation(cond([6, 7], [i])) for i in range(6))
    const = -0.5 * torch.logdet(s)
    for lam in (0.0, 0.7):
        ref = tc_x_given_z + tc_z + lam * tc_z_given_xi
        torch.testing.assert_close(_objective(s, w, lam) + const, ref, rtol=1e-9, atol=1e-9)


def test_linear_corex_recovers_modules_only_with_the_modular_regulariser():
    from sklearn.metrics import adjusted_rand_score

    from nips2019.info import linear_corex

    x, cluster, _ = _modular_data(40)  # n = 40 < p = 48
    mod = linear_corex(x, 4, reg_modular=1.0, n_steps=400, lr=0.05, generator=0)
    plain = linear_corex(x, 4, reg_modular=0.0, n_steps=400, lr=0.05, generator=0)
    ari_mod = adjusted_rand_score(cluster.numpy(), mod.labels.numpy())
    ari_plain = adjusted_rand_score(cluster.numpy(), plain.labels.numpy())
    assert ari_mod >= 0.9 and ari_mod > ari_plain, (ari_mod, ari_plain)
    assert bool((torch.linalg.eigvalsh(mod.covariance) > 0).all())
    torch.testing.assert_close(mod.covariance, mod.covariance.T)
