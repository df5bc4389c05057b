"""Closed-form CNN-GP / CNTK against dense kernels, brute-force loops and Monte Carlo."""

import math

import pytest
import torch

from nips2019.ntk import (
    ConvNTK,
    analytic_kernels,
    cnn,
    cnn_kernels,
    empirical_ntk,
    empirical_ntk_naive,
    get_activation,
    monte_carlo_kernels,
)

F64 = torch.float64


def _img(n, c=2, h=5, w=None, seed=0, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, h, h if w is None else w, generator=g, dtype=F64).to(dtype)


@pytest.mark.parametrize("activation,w_std,b_std", [("relu", math.sqrt(2), 0.1), ("erf", 1.5, None)])
@pytest.mark.parametrize("readout", ["flatten", "gap"])
@pytest.mark.parametrize("depth", [0, 1, 3])
def test_one_pixel_image_is_the_dense_kernel(activation, w_std, b_std, readout, depth):
    x = torch.randn(6, 4, dtype=F64, generator=torch.Generator().manual_seed(1))
    y = torch.randn(3, 4, dtype=F64, generator=torch.Generator().manual_seed(2))
    kw = dict(depth=depth, activation=activation, w_std=w_std, b_std=b_std)
    conv = cnn_kernels(x[:, :, None, None], y[:, :, None, None], kernel_size=1, readout=readout, **kw)
    dense = analytic_kernels(x, y, **kw)
    torch.testing.assert_close(conv.nngp, dense.nngp, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(conv.ntk, dense.ntk, rtol=1e-12, atol=1e-12)
    # a k x k SAME filter on one pixel sees the pixel once out of k^2 taps: a dense layer with w^2 / k^2
    conv3 = cnn_kernels(x[:, :, None, None], kernel_size=3, readout=readout, depth=1, activation=activation,
                        w_std=w_std, b_std=b_std)
    assert conv3.ntk.shape == (6, 6)


def _brute_force(x1, x2, ksize, stride, padding, readout, w_std, b_std):
    """One conv + ReLU block and the readout, pair of positions by pair of positions (Python loops)."""
    relu = get_activation("relu")
    c, h, w = x1.shape
    w2, b2 = w_std**2, (b_std or 0.0) ** 2
    if padding == "SAME":
        oh = -(-h // stride)
        tot = max((oh - 1) * stride + ksize - h, 0)
        lo = tot // 2
    else:
        oh, lo = (h - ksize) // stride + 1, 0

    def px(x, i, j):  # the zero-padded pixel vector
        return x[:, i, j] if 0 <= i < h and 0 <= j < w else torch.zeros(c, dtype=x.dtype)

    def k0(xa, xb, p, q):  # input kernel between position p of xa and q of xb, averaged over taps
        s = 0.0
        for di in range(ksize):
            for dj in range(ksize):
                a = px(xa, p[0] * stride - lo + di, p[1] * stride - lo + dj)
                b = px(xb, q[0] * stride - lo + di, q[1] * stride - lo + dj)
                s += float(a @ b) / c
        return w2 * s / ksize**2 + b2

    pos = [(i, j) for i in range(oh) for j in range(oh)]
    pairs = [(p, p) for p in pos] if readout == "flatten" else [(p, q) for p in pos for q in pos]
    nngp = ntk = 0.0
    for p, q in pairs:
        k12 = torch.tensor(k0(x1, x2, p, q), dtype=F64)
        k11 = torch.tensor(k0(x1, x1, p, p), dtype=F64)
        k22 = torch.tensor(k0(x2, x2, q, q), dtype=F64)
        t, tdot = relu.kernel(k11, k22, k12)
        nngp += float(t)
        ntk += float(k12 * tdot)
    nngp, ntk = nngp / len(pairs), ntk / len(pairs)
    k_out = w2 * nngp + b2
    return k_out, w2 * ntk + k_out


@pytest.mark.parametrize("ksize,stride,padding", [(3, 1, "SAME"), (2, 2, "SAME"), (3, 2, "VALID"), (2, 1, "VALID"),
                                                  (4, 3, "SAME")])
@pytest.mark.parametrize("readout", ["flatten", "gap"])
def test_brute_force_one_block(ksize, stride, padding, readout):
    x = _img(3, c=2, h=5, seed=3)
    kw = dict(depth=1, kernel_size=ksize, stride=stride, padding=padding, readout=readout, w_std=1.3, b_std=0.2)
    k = cnn_kernels(x, **kw)
    for a in range(3):
        for b in range(3):
            nn_, nt_ = _brute_force(x[a], x[b], ksize, stride, padding, readout, 1.3, 0.2)
            # 1e-9: arccos round-off where k12 ~ sqrt(k11 k22) (equal positions of equal images)
            assert abs(k.nngp[a, b].item() - nn_) < 1e-9 and abs(k.ntk[a, b].item() - nt_) < 1e-9, (a, b)


def test_blocks_symmetry_and_x2():
    x, y = _img(7, seed=4), _img(4, seed=5)
    kw = dict(depth=2, readout="gap", w_std=1.4, b_std=0.1)
    ref = cnn_kernels(torch.cat([x, y]), **kw)
    k = cnn_kernels(x, **kw, batch_size=2)
    kxy = cnn_kernels(x, y, **kw, batch_size=3)
    torch.testing.assert_close(k.ntk, ref.ntk[:7, :7], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(kxy.nngp, ref.nngp[:7, 7:], rtol=1e-12, atol=1e-12)
    assert torch.equal(k.ntk, k.ntk.T)
    assert torch.linalg.eigvalsh(ref.ntk).min() > 0


def test_finite_network_matches_kernel_by_monte_carlo():
    """Relative error of the Monte-Carlo kernels shrinks with the number of channels."""
    x = _img(4, c=1, h=6, seed=6, dtype=torch.float32)
    kw = dict(depth=2, kernel_size=3, readout="gap", activation="relu", w_std=math.sqrt(2), b_std=0.1)
    exact = cnn_kernels(x.double(), **kw)
    errs = {}
    for ch in (16, 256):
        mc = monte_carlo_kernels(lambda g, ch=ch: cnn(1, 6, ch, out_features=32, generator=g, **kw), x,
                                 n_samples=4, generator=0)
        errs[ch] = ((mc.ntk.double() - exact.ntk).norm() / exact.ntk.norm()).item()
        nngp_err = ((mc.nngp.double() - exact.nngp).norm() / exact.nngp.norm()).item()
    assert errs[256] < 0.6 * errs[16], errs  # ~ channels^-1/2 (a factor 4 here, less with 4 samples)
    assert errs[256] < 0.12, errs
    assert nngp_err < 0.3, nngp_err  # 4 x 32 draws of a random function: a looser bound


def test_flatten_readout_monte_carlo():
    x = _img(3, c=2, h=5, seed=7, dtype=torch.float32)
    kw = dict(depth=1, kernel_size=3, stride=2, readout="flatten", activation="erf", w_std=1.5, b_std=0.05)
    exact = cnn_kernels(x.double(), **kw)
    mc = monte_carlo_kernels(lambda g: cnn(2, 5, 512, generator=g, **kw), x, n_samples=4, generator=1)
    assert ((mc.ntk.double() - exact.ntk).norm() / exact.ntk.norm()).item() < 0.05


def test_conv_layer_empirical_ntk_by_naive_loop():
    net = torch.nn.Sequential(ConvNTK(1, 3, 3, stride=2, w_std=1.2, b_std=0.3, generator=0, dtype=F64),
                              torch.nn.Flatten(), torch.nn.Linear(3 * 3 * 3, 2).double())
    x = _img(3, c=1, h=5, seed=8)
    torch.testing.assert_close(empirical_ntk(net, x), empirical_ntk_naive(net, x))


def test_bad_inputs():
    x = _img(3)
    with pytest.raises(ValueError, match="VALID"):
        cnn_kernels(x, depth=3, kernel_size=3, padding="VALID")
    with pytest.raises(ValueError, match="x1"):
        cnn_kernels(x[0])
    with pytest.raises(ValueError, match="padding"):
        cnn_kernels(x, padding="FULL")
    with pytest.raises(ValueError, match="x2"):
        cnn_kernels(x, _img(2, c=3))
    with pytest.raises(TypeError, match="build"):
        monte_carlo_kernels(lambda g: 3, x.float(), n_samples=1)
    with pytest.raises(ValueError, match="ConvNTK.forward"):
        ConvNTK(2, 3)(torch.randn(2, 3, 4, 4))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    x = _img(5, seed=9)
    kw = dict(depth=2, readout="gap", w_std=1.4, b_std=0.1)
    cpu = cnn_kernels(x, **kw)
    gpu = cnn_kernels(x.cuda(), **kw)
    assert gpu.ntk.device.type == "cuda"
    torch.testing.assert_close(gpu.ntk.cpu(), cpu.ntk, rtol=1e-10, atol=1e-10)
    net = cnn(2, 5, 8, generator=0, device="cuda", dtype=F64)
    assert torch.equal(net[0].weight.cpu(), cnn(2, 5, 8, generator=0, dtype=F64)[0].weight)


@pytest.mark.parametrize("readout", ["flatten", "gap"])
def test_diagonal_exact_in_every_block(readout):
    """Blocks of rows see the same numbers as one block, the diagonal included (no arccos round-off)."""
    x = _img(9, seed=10)
    kw = dict(depth=2, readout=readout, w_std=math.sqrt(2), b_std=0.1)
    one = cnn_kernels(x, **kw)
    for bs in (1, 2, 4):
        torch.testing.assert_close(cnn_kernels(x, **kw, batch_size=bs).ntk, one.ntk, rtol=1e-13, atol=1e-13)
    # the diagonal equals the kernel of each image with a copy of itself up to arccos round-off
    pair = torch.stack([cnn_kernels(x[i : i + 1], **kw).ntk[0, 0] for i in range(9)])
    torch.testing.assert_close(one.ntk.diagonal(), pair, rtol=1e-13, atol=1e-13)
