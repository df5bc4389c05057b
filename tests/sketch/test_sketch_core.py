"""Sparse JL: the matrix against its dense form, closed-form moments, exact small cases, errors."""

import itertools
import math

import numpy as np
import pytest
import scipy.sparse
import torch

from nips2019.sketch import jl_distortion, jl_distortion_variance, ratio_tradeoff, sparse_jl

F64 = torch.float64


@pytest.mark.parametrize("construction", ["block", "graph"])
@pytest.mark.parametrize("s", [1, 3])
def test_columns_have_s_unit_nonzeros(construction, s):
    a = sparse_jl(200, 12, sparsity=s, construction=construction, generator=0, dtype=F64).to_dense()
    assert ((a != 0).sum(0) == s).all()
    torch.testing.assert_close(a.square().sum(0), torch.ones(200, dtype=F64))
    if construction == "block":  # one non-zero in each block of m/s rows
        blocks = (a != 0).reshape(s, 12 // s, 200).sum(1)
        assert (blocks == 1).all()


@pytest.mark.parametrize("construction", ["block", "graph"])
def test_apply_matches_dense_and_scipy(construction):
    a = sparse_jl(300, 16, sparsity=4, construction=construction, generator=1, dtype=F64)
    x = torch.randn(5, 300, dtype=F64, generator=torch.Generator().manual_seed(0))
    x[x.abs() < 1.0] = 0
    dense = a.to_dense()
    torch.testing.assert_close(a.apply(x), x @ dense.T)
    torch.testing.assert_close(a.apply(x.to_sparse()), x @ dense.T)
    ref = scipy.sparse.csr_matrix(x.numpy()) @ scipy.sparse.csr_matrix(dense.numpy()).T
    np.testing.assert_allclose(a.apply(x).numpy(), ref.toarray(), atol=1e-12)
    assert a.apply(x[0]).shape == (16,)


def _u(k, seed=0):
    x = torch.randn(k, dtype=F64, generator=torch.Generator().manual_seed(seed))
    return x / x.norm()


@pytest.mark.parametrize("construction,s", [("block", 1), ("block", 4), ("graph", 4), ("gaussian", 1)])
def test_monte_carlo_moments_match_closed_form(construction, s):
    x = _u(30)
    r = jl_distortion(x, 64, sparsity=s, construction=construction, n_trials=20_000, generator=2)
    var = jl_distortion_variance(x, 64, sparsity=s, construction=construction).item()
    se_mean = math.sqrt(var / 20_000)
    assert abs(r.distortion.mean().item()) < 4 * se_mean
    assert abs(r.distortion.var().item() / var - 1) < 0.05


def test_variance_formula_by_enumeration():
    """Feature hashing (s = 1) into m = 3 rows, 3 coordinates: all 3^3 * 2^3 matrices, equally likely."""
    x = torch.tensor([0.5, -1.0, 2.0], dtype=F64)
    m, vals = 3, []
    for rows in itertools.product(range(m), repeat=3):
        for signs in itertools.product((-1.0, 1.0), repeat=3):
            a = torch.zeros(m, 3, dtype=F64)
            a[list(rows), [0, 1, 2]] = torch.tensor(signs, dtype=F64)
            vals.append(((a @ x).square().sum() / x.square().sum() - 1).item())
    vals = np.array(vals)
    assert abs(vals.mean()) < 1e-12
    assert vals.var() == pytest.approx(jl_distortion_variance(x, m).item(), rel=1e-12)


def test_two_equal_coordinates_fail_exactly_on_collision():
    """x = (1, 1)/sqrt 2 under feature hashing: distortion is +-1 on a collision (probability 1/m), else 0."""
    r = jl_distortion(torch.ones(2, dtype=F64), 16, sparsity=1, n_trials=64_000, eps_distortion=0.5, generator=3)
    assert set(np.unique(r.distortion.numpy().round(12))) <= {-1.0, 0.0, 1.0}
    se = math.sqrt((1 / 16) * (15 / 16) / 64_000)
    assert abs(r.failure.item() - 1 / 16) < 4 * se
    one_hot = jl_distortion(torch.ones(1, dtype=F64), 16, sparsity=2, n_trials=100, generator=0)
    assert one_hot.distortion.abs().max() < 1e-12  # a 1-sparse vector is preserved exactly


def test_batch_of_vectors_and_tradeoff():
    xs = torch.stack([torch.ones(8, dtype=F64), torch.ones(8, dtype=F64) * torch.arange(1.0, 9.0, dtype=F64)])
    r = jl_distortion(xs, 32, sparsity=2, n_trials=200, generator=0)
    assert r.distortion.shape == (2, 200) and r.failure.shape == (2,)
    t = ratio_tradeoff([2, 4, 12, 64], 1024, sparsity=1, eps_distortion=0.15, delta=0.01, n_trials=3000, generator=0)
    torch.testing.assert_close(t.ratios, 1 / torch.tensor([2.0, 4, 12, 64], dtype=F64).sqrt())
    assert 0 < t.v < 1
    dense = ratio_tradeoff([2, 64], 1024, construction="gaussian", eps_distortion=0.3, delta=0.05, n_trials=500,
                           generator=0)
    assert dense.v == 1.0  # the Gaussian transform does not care about the ratio


def test_errors():
    with pytest.raises(ValueError, match="divide"):
        sparse_jl(10, 10, sparsity=3)
    with pytest.raises(ValueError, match="at most n_components"):
        sparse_jl(10, 4, sparsity=5, construction="graph")
    with pytest.raises(ValueError, match="non-zero"):
        jl_distortion(torch.zeros(3), 8)
    a = sparse_jl(5, 4, generator=0)
    with pytest.raises(ValueError, match="finite"):
        a.apply(torch.full((2, 5), float("nan")))


def test_reproducible_generator():
    a, b = sparse_jl(50, 8, sparsity=2, generator=7), sparse_jl(50, 8, sparsity=2, generator=7)
    assert torch.equal(a.rows, b.rows) and torch.equal(a.signs, b.signs)


@pytest.mark.gpu
def test_gpu_core_path():
    a = sparse_jl(100, 16, sparsity=4, generator=0, device="cuda")
    x = torch.randn(3, 100, device="cuda")
    assert a.apply(x).device.type == "cuda"
    cpu = sparse_jl(100, 16, sparsity=4, generator=0)
    torch.testing.assert_close(a.apply(x).cpu(), cpu.apply(x.cpu()))
    r = jl_distortion(torch.ones(20, device="cuda"), 64, sparsity=2, n_trials=100, generator=0)
    assert r.distortion.device.type == "cuda"
