"""Box volumes, intersections and conditional probabilities against independent references."""

import itertools
import math

import numpy as np
import pytest
import scipy.special
import torch

from nips2019 import boxes
from tests.conftest import TOL

F64 = torch.float64


def _random_boxes(n, d, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    lo = torch.rand(n, d, generator=g, dtype=F64) * scale
    hi = lo + (torch.rand(n, d, generator=g, dtype=F64) - 0.2) * scale
    return lo, hi


def _naive_volume(lo, hi):
    vol = 1.0
    for a, b in zip(lo, hi):
        vol *= max(0.0, b - a)
    return vol


def test_hard_volume_and_intersection_match_interval_arithmetic():
    lo, hi = _random_boxes(6, 3, 0)
    for i, j in itertools.product(range(6), range(6)):
        a = list(zip(lo[i].tolist(), hi[i].tolist()))
        b = list(zip(lo[j].tolist(), hi[j].tolist()))
        inter = [(max(x[0], y[0]), min(x[1], y[1])) for x, y in zip(a, b)]
        ilo, ihi = boxes.box_intersection(lo[i], hi[i], lo[j], hi[j])
        assert ilo.tolist() == [x for x, _ in inter] and ihi.tolist() == [y for _, y in inter]
        want = _naive_volume(*zip(*inter))
        got = boxes.log_volume(ilo, ihi).exp().item()
        if want == 0:
            assert got < 1e-29, (got, inter)  # an empty side counts as 1e-30
        else:
            assert got == pytest.approx(want, rel=1e-12)
        vb = _naive_volume(lo[j].tolist(), hi[j].tolist())
        if vb > 0:
            p = boxes.conditional_probability(lo[i], hi[i], lo[j], hi[j]).item()
            assert p == pytest.approx(min(1.0, want / vb), rel=1e-10, abs=1e-28)


def test_conditional_probability_matches_uniform_monte_carlo():
    # P(A | B) = fraction of uniform points of B that land in A
    lo_a, hi_a = torch.tensor([0.0, 0.2], dtype=F64), torch.tensor([0.6, 1.0], dtype=F64)
    lo_b, hi_b = torch.tensor([0.3, 0.0], dtype=F64), torch.tensor([1.0, 0.5], dtype=F64)
    g = torch.Generator().manual_seed(1)
    x = lo_b + torch.rand(200_000, 2, generator=g, dtype=F64) * (hi_b - lo_b)
    frac = ((x >= lo_a) & (x <= hi_a)).all(1).double().mean().item()
    p = boxes.conditional_probability(lo_a, hi_a, lo_b, hi_b).item()
    assert p == pytest.approx(0.3 / 0.7 * 0.3 / 0.5, rel=1e-12)
    assert abs(frac - p) < 4 * math.sqrt(p * (1 - p) / 200_000)


def test_softplus_volume_tends_to_hard_volume():
    lo, hi = _random_boxes(20, 4, 2)
    hi = torch.maximum(hi, lo + 0.05)
    hard = boxes.log_volume(lo, hi)
    errs = [(boxes.log_volume(lo, hi, method="softplus", temperature=t) - hard).abs().max().item()
            for t in (1e-1, 1e-2, 1e-3)]
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-6, errs
    # softplus lengths always exceed the hinge
    assert bool((boxes.log_volume(lo, hi, method="softplus", temperature=0.1) >= hard).all())


@pytest.mark.parametrize("beta", [0.05, 0.3, 1.0])
def test_gumbel_side_length_matches_scipy_bessel(beta):
    delta = torch.linspace(-2.0, 40.0, 60, dtype=F64) * beta
    got = boxes.gumbel_side_length(delta, beta=beta)
    s = delta.numpy() / beta
    want = 2 * beta * scipy.special.k0(2 * np.exp(-s / 2))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-300)
    # the surrogate has the same large-delta asymptote, delta - 2 beta gamma
    sp = boxes.gumbel_side_length(delta, beta=beta, approx="softplus")
    big = s > 8
    np.testing.assert_allclose(sp.numpy()[big], want[big], rtol=1e-3)


def test_gumbel_expected_volume_matches_monte_carlo_over_corners():
    lo, hi = _random_boxes(4, 3, 3)
    hi = lo + (hi - lo).abs() + 0.2
    beta, n = 0.1, 400_000
    x, y = boxes.sample_gumbel_boxes(lo, hi, beta=beta, n_samples=n, generator=0)
    vols = (y - x).clamp(min=0).prod(-1)
    mc, se = vols.mean(0), vols.std(0) / math.sqrt(n)
    exact = boxes.log_volume(lo, hi, method="gumbel", temperature=beta).exp()
    assert bool(((mc - exact).abs() < 4 * se).all()), (mc, exact, se)
    surrogate = boxes.log_volume(lo, hi, method="gumbel-softplus", temperature=beta).exp()
    assert bool(((surrogate - exact).abs() / exact < 0.08).all())


def test_gumbel_intersection_is_exact_in_expectation():
    # E[vol(A ∩ B)] over independent Gumbel corners = Bessel volume of the log-sum-exp corners
    lo_a, hi_a = torch.tensor([0.0, 0.1], dtype=F64), torch.tensor([0.6, 0.8], dtype=F64)
    lo_b, hi_b = torch.tensor([0.5, 0.0], dtype=F64), torch.tensor([1.0, 0.5], dtype=F64)
    beta, n = 0.05, 400_000
    xa, ya = boxes.sample_gumbel_boxes(lo_a, hi_a, beta=beta, n_samples=n, generator=1)
    xb, yb = boxes.sample_gumbel_boxes(lo_b, hi_b, beta=beta, n_samples=n, generator=2)
    vols = (torch.minimum(ya, yb) - torch.maximum(xa, xb)).clamp(min=0).prod(-1)
    lo, hi = boxes.box_intersection(lo_a, hi_a, lo_b, hi_b, method="gumbel", temperature=beta)
    exact = boxes.log_volume(lo, hi, method="gumbel", temperature=beta).exp().item()
    assert abs(vols.mean().item() - exact) < 4 * vols.std().item() / math.sqrt(n)
    # and the hard intersection's volume is not the expectation
    hard_lo, hard_hi = boxes.box_intersection(lo_a, hi_a, lo_b, hi_b)
    hard = boxes.log_volume(hard_lo, hard_hi, method="gumbel", temperature=beta).exp().item()
    assert abs(hard - exact) > 10 * vols.std().item() / math.sqrt(n)


def _grads(method, temperature):
    lo_a = torch.tensor([[0.0, 0.0]], dtype=F64, requires_grad=True)
    hi_a = torch.tensor([[0.3, 0.3]], dtype=F64, requires_grad=True)
    lo_b = torch.tensor([[0.6, 0.05]], dtype=F64, requires_grad=True)  # disjoint from A along x
    hi_b = torch.tensor([[0.9, 0.25]], dtype=F64, requires_grad=True)
    logp = boxes.conditional_probability(lo_a, hi_a, lo_b, hi_b, method=method, temperature=temperature, log=True)
    (-logp).sum().backward()  # "A should contain B"
    return [t.grad for t in (lo_a, hi_a, lo_b, hi_b)], logp


def test_disjoint_hard_boxes_get_no_gradient_smoothed_ones_do():
    grads, logp = _grads("hard", 1.0)
    assert logp.item() < -60  # P(A | B) is essentially 0 (d log 1e-30) ...
    # ... and nothing moves the boxes towards each other: A gets no gradient at all, and B's only
    # gradient comes from its own volume in the denominator: descent shrinks B away from A
    assert bool((grads[0] == 0).all()) and bool((grads[1] == 0).all())
    assert grads[2][0, 0] < 0 and grads[3][0, 0] > 0
    for method in ("softplus", "gumbel", "gumbel-softplus"):
        grads, _ = _grads(method, 0.1)
        assert torch.isfinite(torch.cat([g.flatten() for g in grads])).all()
        # the x-gap closes: A's max corner moves right, B's min corner moves left
        assert grads[1][0, 0] < 0 and grads[2][0, 0] > 0, (method, grads)
    # softplus boxes: only the corners that attain max/min get a gradient (A's min x does not);
    # the Gumbel log-sum-exp passes it to all four
    g_sp, _ = _grads("softplus", 0.1)
    g_gu, _ = _grads("gumbel-softplus", 0.1)
    assert g_sp[0][0, 0] == 0 and g_gu[0][0, 0] != 0


@pytest.mark.parametrize("method", boxes.METHODS)
def test_extreme_inputs_stay_finite(method, dtype):
    lo = torch.tensor([[0.0, -50.0, 0.0]], dtype=dtype, requires_grad=True)
    hi = torch.tensor([[1e3, 50.0, -80.0]], dtype=dtype, requires_grad=True)
    out = boxes.log_volume(lo, hi, method=method, temperature=0.5)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(lo.grad).all() and torch.isfinite(hi.grad).all()
    assert out.dtype == dtype


def test_float32_matches_float64():
    lo, hi = _random_boxes(10, 5, 4)
    for method in boxes.METHODS:
        a = boxes.log_volume(lo, hi, method=method, temperature=0.2)
        b = boxes.log_volume(lo.float(), hi.float(), method=method, temperature=0.2)
        torch.testing.assert_close(b.double(), a, **TOL[torch.float32])


def test_bad_inputs():
    lo, hi = _random_boxes(2, 2, 0)
    with pytest.raises(ValueError, match="method"):
        boxes.log_volume(lo, hi, method="fuzzy")
    with pytest.raises(ValueError, match="temperature"):
        boxes.log_volume(lo, hi, method="softplus", temperature=0.0)
    with pytest.raises(ValueError, match="broadcast"):
        boxes.box_intersection(lo, hi, torch.zeros(3, 2, dtype=F64), hi)
    with pytest.raises(TypeError, match="dtype"):
        boxes.log_volume(lo, hi.float())


@pytest.mark.gpu
def test_gpu_volumes_match_cpu():
    lo, hi = _random_boxes(50, 4, 5)
    for method in boxes.METHODS:
        cpu = boxes.conditional_probability(lo[:25], hi[:25], lo[25:], hi[25:], method=method, temperature=0.1)
        gpu = boxes.conditional_probability(lo[:25].cuda(), hi[:25].cuda(), lo[25:].cuda(), hi[25:].cuda(),
                                            method=method, temperature=0.1)
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), cpu, **TOL[F64])
    x, _ = boxes.sample_gumbel_boxes(lo.cuda(), hi.cuda(), beta=0.1, n_samples=2, generator=0)
    x_cpu, _ = boxes.sample_gumbel_boxes(lo, hi, beta=0.1, n_samples=2, generator=0)
    torch.testing.assert_close(x.cpu(), x_cpu, **TOL[F64])
