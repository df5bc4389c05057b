"""Reference tests for nips2019.setfunctions: dense Hadamard matrix, brute force, closed forms, sklearn."""

from __future__ import annotations

import itertools

import pytest
import torch

from nips2019.setfunctions import (coverage_spectrum, coverage_value, cut_spectrum, cut_value, evaluate_fourier,
                                   fourier_transform, fwht, hadamard_matrix, index_to_sets, lasso_fourier,
                                   parity_features, random_graph, ridge_subset_loss, sets_to_index, sparse_fourier)

F64 = dict(dtype=torch.float64)


def _all_sets(n):
    return index_to_sets(torch.arange(2**n), n)


@pytest.mark.parametrize("n", [0, 1, 3, 6])
def test_fwht_matches_dense_hadamard(n, dtype, tol):
    v = torch.randn(3, 2**n, generator=torch.Generator().manual_seed(n), dtype=dtype)
    h = hadamard_matrix(n, dtype=dtype)
    torch.testing.assert_close(fwht(v), v @ h.T, **tol)
    torch.testing.assert_close(h @ h, 2**n * torch.eye(2**n, dtype=dtype), **tol)
    assert fwht(v).dtype == dtype


def test_hadamard_entries_by_brute_force():
    n = 4
    h = hadamard_matrix(n, **F64)
    for i, j in itertools.product(range(2**n), repeat=2):
        assert h[i, j] == (-1) ** bin(i & j).count("1")


def test_fourier_transform_inverts_and_matches_evaluate():
    n = 5
    sets = _all_sets(n)
    values = torch.randn(2**n, generator=torch.Generator().manual_seed(0), **F64)
    coefs = fourier_transform(values)
    torch.testing.assert_close(evaluate_fourier(sets, sets, coefs), values)
    # naive definition
    naive = torch.tensor([sum(values[a] * (-1) ** int((sets[a] & sets[b]).sum()) for a in range(2**n)) / 2**n
                          for b in range(2**n)], **F64)
    torch.testing.assert_close(coefs, naive)


def test_index_roundtrip():
    idx = torch.tensor([0, 1, 5, 31])
    torch.testing.assert_close(sets_to_index(index_to_sets(idx, 5)), idx)


def test_cut_spectrum_closed_form_equals_full_transform():
    n = 7
    edges, w = random_graph(n, 9, generator=3, **F64)
    full = fourier_transform(cut_value(_all_sets(n), edges, w))
    spec = cut_spectrum(n, edges, w)
    dense = torch.zeros(2**n, **F64)
    dense[sets_to_index(spec.frequencies)] = spec.coefficients
    torch.testing.assert_close(full, dense)
    assert spec.degree == 2


def test_coverage_spectrum_closed_form_equals_full_transform():
    n, u = 6, 8
    g = torch.Generator().manual_seed(1)
    cover = torch.rand(n, u, generator=g) < 0.3
    w = torch.rand(u, generator=g, **F64)
    full = fourier_transform(coverage_value(_all_sets(n), cover, w))
    spec = coverage_spectrum(cover, w)
    dense = torch.zeros(2**n, **F64)
    dense.index_add_(0, sets_to_index(spec.frequencies), spec.coefficients)
    torch.testing.assert_close(full, dense)


def test_ridge_subset_loss_matches_per_subset_solve():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 4, generator=g, **F64), torch.randn(30, generator=g, **F64)
    xv, yv = torch.randn(20, 4, generator=g, **F64), torch.randn(20, generator=g, **F64)
    sets = _all_sets(4)
    loss = ridge_subset_loss(sets, x, y, xv, yv, reg=0.1)
    for i, s in enumerate(sets):
        cols = torch.nonzero(s).flatten()
        xa = x[:, cols]
        beta = torch.linalg.solve(xa.T @ xa + 0.1 * 30 * torch.eye(len(cols), **F64), xa.T @ y)
        ref = ((yv - xv[:, cols] @ beta) ** 2).mean()
        torch.testing.assert_close(loss[i], ref)


@pytest.mark.parametrize("decoder", ["low-degree", "bits"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_fourier_recovers_cut_exactly(decoder, seed):
    n, k = 60, 12
    edges, w = random_graph(n, k, generator=seed, **F64)
    res = sparse_fourier(lambda s: cut_value(s, edges, w), n, k + 1, degree=2, decoder=decoder, generator=seed)
    truth = cut_spectrum(n, edges, w)
    assert res.converged
    assert sorted(map(tuple, res.spectrum.frequencies.int().tolist())) == sorted(
        map(tuple, truth.frequencies.int().tolist()))
    probe = torch.rand(100, n, generator=torch.Generator().manual_seed(9)) < 0.5
    torch.testing.assert_close(res.spectrum(probe), truth(probe))
    assert res.n_queries < 2 ** 20


def test_sparse_fourier_low_degree_uses_fewer_queries_at_large_n():
    n, k = 400, 8
    edges, w = random_graph(n, k, generator=0, **F64)
    q = {d: sparse_fourier(lambda s: cut_value(s, edges, w), n, k + 1, degree=2, decoder=d, generator=0)
         for d in ["low-degree", "bits"]}
    assert q["low-degree"].converged and q["bits"].converged
    assert q["low-degree"].n_queries < q["bits"].n_queries / 3


def test_sparse_fourier_on_coverage_against_full_transform():
    n, u = 10, 6
    g = torch.Generator().manual_seed(4)
    cover = torch.rand(n, u, generator=g) < 0.2
    w = 1 + torch.rand(u, generator=g, **F64)
    spec = coverage_spectrum(cover, w)
    res = sparse_fourier(lambda s: coverage_value(s, cover, w), n, len(spec.coefficients), decoder="bits",
                         generator=0)
    assert res.converged
    all_sets = _all_sets(n)
    torch.testing.assert_close(res.spectrum(all_sets), coverage_value(all_sets, cover, w))


def test_parity_features_columns():
    sets = _all_sets(4)
    feats, freqs = parity_features(sets, 2)
    assert feats.shape == (16, 1 + 4 + 6)
    torch.testing.assert_close(feats, 1 - 2 * ((sets.double() @ freqs.double().T) % 2))


def test_lasso_recovers_cut_from_random_queries():
    n, k = 12, 5
    edges, w = random_graph(n, k, generator=2, **F64)
    sets = torch.rand(120, n, generator=torch.Generator().manual_seed(0)) < 0.5
    spec = lasso_fourier(sets, cut_value(sets, edges, w), degree=2)
    truth = cut_spectrum(n, edges, w)
    allsets = _all_sets(n)
    torch.testing.assert_close(spec(allsets), truth(allsets), rtol=1e-6, atol=1e-6)


def test_bad_inputs():
    with pytest.raises(ValueError, match="power-of-two"):
        fwht(torch.zeros(3))
    with pytest.raises(ValueError, match="degree is required"):
        sparse_fourier(lambda s: s.double().sum(1), 4, 2)
    with pytest.raises(TypeError, match="sets"):
        cut_value(torch.zeros(2, 3, dtype=torch.int64), torch.tensor([[0, 1]]), torch.ones(1))
    with pytest.raises(ValueError, match="query"):
        sparse_fourier(lambda s: torch.zeros(3, dtype=torch.float64), 4, 2, decoder="bits")
    with pytest.raises(ValueError, match="self-loops"):
        cut_spectrum(3, torch.tensor([[1, 1]]), torch.ones(1))


def test_device_and_dtype_follow_inputs(dtype):
    edges, w = torch.tensor([[0, 1]]), torch.ones(1, dtype=dtype)
    sets = torch.tensor([[True, False]])
    assert cut_value(sets, edges, w).dtype == dtype
    assert fourier_transform(torch.zeros(4, dtype=dtype)).dtype == dtype


@pytest.mark.gpu
def test_gpu_core_path():
    n = 10
    v = torch.randn(2**n, dtype=torch.float64, device="cuda")
    torch.testing.assert_close(fwht(v).cpu(), fwht(v.cpu()))
    edges, w = random_graph(n, 6, generator=0, dtype=torch.float64)
    sets = index_to_sets(torch.arange(2**n, device="cuda"), n)
    spec = cut_spectrum(n, edges.cuda(), w.cuda())
    torch.testing.assert_close(spec(sets), cut_value(sets, edges.cuda(), w.cuda()))
