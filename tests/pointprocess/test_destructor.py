"""Reference tests for point-process destructors: quadrature of the composed model, KS calibration."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from nips2019.pointprocess import (
    HawkesEvents,
    apply_destructor_layer,
    destroy_point_process,
    fit_destructor_layer,
    hawkes_compensator,
    simulate_hawkes,
    simulate_warped_hawkes,
    unit_poisson_test,
    warp_clock,
)

F64 = torch.float64


def _uni(t, t_max):
    return HawkesEvents(torch.as_tensor(t, dtype=F64), torch.zeros(len(t), dtype=torch.long), float(t_max), 1)


@pytest.fixture(scope="module")
def warped():
    return simulate_warped_hawkes(1.0, 2.5, 5.0, 400.0, amplitude=0.9, period=200.0, generator=1)


def test_composed_model_likelihood_matches_quadrature():
    """piecewise o hawkes: intensity lam_H(Lambda_P(t)) lam_P(t), compensator Lambda_H(Lambda_P(T))."""
    warped = simulate_warped_hawkes(1.0, 1.0, 3.0, 60.0, amplitude=0.9, period=30.0, generator=2)
    assert 40 < len(warped.times) < 200, len(warped.times)
    lp = fit_destructor_layer(warped, "piecewise", n_bins=8)
    mid = apply_destructor_layer(lp, warped)
    lh = fit_destructor_layer(mid, "hawkes")
    out = apply_destructor_layer(lh, mid)
    edges, rate = lp.params["edges"].numpy(), lp.params["rate"].numpy()
    mu, al, be = lh.params["baseline"], lh.params["adjacency"], lh.params["decay"]
    u_ev = mid.times.numpy()

    def lam_p(t):
        return rate[min(np.searchsorted(edges, t, side="right") - 1, len(rate) - 1)]

    def cap_p(t):  # compensator of the rate layer: rectangles, summed in a loop
        total = 0.0
        for lo, hi, r in zip(edges[:-1], edges[1:], rate):
            total += r * max(0.0, min(t, hi) - lo)
        return total

    def lam_h(u):
        past = u_ev[u_ev < u]
        return mu + al * np.exp(-be * (u - past)).sum()

    t_ev = warped.times.numpy()
    ll = sum(math.log(lam_h(u) * lam_p(t)) for t, u in zip(t_ev, u_ev))
    knots = np.unique(np.concatenate([[0.0], t_ev, edges, [warped.t_max]]))
    comp = 0.0
    for lo, hi in zip(knots[:-1], knots[1:]):
        comp += integrate.quad(lambda t: lam_h(cap_p(t)) * lam_p(t), lo, hi, limit=50)[0] if hi - lo > 1e-12 else 0
    assert out.t_max == pytest.approx(comp, rel=1e-6)
    assert lp.gain + lh.gain - warped.t_max == pytest.approx(ll - comp, rel=1e-6)
    # the rate layer's map is its compensator, checked by quadrature at a few events
    for k in (3, len(t_ev) // 2, len(t_ev) - 1):
        ref = integrate.quad(lam_p, 0, t_ev[k], points=edges[1:-1][edges[1:-1] < t_ev[k]], limit=100)[0]
        assert u_ev[k] == pytest.approx(ref, rel=1e-9)


def test_hawkes_layer_is_the_hawkes_compensator():
    ev = simulate_hawkes(torch.tensor([0.8], dtype=F64), torch.tensor([[0.5]], dtype=F64), 1.5, 150.0, generator=0)
    layer = fit_destructor_layer(ev, "hawkes")
    out = apply_destructor_layer(layer, ev)
    p = layer.params
    ref = hawkes_compensator(ev, torch.tensor([p["baseline"]], dtype=F64), torch.tensor([[p["adjacency"]]], dtype=F64),
                             p["decay"])
    torch.testing.assert_close(out.times, ref)
    assert out.t_max == pytest.approx(len(ev.times), rel=0.15)  # the fitted compensator ends near n


def test_unit_poisson_test_is_calibrated_and_has_power():
    rejections = 0
    for s in range(40):
        g = torch.Generator().manual_seed(s)
        t = torch.cumsum(torch.empty(300, dtype=F64).exponential_(generator=g), 0)
        rejections += unit_poisson_test(_uni(t, float(t[-1]) + 1.0)).p_value < 0.05
    assert rejections <= 6, rejections  # nominal 5% (Bonferroni: at most), 40 draws
    trend = torch.sort(torch.rand(300, dtype=F64, generator=torch.Generator().manual_seed(0)) ** 1.5 * 300)[0]
    assert unit_poisson_test(_uni(trend, 300.0)).uniform_p_value < 1e-3


def test_truth_rescales_to_unit_poisson_over_seeds():
    """The true compensator Lambda_H(M(t)) of the warped Hawkes process gives a unit-rate Poisson process."""
    pv = []
    for s in range(8):
        ev = simulate_warped_hawkes(1.0, 2.5, 5.0, 300.0, amplitude=0.9, period=150.0, generator=s)
        u = warp_clock(ev.times, amplitude=0.9, period=150.0)
        uev = HawkesEvents(u, ev.marks, float(warp_clock(torch.tensor([300.0], dtype=F64), amplitude=0.9,
                                                         period=150.0)), 1)
        lam = hawkes_compensator(uev, torch.tensor([1.0], dtype=F64), torch.tensor([[2.5]], dtype=F64), 5.0)
        pv.append(unit_poisson_test(_uni(lam, float(lam[-1]) + 1e-9)).p_value)
    assert np.mean(np.array(pv) < 0.05) <= 0.25, pv


@pytest.mark.slow
def test_destroyer_removes_structure_a_single_layer_leaves(warped):
    single = apply_destructor_layer(fit_destructor_layer(warped, "hawkes"), warped)
    assert unit_poisson_test(single).p_value < 0.05
    res = destroy_point_process(warped)
    assert res.tests[-1].p_value > 0.05 and len(res.layers) >= 2
    assert res.log_likelihood > fit_destructor_layer(warped, "hawkes").log_likelihood


def test_bad_inputs(warped):
    two = HawkesEvents(warped.times, warped.marks.clamp_max(0) + (torch.arange(len(warped.times)) % 2), 400.0, 2)
    with pytest.raises(ValueError, match="univariate"):
        fit_destructor_layer(two, "poisson")
    layer = fit_destructor_layer(warped, "poisson")
    with pytest.raises(ValueError, match="fitted on"):
        apply_destructor_layer(layer, HawkesEvents(warped.times, warped.marks, 500.0, 1))
    with pytest.raises(ValueError, match="explosive"):
        simulate_warped_hawkes(1.0, 2.0, 1.0, 10.0)


@pytest.mark.gpu
def test_gpu_core_path(warped):
    ev = HawkesEvents(warped.times.cuda(), warped.marks.cuda(), warped.t_max, 1)
    res = destroy_point_process(ev)
    assert res.events[-1].times.device.type == "cuda"
    assert res.log_likelihood == pytest.approx(destroy_point_process(warped).log_likelihood, rel=1e-8)
