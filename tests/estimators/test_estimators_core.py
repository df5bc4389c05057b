"""Gradient estimators against closed forms (z-tests), the step-function failure, devices."""

from __future__ import annotations

import math

import pytest
import torch

from nips2019.estimators import (
    bernoulli_gradient,
    measure_valued_gradient,
    pathwise_gradient,
    poisson_gradient,
    score_function_gradient,
)

D64 = torch.float64
LOC = torch.tensor([0.7, -0.3], dtype=D64)
SCALE = torch.tensor([0.5, 1.2], dtype=D64)
GAUSSIAN = [score_function_gradient, pathwise_gradient, measure_valued_gradient]
Z = 4.5  # |z| bound: with ~40 z-tests the chance of a false alarm is ~3e-4


def _z(est, truth):
    return ((est.mean - truth) / est.stderr).abs().max().item()


@pytest.mark.parametrize("fn", GAUSSIAN, ids=lambda f: f.__name__)
def test_square_closed_forms(fn):
    g = fn(lambda x: (x ** 2).sum(-1), LOC, SCALE, n_samples=20_000, generator=0)
    assert _z(g.loc, 2 * LOC) < Z      # d/dmu E[x^2] = 2 mu
    assert _z(g.scale, 2 * SCALE) < Z  # d/dsigma E[x^2] = 2 sigma


@pytest.mark.parametrize("k", [1.0, 4.0])
@pytest.mark.parametrize("fn", GAUSSIAN, ids=lambda f: f.__name__)
def test_cosine_closed_form(fn, k):
    g = fn(lambda x: torch.cos(k * x).sum(-1), LOC, SCALE, n_samples=20_000, generator=1)
    truth_loc = -k * torch.sin(k * LOC) * torch.exp(-k ** 2 * SCALE ** 2 / 2)
    truth_scale = -k ** 2 * SCALE * torch.cos(k * LOC) * torch.exp(-k ** 2 * SCALE ** 2 / 2)
    assert _z(g.loc, truth_loc) < Z
    assert _z(g.scale, truth_scale) < Z


def test_the_z_test_can_fail():
    """A 3 % error in the closed form is detected at this sample size."""
    g = pathwise_gradient(lambda x: (x ** 2).sum(-1), LOC, SCALE, n_samples=20_000, generator=0)
    assert _z(g.loc, 1.03 * 2 * LOC) > Z


def test_step_function_pathwise_fails_mvd_does_not():
    loc, scale = torch.tensor([0.3], dtype=D64), torch.tensor([1.0], dtype=D64)

    def step(x):  # autograd sees a zero derivative everywhere
        return (torch.sign(x[:, 0]) + 1) / 2

    truth = math.exp(-0.5 * 0.3 ** 2) / math.sqrt(2 * math.pi)  # density of N(0.3, 1) at 0
    pw = pathwise_gradient(step, loc, scale, n_samples=5000, generator=0)
    assert pw.loc.mean.abs().item() == 0.0  # silently zero: biased by the whole answer
    mvd = measure_valued_gradient(step, loc, scale, n_samples=20_000, generator=0)
    assert abs(mvd.loc.mean.item() - truth) < Z * mvd.loc.stderr.item()
    sf = score_function_gradient(step, loc, scale, n_samples=20_000, generator=0)
    assert abs(sf.loc.mean.item() - truth) < Z * sf.loc.stderr.item()


def test_pathwise_refuses_non_differentiable_output():
    with pytest.raises(ValueError, match="does not depend on x through autograd"):
        pathwise_gradient(lambda x: (x[:, 0] > 0).double(), LOC, SCALE, n_samples=4, generator=0)


def test_coupling_lowers_mvd_variance_without_bias():
    f = lambda x: torch.cos(2 * x).sum(-1)  # noqa: E731
    c = measure_valued_gradient(f, LOC, SCALE, n_samples=20_000, coupling=True, generator=0)
    u = measure_valued_gradient(f, LOC, SCALE, n_samples=20_000, coupling=False, generator=0)
    assert bool((c.scale.variance < u.scale.variance).all())
    truth = -4 * SCALE * torch.cos(2 * LOC) * torch.exp(-2 * SCALE ** 2)
    assert _z(u.scale, truth) < Z and _z(c.scale, truth) < Z


def test_baseline_lowers_score_function_variance():
    f = lambda x: 5.0 + (x ** 2).sum(-1)  # noqa: E731
    plain = score_function_gradient(f, LOC, SCALE, n_samples=20_000, baseline="none", generator=0)
    loo = score_function_gradient(f, LOC, SCALE, n_samples=20_000, baseline="leave_one_out", generator=0)
    const = score_function_gradient(f, LOC, SCALE, n_samples=20_000, baseline=5.0, generator=0)
    assert bool((loo.loc.variance < plain.loc.variance / 2).all())
    for g in (plain, loo, const):
        assert _z(g.loc, 2 * LOC) < Z


def test_mvd_is_exact_for_linear_functions_and_counts_evaluations():
    g = measure_valued_gradient(lambda x: x @ torch.tensor([2.0, -1.0], dtype=D64), LOC, SCALE,
                                n_samples=10, generator=0)
    # the mean part still has Weibull noise; the evaluation count is 4 d n
    assert g.loc.n_evaluations == 4 * 2 * 10
    b = bernoulli_gradient(lambda x: x @ torch.tensor([2.0, -1.0], dtype=D64),
                           torch.tensor([0.2, 0.9], dtype=D64), n_samples=10, generator=0)
    torch.testing.assert_close(b.samples, torch.tensor([[2.0, -1.0]], dtype=D64).expand(10, 2))


@pytest.mark.parametrize("method", ["score_function", "measure_valued"])
def test_bernoulli_and_poisson_closed_forms(method):
    p = torch.tensor([0.3, 0.6], dtype=D64)
    g = bernoulli_gradient(lambda x: x[:, 0] * x[:, 1] + x[:, 0], p, method=method, n_samples=20_000,
                           generator=0)
    assert _z(g, torch.tensor([1.6, 0.3], dtype=D64)) < Z
    lam = torch.tensor([2.0, 0.5], dtype=D64)
    g = poisson_gradient(lambda x: x[:, 0] ** 2 + x[:, 0] * x[:, 1], lam, method=method, n_samples=20_000,
                         generator=0)
    # E = lam0 + lam0^2 + lam0 lam1: gradient (1 + 2 lam0 + lam1, lam0)
    assert _z(g, torch.tensor([5.5, 2.0], dtype=D64)) < Z


def test_seeds_reproduce_and_dtype_follows(dtype):
    loc, scale = LOC.to(dtype), SCALE.to(dtype)
    for fn in GAUSSIAN:
        a = fn(lambda x: (x ** 2).sum(-1), loc, scale, n_samples=8, generator=3)
        b = fn(lambda x: (x ** 2).sum(-1), loc, scale, n_samples=8, generator=3)
        assert torch.equal(a.loc.samples, b.loc.samples)
        assert a.loc.mean.dtype == dtype and a.scale.samples.shape == (8, 2)


def test_bad_f_output():
    with pytest.raises(ValueError, match="must map points of shape"):
        score_function_gradient(lambda x: x, LOC, SCALE, n_samples=4)
    with pytest.raises(TypeError, match="must return a torch.Tensor"):
        measure_valued_gradient(lambda x: 1.0, LOC, SCALE, n_samples=4)
    with pytest.raises(ValueError, match="non-finite"):
        score_function_gradient(lambda x: torch.log(x[:, 0] - 100), LOC, SCALE, n_samples=4)
    with pytest.raises(ValueError, match="scale"):
        pathwise_gradient(lambda x: x.sum(-1), LOC, -SCALE)
    with pytest.raises(ValueError, match="loc"):
        pathwise_gradient(lambda x: x.sum(-1), LOC[:1], SCALE)


@pytest.mark.gpu
def test_gpu_core_path():
    loc, scale = LOC.cuda(), SCALE.cuda()
    for fn in GAUSSIAN:
        g = fn(lambda x: (x ** 2).sum(-1), loc, scale, n_samples=20_000, generator=0)
        assert g.loc.mean.device.type == "cuda"
        assert _z(g.loc, 2 * loc) < Z
        cpu = fn(lambda x: (x ** 2).sum(-1), LOC, SCALE, n_samples=20_000, generator=0)
        torch.testing.assert_close(g.loc.mean.cpu(), cpu.loc.mean, rtol=1e-6, atol=1e-8)
    g = poisson_gradient(lambda x: x[:, 0] ** 2, torch.tensor([2.0], dtype=D64, device="cuda"),
                         n_samples=20_000, generator=0)
    assert abs(g.mean.item() - 5.0) < Z * g.stderr.item()
