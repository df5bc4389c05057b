"""All-marginals: the smooth backward pass and the non-smooth linear-time pass, against enumeration."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from nips2019.circuits import (
    CircuitBuilder,
    all_marginals,
    balanced_vtree,
    chow_liu_circuit,
    is_smooth,
    random_structured_circuit,
    right_linear_vtree,
    smooth,
)

F64 = torch.float64


def _enumerate(c, card):
    """All joint states of the variables (cardinalities ``card``) and the circuit's value on each."""
    X = torch.tensor(list(itertools.product(*(range(k) for k in card))), dtype=F64)
    with torch.no_grad():
        return X, c(X).exp()


def _brute_marginals(X, f, x, K):
    """p(X_v = a | x_o) by summing f over the completions of each evidence row."""
    out = torch.zeros(x.shape[0], x.shape[1], K, dtype=F64)
    for i, row in enumerate(x):
        keep = ((X == row) | torch.isnan(row)).all(1)
        z = f[keep].sum()
        for v in range(x.shape[1]):
            for a in range(K):
                out[i, v, a] = f[keep & (X[:, v] == a)].sum() / z
    return out


def test_marginals_keep_indicator_values_above_one():
    """Issue 15: a sum over indicator(0, 0..2) with weights .2/.3/.5 used to give [0.2, 0.8]."""
    b = CircuitBuilder()
    s = b.sum([b.indicator(0, a) for a in range(3)], [0.2, 0.3, 0.5])
    c = b.build(s, dtype=F64)
    m = c.marginals(torch.tensor([[math.nan]], dtype=F64))
    torch.testing.assert_close(m[0, 0], torch.tensor([0.2, 0.3, 0.5], dtype=F64))
    # observed values above 1 keep their own column too
    torch.testing.assert_close(c.marginals(torch.tensor([[2.0]], dtype=F64))[0, 0], torch.tensor([0.0, 0.0, 1.0], dtype=F64))


def test_chow_liu_marginals_on_three_valued_data_match_enumeration():
    g = torch.Generator().manual_seed(0)
    z = torch.randint(0, 3, (400, 1), generator=g)
    data = ((z + torch.randint(0, 2, (400, 4), generator=g)) % 3).to(F64)
    c = chow_liu_circuit(data, pseudocount=0.5).double()
    X, f = _enumerate(c, [3] * 4)
    x = data[:6].clone()
    x[:, 1:3] = math.nan
    x[0, :] = math.nan
    torch.testing.assert_close(c.marginals(x), _brute_marginals(X, f, x, 3))
    torch.testing.assert_close(all_marginals(c, x).marginals, _brute_marginals(X, f, x, 3))


@pytest.mark.parametrize("make_vtree", [right_linear_vtree, balanced_vtree])
def test_all_marginals_on_a_non_smooth_circuit_match_enumeration_and_smoothing(make_vtree):
    n = 8
    vt = make_vtree(n)
    b, r = random_structured_circuit(vt, width=3, generator=torch.Generator().manual_seed(3))
    raw = b.build(r, n_vars=n, dtype=F64)
    assert not is_smooth(raw)
    X, f = _enumerate(raw, [2] * n)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(12, n, generator=g) < 0.5).to(F64)
    x[torch.rand(12, n, generator=g) < 0.6] = math.nan
    x[0] = math.nan
    truth = _brute_marginals(X, f, x, 2)
    res = all_marginals(raw, x)
    torch.testing.assert_close(res.marginals, truth)
    keep = [((X == row) | torch.isnan(row)).all(1) for row in x]
    torch.testing.assert_close(res.log_value, torch.stack([f[k].sum().log() for k in keep]))
    # the classic backward pass is wrong on the non-smooth circuit ...
    assert (raw.marginals(x) - truth).abs().max() > 0.05
    # ... and right after smoothing, with the same numbers as the non-smooth pass
    sm = smooth((b, r), vt).circuit(dtype=F64)
    torch.testing.assert_close(sm.marginals(x), res.marginals)


def test_all_marginals_with_categorical_and_indicator_leaves():
    """Gaps over 3- and 4-valued variables: the missing mass is spread over the whole domain."""
    b = CircuitBuilder()
    a = b.product([b.categorical(0, [0.1, 0.2, 0.3, 0.4]), b.indicator(1, 2)])
    s = b.sum([a, b.indicator(1, 0), b.categorical(2, [0.5, 0.25, 0.25])], [0.5, 0.3, 0.2])
    c = b.build(s, dtype=F64)
    X, f = _enumerate(c, [4, 3, 3])
    x = torch.tensor([[math.nan] * 3, [math.nan, 2.0, math.nan], [1.0, math.nan, math.nan]], dtype=F64)
    torch.testing.assert_close(all_marginals(c, x).marginals[:, :, :4], _brute_marginals(X, f, x, 4))


def test_all_marginals_conditions_are_checked():
    b = CircuitBuilder()
    x0 = b.bernoulli(0, 0.3)
    not_dec = b.build(b.product([x0, b.sum([x0, b.bernoulli(1, 0.5)])]), dtype=F64)
    with pytest.raises(ValueError, match="decomposable"):
        all_marginals(not_dec, torch.zeros(1, 2, dtype=F64))
    g = b.build(b.sum([b.gaussian(0, 0.0, 1.0), b.gaussian(0, 1.0, 1.0)]), dtype=F64)
    with pytest.raises(ValueError, match="discrete"):
        all_marginals(g, torch.zeros(1, 1, dtype=F64))
    c = b.build(b.sum([x0, b.product([x0, b.bernoulli(1, 0.5)])]), dtype=F64)
    with pytest.raises(ValueError, match="domain"):
        all_marginals(c, torch.tensor([[3.0, 0.0]], dtype=F64))
    with pytest.raises(TypeError, match="circuit"):
        all_marginals("not a circuit", torch.zeros(1, 2, dtype=F64))


@pytest.mark.gpu
def test_all_marginals_on_gpu_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA")
    vt = right_linear_vtree(10)
    b, r = random_structured_circuit(vt, width=2, generator=0)
    c = b.build(r, dtype=F64)
    x = torch.full((4, 10), math.nan, dtype=F64)
    x[1, :5] = 1.0
    ref = all_marginals(c, x).marginals
    got = all_marginals(c.cuda(), x.cuda()).marginals
    assert got.is_cuda
    torch.testing.assert_close(got.cpu(), ref)
