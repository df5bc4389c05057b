"""Hopfield storage, energy, recall and capacity."""

import pytest
import torch

import math

from scipy.special import erf

from nips2019.hebbian import (
    hopfield_capacity,
    hopfield_energy,
    hopfield_mean_field_load,
    hopfield_recall,
    hopfield_weights,
    random_patterns,
)


def test_weights_match_naive_sum(dtype, device, tol):
    g = torch.Generator().manual_seed(0)
    pats = random_patterns(3, 6, batch_shape=(2,), generator=g, dtype=dtype, device=device)
    w = hopfield_weights(pats)
    assert w.shape == (2, 6, 6) and w.dtype == dtype and w.device.type == device.type
    for b in range(2):
        ref = torch.zeros(6, 6, dtype=dtype, device=device)
        for i in range(6):
            for j in range(6):
                if i != j:
                    ref[i, j] = sum(pats[b, mu, i] * pats[b, mu, j] for mu in range(3)) / 6
        torch.testing.assert_close(w[b], ref, **tol)
    s = pats[:, :2]
    torch.testing.assert_close(hopfield_energy(w, s)[1, 0], -0.5 * s[1, 0] @ w[1] @ s[1, 0], **tol)


def test_async_energy_never_increases():
    g = torch.Generator().manual_seed(1)
    pats = random_patterns(30, 100, generator=g, dtype=torch.float64)  # over capacity: long descents
    w = hopfield_weights(pats)
    s0 = random_patterns(8, 100, generator=g, dtype=torch.float64)
    out = hopfield_recall(w, s0, mode="async", max_iter=50, record_energy=True, generator=g)
    steps = out.energies.diff(dim=0)
    assert (steps <= 1e-12).all()
    assert (steps < -1e-6).any()  # it did descend
    assert out.converged.all()  # async dynamics on symmetric weights reach a fixed point


def test_stored_patterns_are_fixed_points_at_low_load(device):
    g = torch.Generator().manual_seed(2)
    pats = random_patterns(5, 200, generator=g, device=device)  # load 0.025
    w = hopfield_weights(pats)
    for mode in ("sync", "async"):
        out = hopfield_recall(w, pats, mode=mode, generator=g)
        assert out.n_iter == 1 and torch.equal(out.states, pats)


def test_recall_from_noisy_cue_and_sync_two_cycle():
    g = torch.Generator().manual_seed(3)
    pats = random_patterns(3, 120, generator=g)
    w = hopfield_weights(pats)
    flip = torch.rand(3, 120, generator=g) < 0.15
    out = hopfield_recall(w, torch.where(flip, -pats, pats), mode="sync")
    assert torch.equal(out.states, pats)
    # two units coupled negatively, started equal: synchronous updates flip both forever
    w2 = torch.tensor([[0.0, -1.0], [-1.0, 0.0]])
    out2 = hopfield_recall(w2, torch.tensor([[1.0, 1.0]]), mode="sync", max_iter=5)
    assert not out2.converged.any() and out2.n_iter == 5


def test_capacity_curve_collapses_between_low_and_high_load():
    g = torch.Generator().manual_seed(4)
    c = hopfield_capacity(150, [0.05, 0.1, 0.2, 0.3], n_nets=3, n_probes=8, generator=g)
    assert c.recalled[0] == 1.0 and c.recalled[-1] < 0.2
    assert (c.overlap.diff() <= 0.02).all()
    assert 0.1 < c.critical_load < 0.3
    # the mean critical load is the area under the recall curve: brute force over the probes
    per_probe = [sum((c.overlaps[i] >= 0.99).double().mean() for i in range(k, k + 2)) / 2 for k in range(3)]
    area = sum((c.loads[k + 1] - c.loads[k]).double() * per_probe[k] for k in range(3))
    assert abs(c.mean_critical_load - (0.05 + float(area))) < 1e-6


def test_mean_critical_load_of_a_step_is_the_step():
    # recall perfect up to 0.08 and nil from 0.3 on: the step sits halfway, at 0.19
    c = hopfield_capacity(200, [0.02, 0.08, 0.3, 0.5], n_nets=2, n_probes=4, generator=1)
    assert c.recalled.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert abs(c.mean_critical_load - 0.19) < 1e-9


def _mean_field_overlap(alpha, n_iter=20000):
    """Retrieval overlap by plain fixed-point iteration of the three T = 0 mean-field equations
    of Amit, Gutfreund and Sompolinsky (1987), started at the pattern (m = 1)."""
    m, c = 1.0, 0.0
    for _ in range(n_iter):
        r = 1.0 / (1.0 - c) ** 2
        m, c = erf(m / math.sqrt(2 * alpha * r)), math.sqrt(2 / (math.pi * alpha * r)) * math.exp(-m * m / (2 * alpha * r))
        if c >= 1:
            return 0.0
    return m


def test_mean_field_load_against_fixed_point_iteration():
    # the closed form inverts the mean-field equations: at the load it returns for a criterion,
    # the iterated retrieval overlap equals that criterion
    for threshold in (0.975, 0.99, 0.995):
        alpha = hopfield_mean_field_load(threshold)
        assert abs(_mean_field_overlap(alpha) - threshold) < 1e-6, (threshold, alpha)
    # the critical load: retrieval exists just below it and not just above (published 0.138, m 0.967)
    alpha_c = hopfield_mean_field_load()
    assert abs(alpha_c - 0.138) < 5e-4
    assert abs(_mean_field_overlap(0.999 * alpha_c) - 0.967) < 0.01
    assert _mean_field_overlap(1.01 * alpha_c) < 0.5
    # looser criteria than m_c all give alpha_c; stricter ones lower loads, down to 0 for perfect recall
    assert hopfield_mean_field_load(0.95) == hopfield_mean_field_load(0.5) == alpha_c
    assert hopfield_mean_field_load(0.999) < hopfield_mean_field_load(0.99) < alpha_c
    assert hopfield_mean_field_load(1.0) == 0.0
    assert abs(hopfield_mean_field_load(0.99) - 0.1263) < 1e-4


def test_bad_inputs():
    w = torch.zeros(4, 4)
    with pytest.raises(ValueError, match="hopfield_recall: mode must be one of 'async', 'sync'"):
        hopfield_recall(w, torch.ones(1, 4), mode="random")
    with pytest.raises(ValueError, match=r"hopfield_recall: s0 has size 5 along axis 1 \(N\) but w has N = 4"):
        hopfield_recall(w, torch.ones(1, 5))
    with pytest.raises(ValueError, match=r"hopfield_energy: w has size 4 along axis 1 \(N\) but w has N = 3"):
        hopfield_energy(torch.zeros(3, 4), torch.ones(1, 4))
    with pytest.raises(ValueError, match=r"hopfield_weights: patterns must be at least 2-D \(\.\.\., P, N\)"):
        hopfield_weights(torch.ones(4))
    with pytest.raises(ValueError, match=r"hopfield_capacity: loads\[1\] must be a real number > 0"):
        hopfield_capacity(10, [0.1, -0.2])
    with pytest.raises(ValueError, match="loads must be strictly increasing"):
        hopfield_capacity(10, [0.2, 0.1])
    with pytest.raises(ValueError, match=r"flip must be a real number in \[0, 1\)"):
        hopfield_capacity(10, [0.1], flip=2.0)
    with pytest.raises(TypeError, match="w has dtype torch.float64 but|s0 has dtype"):
        hopfield_recall(w.double(), torch.ones(1, 4))
    with pytest.raises(ValueError, match="the batch dimensions of w"):
        hopfield_recall(torch.zeros(2, 4, 4), torch.ones(3, 1, 4))


def test_issue_examples_now_raise():
    """The examples of issue 12 for this subpackage: each is refused with a clear message."""
    w = hopfield_weights(torch.tensor([[1.0, -1.0, 1.0, 1.0]]))
    with pytest.raises(ValueError, match="hopfield_recall: s0 contains 4 non-finite"):
        hopfield_recall(w, torch.full((1, 4), float("nan")))
    with pytest.raises(ValueError, match="hopfield_recall: s0 may only contain the values"):
        hopfield_recall(w, torch.full((1, 4), 0.5))
    with pytest.raises(ValueError, match=r"hopfield_capacity: threshold must be a real number in \(0, 1\]"):
        hopfield_capacity(20, [0.9], threshold=-1.0)
    with pytest.raises(ValueError, match=r"threshold must be a real number in \(0, 1\]"):
        hopfield_capacity(20, [0.9], threshold=1.5)
    with pytest.raises(ValueError, match=r"hopfield_mean_field_load: threshold must be a real number in \(0, 1\]"):
        hopfield_mean_field_load(0.0)
    with pytest.raises(TypeError, match="hopfield_mean_field_load: threshold"):
        hopfield_mean_field_load("0.99")


def test_critical_load_is_none_when_recall_never_fails():
    c = hopfield_capacity(60, [0.02, 0.04], n_nets=2, n_probes=2, generator=0)
    assert c.recalled.tolist() == [1.0, 1.0] and c.critical_load is None


def test_same_seed_same_numbers(device):
    """The randomness rule: an int seed gives the same numbers, on CPU and on CUDA."""
    a = random_patterns(4, 30, batch_shape=(2,), generator=7, device=device)
    b = random_patterns(4, 30, batch_shape=(2,), generator=7)
    assert a.device.type == device.type and torch.equal(a.cpu(), b)
    w = hopfield_weights(a)
    cue = random_patterns(3, 30, generator=8, device=device)
    r1 = hopfield_recall(w, cue, generator=9)
    r2 = hopfield_recall(w.cpu(), cue.cpu(), generator=9)
    assert torch.equal(r1.states.cpu(), r2.states) and r1.n_iter == r2.n_iter
    c1 = hopfield_capacity(40, [0.05, 0.3], n_nets=2, n_probes=3, flip=0.1, generator=5, device=device)
    c2 = hopfield_capacity(40, [0.05, 0.3], n_nets=2, n_probes=3, flip=0.1, generator=5)
    assert torch.equal(c1.overlaps.cpu(), c2.overlaps) and c1.critical_load == c2.critical_load
    assert c1.mean_critical_load == c2.mean_critical_load
    assert not torch.equal(random_patterns(4, 30, generator=1), random_patterns(4, 30, generator=2))


@pytest.mark.gpu
def test_same_seed_same_numbers_on_cuda():
    test_same_seed_same_numbers(torch.device("cuda"))
