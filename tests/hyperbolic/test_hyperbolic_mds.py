"""classical_mds against independent references: exact recovery of Euclidean clouds, NumPy, scikit-learn."""

import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from sklearn.manifold import ClassicalMDS

from nips2019.hyperbolic import balanced_tree, classical_mds, graph_distances, random_tree


def _cloud(n=25, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    spread = torch.tensor([3.0, 2.0, 1.0][:k], dtype=torch.float64)
    return torch.randn(n, k, generator=g, dtype=torch.float64) * spread


def _pdist(x):
    """Pairwise distances by direct differences (cdist's matrix-product path loses ~1e-8 to cancellation)."""
    return torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")


def _numpy_mds(d, dim):
    """Textbook Torgerson scaling, written independently with explicit centring matrices."""
    n = d.shape[0]
    j = np.eye(n) - np.ones((n, n)) / n
    b = -0.5 * j @ (d**2) @ j
    w, v = np.linalg.eigh(b)
    w, v = w[::-1][:dim], v[:, ::-1][:, :dim]
    return v * np.sqrt(np.clip(w, 0, None))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_exact_recovery_up_to_rigid_motion(k):
    x = _cloud(k=k)
    d = _pdist(x)
    y = classical_mds(d, k)
    torch.testing.assert_close(_pdist(y), d, rtol=0, atol=1e-10)
    # A rigid motion maps the centred cloud onto the result (scipy's orthogonal Procrustes).
    xc = (x - x.mean(0)).numpy()
    r, _ = orthogonal_procrustes(xc, y.numpy())
    np.testing.assert_allclose(xc @ r, y.numpy(), atol=1e-10)
    np.testing.assert_allclose(y.sum(0).numpy(), 0, atol=1e-10)


def test_extra_dimensions_are_zero():
    x = _cloud(k=2)
    y = classical_mds(_pdist(x), 4)
    assert y.shape == (25, 4)
    assert float(y[:, 2:].abs().max()) < 1e-6  # the cloud is planar: nothing left for dims 3 and 4
    torch.testing.assert_close(_pdist(y), _pdist(x), rtol=0, atol=1e-10)


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_numpy_and_sklearn_on_tree_metrics(seed):
    t = random_tree(30, generator=seed)
    d = graph_distances(t.parents, t.n_nodes)  # a tree metric: not Euclidean, B has negative eigenvalues
    y = classical_mds(d, 2)
    # The embedded distances (invariant to the eigenvectors' signs) agree with both references.
    ref_np = _numpy_mds(d.numpy(), 2)
    ref_sk = ClassicalMDS(n_components=2, metric="precomputed").fit_transform(d.numpy())
    got = _pdist(y).numpy()
    for ref in (ref_np, ref_sk):
        np.testing.assert_allclose(got, np.linalg.norm(ref[:, None] - ref[None], axis=-1), atol=1e-8)
    # Eigenvalues: the squared column norms are sklearn's eigenvalues.
    fit = ClassicalMDS(n_components=2, metric="precomputed").fit(d.numpy())
    np.testing.assert_allclose((y**2).sum(0).numpy(), fit.eigenvalues_, rtol=1e-10)


def test_strain_optimal_among_rank_dim_gram_matrices():
    # X X^T is the best rank-2 PSD approximation of B: no other 2-D configuration has a lower strain.
    t = balanced_tree(2, 3)
    d = graph_distances(t.parents, t.n_nodes)
    n = t.n_nodes
    j = torch.eye(n, dtype=torch.float64) - 1.0 / n
    b = -0.5 * j @ d**2 @ j
    y = classical_mds(d, 2)
    best = float(torch.linalg.matrix_norm(y @ y.T - b))
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        z = y + 0.3 * torch.randn(n, 2, generator=g, dtype=torch.float64)
        z = z - z.mean(0)
        assert float(torch.linalg.matrix_norm(z @ z.T - b)) > best


def test_deterministic_signs_and_float32():
    x = _cloud()
    d = _pdist(x)
    y = classical_mds(d, 3)
    peak = y.gather(0, y.abs().argmax(0, keepdim=True))
    assert bool((peak > 0).all())
    y32 = classical_mds(d.float(), 3)
    assert y32.dtype == torch.float32
    torch.testing.assert_close(y32.double(), y, rtol=0, atol=1e-3)


def test_bad_inputs():
    x = _cloud(n=5)
    d = _pdist(x)
    with pytest.raises(ValueError, match="dim must be at most n = 5"):
        classical_mds(d, 6)
    asym = d.clone()
    asym[0, 1] += 1.0
    with pytest.raises(ValueError, match="symmetric"):
        classical_mds(asym, 2)
    with pytest.raises(ValueError, match="diagonal"):
        classical_mds(d + 1.0, 2)
    with pytest.raises(ValueError, match="distances must have values in"):
        classical_mds(-d, 2)
    with pytest.raises(ValueError, match="distances must be 2-D"):
        classical_mds(d[0], 1)
    with pytest.raises(TypeError, match="distances must be a torch.Tensor"):
        classical_mds(d.numpy(), 2)


@pytest.mark.gpu
def test_cuda_matches_cpu():
    x = _cloud()
    d = _pdist(x)
    y = classical_mds(d.cuda(), 3)
    assert y.device.type == "cuda"
    torch.testing.assert_close(_pdist(y).cpu(), d, rtol=0, atol=1e-9)
