"""One architecture description: its kernels equal the closed forms, and Monte-Carlo empirical
kernels of the finite networks it builds converge to them as the width grows."""

import math

import numpy as np
import pytest
import torch

from nips2019.ntk import (
    analytic_kernels,
    avg_pool,
    cnn,
    cnn_kernels,
    conv,
    dense,
    empirical_ntk,
    empirical_ntk_naive,
    flatten,
    global_avg_pool,
    mlp,
    monte_carlo_kernels,
    nonlinearity,
    parallel,
    residual,
    serial,
)

F64 = torch.float64
S2 = math.sqrt(2)


def _x(n, d=5, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _img(n, c=2, h=5, seed=0):
    return torch.randn(n, c, h, h, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _mlp_arch(width, depth, act="relu", w_std=S2, b_std=0.1):
    layers = []
    for _ in range(depth):
        layers += [dense(width, w_std=w_std, b_std=b_std), nonlinearity(act)]
    return serial(*layers, dense(1, w_std=w_std, b_std=b_std))


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_dense_stack_equals_analytic_kernels(act):
    x1, x2 = _x(6), _x(4, seed=1)
    arch = _mlp_arch(64, 3, act)
    for parameterization in ("ntk", "standard"):
        ref = analytic_kernels(x1, x2, depth=3, activation=act, w_std=S2, b_std=0.1,
                               parameterization=parameterization, width=64)
        k = arch.kernels(x1, x2, parameterization=parameterization)
        torch.testing.assert_close(k.nngp, ref.nngp, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(k.ntk, ref.ntk, rtol=1e-12, atol=1e-12)
    sym = arch.kernels(x1)
    ref = analytic_kernels(x1, depth=3, activation=act, w_std=S2, b_std=0.1)
    torch.testing.assert_close(sym.ntk, ref.ntk, rtol=1e-12, atol=1e-12)
    # the network it builds is mlp's, parameter for parameter
    net = arch.network((5,), generator=3, dtype=F64)
    ref_net = mlp(5, 64, depth=3, activation=act, w_std=S2, b_std=0.1, generator=3, dtype=F64)
    torch.testing.assert_close(net(x1), ref_net(x1))


@pytest.mark.parametrize("readout", ["flatten", "gap"])
@pytest.mark.parametrize("stride,padding", [(1, "SAME"), (2, "VALID")])
def test_conv_stack_equals_cnn_kernels(readout, stride, padding):
    x1, x2 = _img(4), _img(3, seed=1)
    kw = dict(kernel_size=3, stride=stride, padding=padding, w_std=S2, b_std=0.1)
    depth = 2 if padding == "SAME" else 1
    layers = []
    for _ in range(depth):
        layers += [conv(8, **kw), nonlinearity("relu")]
    arch = serial(*layers, flatten() if readout == "flatten" else global_avg_pool(), dense(1, w_std=S2, b_std=0.1))
    ref = cnn_kernels(x1, x2, depth=depth, readout=readout, **kw)
    k = arch.kernels(x1, x2)
    torch.testing.assert_close(k.nngp, ref.nngp, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(k.ntk, ref.ntk, rtol=1e-12, atol=1e-12)
    net = arch.network((2, 5, 5), generator=1, dtype=F64)
    ref_net = cnn(2, 5, 8, depth=depth, readout=readout, generator=1, dtype=F64, **kw)
    torch.testing.assert_close(net(x1), ref_net(x1))


def _relu(k11, k22, k12):
    """ReLU arc-cosine map without the factor 2 (the package's convention), by hand."""
    c = np.clip(k12 / np.sqrt(k11 * k22), -1, 1)
    th = np.arccos(c)
    t = np.sqrt(k11 * k22) * (np.sin(th) + (np.pi - th) * np.cos(th)) / (2 * np.pi)
    return t, (np.pi - th) / (2 * np.pi)


def test_residual_block_by_hand():
    # x -> dense -> [h + dense(relu(h))] -> dense, derived on paper:
    # K_g = w2 T(K1) + b2, Theta_g = K_g + w2 Tdot(K1) Theta_1, K2 = K1 + K_g, Theta_2 = Theta_1 + Theta_g.
    w, b = 1.3, 0.2
    w2, b2 = w * w, b * b
    x = _x(5)
    arch = serial(dense(32, w_std=w, b_std=b), residual(nonlinearity("relu"), dense(32, w_std=w, b_std=b)),
                  dense(1, w_std=w, b_std=b))
    k = arch.kernels(x)
    xn = x.numpy()
    k0 = xn @ xn.T / 5
    v0 = np.diag(k0)
    k1, v1 = w2 * k0 + b2, w2 * v0 + b2
    th1 = k1
    t, tdot = _relu(v1[:, None], v1[None, :], k1)
    kg = w2 * t + b2
    thg = kg + w2 * tdot * th1
    k2, th2 = k1 + kg, th1 + thg
    k3 = w2 * k2 + b2
    th3 = k3 + w2 * th2
    np.testing.assert_allclose(k.nngp.numpy(), k3, rtol=1e-12)
    np.testing.assert_allclose(k.ntk.numpy(), th3, rtol=1e-12)
    # and the finite block computes h + g(h)
    net = arch.network((5,), generator=0, dtype=F64)
    block = net[1]
    h = net[0](x)
    torch.testing.assert_close(block(h), h + block.branches[1](h))


def test_parallel_identities():
    x = _x(4)
    # two independent dense layers summed = one with twice the variances
    two = parallel(dense(8, w_std=1.2, b_std=0.3), dense(8, w_std=1.2, b_std=0.3)).kernels(x)
    one = dense(8, w_std=1.2 * S2, b_std=0.3 * S2).kernels(x)
    torch.testing.assert_close(two.nngp, one.nngp)
    torch.testing.assert_close(two.ntk, one.ntk)
    with pytest.raises(ValueError, match="correlated"):
        parallel(nonlinearity("relu"), serial())  # x + relu(x): the cross-covariance is not zero
    with pytest.raises(ValueError, match="one shape"):
        parallel(dense(3), dense(4)).kernels(x)
    with pytest.raises(TypeError, match="must be a Layer"):
        serial(dense(3), torch.nn.ReLU())


def test_shape_errors_are_named():
    with pytest.raises(ValueError, match="dense needs flat features"):
        serial(conv(4), dense(1)).kernels(_img(2))
    with pytest.raises(ValueError, match="conv needs images"):
        serial(conv(4), flatten(), dense(1)).network((5,))
    with pytest.raises(ValueError, match="output must be flat"):
        serial(conv(4)).kernels(_img(2))
    with pytest.raises(ValueError, match="avg_pool"):
        serial(avg_pool(8), flatten(), dense(1)).kernels(_img(2))
    # a nonlinearity's kernel map assumes Gaussian inputs: not the raw input, not another nonlinearity
    with pytest.raises(ValueError, match="Gaussian inputs"):
        serial(nonlinearity("relu"), dense(1)).kernels(_x(3))
    with pytest.raises(ValueError, match="Gaussian inputs"):
        serial(dense(4), nonlinearity("erf"), residual(nonlinearity("relu"), dense(4)), dense(1)).kernels(_x(3))


def _rel(a, b):
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


def _mc_errors(arch, x, parameterization, n_ntk, n_nngp, seed):
    """Relative errors of Monte-Carlo NNGP (forward passes only, n_nngp networks) and NTK
    (monte_carlo_kernels, n_ntk networks) against the architecture's analytic kernels."""
    ref = arch.kernels(x, parameterization=parameterization)
    shape = tuple(x.shape[1:])

    def build(g):
        return arch.network(shape, parameterization=parameterization, generator=g, dtype=F64)

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        outs = [build(g)(x) for _ in range(n_nngp)]
    nngp = sum(f @ f.T for f in outs) / (n_nngp * outs[0].shape[1])
    mc = monte_carlo_kernels(build, x, n_samples=n_ntk, generator=seed)
    return _rel(nngp, ref.nngp), _rel(mc.ntk, ref.ntk)


# one architecture per group of block types, at two widths; OUT outputs per network
OUT = 16
BLOCKS = {
    "dense+erf+residual": (lambda w: serial(dense(w, w_std=1.5, b_std=0.1), nonlinearity("erf"),
                                            dense(w, w_std=1.5, b_std=0.1), residual(nonlinearity("relu"), dense(w, w_std=S2, b_std=0.1)),
                                            dense(OUT, w_std=1.5, b_std=0.1)), "x", "ntk", (16, 128)),
    "conv+avg_pool+flatten": (lambda w: serial(conv(w, 3, w_std=S2, b_std=0.1), nonlinearity("relu"), avg_pool(2),
                                               flatten(), dense(OUT, w_std=S2)), "img", "ntk", (4, 64)),
    "conv+global_avg_pool (standard)": (lambda w: serial(conv(w, 3, stride=2, w_std=S2, b_std=0.1),
                                                         nonlinearity("relu"), global_avg_pool(), dense(OUT)),
                                        "img", "standard", (8, 128)),
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n.startswith("dense") else n
                                  for n in BLOCKS])
def test_monte_carlo_converges_to_the_architecture_kernels(name):
    make, kind, parameterization, widths = BLOCKS[name]
    x = _x(4) if kind == "x" else _img(3, c=2, h=4)
    errs = {w: _mc_errors(make(w), x, parameterization, n_ntk=4, n_nngp=150, seed=1) for w in widths}
    (_, t_small), (k_big, t_big) = errs[widths[0]], errs[widths[1]]
    # the empirical NTK's error falls with the width (finite-width fluctuations, O(width^-1/2))
    assert t_big < 0.6 * t_small and t_big < 0.08, errs
    # the NNGP's is Monte-Carlo noise at these sizes, ~ (150 networks x OUT outputs)^-1/2
    assert k_big < 0.06, errs


def test_structured_ntk_of_an_architecture_network_is_exact():
    arch = serial(conv(3, 3, b_std=0.1), nonlinearity("relu"), avg_pool(2), flatten(), dense(6, b_std=0.1),
                  residual(nonlinearity("erf"), dense(6)), dense(2))
    for parameterization in ("ntk", "standard"):
        net = arch.network((1, 4, 4), parameterization=parameterization, generator=0, dtype=F64)
        x = _img(3, c=1, h=4)
        torch.testing.assert_close(empirical_ntk(net, x), empirical_ntk_naive(net, x))


def test_blocks_of_pairs_give_the_same_numbers(monkeypatch):
    from nips2019.ntk import _architecture

    arch = serial(conv(4, 3, b_std=0.1), nonlinearity("relu"), avg_pool(2, stride=1), global_avg_pool(), dense(1))
    x1, x2 = _img(7), _img(5, seed=1)
    whole, whole_sym = arch.kernels(x1, x2), arch.kernels(x1)
    monkeypatch.setattr(_architecture, "PAIR_BLOCK", 4 * 25**2)  # blocks of 2 x 2 pairs
    torch.testing.assert_close(arch.kernels(x1, x2).ntk, whole.ntk, rtol=1e-12, atol=1e-12)
    sym = arch.kernels(x1)
    torch.testing.assert_close(sym.nngp, whole_sym.nngp, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sym.ntk, whole_sym.ntk, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sym.ntk, sym.ntk.T, rtol=0, atol=0)


@pytest.mark.gpu
def test_architecture_on_cuda():
    arch = serial(conv(4, 3, b_std=0.1), nonlinearity("relu"), avg_pool(2), flatten(), dense(8, b_std=0.1),
                  residual(nonlinearity("erf"), dense(8)), dense(2))
    x = _img(5, c=1, h=4)
    k_cpu = arch.kernels(x)
    k = arch.kernels(x.cuda())
    assert k.ntk.is_cuda
    torch.testing.assert_close(k.ntk.cpu(), k_cpu.ntk)
    torch.testing.assert_close(k.nngp.cpu(), k_cpu.nngp)
    net = arch.network((1, 4, 4), generator=0, device="cuda", dtype=F64)
    ref = arch.network((1, 4, 4), generator=0, dtype=F64)  # same seed: the same network
    torch.testing.assert_close(empirical_ntk(net, x.cuda()).cpu(), empirical_ntk_naive(ref, x))
