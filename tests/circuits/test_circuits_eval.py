"""Evaluation and exact queries of compiled circuits against brute force and naive evaluation."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from nips2019.circuits import (
    Circuit,
    CircuitBuilder,
    chow_liu_circuit,
    hclt,
    independent_circuit,
    is_deterministic,
    random_region_circuit,
)


def naive_value(b, root, x):
    """Per-node recursive evaluation in linear space for one complete assignment (a reference)."""
    memo = {}

    def val(n):
        if n in memo:
            return memo[n]
        k, v, p = b.kinds[n], b.var[n], b.params[n]
        if k == "indicator":
            out = float(x[v] == p[0])
        elif k == "bernoulli":
            out = p[0] if x[v] == 1 else 1 - p[0]
        elif k == "categorical":
            out = p[int(x[v])]
        elif k == "gaussian":
            out = math.exp(-0.5 * ((x[v] - p[0]) / p[1]) ** 2) / (p[1] * math.sqrt(2 * math.pi))
        elif k == "product":
            out = math.prod(val(c) for c in b.children[n])
        else:
            out = sum(w * val(c) for w, c in zip(b.weights[n], b.children[n]))
        memo[n] = out
        return out

    return val(root)


def all_assignments(n, dtype=torch.float64, device="cpu"):
    return torch.tensor(list(itertools.product([0, 1], repeat=n)), dtype=dtype, device=device)


@pytest.fixture
def rat16():
    return random_region_circuit(16, depth=3, n_repetitions=2, n_sums=3, n_inputs=2, generator=3)


def test_matches_naive_per_node_evaluation(dtype, tol):
    c = random_region_circuit(6, depth=2, n_repetitions=2, n_sums=2, n_inputs=2, generator=0, dtype=dtype)
    b, root = c.to_builder(), c.root_id
    X = all_assignments(6, dtype)
    ref = torch.tensor([math.log(naive_value(b, root, x.tolist())) for x in X], dtype=dtype)
    torch.testing.assert_close(c(X).detach(), ref, **tol)


def test_normalised_on_16_variables_by_enumeration(rat16):
    X = all_assignments(16, torch.float32)
    total = torch.logsumexp(rat16(X).double(), 0)
    assert abs(total.item()) < 1e-4
    assert abs(rat16.log_partition().item()) < 1e-5


def test_marginals_from_missing_mask_match_enumeration(rat16):
    torch.manual_seed(0)
    X = all_assignments(16, torch.float32)
    logp = rat16(X).detach().double()
    missing = torch.zeros(4, 16, dtype=torch.bool)
    missing[0, :8] = True
    missing[1, ::3] = True
    missing[2, 5] = True
    missing[3] = True
    x = (torch.rand(4, 16) < 0.5).float()
    got = rat16(x, missing).detach().double()
    for i in range(4):
        keep = ((X == x[i]) | missing[i]).all(1)
        ref = torch.logsumexp(logp[keep], 0)
        assert abs(got[i].item() - ref.item()) < 1e-4, (i, got[i], ref)
    # NaN is the same as a mask
    xn = x.clone()
    xn[missing] = float("nan")
    torch.testing.assert_close(rat16(xn), rat16(x, missing))


def test_all_marginals_backward_pass_matches_conditionals():
    c = hclt((torch.rand(200, 7, generator=torch.Generator().manual_seed(0)) < 0.4).double(), n_latent=3, generator=0)
    X = all_assignments(7)
    p = c(X).detach().exp()
    x = torch.tensor([[1.0, math.nan, 0.0, math.nan, math.nan, 1.0, math.nan]], dtype=torch.float64)
    m = c.marginals(x)
    ev = (X[:, 0] == 1) & (X[:, 2] == 0) & (X[:, 5] == 1)
    for v in range(7):
        ref = p[ev & (X[:, v] == 1)].sum() / p[ev].sum()
        assert abs(m[0, v, 1].item() - ref.item()) < 1e-10
    torch.testing.assert_close(m.sum(-1), torch.ones(1, 7, dtype=torch.float64))


def test_mpe_is_exact_on_deterministic_circuit():
    data = (torch.rand(300, 8, generator=torch.Generator().manual_seed(1)) < 0.3).double()
    data[:, 1] = data[:, 0]
    c = chow_liu_circuit(data)
    assert is_deterministic(c)
    X = all_assignments(8)
    lp = c(X).detach()
    x = torch.full((2, 8), math.nan, dtype=torch.float64)
    x[1, :3] = torch.tensor([1.0, 1.0, 0.0])
    res = c.mpe(x)
    assert torch.equal(res.x[0], X[lp.argmax()])
    sel = (X[:, :3] == x[1, :3]).all(1)
    best = torch.where(sel, lp, -math.inf).argmax()
    assert torch.equal(res.x[1], X[best])
    torch.testing.assert_close(res.log_value, torch.stack([lp.max(), lp[best]]))


def test_mpe_on_non_deterministic_circuit_is_a_lower_bound(rat16):
    X = all_assignments(16, torch.float32)
    best = rat16(X).max()
    res = rat16.mpe(torch.full((1, 16), math.nan))
    value = rat16(res.x)
    assert value.item() <= best.item() + 1e-5
    assert res.log_value.item() <= value.item() + 1e-5  # one induced tree <= the full sum


def test_sampling_matches_exact_marginals():
    c = hclt((torch.rand(200, 5, generator=torch.Generator().manual_seed(0)) < 0.4).double(), n_latent=2, generator=0)
    g = torch.Generator().manual_seed(0)
    n = 40000
    s = c.sample(torch.full((n, 5), math.nan, dtype=torch.float64), generator=g)
    X = all_assignments(5)
    p = c(X).detach().exp()
    emp = torch.zeros(32, dtype=torch.float64)
    idx = (s * (2 ** torch.arange(4, -1, -1, dtype=torch.float64))).sum(1).long()
    emp.index_add_(0, idx, torch.ones(n, dtype=torch.float64))
    emp /= n
    se = (p * (1 - p) / n).sqrt()
    assert ((emp - p).abs() <= 5 * se + 1e-4).all()


def test_conditional_sampling_respects_evidence_and_posterior():
    c = hclt((torch.rand(200, 5, generator=torch.Generator().manual_seed(2)) < 0.5).double(), n_latent=3, generator=0)
    x = torch.tensor([[1.0, math.nan, 0.0, math.nan, math.nan]], dtype=torch.float64).repeat(20000, 1)
    s = c.sample(x, generator=torch.Generator().manual_seed(1))
    assert (s[:, 0] == 1).all() and (s[:, 2] == 0).all()
    m = c.marginals(x[:1])[0, :, 1]
    se = (m * (1 - m) / 20000).sqrt()
    assert ((s.mean(0) - m).abs() <= 5 * se + 1e-6).all()


def test_gaussian_and_categorical_leaves_and_variance_floor():
    from scipy.stats import norm

    b = CircuitBuilder()
    s = b.sum(
        [b.product([b.gaussian(0, 1.0, 0.5), b.categorical(1, [0.2, 0.3, 0.5])]),
         b.product([b.gaussian(0, -1.0, 2.0), b.categorical(1, [0.6, 0.3, 0.1])])],
        [0.25, 0.75],
    )
    c = b.build(s, dtype=torch.float64, min_std=1e-3)
    x = torch.tensor([[0.3, 2.0], [0.3, math.nan], [math.nan, 0.0]], dtype=torch.float64)
    ref = [
        0.25 * norm.pdf(0.3, 1, 0.5) * 0.5 + 0.75 * norm.pdf(0.3, -1, 2) * 0.1,
        0.25 * norm.pdf(0.3, 1, 0.5) + 0.75 * norm.pdf(0.3, -1, 2),
        0.25 * 0.2 + 0.75 * 0.6,
    ]
    torch.testing.assert_close(c(x).detach().exp(), torch.tensor(ref, dtype=torch.float64))
    with torch.no_grad():
        c.gauss_log_std.fill_(-50.0)
    assert torch.isfinite(c(x)).all()
    assert c._std().min().item() == pytest.approx(1e-3)
    smp = c.sample(torch.full((5000, 2), math.nan, dtype=torch.float64), generator=torch.Generator().manual_seed(0))
    assert set(smp[:, 1].unique().tolist()) <= {0.0, 1.0, 2.0}


def test_dtype_and_device_follow_the_circuit(device, dtype):
    c = random_region_circuit(8, depth=2, n_repetitions=1, n_sums=2, n_inputs=2, generator=0, dtype=dtype, device=device)
    x = (torch.rand(5, 8) < 0.5).to(device)
    x = x.to(dtype)
    assert c(x).dtype == dtype and c(x).device.type == device.type
    assert c.marginals(x).dtype == dtype
    assert c.sample(x.clone().fill_(math.nan)).device.type == device.type
    assert c.mpe(x).x.dtype == dtype


def test_gradient_of_log_weights_is_finite_with_impossible_branches():
    b = CircuitBuilder()
    s = b.sum([b.product([b.indicator(0, 1), b.bernoulli(1, 0.3)]), b.product([b.indicator(0, 0), b.bernoulli(1, 0.6)])])
    c = b.build(s, dtype=torch.float64)
    lp = c(torch.tensor([[1.0, 1.0]], dtype=torch.float64)).sum()
    lp.backward()
    assert torch.isfinite(c.log_weights.grad).all() and torch.isfinite(c.bern_logits.grad).all()
    torch.testing.assert_close(c.log_weights.grad, torch.tensor([1.0, 0.0], dtype=torch.float64))


def test_state_dict_round_trip():
    c = random_region_circuit(8, depth=2, n_repetitions=1, n_sums=2, n_inputs=2, generator=0)
    d = random_region_circuit(8, depth=2, n_repetitions=1, n_sums=2, n_inputs=2, generator=0)
    with torch.no_grad():
        c.bern_logits.add_(0.3)
    d.load_state_dict(c.state_dict())
    x = (torch.rand(4, 8) < 0.5).float()
    torch.testing.assert_close(c(x), d(x))


def test_bad_inputs():
    c = random_region_circuit(4, depth=1, n_repetitions=1, n_sums=1, n_inputs=2, generator=0)
    with pytest.raises(ValueError, match="x must have shape"):
        c(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="x must be 2-D"):
        c(torch.zeros(4))
    with pytest.raises(TypeError, match="missing must have dtype"):
        c(torch.zeros(2, 4), torch.zeros(2, 4))
    b = CircuitBuilder()
    with pytest.raises(ValueError, match=r"p must be a real number in \(0, 1\)"):
        b.bernoulli(0, 1.5)
    with pytest.raises(ValueError, match=r"weights\[0\] must be"):
        b.sum([b.bernoulli(0, 0.5)], [-1.0])
    with pytest.raises(ValueError, match="children must be existing"):
        b.product([7])
    with pytest.raises(ValueError, match="std must be"):
        b.gaussian(0, 0.0, 0.0)
    with pytest.raises(ValueError, match="var must be"):
        b.indicator(-1, 0)
    leaf = b.bernoulli(3, 0.5)
    with pytest.raises(ValueError, match="n_vars=2 but the circuit uses variable 3"):
        b.build(leaf, n_vars=2)
    with pytest.raises(ValueError, match="root must be a node id"):
        b.build(999)
    with pytest.raises(ValueError, match="min_std must be a real number > 0"):
        b.build(leaf, min_std=0.0)
    with pytest.raises(TypeError, match="builder must be a CircuitBuilder"):
        Circuit(None, 0)


@pytest.mark.gpu
def test_core_path_on_cuda():
    c = random_region_circuit(16, depth=3, n_repetitions=2, n_sums=3, n_inputs=2, generator=0, device="cuda")
    X = all_assignments(16, torch.float32, "cuda")
    assert abs(torch.logsumexp(c(X).double(), 0).item()) < 1e-4
    x = X[:3].clone()
    x[:, :4] = math.nan
    assert c.marginals(x).is_cuda and c.sample(x).is_cuda and c.mpe(x).x.is_cuda


def test_evidence_is_checked_against_the_leaves_domains():
    x = (torch.rand(20, 4, generator=torch.Generator().manual_seed(0)) < 0.5).double()
    c = independent_circuit(x)
    for bad in ([7.0, 0, 1, 0], [math.inf, 0, 1, 0], [0.5, 0, 1, 0], [-1.0, 0, 1, 0]):
        row = torch.tensor([bad], dtype=torch.float64)
        for query in (c, c.marginals, c.mpe, c.sample, c.log_likelihood):
            with pytest.raises(ValueError, match="Circuit.* x"):
                query(row)
    # a value under the missing mask is ignored, whatever it is (the mask is the documented way to say "missing")
    row = torch.tensor([[7.0, 0, 1, 0]], dtype=torch.float64)
    mask = torch.tensor([[True, False, False, False]])
    torch.testing.assert_close(c(row, mask), c(torch.tensor([[math.nan, 0, 1, 0]], dtype=torch.float64)))
    assert torch.isfinite(c.mpe(row, mask).x).all()


def test_evidence_dtype_is_never_converted():
    c = random_region_circuit(4, depth=1, n_repetitions=1, n_sums=1, n_inputs=2, generator=0, dtype=torch.float64)
    with pytest.raises(TypeError, match="x has dtype torch.float32 but the circuit's parameters have torch.float64"):
        c(torch.zeros(2, 4))
    with pytest.raises(TypeError, match="x must have a floating-point dtype"):
        c(torch.zeros(2, 4, dtype=torch.long))


def test_sampling_generator_rule():
    c = hclt((torch.rand(100, 5, generator=torch.Generator().manual_seed(0)) < 0.4).double(), n_latent=2, generator=0)
    x = torch.full((50, 5), math.nan, dtype=torch.float64)
    a, b = c.sample(x, generator=3), c.sample(x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    torch.manual_seed(1)
    d = c.sample(x)
    torch.manual_seed(1)
    assert torch.equal(d, c.sample(x))  # None: seeded from the global generator


def test_mpe_result_is_a_dataclass():
    import dataclasses

    from nips2019.circuits import MPEResult

    c = chow_liu_circuit((torch.rand(50, 3, generator=torch.Generator().manual_seed(0)) < 0.5).double())
    res = c.mpe(torch.full((2, 3), math.nan, dtype=torch.float64))
    assert isinstance(res, MPEResult) and dataclasses.is_dataclass(res)
    assert res.x.shape == (2, 3) and res.log_value.shape == (2,)


@pytest.mark.gpu
def test_device_mismatch_is_refused():
    c = random_region_circuit(4, depth=1, n_repetitions=1, n_sums=1, n_inputs=2, generator=0, device="cuda")
    with pytest.raises(ValueError, match="x is on cpu but the circuit is on cuda"):
        c(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="missing is on cpu but x is on cuda"):
        c(torch.zeros(2, 4, device="cuda"), torch.zeros(2, 4, dtype=torch.bool))
    x = torch.full((3, 4), math.nan, device="cuda")
    assert torch.equal(c.sample(x, generator=0).cpu(), c.to("cpu").sample(x.cpu(), generator=0))
