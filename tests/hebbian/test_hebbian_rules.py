"""Hebb, Oja and Sanger rules against PCA (scikit-learn / numpy) and naive loops."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from nips2019.hebbian import fit_hebbian, hebb_step, oja_step, sanger_step


@pytest.fixture(scope="module")
def digits():
    x = load_digits().data
    x = (x - x.mean(0)) / x.std()  # centred, one global scale: PCA directions unchanged
    return x


def test_oja_finds_first_principal_component(digits):
    x = torch.tensor(digits, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    fit = fit_hebbian(x, rule="oja", n_epochs=6, batch_size=16, lr=0.1, decay=1e-2, n_runs=3, generator=g)
    pc1 = torch.tensor(PCA(1).fit(digits).components_[0])
    cos = (fit.weights @ pc1).abs() / fit.weights.norm(dim=-1)
    assert (cos > 0.99).all(), cos
    torch.testing.assert_close(fit.weights.norm(dim=-1), torch.ones(3, dtype=torch.float64), atol=0.03, rtol=0)


def test_sanger_recovers_top_k_subspace(digits):
    k = 3
    x = torch.tensor(digits, dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    fit = fit_hebbian(x, rule="sanger", k=k, n_epochs=6, batch_size=16, lr=0.1, decay=1e-2, generator=g)
    pcs = PCA(k).fit(digits).components_
    q, _ = np.linalg.qr(fit.weights.numpy().T)
    cosines = np.linalg.svd(pcs @ q, compute_uv=False)  # cosines of principal angles
    assert cosines.min() > 0.97, cosines
    # rows come out ordered: row 0 is the first component
    assert abs(fit.weights[0].numpy() @ pcs[0]) / np.linalg.norm(fit.weights[0].numpy()) > 0.95


def test_hebb_norm_grows_like_top_eigenvalue():
    # x with covariance diag(4, 1): E[dw] = lr C w, so along e1 the norm grows by (1 + 4 lr) per step
    x = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 1.0], [0.0, -1.0]], dtype=torch.float64) * np.sqrt(2)
    w = torch.tensor([1.0, 0.0], dtype=torch.float64)
    for _ in range(10):
        w = hebb_step(w, x, lr=0.1)
    torch.testing.assert_close(w, torch.tensor([1.4**10, 0.0], dtype=torch.float64))


def test_sanger_with_one_neuron_is_oja(dtype, device, tol):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(4, 5, generator=g, dtype=dtype).to(device)
    x = torch.randn(7, 5, generator=g, dtype=dtype).to(device)
    out = sanger_step(w[:, None, :], x, lr=0.1)[:, 0]
    torch.testing.assert_close(out, oja_step(w, x, lr=0.1), **tol)
    assert out.dtype == dtype and out.device.type == device.type


def test_batched_steps_match_naive_loops(dtype, tol):
    g = torch.Generator().manual_seed(2)
    runs, bsz, k, d, lr = 3, 6, 2, 4, 0.05
    w = torch.randn(runs, k, d, generator=g, dtype=dtype)
    x = torch.randn(runs, bsz, d, generator=g, dtype=dtype)
    out = sanger_step(w, x, lr=lr)
    out_oja = oja_step(w[:, 0], x, lr=lr)
    out_hebb = hebb_step(w[:, 0], x, lr=lr)
    for r in range(runs):
        dw = torch.zeros(k, d, dtype=dtype)
        dv = torch.zeros(d, dtype=dtype)
        dh = torch.zeros(d, dtype=dtype)
        for b in range(bsz):
            xb = x[r, b]
            y = [float(w[r, i] @ xb) for i in range(k)]
            for i in range(k):
                recon = sum(y[j] * w[r, j] for j in range(i + 1))
                dw[i] += y[i] * (xb - recon) / bsz
            dv += y[0] * (xb - y[0] * w[r, 0]) / bsz
            dh += y[0] * xb / bsz
        torch.testing.assert_close(out[r], w[r] + lr * dw, **tol)
        torch.testing.assert_close(out_oja[r], w[r, 0] + lr * dv, **tol)
        torch.testing.assert_close(out_hebb[r], w[r, 0] + lr * dh, **tol)


def test_runs_draw_independent_orders():
    """Each run visits the samples in its own order (issue 18: with one shared order, runs of
    Oja's rule with a decaying rate ended at the same weights); shared_order=True restores that."""
    x = torch.tensor(load_digits().data[:400], dtype=torch.float64)
    x = (x - x.mean(0)) / x.std()
    kw = dict(rule="oja", n_epochs=6, batch_size=16, lr=0.1, decay=1e-2, n_runs=4)

    def signed(w):  # the sign of an eigenvector is arbitrary
        return w * torch.sign(w @ w[0])[:, None]

    ind = signed(fit_hebbian(x, **kw, generator=0).weights)
    shared = signed(fit_hebbian(x, **kw, shared_order=True, generator=0).weights)
    # one order: the initial weights are forgotten, the runs end together (measured 0.009)
    assert torch.cdist(shared, shared).max() < 0.03
    # independent orders: every pair of runs ends apart (measured >= 0.15)
    assert torch.cdist(ind, ind).fill_diagonal_(1).min() > 0.08
    # run r of the batched fit is the same computation as a single run that used order r
    x2 = torch.randn(12, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    w0 = torch.nn.functional.normalize(torch.randn(3, 2, 3, generator=torch.Generator().manual_seed(4),
                                                   dtype=torch.float64), dim=-1)
    fit = fit_hebbian(x2, rule="sanger", k=2, n_epochs=2, batch_size=5, lr=0.1, w0=w0, generator=5)
    g = torch.Generator().manual_seed(5)
    orders = [[torch.randperm(12, generator=g) for _ in range(3)] for _ in range(2)]
    for r in range(3):
        w, t = w0[r], 0
        for epoch in range(2):
            xs = x2[orders[epoch][r]]
            for s in range(0, 12, 5):
                w = sanger_step(w, xs[s : s + 5], lr=0.1 / (1 + 0.0 * t))
                t += 1
        torch.testing.assert_close(fit.weights[r], w)


def test_fit_records_norms_and_schedule():
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))
    fit = fit_hebbian(x, rule="hebb", n_epochs=2, batch_size=5, lr=0.1, decay=1.0, generator=torch.Generator().manual_seed(0))
    assert fit.norms.shape == (5,)
    torch.testing.assert_close(fit.lrs, torch.tensor([0.1, 0.05, 0.1 / 3, 0.025]))


def test_bad_inputs():
    w, x = torch.zeros(3), torch.zeros(4, 3)
    with pytest.raises(ValueError, match=r"oja_step: x has size 2 along axis 1 \(d\) but w has d = 3"):
        oja_step(w, torch.zeros(4, 2), lr=0.1)
    with pytest.raises(ValueError, match="oja_step: lr must be a real number > 0"):
        oja_step(w, x, lr=0.0)
    with pytest.raises(ValueError, match=r"hebb_step: x must be at least 2-D \(\.\.\., B, d\)"):
        hebb_step(w, torch.zeros(3), lr=0.1)
    with pytest.raises(ValueError, match=r"sanger_step: w must be at least 2-D \(\.\.\., k, d\)"):
        sanger_step(w, x, lr=0.1)
    with pytest.raises(ValueError, match="the batch dimensions of w"):
        oja_step(torch.zeros(2, 3), torch.zeros(5, 4, 3), lr=0.1)
    with pytest.raises(TypeError, match="x has dtype torch.float64 but w has torch.float32"):
        hebb_step(w, x.double(), lr=0.1)
    with pytest.raises(ValueError, match="fit_hebbian: rule must be one of"):
        fit_hebbian(x, rule="bcm")
    with pytest.raises(ValueError, match="k must be 1"):
        fit_hebbian(x, rule="oja", k=2)
    with pytest.raises(ValueError, match="fit_hebbian: x contains"):
        fit_hebbian(torch.full((4, 3), float("nan")))
    with pytest.raises(TypeError, match="w0 has dtype torch.float64 but x has torch.float32"):
        fit_hebbian(x, w0=torch.ones(3, dtype=torch.float64))  # refused, not converted
    with pytest.raises(ValueError, match=r"w0 must have shape \(\.\.\., k=2, 3\)"):
        fit_hebbian(x, rule="sanger", k=2, w0=torch.ones(3, 3))
    with pytest.raises(ValueError, match="give n_runs or w0, not both"):
        fit_hebbian(x, w0=torch.ones(3), n_runs=2)
    with pytest.raises(FloatingPointError, match="fit_hebbian: rule 'hebb' diverged"):
        fit_hebbian(torch.randn(50, 3) * 100, rule="hebb", n_epochs=20, lr=1.0)


def test_issue_examples_now_raise():
    """The examples of issue 12 for this subpackage: empty data and empty batches are refused."""
    with pytest.raises(ValueError, match=r"fit_hebbian: x must not be empty, got shape \(0, 3\)"):
        fit_hebbian(torch.zeros(0, 3), rule="oja")
    for step, w in ((hebb_step, torch.ones(3)), (oja_step, torch.ones(3)), (sanger_step, torch.eye(3))):
        with pytest.raises(ValueError, match=rf"{step.__name__}: x must not be empty"):
            step(w, torch.zeros(0, 3), lr=0.1)


def test_same_seed_same_numbers(device):
    """The randomness rule: an int seed gives the same initial weights and order, on CPU and on CUDA."""
    x = torch.randn(40, 4, generator=torch.Generator().manual_seed(0))
    a = fit_hebbian(x.to(device), rule="sanger", k=2, n_epochs=2, batch_size=4, lr=0.05, n_runs=3, generator=11)
    b = fit_hebbian(x, rule="sanger", k=2, n_epochs=2, batch_size=4, lr=0.05, n_runs=3, generator=11)
    assert a.weights.device.type == device.type
    torch.testing.assert_close(a.weights.cpu(), b.weights, rtol=1e-5, atol=1e-6)
    c = fit_hebbian(x, rule="sanger", k=2, n_epochs=2, batch_size=4, lr=0.05, n_runs=3, generator=12)
    assert not torch.allclose(b.weights, c.weights)


@pytest.mark.gpu
def test_same_seed_same_numbers_on_cuda():
    test_same_seed_same_numbers(torch.device("cuda"))
