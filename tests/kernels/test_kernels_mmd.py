"""Reference tests for nips2019.kernels: direct double sums, scipy, scikit-learn, the tests' level."""

import math

import numpy as np
import pytest
import scipy.spatial.distance as ssd
import scipy.stats
import torch

from nips2019.kernels import kernel_matrix, median_heuristic, mmd2, mmd_test
from nips2019.kernels._mmd import _group_statistics
from tests._mmd_refs import gaussian_samples, null_rejections

F64 = dict(dtype=torch.float64)


def _k(kernel, bw):
    def k(a, b):
        r = float(np.linalg.norm(a - b))
        return {"gaussian": math.exp(-r * r / (2 * bw * bw)), "laplace": math.exp(-r / bw),
                "imq": 1.0 / math.sqrt(1.0 + r * r / bw**2), "energy": -r}[kernel]
    return k


def _direct_mmd2(x, y, kernel, bw, unbiased):
    """The estimator written as the double sums of its definition."""
    x, y = x.numpy(), y.numpy()
    k = _k(kernel, bw)
    n, m = len(x), len(y)
    if unbiased:
        sxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
        syy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    else:
        sxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n)) / n**2
        syy = sum(k(y[i], y[j]) for i in range(m) for j in range(m)) / m**2
    sxy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return sxx + syy - 2 * sxy


@pytest.mark.parametrize("kernel", ["gaussian", "laplace", "imq", "energy"])
@pytest.mark.parametrize("unbiased", [True, False])
def test_mmd2_matches_direct_double_sum(kernel, unbiased):
    x, y = gaussian_samples(shift=0.5)
    bw = 1.3
    ours = float(mmd2(x, y, kernel=kernel, bandwidth=bw, unbiased=unbiased))
    assert ours == pytest.approx(_direct_mmd2(x, y, kernel, bw, unbiased), rel=1e-10, abs=1e-12)


def test_median_heuristic_matches_scipy_pdist():
    x, y = gaussian_samples(n=30, m=25)
    ref = np.median(ssd.pdist(torch.cat([x, y]).numpy()))
    assert float(median_heuristic(x, y)) == pytest.approx(ref, rel=1e-12)
    # and it is what mmd2 uses when bandwidth is None
    assert float(mmd2(x, y)) == pytest.approx(float(mmd2(x, y, bandwidth=float(ref))), rel=1e-12)


def test_kernels_match_scikit_learn():
    from sklearn.metrics.pairwise import laplacian_kernel, rbf_kernel

    x, y = gaussian_samples(n=7, m=5, d=4)
    bw = 0.8
    k = kernel_matrix(x, y, kernel="gaussian", bandwidth=bw).numpy()
    np.testing.assert_allclose(k, rbf_kernel(x.numpy(), y.numpy(), gamma=1 / (2 * bw**2)), rtol=1e-12)
    # scikit-learn's Laplacian kernel uses the L1 norm: compare in one dimension
    k1 = kernel_matrix(x[:, :1], y[:, :1], kernel="laplace", bandwidth=bw).numpy()
    np.testing.assert_allclose(k1, laplacian_kernel(x[:, :1].numpy(), y[:, :1].numpy(), gamma=1 / bw),
                               rtol=1e-12)


def test_energy_mmd_is_the_square_of_scipy_energy_distance_in_1d():
    x, y = gaussian_samples(n=40, m=31, d=1, shift=0.7)
    ours = float(mmd2(x, y, kernel="energy", unbiased=False))
    ref = scipy.stats.energy_distance(x[:, 0].numpy(), y[:, 0].numpy())  # returns the square root
    assert ours == pytest.approx(ref**2, rel=1e-10)


def test_batched_mmd2_equals_one_call_per_batch():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 10, 2, generator=g, **F64)
    y = torch.randn(4, 8, 2, generator=g, **F64) + 0.3
    batched = mmd2(x, y)
    loop = torch.stack([mmd2(x[b], y[b]) for b in range(4)])
    torch.testing.assert_close(batched, loop, rtol=1e-12, atol=1e-14)


def test_group_statistics_equal_mmd2_of_the_relabelled_samples():
    x, y = gaussian_samples(n=6, m=5)
    z = torch.cat([x, y])
    k = kernel_matrix(z, kernel="gaussian", bandwidth=1.0)
    g = torch.Generator().manual_seed(2)
    for unbiased in (True, False):
        perms = torch.stack([torch.randperm(11, generator=g) for _ in range(5)])
        member = torch.zeros(5, 11, **F64).scatter_(1, perms[:, :6], 1.0)
        stats = _group_statistics(k, member, 6, 5, unbiased)
        for b in range(5):
            ref = mmd2(z[perms[b, :6]], z[perms[b, 6:]], bandwidth=1.0, unbiased=unbiased)
            torch.testing.assert_close(stats[b], ref, rtol=1e-10, atol=1e-13)


def test_permutation_test_has_level_five_percent_under_the_null():
    """Over 1000 null data sets the 5% permutation test rejects 5 +- 1.5% of the time."""
    runs = 1000
    rejections = null_rejections(lambda x, y, r: mmd_test(x, y, n_null_samples=199, generator=r), runs, 15,
                                 seed=3)
    assert 0.035 <= rejections / runs <= 0.065, rejections / runs


def test_spectral_test_level_and_agreement_with_permutations():
    runs = 200
    rejections = null_rejections(
        lambda x, y, r: mmd_test(x, y, method="spectral", n_null_samples=500, generator=r), runs, 60, seed=4)
    assert 0.015 <= rejections / runs <= 0.095, rejections / runs
    # the two nulls have nearly the same 95% quantile at this size
    x, y = gaussian_samples(n=100, m=80, d=2, seed=5)
    perm = mmd_test(x, y, n_null_samples=2000, generator=0).null_samples.quantile(0.95)
    spec = mmd_test(x, y, method="spectral", n_null_samples=4000, generator=0).null_samples.quantile(0.95)
    assert float(spec) == pytest.approx(float(perm), rel=0.25)


@pytest.mark.parametrize("method", ["permutation", "spectral"])
def test_tests_detect_a_shift(method):
    x, y = gaussian_samples(n=80, m=80, d=2, shift=0.8, seed=6)
    res = mmd_test(x, y, method=method, generator=0)
    assert res.p_value < 0.01 and res.reject()


def test_p_value_is_reproducible_from_the_seed():
    x, y = gaussian_samples(n=20, m=20, shift=0.2)
    a = mmd_test(x, y, generator=7)
    b = mmd_test(x, y, generator=7)
    assert a.p_value == b.p_value and torch.equal(a.null_samples, b.null_samples)


def test_dtype_is_kept_and_gradients_are_finite_on_duplicate_points():
    x, y = gaussian_samples(dtype=torch.float32)
    x = torch.cat([x, x[:2]]).requires_grad_(True)
    for kernel in ("gaussian", "laplace", "energy"):
        val = mmd2(x, y, kernel=kernel)
        assert val.dtype == torch.float32
        (grad,) = torch.autograd.grad(val, x)
        assert torch.isfinite(grad).all(), kernel


def test_bad_inputs():
    x, y = gaussian_samples()
    with pytest.raises(ValueError, match="unbiased estimate needs at least 2 points"):
        mmd2(x[:1], y)
    with pytest.raises(ValueError, match="same batch shape"):
        mmd2(torch.zeros(2, 3, 2), torch.zeros(3, 3, 2))
    with pytest.raises(ValueError, match="median pairwise distance is 0"):
        median_heuristic(torch.zeros(5, 2))
    with pytest.raises(ValueError, match="d"):
        mmd2(x, y[:, :2])
    with pytest.raises(ValueError, match="kernel"):
        mmd_test(x, y, kernel="cauchy")


@pytest.mark.gpu
def test_gpu_matches_cpu():
    x, y = gaussian_samples(n=200, m=150, shift=0.3)
    cpu = mmd_test(x, y, generator=0)
    gpu = mmd_test(x.cuda(), y.cuda(), generator=0)
    assert gpu.statistic.device.type == "cuda"
    torch.testing.assert_close(gpu.statistic.cpu(), cpu.statistic, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gpu.null_samples.cpu(), cpu.null_samples, rtol=1e-8, atol=1e-10)
    b = mmd2(x.cuda().expand(3, -1, -1), y.cuda().expand(3, -1, -1))
    torch.testing.assert_close(b.cpu(), mmd2(x, y).expand(3), rtol=1e-10, atol=1e-12)
