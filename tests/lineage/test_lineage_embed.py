"""nips2019.lineage.pca and linear_r2 against scikit-learn."""

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from nips2019.lineage import PCAResult, linear_r2, pca, simulate_lineage


def _data(n=80, d=6, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    scales = torch.linspace(3.0, 0.2, d, dtype=dtype)
    return torch.randn(n, d, generator=g, dtype=dtype) * scales + torch.arange(d, dtype=dtype)


@pytest.mark.parametrize("k", [1, 3, 6])
def test_pca_matches_sklearn_up_to_sign(k):
    x = _data()
    res = pca(x, k)
    ref = PCA(n_components=k, svd_solver="full").fit(x.numpy())
    assert isinstance(res, PCAResult)
    assert res.components.shape == (k, 6) and res.scores.shape == (80, k)
    signs = np.sign((res.components.numpy() * ref.components_).sum(1))
    np.testing.assert_allclose(res.components.numpy(), signs[:, None] * ref.components_, atol=1e-10)
    np.testing.assert_allclose(res.scores.numpy(), ref.transform(x.numpy()) * signs, atol=1e-9)
    np.testing.assert_allclose(res.mean.numpy(), ref.mean_, atol=1e-12)
    np.testing.assert_allclose(res.explained_variance.numpy(), ref.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(res.explained_variance_ratio.numpy(), ref.explained_variance_ratio_,
                               rtol=1e-10)


def test_pca_axes_are_orthonormal_with_a_fixed_sign():
    res = pca(_data(seed=1), 4)
    torch.testing.assert_close(res.components @ res.components.T, torch.eye(4, dtype=torch.float64))
    biggest = res.components.gather(1, res.components.abs().argmax(1, keepdim=True))
    assert bool((biggest > 0).all())
    # the variances come in decreasing order and the ratios of all axes sum to one
    assert bool((res.explained_variance.diff() <= 0).all())
    assert float(pca(_data(seed=1), 6).explained_variance_ratio.sum()) == pytest.approx(1.0)


def test_pca_keeps_dtype_and_wide_data():
    x = _data(n=5, d=12, dtype=torch.float32)  # fewer rows than columns: at most n axes
    res = pca(x, 5)
    assert res.components.dtype == torch.float32 and res.scores.dtype == torch.float32
    ref = PCA(n_components=5, svd_solver="full").fit(x.numpy().astype(np.float64))
    np.testing.assert_allclose(res.explained_variance.numpy(), ref.explained_variance_, rtol=1e-4, atol=1e-6)


def test_pca_refuses_what_has_no_principal_components():
    with pytest.raises(ValueError, match="at least 2 rows"):
        pca(_data(n=1), 1)
    with pytest.raises(ValueError, match=r"n_components must be <= min\(n, d\) = 6"):
        pca(_data(), 7)
    with pytest.raises(ValueError, match="no variance"):
        pca(torch.ones(4, 3, dtype=torch.float64), 1)


def test_linear_r2_matches_sklearn():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(60, 3, generator=g, dtype=torch.float64)
    w = torch.randn(3, 2, generator=g, dtype=torch.float64)
    y = x @ w + torch.randn(60, 2, generator=g, dtype=torch.float64)
    y[:, 1] *= 5.0  # columns of different variance: the weighting matters
    pred = LinearRegression().fit(x.numpy(), y.numpy()).predict(x.numpy())
    ref = r2_score(y.numpy(), pred, multioutput="variance_weighted")
    assert linear_r2(x, y) == pytest.approx(ref, abs=1e-12)
    assert r2_score(y.numpy(), pred, multioutput="uniform_average") != pytest.approx(ref, abs=1e-3)


def test_linear_r2_with_collinear_predictors_and_limits():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(40, 2, generator=g, dtype=torch.float64)
    x = torch.cat([x, x[:, :1] * 2.0], 1)  # a repeated direction: the pseudo-inverse copes
    y = torch.randn(40, 1, generator=g, dtype=torch.float64) + x[:, :1]
    pred = LinearRegression().fit(x.numpy(), y.numpy()).predict(x.numpy())
    assert linear_r2(x, y) == pytest.approx(r2_score(y.numpy(), pred), abs=1e-10)
    assert linear_r2(x, 3.0 * x[:, 1:2] - 1.0) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="y has no variance"):
        linear_r2(x, torch.ones(40, 2, dtype=torch.float64))


def test_pca_of_the_simulated_read_out_keeps_the_latent_plane():
    sim = simulate_lineage(n_cells=60, times=(0.0, 1.5, 2.5), n_genes=20, gene_noise=0.1, generator=0,
                           progress=False)
    res = pca(torch.cat(sim.expression), 2)
    assert float(res.explained_variance_ratio.sum()) > 0.9
    assert linear_r2(res.scores, torch.cat(sim.x)) > 0.95
    # noise alone is not explained
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(res.scores.shape[0], 2, generator=g, dtype=torch.float64)
    assert linear_r2(res.scores, noise) < 0.05


@pytest.mark.gpu
def test_pca_and_r2_on_cuda():
    x = _data()
    res, res_gpu = pca(x, 3), pca(x.cuda(), 3)
    assert res_gpu.scores.is_cuda
    torch.testing.assert_close(res_gpu.components.cpu(), res.components)
    torch.testing.assert_close(res_gpu.explained_variance.cpu(), res.explained_variance)
    assert linear_r2(res_gpu.scores, x.cuda()) == pytest.approx(linear_r2(res.scores, x), abs=1e-10)
