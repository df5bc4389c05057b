"""Hopfield storage, energy, recall and capacity."""

import pytest
import torch

from nips2019.hebbian import hopfield_capacity, hopfield_energy, hopfield_recall, hopfield_weights, random_patterns


def test_weights_match_naive_sum(dtype, device, tol):
    g = torch.Generator().manual_seed(0)
    pats = random_patterns(3, 6, (2,), generator=g, dtype=dtype, device=device)
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
    out = hopfield_recall(w, s0, mode="async", max_sweeps=50, record_energy=True, generator=g)
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
        assert out.n_sweeps == 1 and torch.equal(out.states, pats)


def test_recall_from_noisy_cue_and_sync_two_cycle():
    g = torch.Generator().manual_seed(3)
    pats = random_patterns(3, 120, generator=g)
    w = hopfield_weights(pats)
    flip = torch.rand(3, 120, generator=g) < 0.15
    out = hopfield_recall(w, torch.where(flip, -pats, pats), mode="sync")
    assert torch.equal(out.states, pats)
    # two units coupled negatively, started equal: synchronous updates flip both forever
    w2 = torch.tensor([[0.0, -1.0], [-1.0, 0.0]])
    out2 = hopfield_recall(w2, torch.tensor([[1.0, 1.0]]), mode="sync", max_sweeps=5)
    assert not out2.converged.any() and out2.n_sweeps == 5


def test_capacity_curve_collapses_between_low_and_high_load():
    g = torch.Generator().manual_seed(4)
    c = hopfield_capacity(150, [0.05, 0.1, 0.2, 0.3], n_nets=3, n_probes=8, generator=g)
    assert c.recalled[0] == 1.0 and c.recalled[-1] < 0.2
    assert (c.overlap.diff() <= 0.02).all()
    assert 0.1 < c.critical_load < 0.3


def test_bad_inputs():
    w = torch.zeros(4, 4)
    with pytest.raises(ValueError, match="mode must be"):
        hopfield_recall(w, torch.ones(1, 4), mode="random")
    with pytest.raises(ValueError, match=r"s0 must have shape \(\.\.\., M, 4\)"):
        hopfield_recall(w, torch.ones(1, 5))
    with pytest.raises(ValueError, match="w must have shape"):
        hopfield_energy(torch.zeros(3, 4), torch.ones(1, 4))
    with pytest.raises(ValueError, match="patterns must have shape"):
        hopfield_weights(torch.ones(4))
    with pytest.raises(ValueError, match="loads must be"):
        hopfield_capacity(10, [0.1, -0.2])
    with pytest.raises(ValueError, match="flip must lie"):
        hopfield_capacity(10, [0.1], flip=2.0)
