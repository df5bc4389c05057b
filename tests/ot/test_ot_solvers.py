"""nips2019.ot: costs, solvers, maps and distances against POT, scipy and brute force."""

import itertools
import math

import ot
import pytest
import scipy.spatial.distance
import scipy.stats
import torch

from nips2019.ot import (
    barycentric_projection,
    cost_matrix,
    displacement_interpolation,
    entropic_ot,
    exact_ot,
    normalize_cost,
    sample_coupling,
    unbalanced_ot,
    wasserstein_distance,
)


def _clouds(n=7, m=5, d=3, seed=0, dtype=torch.float64, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randn(m, d, generator=g, dtype=torch.float64) + 0.5
    return x.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)


# ---------------------------------------------------------------- costs
@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean"])
def test_cost_matrix_matches_scipy(metric, device, dtype, tol):
    x, y = _clouds(dtype=dtype, device=device)
    c = cost_matrix(x, y, metric=metric)
    assert c.dtype == dtype and c.device.type == device.type
    ref = scipy.spatial.distance.cdist(x.cpu().double().numpy(), y.cpu().double().numpy(), metric=metric)
    torch.testing.assert_close(c.cpu(), torch.as_tensor(ref, dtype=dtype), rtol=1e-4 if dtype == torch.float32 else 1e-9,
                               atol=1e-4 if dtype == torch.float32 else 1e-10)


def test_cost_self_is_symmetric_nonnegative_zero_diagonal():
    x, _ = _clouds(n=30)
    c = cost_matrix(x * 1e3)
    assert bool((c >= 0).all())
    torch.testing.assert_close(c, c.T)
    assert float(c.diag().abs().max()) < 1e-6 * float(c.max())


@pytest.mark.parametrize("method", ["median", "mean", "max"])
def test_normalize_cost(method):
    x, y = _clouds(n=9, m=9)
    c = cost_matrix(x, y)
    stat = {"median": c.flatten().median(), "mean": c.mean(), "max": c.max()}[method]
    torch.testing.assert_close(cost_matrix(x, y, normalize=method), c / stat)
    assert normalize_cost(c, normalize=None) is c


def test_cost_bad_inputs():
    x, y = _clouds()
    with pytest.raises(ValueError, match="x must be 2-D"):
        cost_matrix(x[0], y)
    with pytest.raises(ValueError, match=r"y has size 2 along axis 1 \(d\) but x has d = 3"):
        cost_matrix(x, y[:, :2])
    with pytest.raises(ValueError, match="metric must be one of"):
        cost_matrix(x, y, metric="cosine")
    with pytest.raises(TypeError, match="y has dtype torch.float32 but x has torch.float64"):
        cost_matrix(x, y.float())
    with pytest.raises(ValueError, match="non-finite"):
        cost_matrix(x * float("nan"), y)
    with pytest.raises(ValueError, match="cannot normalise"):
        normalize_cost(torch.zeros(3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="normalize must be one of"):
        normalize_cost(torch.ones(3, 3), normalize="min")
    # issue 12: empty clouds used to reach torch's max() and fail there
    with pytest.raises(ValueError, match="cost_matrix: x must not be empty"):
        cost_matrix(torch.zeros(0, 2), torch.ones(3, 2), normalize="max")
    with pytest.raises(ValueError, match="cost must have values in"):
        normalize_cost(-torch.ones(2, 2))


# ---------------------------------------------------------------- exact and entropic
def test_exact_ot_matches_brute_force_assignment():
    x, y = _clouds(n=5, m=5, seed=3)
    c = cost_matrix(x, y)
    best = min(sum(float(c[i, p[i]]) for i in range(5)) for p in itertools.permutations(range(5))) / 5
    res = exact_ot(None, None, c)
    assert res.value.item() == pytest.approx(best, rel=1e-12)
    torch.testing.assert_close(res.plan.sum(1), torch.full((5,), 0.2, dtype=torch.float64))


def test_exact_ot_keeps_dtype_device(device, dtype):
    x, y = _clouds(dtype=dtype, device=device)
    res = exact_ot(None, None, cost_matrix(x, y))
    assert res.plan.dtype == dtype and res.plan.device.type == device.type


def test_exact_ot_unequal_mass_raises():
    c = torch.ones(2, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="equal mass"):
        exact_ot(torch.tensor([0.5, 0.5], dtype=torch.float64), torch.tensor([1.0, 1.0], dtype=torch.float64), c)


def test_entropic_converges_to_exact_as_eps_shrinks():
    x, y = _clouds(n=8, m=6, seed=1)
    c = cost_matrix(x, y, normalize="max")
    exact = exact_ot(None, None, c).value.item()
    gaps = [entropic_ot(None, None, c, reg=reg, max_iter=100_000, tol=1e-5).value.item() - exact for reg in (0.1, 0.01, 0.001)]
    assert gaps[0] > gaps[1] > abs(gaps[2])
    assert abs(gaps[2]) < 1e-3


def test_entropic_marginals_and_pot_agreement(dtype, tol):
    x, y = _clouds(n=8, m=6, seed=2, dtype=dtype)
    c = cost_matrix(x, y, normalize="median")
    res = entropic_ot(None, None, c, reg=0.1, tol=1e-9 if dtype == torch.float64 else 1e-6)
    ref = ot.sinkhorn(torch.full((8,), 1 / 8, dtype=dtype), torch.full((6,), 1 / 6, dtype=dtype), c, 0.1,
                      method="sinkhorn", stopThr=1e-12, numItermax=100000)
    torch.testing.assert_close(res.plan, ref, rtol=1e-3 if dtype == torch.float32 else 1e-7, atol=1e-6)
    torch.testing.assert_close(res.plan.sum(0), torch.full((6,), 1 / 6, dtype=dtype), rtol=1e-5, atol=1e-7)


def test_entropic_bad_inputs():
    c = torch.rand(3, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="reg must be a real number > 0"):
        entropic_ot(None, None, c, reg=0.0)
    with pytest.raises(ValueError, match="method must be one of"):
        entropic_ot(None, None, c, reg=0.1, method="greenkhorn")
    with pytest.raises(ValueError, match=r"a has size 2 along axis 0 \(n\) but cost has n = 3"):
        entropic_ot(torch.ones(2, dtype=torch.float64), None, c, reg=0.1)
    with pytest.raises(ValueError, match=r"a must have values in \[0, inf\)"):
        entropic_ot(torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64), None, c, reg=0.1)
    with pytest.raises(ValueError, match="a must have positive total mass"):
        entropic_ot(torch.zeros(3, dtype=torch.float64), None, c, reg=0.1)
    with pytest.raises(ValueError, match="a and b must have equal mass"):
        entropic_ot(torch.ones(3, dtype=torch.float64), None, c, reg=0.1)
    with pytest.raises(TypeError, match="a has dtype torch.float32 but cost has torch.float64"):
        entropic_ot(torch.ones(3) / 3, None, c, reg=0.1)
    with pytest.raises(TypeError, match="entropic_ot: too many positional arguments"):
        entropic_ot(None, None, c, 0.1)  # options are keyword-only


# ---------------------------------------------------------------- unbalanced
@pytest.mark.parametrize("reg_type", ["kl", "entropy"])
@pytest.mark.filterwarnings("ignore:If reg_type = entropy:UserWarning")
def test_unbalanced_log_domain_matches_pot(reg_type):
    x, y = _clouds(n=20, m=15, seed=4)
    c = cost_matrix(x, y, normalize="median")
    a = torch.rand(20, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) + 0.5
    a = a / a.sum()
    ours = unbalanced_ot(a, None, c, reg=0.05, reg_m=(1.0, 50.0), reg_type=reg_type, method="sinkhorn_log", tol=1e-12)
    ref = ot.unbalanced.sinkhorn_unbalanced(a, torch.full((15,), 1 / 15, dtype=torch.float64), c, 0.05, (1.0, 50.0),
                                            method="sinkhorn", reg_type=reg_type, stopThr=1e-14, numItermax=100000)
    torch.testing.assert_close(ours.plan, ref, rtol=1e-6, atol=1e-10)


def test_unbalanced_huge_penalty_is_balanced():
    x, y = _clouds(n=12, m=9, seed=5)
    c = cost_matrix(x, y, normalize="median")
    # tol 1e-7: with lambda / reg = 1e8 the translation-invariant stopping statistic has a roundoff floor near 1e-8
    unb = unbalanced_ot(None, None, c, reg=0.1, reg_m=1e7, reg_type="kl", tol=1e-7)
    bal = entropic_ot(None, None, c, reg=0.1, tol=1e-12)
    torch.testing.assert_close(unb.plan, bal.plan, rtol=1e-4, atol=1e-8)


def test_unbalanced_infinite_penalty_enforces_marginal():
    x, y = _clouds(n=12, m=9, seed=6)
    c = cost_matrix(x, y, normalize="median")
    res = unbalanced_ot(None, None, c, reg=0.05, reg_m=(1.0, float("inf")), method="sinkhorn_log", tol=1e-12)
    torch.testing.assert_close(res.plan.sum(0), torch.full((9,), 1 / 9, dtype=torch.float64))
    assert float((res.plan.sum(1) - 1 / 12).abs().max()) > 1e-3  # the source side is free to move


def test_unbalanced_small_eps_float32_stays_finite_and_agrees_with_float64():
    x, y = _clouds(n=40, m=30, seed=7)
    c = cost_matrix(x, y, normalize="median")
    r64 = unbalanced_ot(None, None, c, reg=0.01, reg_m=(1.0, 50.0), method="sinkhorn_log", tol=1e-10)
    r32 = unbalanced_ot(None, None, c.float(), reg=0.01, reg_m=(1.0, 50.0), method="auto", tol=1e-7)  # kernel unsafe
    assert r32.method == "sinkhorn_log" and r32.plan.dtype == torch.float32
    assert bool(torch.isfinite(r32.plan).all())
    # float32 stops at tol 1e-7; 5e-6 is 0.6% of a uniform entry (1 / 1200)
    torch.testing.assert_close(r32.plan.double(), r64.plan, rtol=2e-3, atol=5e-6)


def test_unbalanced_auto_uses_kernel_iteration_when_safe():
    x, y = _clouds(n=10, m=10, seed=8)
    c = cost_matrix(x, y, normalize="max")
    assert unbalanced_ot(None, None, c, reg=0.5, reg_m=1.0, method="auto").method == "sinkhorn"


def test_unbalanced_pot_underflow_is_an_error_not_a_silent_result():
    x, y = _clouds(n=10, m=10, seed=9)
    c = cost_matrix(x, y) * 100.0
    with pytest.raises(FloatingPointError, match="sinkhorn_log"):
        unbalanced_ot(None, None, c, reg=1e-3, reg_m=(1.0, 50.0), method="sinkhorn")


def test_unbalanced_stabilised_log_domain_survives_tiny_eps():
    x, y = _clouds(n=30, m=25, seed=13)
    c = cost_matrix(x, y, normalize="median").float()
    res = unbalanced_ot(None, None, c, reg=2e-3, reg_m=(1.0, 50.0), tol=1e-5)
    assert res.method == "sinkhorn_log" and bool(torch.isfinite(res.plan).all())
    # the target marginal is nearly enforced (lambda2 = 50) even though exp(-C/eps) underflows everywhere
    assert float((res.plan.sum(0) * 25 - 1).abs().max()) < 0.05


def test_unbalanced_keeps_dtype_device(device, dtype):
    x, y = _clouds(dtype=dtype, device=device)
    for method in ("sinkhorn_log", "sinkhorn"):
        res = unbalanced_ot(None, None, cost_matrix(x, y, normalize="median"), reg=0.5, reg_m=(1.0, 50.0), method=method)
        assert res.plan.dtype == dtype and res.plan.device.type == device.type


def test_unbalanced_bad_inputs():
    c = torch.rand(3, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="reg_type must be one of"):
        unbalanced_ot(None, None, c, reg=0.1, reg_type="l2")
    with pytest.raises(ValueError, match="method must be one of"):
        unbalanced_ot(None, None, c, reg=0.1, method="mm")
    with pytest.raises(ValueError, match=r"reg_m\[1\] must be a real number or inf > 0"):
        unbalanced_ot(None, None, c, reg=0.1, reg_m=(1.0, 0.0))
    with pytest.raises(ValueError, match=r"a must have values in \(0, inf\)"):
        unbalanced_ot(torch.tensor([0.0, 0.5, 0.5], dtype=torch.float64), None, c, reg=0.1)
    with pytest.raises(ValueError, match="reg_m must have 2 items, got 3"):
        unbalanced_ot(None, None, c, reg=0.1, reg_m=(1.0, 2.0, 3.0))
    with pytest.raises(TypeError, match="reg_m must be a real number or inf > 0 or a list or tuple"):
        unbalanced_ot(None, None, c, reg=0.1, reg_m="strong")


# ---------------------------------------------------------------- maps
def test_barycentric_projection_matches_loop():
    x, y = _clouds(n=6, m=4)
    plan = entropic_ot(None, None, cost_matrix(x, y), reg=1.0).plan
    ref = torch.stack([sum(plan[i, j] * y[j] for j in range(4)) / plan[i].sum() for i in range(6)])
    torch.testing.assert_close(barycentric_projection(plan, y), ref)


def test_translation_interpolant_is_exact():
    x, _ = _clouds(n=25, d=2, seed=10)
    shift = torch.tensor([3.0, -1.0], dtype=torch.float64)
    plan = exact_ot(None, None, cost_matrix(x, x + shift)).plan
    torch.testing.assert_close(barycentric_projection(plan, x + shift), x + shift)
    res = displacement_interpolation(x, x + shift, plan, 0.3)
    assert wasserstein_distance(res.points, x + 0.3 * shift, a=res.weights).item() < 1e-6


def test_sample_coupling_frequencies():
    plan = torch.tensor([[0.1, 0.2], [0.3, 0.4]], dtype=torch.float64)
    pairs = sample_coupling(plan, 40000, generator=torch.Generator().manual_seed(0))
    i, j = pairs.rows, pairs.cols
    freq = torch.zeros(2, 2, dtype=torch.float64).index_put_((i, j), torch.ones(40000, dtype=torch.float64), accumulate=True)
    # 4-sigma binomial tolerance
    assert float(((freq / 40000 - plan).abs() / (plan * (1 - plan) / 40000).sqrt()).max()) < 4.0


def test_maps_bad_inputs():
    with pytest.raises(ValueError, match=r"plan must have values in \[0, inf\)"):
        barycentric_projection(-torch.ones(2, 2), torch.ones(2, 1))
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        sample_coupling(torch.ones(2, 2), 0)
    with pytest.raises(ValueError, match=r"t must be a real number in \[0, 1\]"):
        displacement_interpolation(torch.zeros(2, 1), torch.zeros(2, 1), torch.ones(2, 2), 1.5)
    with pytest.raises(ValueError, match="plan has no mass"):
        sample_coupling(torch.zeros(2, 2), 3)
    with pytest.raises(ValueError, match="plan has no mass"):
        displacement_interpolation(torch.zeros(2, 1), torch.zeros(2, 1), torch.zeros(2, 2), 0.5)
    # issue 12: a float32 plan with float64 points used to fail inside the matrix product
    with pytest.raises(TypeError, match="y has dtype torch.float64 but plan has torch.float32"):
        barycentric_projection(torch.ones(2, 2), torch.ones(2, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="generator must be a CPU torch.Generator|generator must be a non-negative"):
        sample_coupling(torch.ones(2, 2), 3, generator=-1)


def test_sampling_is_reproducible_from_a_seed():
    plan = torch.rand(4, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    a, b = sample_coupling(plan, 50, generator=7), sample_coupling(plan, 50, generator=7)
    assert torch.equal(a.rows, b.rows) and torch.equal(a.cols, b.cols)
    # displacement_interpolation draws the same pairs from the same seed
    x, y = torch.arange(4.0, dtype=torch.float64)[:, None], 10 * torch.arange(5.0, dtype=torch.float64)[:, None]
    res = displacement_interpolation(x, y, plan, 0.5, n_samples=50, generator=7)
    torch.testing.assert_close(res.points, 0.5 * x[a.rows] + 0.5 * y[a.cols])
    torch.testing.assert_close(res.weights, torch.full((50,), 1 / 50, dtype=torch.float64))


# ---------------------------------------------------------------- distances
def test_wasserstein_1d_matches_scipy():
    g = torch.Generator().manual_seed(11)
    u, v = torch.randn(30, 1, generator=g, dtype=torch.float64), torch.rand(20, 1, generator=g, dtype=torch.float64)
    ref = scipy.stats.wasserstein_distance(u[:, 0].numpy(), v[:, 0].numpy())
    assert wasserstein_distance(u, v, p=1).item() == pytest.approx(ref, rel=1e-10)


def test_wasserstein_2_1d_quantile_formula():
    g = torch.Generator().manual_seed(12)
    u, v = torch.randn(40, 1, generator=g, dtype=torch.float64), 2 * torch.randn(40, 1, generator=g, dtype=torch.float64)
    ref = ((u.sort(0).values - v.sort(0).values) ** 2).mean().sqrt()
    assert wasserstein_distance(u, v).item() == pytest.approx(ref.item(), rel=1e-10)


def test_wasserstein_entropic_close_to_exact_and_keeps_dtype(device, dtype):
    x, y = _clouds(n=30, m=30, d=2, dtype=dtype, device=device)
    exact = wasserstein_distance(x, y)
    approx = wasserstein_distance(x, y, reg=0.01)
    assert exact.dtype == dtype and exact.device.type == device.type
    assert float(approx) >= float(exact) - 1e-4 and float(approx) < 1.05 * float(exact)


@pytest.mark.gpu
def test_ot_core_path_on_cuda():
    x, y = _clouds(n=200, m=150, d=5, dtype=torch.float32, device="cuda")
    c = cost_matrix(x, y, normalize="median")
    res = unbalanced_ot(None, None, c, reg=0.05, reg_m=(1.0, 50.0))
    assert res.plan.is_cuda and bool(torch.isfinite(res.plan).all())
    assert wasserstein_distance(x, y).is_cuda
    assert barycentric_projection(res.plan, y).is_cuda
    # the randomness rule: a CPU seed gives the same pairs on CPU and CUDA
    gpu = sample_coupling(res.plan, 100, generator=5)
    cpu = sample_coupling(res.plan.cpu(), 100, generator=5)
    assert gpu.rows.is_cuda and torch.equal(gpu.rows.cpu(), cpu.rows) and torch.equal(gpu.cols.cpu(), cpu.cols)


# ---------------------------------------------------------------- issue 17: stopping rule, small reg, warnings
def _snapshots(n, dtype=torch.float64):
    from nips2019.lineage import simulate_lineage

    sim = simulate_lineage(n_cells=n, n_founders=2 * n, times=(1.5, 2.0), generator=n, progress=False)
    return cost_matrix(sim.x[0], sim.x[1], normalize="median").to(dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_plain_log_domain_stops_where_pot_kernel_iteration_stops(dtype):
    # issue 17: the old rule (max change of log u, every 10 iterations) took 280-370 iterations where POT took ~270
    c = _snapshots(300, dtype)
    u = torch.full((300,), 1 / 300, dtype=dtype)
    ours = unbalanced_ot(None, None, c, reg=0.05, reg_m=(1.0, 50.0), method="sinkhorn_log")
    _, log = ot.unbalanced.sinkhorn_unbalanced(u, u, c, 0.05, (1.0, 50.0), method="sinkhorn", reg_type="kl",
                                               stopThr=1e-6, numItermax=10_000, log=True)
    # float64: the same iterates, the same count; float32 (scalings kept in float64): within a few, as
    # POT's own numpy and torch float32 runs differ by 2
    slack = 0 if dtype == torch.float64 else 5
    assert abs(ours.n_iter - len(log["err"])) <= slack, (ours.n_iter, len(log["err"]))


def test_translation_invariant_log_domain_is_pots_translation_invariant_iteration():
    c = _snapshots(200)
    u = torch.full((200,), 1 / 200, dtype=torch.float64)
    ours = unbalanced_ot(None, None, c, reg=0.05, reg_m=(1.0, 50.0), method="sinkhorn_log_ti")
    ref, log = ot.unbalanced.sinkhorn_unbalanced(u, u, c, 0.05, (1.0, 50.0), method="sinkhorn_translation_invariant",
                                                 reg_type="kl", stopThr=1e-6, numItermax=10_000, log=True)
    assert ours.n_iter == len(log["err"])
    torch.testing.assert_close(ours.plan, ref, rtol=1e-8, atol=1e-12)
    plain = unbalanced_ot(None, None, c, reg=0.05, reg_m=(1.0, 50.0), method="sinkhorn_log")
    assert ours.n_iter < 0.6 * plain.n_iter, (ours.n_iter, plain.n_iter)  # ~2x fewer iterations


def test_translation_invariant_fixed_point_has_a_higher_objective_so_it_is_not_the_default():
    x = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    c = cost_matrix(x, x + 0.3, normalize="median")
    a = torch.full((50,), 1 / 50, dtype=torch.float64)

    def kl(p, q):
        return float((p * torch.log(p / q) - p + q).sum())

    def objective(plan, reg):
        return (float((plan * c).sum()) + reg * kl(plan, a[:, None] * a[None, :]) + kl(plan.sum(1), a)
                + 50 * kl(plan.sum(0), a))

    plain = unbalanced_ot(a, a, c, reg=1.0, reg_m=(1.0, 50.0), method="sinkhorn_log", tol=1e-12).plan
    ti = unbalanced_ot(a, a, c, reg=1.0, reg_m=(1.0, 50.0), method="sinkhorn_log_ti", tol=1e-12).plan
    pot = ot.unbalanced.sinkhorn_unbalanced(a, a, c, 1.0, (1.0, 50.0), method="sinkhorn", reg_type="kl",
                                            stopThr=1e-13)
    torch.testing.assert_close(plain, pot, rtol=1e-8, atol=1e-12)  # the generalised Sinkhorn fixed point
    assert objective(ti, 1.0) > objective(plain, 1.0) + 1e-3, (objective(ti, 1.0), objective(plain, 1.0))


def test_small_reg_1e3_finite_and_accurate_in_float32():
    # a cost small enough for POT's float64 kernel at reg 1e-3 (max C / reg = 500): an independent reference
    c = _snapshots(80) * 0.5 / float(_snapshots(80).max())
    u = torch.full((80,), 1 / 80, dtype=torch.float64)
    ref = ot.unbalanced.sinkhorn_unbalanced(u, u, c, 1e-3, (1.0, 50.0), method="sinkhorn", reg_type="kl",
                                            stopThr=1e-9, numItermax=50_000)
    ours = unbalanced_ot(None, None, c.float(), reg=1e-3, reg_m=(1.0, 50.0), tol=1e-7, max_iter=50_000)
    assert ours.converged and bool(torch.isfinite(ours.plan).all())
    assert float((ours.plan.double() - ref).abs().max()) * 80**2 < 1e-2
    # on the median-normalised cost exp(-C / 1e-3) underflows everywhere but the plan stays finite
    big = _snapshots(80).float()
    assert float((torch.exp(-big / 1e-3) == 0).double().mean()) > 0.99
    res = unbalanced_ot(None, None, big, reg=1e-3, reg_m=(1.0, 50.0), max_iter=50_000)
    assert res.converged and bool(torch.isfinite(res.plan).all())
    assert float((res.plan.sum(0) * 80 - 1).abs().max()) < 0.05  # lambda2 = 50 nearly enforces the target


def test_max_iter_warns_and_reg_1e4_converges_or_warns():
    import warnings

    from nips2019.ot import ConvergenceWarning

    c = _snapshots(60)
    with pytest.warns(ConvergenceWarning, match="did not converge in max_iter = 2000"):
        res = unbalanced_ot(None, None, c, reg=1e-4, reg_m=(1.0, 50.0), method="sinkhorn_log", reg_scaling=False,
                            max_iter=2000)
    assert not res.converged and res.n_iter == 2000 and bool(torch.isfinite(res.plan).all())
    # the default (translation invariant, epsilon scaling) either meets tol or says it did not
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = unbalanced_ot(None, None, c, reg=1e-4, reg_m=(1.0, 50.0), max_iter=4000)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert res.converged != warned and bool(torch.isfinite(res.plan).all())


def test_pot_methods_warn_at_max_iter_too():
    from nips2019.ot import ConvergenceWarning

    c = _snapshots(60)
    with pytest.warns(ConvergenceWarning, match="'sinkhorn' solver did not converge"):
        res = unbalanced_ot(None, None, c, reg=0.05, reg_m=(1.0, 50.0), method="sinkhorn", max_iter=5)
    assert not res.converged


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_fused_row_blocks_give_the_iterates_of_two_separate_products(monkeypatch, dtype):
    # a large kernel is read once per iteration in row blocks (K v and K^T u fused); force 20-row
    # blocks on a small problem and compare with the single-block run
    import nips2019.ot._solvers as solvers

    c = _snapshots(300, dtype)
    assert solvers._row_blocks(300, 300, c.element_size()) == [(0, 300)]
    one = unbalanced_ot(None, None, c, reg=0.05, reg_m=(1.0, 50.0))
    monkeypatch.setattr(solvers, "_BLOCK_BYTES", 300 * c.element_size() * 20)
    assert len(solvers._row_blocks(300, 300, c.element_size())) == 15
    blocks = unbalanced_ot(None, None, c, reg=0.05, reg_m=(1.0, 50.0))
    assert blocks.n_iter == one.n_iter
    rtol, atol = (1e-10, 1e-14) if dtype == torch.float64 else (1e-4, 1e-9)
    torch.testing.assert_close(blocks.plan, one.plan, rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("reg_m", [(1.0, 50.0), (1.0, math.inf), (0.5, 0.5)], ids=["1-50", "1-inf", "half"])
def test_plain_stage_gives_the_iterates_of_the_generic_loop(monkeypatch, dtype, reg_m):
    # _plain_stage (padded (2, L) scalings, six operations per row block, a six-pass first step)
    # against the generic loop it replaces for the plain unbalanced updates; n != m
    import nips2019.ot._solvers as solvers

    c = _snapshots(200, dtype)[:, :173].contiguous()
    fast = unbalanced_ot(None, None, c, reg=0.05, reg_m=reg_m)
    monkeypatch.setattr(solvers, "_FAST_PLAIN", False)
    generic = unbalanced_ot(None, None, c, reg=0.05, reg_m=reg_m)
    if dtype == torch.float64:  # the same arithmetic: the same count, the plans to rounding
        assert fast.n_iter == generic.n_iter
        torch.testing.assert_close(fast.plan, generic.plan, rtol=1e-9, atol=1e-15)
    else:  # float32 rounding of the first step differs: a few iterations, plans to 1e-3 / n^2
        assert abs(fast.n_iter - generic.n_iter) <= 5, (fast.n_iter, generic.n_iter)
        assert float((fast.plan - generic.plan).abs().max()) * c.numel() < 1e-3


def test_plain_stage_falls_back_to_the_logsumexp_first_step(monkeypatch):
    import nips2019.ot._solvers as solvers

    c = _snapshots(120)
    ref = unbalanced_ot(None, None, c, reg=0.05, reg_m=(1.0, 50.0))
    monkeypatch.setattr(solvers, "_first_step", lambda *args: None)
    res = unbalanced_ot(None, None, c, reg=0.05, reg_m=(1.0, 50.0))
    assert res.n_iter == ref.n_iter
    torch.testing.assert_close(res.plan, ref.plan, rtol=1e-9, atol=1e-15)


def test_cost_finiteness_is_checked_on_one_reduction_with_the_same_errors():
    from nips2019.ot._checks import CostTensor

    c = torch.rand(6, 5, dtype=torch.float64)
    for bad in (math.nan, math.inf, -math.inf):
        d = c.clone()
        d[2, 3] = bad
        with pytest.raises(ValueError, match=r"unbalanced_ot: cost contains 1 non-finite value\(s\)"):
            unbalanced_ot(None, None, d, reg=0.1)
    d = c.clone()
    d[0, 0], d[1, 1] = math.inf, -math.inf  # inf - inf: the sum is NaN, still refused
    with pytest.raises(ValueError, match="contains 2 non-finite"):
        exact_ot(None, None, d)
    # finite entries whose sum overflows: the entry-wise fallback accepts them
    big = torch.full((3, 3), 3e38, dtype=torch.float32)
    assert not bool(torch.isfinite(big.sum()))
    CostTensor(shape=("n", "m"), dtype="floating").check(big, "cost")
    assert unbalanced_ot(None, None, big, reg=1e38).plan.shape == (3, 3)


def test_float32_kernel_sum_formed_in_float64_at_small_reg(monkeypatch):
    # at reg 1e-3 the terms of x_i + y_j - C_ij / reg are ~1e4 and cancel: float32 rounding of them
    # moved the float32 plan 10x further from float64 than rounding the cost itself does
    import nips2019.ot._solvers as solvers

    c64 = _snapshots(120)
    c32 = c64.float()
    ref = unbalanced_ot(None, None, c64, reg=1e-3, tol=1e-9, max_iter=50_000).plan
    floor = unbalanced_ot(None, None, c32.double(), reg=1e-3, tol=1e-9, max_iter=50_000).plan
    floor = float((floor - ref).abs().max())  # what rounding the cost to float32 costs
    wide = float((unbalanced_ot(None, None, c32, reg=1e-3, max_iter=50_000).plan.double() - ref).abs().max())
    monkeypatch.setattr(solvers, "_WIDE_SUM_ABOVE", math.inf)
    narrow = float((unbalanced_ot(None, None, c32, reg=1e-3, max_iter=50_000).plan.double() - ref).abs().max())
    assert wide < 2 * floor < narrow, (wide, floor, narrow)


@pytest.mark.parametrize("reg_m", [(1.0, 50.0), pytest.param((50.0, 50.0), marks=pytest.mark.slow), (1.0, 1.0)],
                         ids=["1-50", "50-50", "1-1"])
def test_mass_mode_shift_reaches_the_same_fixed_point_in_fewer_iterations(reg_m):
    # issue 17: the constant shift of log v is the slow mode (rate fa fb); removing it keeps the fixed point
    c = _snapshots(80)
    ref = unbalanced_ot(None, None, c, reg=0.05, reg_m=reg_m, method="sinkhorn_log", tol=1e-11, max_iter=200_000)
    pot = ot.unbalanced.sinkhorn_unbalanced(*(torch.full((80,), 1 / 80, dtype=torch.float64),) * 2, c, 0.05,
                                            reg_m, method="sinkhorn", reg_type="kl", stopThr=1e-11,
                                            numItermax=200_000)
    torch.testing.assert_close(ref.plan, pot, rtol=1e-6, atol=1e-10)  # the reference is POT's fixed point
    shift = unbalanced_ot(None, None, c, reg=0.05, reg_m=reg_m, method="sinkhorn_log_shift", tol=1e-11,
                          max_iter=200_000)
    assert shift.converged and shift.n_iter < ref.n_iter
    torch.testing.assert_close(shift.plan, ref.plan, rtol=1e-6, atol=1e-10)
    # at equal plan accuracy (the shift needs a 100x smaller tol for POT's 1e-6 accuracy) still fewer iterations
    plain = unbalanced_ot(None, None, c, reg=0.05, reg_m=reg_m, method="sinkhorn_log", tol=1e-6)
    fast = unbalanced_ot(None, None, c, reg=0.05, reg_m=reg_m, method="sinkhorn_log_shift", tol=1e-8)
    err_plain = float((plain.plan - ref.plan).abs().max())
    err_fast = float((fast.plan - ref.plan).abs().max())
    assert err_fast < err_plain and fast.n_iter < plain.n_iter, (err_fast, err_plain, fast.n_iter, plain.n_iter)


def test_mass_mode_shift_float32_and_balanced_and_small_reg():
    c = _snapshots(100)
    ref = unbalanced_ot(None, None, c, reg=0.05, reg_m=(1.0, 50.0), tol=1e-11, max_iter=100_000).plan
    f32 = unbalanced_ot(None, None, c.float(), reg=0.05, reg_m=(1.0, 50.0), method="sinkhorn_log_shift")
    plain32 = unbalanced_ot(None, None, c.float(), reg=0.05, reg_m=(1.0, 50.0))
    assert f32.plan.dtype == torch.float32 and f32.n_iter < 0.7 * plain32.n_iter, (f32.n_iter, plain32.n_iter)
    # in float32 both stop at the dtype's accuracy: the shifted run is no less accurate
    assert float((f32.plan.double() - ref).abs().max()) <= 1.5 * float((plain32.plan.double() - ref).abs().max())
    # balanced (fa = fb = 1): the shift is a true invariance there, nothing to extrapolate; same result
    bal = unbalanced_ot(None, None, c, reg=0.05, reg_m=float("inf"), method="sinkhorn_log_shift")
    bal_ref = unbalanced_ot(None, None, c, reg=0.05, reg_m=float("inf"), method="sinkhorn_log")
    torch.testing.assert_close(bal.plan, bal_ref.plan)
    # epsilon scaling stages use it too: reg 1e-3 stays finite and converges
    small = unbalanced_ot(None, None, c.float(), reg=1e-3, reg_m=(1.0, 50.0), method="sinkhorn_log_shift",
                          max_iter=50_000)
    assert small.converged and bool(torch.isfinite(small.plan).all())
