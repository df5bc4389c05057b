"""nips2019.lineage: simulator, Waddington-OT couplings, validation and barcodes."""

import math

import pytest
import torch

from nips2019.lineage import (
    ancestor_error,
    ancestors,
    barcode_clades,
    barcode_distance,
    birth_death_rates,
    clade_means,
    descendants,
    expected_barcode_distance,
    fate_probabilities,
    growth_corrected_plan,
    independent_plan,
    lineage_coupling,
    simulate_lineage,
    validate_interpolation,
    wot_coupling,
    wot_couplings,
)
from nips2019.ot import barycentric_projection, cost_matrix, exact_ot


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def sim():
    return simulate_lineage(n_cells=60, times=(0.0, 1.0, 2.0), n_sites=10, edit_rate=0.5, generator=_gen(0))


# ---------------------------------------------------------------- simulator
def test_simulation_shapes_and_ancestry(sim):
    assert [tuple(x.shape) for x in sim.x] == [(60, 2)] * 3
    assert sim.barcodes[2].shape == (60, 10) and sim.barcodes[0].eq(0).all()
    torch.testing.assert_close(sim.ancestor_states(2, 2), sim.x[2])
    # x0 is a clock: the ancestor at time 1 sits one unit of progress behind (initial spread 0.1)
    gap = sim.x[2][:, 0] - sim.ancestor_states(2, 1)[:, 0]
    torch.testing.assert_close(gap, torch.ones_like(gap), atol=1e-9, rtol=0)
    alive = sim.fate[0] >= 0
    assert bool((sim.fate[0][~alive] == -1).all()) and bool((sim.fate[0][alive] <= 1).all())
    torch.testing.assert_close(sim.fate[2], (sim.x[2][:, 1] > 0).double())


def test_simulation_reproducible_and_keeps_dtype():
    a = simulate_lineage(n_cells=10, times=(0.0, 0.4), generator=_gen(3), dtype=torch.float32)
    b = simulate_lineage(n_cells=10, times=(0.0, 0.4), generator=_gen(3), dtype=torch.float32)
    assert a.x[1].dtype == torch.float32
    torch.testing.assert_close(a.x[1], b.x[1])


def test_population_growth_matches_exponential_law():
    # no fate bias: every cell divides at b and dies at d, so E N(t) = N0 (1 + (b - d) h)^(t / h)
    n0, t, b, d, h = 3000, 1.0, 1.0, 0.3, 0.02
    s = simulate_lineage(n_cells=10, n_founders=n0, times=(0.0, t), birth=b, death=d, growth_bias=0.0, step=h,
                         generator=_gen(1))
    expected = n0 * (1 + (b - d) * h) ** (t / h)
    assert s.population[1].shape[0] == pytest.approx(expected, rel=0.04)


def test_barcode_editing_matches_exponential_survival():
    s = simulate_lineage(n_cells=500, n_founders=1000, times=(0.0, 1.0), n_sites=20, edit_rate=0.7, generator=_gen(2))
    unedited = s.barcodes[1].eq(0).double().mean().item()
    assert unedited == pytest.approx(math.exp(-0.7), abs=0.02)


def test_birth_death_rates_closed_form():
    x = torch.tensor([[0.0, 0.5], [0.0, -0.5]], dtype=torch.float64)
    rates = birth_death_rates(x, birth=1.0, death=0.3, growth_bias=0.5)
    b, d = rates.birth, rates.death
    torch.testing.assert_close(b, torch.tensor([1 + 0.5 * math.tanh(1.0), 1 - 0.5 * math.tanh(1.0)], dtype=torch.float64))
    torch.testing.assert_close(d, torch.full((2,), 0.3, dtype=torch.float64))


def test_simulator_bad_inputs():
    with pytest.raises(ValueError, match="times must increase"):
        simulate_lineage(n_cells=5, times=(1.0, 0.5))
    with pytest.raises(ValueError, match="n_cells must be an integer >= 1"):
        simulate_lineage(n_cells=0)
    with pytest.raises(ValueError, match=r"n_cells must be one integer or one per time point \(2\)"):
        simulate_lineage(n_cells=(5, 5, 5), times=(0.0, 0.2))
    with pytest.raises(ValueError, match="growth_bias"):
        simulate_lineage(n_cells=5, growth_bias=2.0)
    with pytest.raises(ValueError, match="n_founders"):
        simulate_lineage(n_cells=5, n_founders=2)
    with pytest.raises(ValueError, match="k_early"):
        simulate_lineage(n_cells=5, times=(0.0, 0.2), generator=_gen()).ancestor_states(0, 1)
    with pytest.raises(ValueError, match="k_late must be an integer in"):
        simulate_lineage(n_cells=5, times=(0.0, 0.2), generator=_gen()).ancestor_states(-1, 0)
    # issue 12: max_cells=nan used to run; options are keyword-only
    with pytest.raises(TypeError, match="max_cells must be an integer"):
        simulate_lineage(n_cells=5, max_cells=float("nan"))
    with pytest.raises(TypeError, match="too many positional arguments"):
        simulate_lineage(5)
    with pytest.raises(ValueError, match="max_cells=50"):
        simulate_lineage(n_cells=5, n_founders=40, times=(0.0, 1.0), max_cells=50, generator=_gen())
    with pytest.raises(ValueError, match="step=0.5 is too coarse"):
        simulate_lineage(n_cells=5, times=(0.0, 0.2), step=0.5)
    with pytest.raises(ValueError, match="device must name a device"):
        simulate_lineage(n_cells=5, times=(0.0, 0.2), device="gpu0")
    with pytest.raises(ValueError, match="died out"):
        simulate_lineage(n_cells=1, n_founders=2, times=(0.0, 3.0), birth=0.0, death=5.0, generator=_gen())


def test_simulation_seed_int_equals_generator():
    a = simulate_lineage(n_cells=10, times=(0.0, 0.4), generator=5)
    b = simulate_lineage(n_cells=10, times=(0.0, 0.4), generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a.x[1], b.x[1])


# ---------------------------------------------------------------- couplings
def _cloud(n=30, d=2, seed=0):
    return torch.randn(n, d, generator=_gen(seed), dtype=torch.float64)


def test_wot_huge_penalties_equal_balanced():
    x, y = _cloud(25, seed=1), _cloud(20, seed=2) + 1.0
    unb = wot_coupling(x, y, reg=0.1, reg_m=1e7, tol=1e-7)  # roundoff floor near 1e-8 at lambda / reg = 1e8
    bal = wot_coupling(x, y, reg=0.1, balanced=True, tol=1e-12)
    torch.testing.assert_close(unb.plan, bal.plan, rtol=1e-4, atol=1e-9)


def test_wot_small_eps_balanced_is_exact_ot():
    x, y = _cloud(8, seed=3), _cloud(8, seed=4)
    c = wot_coupling(x, y, reg=1e-3, balanced=True, normalize="max", tol=1e-5, max_iter=50_000)
    exact = exact_ot(None, None, cost_matrix(x, y, normalize="max")).plan
    torch.testing.assert_close(c.plan, exact, atol=1e-4, rtol=0)


def test_wot_translation_is_recovered():
    x = torch.randn(15, 2, generator=_gen(5), dtype=torch.float64)
    shift = torch.tensor([2.0, 0.5], dtype=torch.float64)
    errs = []
    for reg in (1e-1, 1e-3):
        c = wot_coupling(x, x + shift, reg=reg, balanced=True)
        errs.append(float((barycentric_projection(c.plan, x + shift) - (x + shift)).abs().max()))
    assert errs[0] > 0.1 > 0.01 > errs[1], errs


def test_wot_recovers_doubling_growth():
    # the late snapshot contains two copies of every cell with x > 0: those cells doubled
    x = torch.linspace(-1, 1, 40, dtype=torch.float64)[:, None]
    y = torch.cat([x, x[x[:, 0] > 0] + 1e-3])
    gaps = []
    for lam in (1.0, 0.2, 0.01):  # the KL penalty on the source marginal shrinks the estimate
        c = wot_coupling(x, y, dt=1.0, reg=0.01, reg_m=(lam, 50.0))
        gaps.append(float(c.growth_rate[x[:, 0] > 0.2].mean() - c.growth_rate[x[:, 0] < -0.2].mean()))
    assert 0 < gaps[0] < gaps[1] < gaps[2], gaps
    assert gaps[2] == pytest.approx(math.log(2.0), abs=0.02)


def test_wot_prior_growth_and_dtype_device(device, dtype):
    x, y = _cloud(15, seed=6).to(device=device, dtype=dtype), _cloud(12, seed=7).to(device=device, dtype=dtype)
    c = wot_coupling(x, y, growth_rate=torch.zeros(15, device=device, dtype=dtype), n_steps=2)
    assert c.plan.dtype == dtype and c.plan.device.type == device.type and c.growth_rate.dtype == dtype
    assert bool(torch.isfinite(c.plan).all())


def test_chained_quantities():
    xs = [_cloud(10, seed=s) + s for s in range(3)]
    cs = wot_couplings(xs, [0.0, 1.0, 2.0], reg=0.5)
    d = descendants(cs, torch.ones(10, dtype=torch.float64))
    p = ancestors(cs, torch.ones(10, dtype=torch.float64))
    assert d.shape == (10,) and p.shape == (10,)
    assert float(d.sum()) == pytest.approx(1.0) and float(p.sum()) == pytest.approx(1.0)
    # fates of a two-step chain = product of the row-normalised plans (independent loop)
    labels = torch.arange(10) % 3
    onehot = torch.nn.functional.one_hot(labels).double()
    ref = cs[0].transition @ (cs[1].transition @ onehot)
    torch.testing.assert_close(fate_probabilities(cs, labels), ref / ref.sum(1, keepdim=True))
    # issue 12: NumPy and list labels are accepted (documented) and give the same answer
    torch.testing.assert_close(fate_probabilities(cs, labels.numpy()), ref / ref.sum(1, keepdim=True))
    torch.testing.assert_close(fate_probabilities(cs, labels.tolist()), ref / ref.sum(1, keepdim=True))
    # soft memberships: the one-hot matrix gives the same fates
    torch.testing.assert_close(fate_probabilities(cs, onehot), ref / ref.sum(1, keepdim=True))
    # descendants of one early cell = its row of the chained plan
    e0 = torch.zeros(10, dtype=torch.float64)
    e0[3] = 1.0
    ref = cs[1].plan.T @ cs[0].plan[3]
    torch.testing.assert_close(descendants(cs, e0), ref / ref.sum())


def test_wot_bad_inputs():
    x = _cloud(5)
    with pytest.raises(ValueError, match=r"x1 has size 3 along axis 1 \(d\)"):
        wot_coupling(x, _cloud(5, d=3))
    with pytest.raises(ValueError, match="n_steps must be an integer >= 1"):
        wot_coupling(x, x, n_steps=0)
    with pytest.raises(ValueError, match=r"growth_rate has size 3 along axis 0 \(n0\)"):
        wot_coupling(x, x, growth_rate=torch.zeros(3, dtype=torch.float64))
    with pytest.raises(TypeError, match="x1 has dtype torch.float32 but x0 has torch.float64"):
        wot_coupling(x, x.float())
    with pytest.raises(ValueError, match="cannot normalise the cost of x0 and x1 by its median"):
        wot_coupling(torch.zeros(3, 2, dtype=torch.float64), torch.zeros(4, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="times must increase"):
        wot_couplings([x, x], [1.0, 0.0])
    with pytest.raises(TypeError, match=r"xs\[1\] has dtype torch.float32 but xs\[0\] has torch.float64"):
        wot_couplings([x, x.float()], [0.0, 1.0])
    c = wot_coupling(x, x)
    with pytest.raises(TypeError, match="1-D labels must be integer fate indices"):
        fate_probabilities([c], torch.zeros(5, dtype=torch.float64))
    with pytest.raises(TypeError, match="labels has dtype torch.float32 but couplings"):
        fate_probabilities([c], torch.ones(5, 2))
    with pytest.raises(ValueError, match=r"labels must have values in \[0, inf"):
        fate_probabilities([c], [0, 1, -1, 0, 1])
    with pytest.raises(ValueError, match="labels must have one entry per cell"):
        fate_probabilities([c], [0, 1])
    with pytest.raises(TypeError, match="labels given as a NumPy array or list must hold integer"):
        fate_probabilities([c], [0.5, 1.0, 0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="weights must have values in"):
        descendants([c], -torch.ones(5, dtype=torch.float64))
    with pytest.raises(ValueError, match="weights must be non-negative with a positive sum"):
        descendants([c], torch.zeros(5, dtype=torch.float64))
    with pytest.raises(ValueError, match="couplings do not chain"):
        descendants([c, wot_coupling(_cloud(4), x)], torch.ones(5, dtype=torch.float64))
    with pytest.raises(ValueError, match="k_end must be at most"):
        descendants([c], torch.ones(5, dtype=torch.float64), k_end=2)
    with pytest.raises(TypeError, match="couplings must be a list or tuple"):
        ancestors(c, torch.ones(5, dtype=torch.float64))


def test_wot_options_agree_across_functions():
    """The functions that build a coupling take the same options with the same defaults as wot_coupling."""
    import inspect

    ref = inspect.signature(wot_coupling).parameters
    for fn in (wot_couplings, lineage_coupling, validate_interpolation):
        params = inspect.signature(fn).parameters
        for name in ("reg", "reg_m", "normalize", "n_steps", "reg_type", "method", "balanced", "tol", "max_iter"):
            assert params[name].default == ref[name].default, (fn.__name__, name)
            assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, (fn.__name__, name)
            assert fn.__constraints__[name] is wot_coupling.__constraints__[name], (fn.__name__, name)


# ---------------------------------------------------------------- validation
def test_interpolation_of_translation_beats_nulls():
    x0 = _cloud(60, seed=8)
    shift = torch.tensor([1.0, 0.0], dtype=torch.float64)
    res = validate_interpolation(x0, x0 + shift, x0 + 2 * shift, (0.0, 1.0, 2.0), x1_batch2=_cloud(60, seed=9) + shift,
                                 reg=1e-3, balanced=True, tol=1e-5, generator=_gen(0))
    d = res.distances
    assert d["ot"] < 0.5 * d["independent"] and d["ot"] < 0.5 * d["first"] and d["ot"] < 0.5 * d["last"]
    assert res.t == pytest.approx(0.5)


def test_growth_corrected_plan_limits():
    plan = torch.rand(4, 3, generator=_gen(1), dtype=torch.float64)
    torch.testing.assert_close(growth_corrected_plan(plan, 1.0), plan / plan.sum())
    torch.testing.assert_close(growth_corrected_plan(plan, 0.0).sum(1), torch.full((4,), 0.25, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"t must be a real number in \[0, 1\]"):
        growth_corrected_plan(plan, -0.1)
    with pytest.raises(ValueError, match="plan has no mass"):
        growth_corrected_plan(torch.zeros(2, 2), 0.5)


def test_ancestor_error_extremes():
    x = _cloud(7, seed=10)
    assert ancestor_error(torch.eye(7, dtype=torch.float64), x, x) == pytest.approx(0.0, abs=1e-12)
    assert ancestor_error(independent_plan(x, x), x, x) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="has size 7 along axis 0"):
        ancestor_error(torch.eye(6, dtype=torch.float64), x, x)
    with pytest.raises(ValueError, match="relative error is undefined"):
        ancestor_error(torch.eye(2, dtype=torch.float64), torch.zeros(2, 1, dtype=torch.float64),
                       torch.zeros(2, 1, dtype=torch.float64))


def test_validate_bad_times():
    x = _cloud(5)
    with pytest.raises(ValueError, match="t0 < t1 < t2"):
        validate_interpolation(x, x, x, (0.0, 2.0, 1.0))


# ---------------------------------------------------------------- barcodes
def test_barcode_distance_matches_loop():
    bc = torch.randint(0, 3, (9, 5), generator=_gen(2))
    ref = torch.tensor([[sum(int(bc[i, s] != bc[j, s]) for s in range(5)) / 5 for j in range(9)] for i in range(9)],
                       dtype=torch.float64)
    torch.testing.assert_close(barcode_distance(bc), ref)
    with pytest.raises(TypeError, match="barcodes must have an integer dtype"):
        barcode_distance(bc.double())
    with pytest.raises(ValueError, match="barcodes must not be empty"):
        barcode_distance(bc[:, :0])


def test_expected_barcode_distance_monte_carlo():
    # simulate the two branches of one site directly: edited before the split -> same allele
    g = _gen(3)
    mu, ts, tf, A, n = 0.8, 0.6, 2.0, 5, 200_000
    t_edit = torch.empty(n, dtype=torch.float64).exponential_(mu, generator=g)
    before = t_edit < ts
    e1 = torch.rand(n, generator=g, dtype=torch.float64) < 1 - math.exp(-mu * (tf - ts))
    e2 = torch.rand(n, generator=g, dtype=torch.float64) < 1 - math.exp(-mu * (tf - ts))
    a1, a2 = torch.randint(1, A + 1, (n,), generator=g), torch.randint(1, A + 1, (n,), generator=g)
    differ = (~before) & ((e1 ^ e2) | (e1 & e2 & (a1 != a2)))
    assert differ.double().mean().item() == pytest.approx(expected_barcode_distance(ts, tf, edit_rate=mu, n_alleles=A),
                                                          abs=0.005)
    with pytest.raises(ValueError, match="t_split must be <= t_final"):
        expected_barcode_distance(2.0, 1.0, edit_rate=mu)


def test_clades_and_means():
    bc = torch.tensor([[1, 0, 0], [1, 2, 0], [3, 0, 0], [3, 0, 4]])
    labels = barcode_clades(bc, cut=0.5)
    assert labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2]
    y = torch.tensor([[0.0], [2.0], [4.0], [6.0]], dtype=torch.float64)
    torch.testing.assert_close(clade_means(y, labels), torch.tensor([[1.0], [1.0], [5.0], [5.0]], dtype=torch.float64))


def test_uninformative_barcodes_give_independent_coupling():
    x, y = _cloud(12, seed=11), _cloud(15, seed=12) + 1.0
    c = lineage_coupling(x, y, torch.zeros(15, 4, dtype=torch.long), t_early=1.0, t_late=2.0, edit_rate=0.5,
                         balanced=True)
    assert ancestor_error(c.plan, x, y) == pytest.approx(1.0, rel=1e-6)


def test_lineage_beats_plain_ot_on_simulation():
    s = simulate_lineage(n_cells=(80, 80, 400), n_founders=80, times=(0.0, 1.0, 2.5), n_sites=20, edit_rate=1.0,
                         generator=_gen(4))
    anc = s.ancestor_states(2, 1)
    plain = wot_coupling(s.x[1], s.x[2], dt=1.5, reg=0.02)
    lin = lineage_coupling(s.x[1], s.x[2], s.barcodes[2], t_early=1.0, t_late=2.5, edit_rate=1.0, reg=0.02)
    e_plain, e_lin = ancestor_error(plain.plan, s.x[1], anc), ancestor_error(lin.plan, s.x[1], anc)
    assert e_lin < e_plain < 1.0, (e_lin, e_plain)


@pytest.mark.gpu
def test_lineage_core_path_on_cuda():
    s = simulate_lineage(n_cells=50, times=(0.0, 1.0, 2.0), generator=0, device="cuda", dtype=torch.float32)
    # the randomness rule: draws are made on the CPU, so the CPU run starts from the same cells (later
    # snapshots can differ in the last bits of float32 arithmetic, and a division decision with them)
    s_cpu = simulate_lineage(n_cells=50, times=(0.0, 1.0, 2.0), generator=0, dtype=torch.float32)
    torch.testing.assert_close(s.x[0].cpu(), s_cpu.x[0])
    assert torch.equal(s.lineage[0].cpu(), s_cpu.lineage[0])
    cs = wot_couplings(s.x, s.times.tolist())
    assert cs[0].plan.is_cuda and bool(torch.isfinite(cs[0].plan).all())
    f = fate_probabilities(cs, (s.x[-1][:, 1] > 0).long())
    assert f.is_cuda and f.shape == (50, 2)
    res = validate_interpolation(s.x[0], s.x[1], s.x[2], s.times.tolist(), generator=0)
    assert res.interpolated.is_cuda
