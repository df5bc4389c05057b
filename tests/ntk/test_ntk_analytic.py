"""Analytic NNGP/NTK: closed forms vs quadrature, Monte-Carlo vs analytic, conventions, bad inputs."""

import math

import pytest
import torch

from nips2019.ntk import (
    Activation,
    analytic_kernels,
    empirical_ntk,
    get_activation,
    list_activations,
    mlp,
    quadrature_activation,
    register_activation,
)


def _x(n=6, d=5, seed=0, dtype=torch.float64, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)


@pytest.mark.parametrize("name", ["erf", "identity"])
def test_closed_forms_match_quadrature_smooth(name):
    act = get_activation(name)
    quad = quadrature_activation(name + "_q", act.fn, degree=48)
    k11 = torch.tensor([0.3, 1.0, 2.5], dtype=torch.float64)
    k22 = torch.tensor([0.7, 1.0, 0.4], dtype=torch.float64)
    k12 = torch.tensor([0.1, -0.9, 0.6], dtype=torch.float64) * (k11 * k22).sqrt()
    for a, b in zip(act.kernel(k11, k22, k12), quad.kernel(k11, k22, k12)):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_relu_closed_form_matches_quadrature_loosely():
    # The kink makes Gauss-Hermite converge slowly: a loose but meaningful tolerance.
    act = get_activation("relu")
    quad = quadrature_activation("relu_q", torch.relu, degree=200)
    k11 = torch.tensor([1.0, 2.0], dtype=torch.float64)
    k22 = torch.tensor([1.0, 0.5], dtype=torch.float64)
    k12 = torch.tensor([0.3, -0.5], dtype=torch.float64)
    t, _ = act.kernel(k11, k22, k12)
    tq, _ = quad.kernel(k11, k22, k12)
    torch.testing.assert_close(t, tq, rtol=2e-3, atol=2e-3)
    # known values: E[relu(u)^2] = k/2 and, for independent u, v, E[relu u relu v] = sqrt(k11 k22)/(2 pi)
    t_diag, tdot_diag = act.kernel(k11, k11, k11)
    torch.testing.assert_close(t_diag, k11 / 2)
    torch.testing.assert_close(tdot_diag, torch.full_like(k11, 0.5))
    t0, tdot0 = act.kernel(k11, k22, torch.zeros_like(k11))
    torch.testing.assert_close(t0, (k11 * k22).sqrt() / (2 * math.pi))
    torch.testing.assert_close(tdot0, torch.full_like(k11, 0.25))


def test_identity_network_closed_form():
    # Deep linear network, no bias: K = w^(2L+2) x.x'/d, Theta = (L+1) w^(2L+2) x.x'/d.
    x = _x()
    for depth in (0, 1, 3):
        k = analytic_kernels(x, depth=depth, activation="identity", w_std=1.3)
        lin = 1.3 ** (2 * depth + 2) * x @ x.T / x.shape[1]
        torch.testing.assert_close(k.nngp, lin)
        torch.testing.assert_close(k.ntk, (depth + 1) * lin)


def test_relu_two_layer_hand_formula():
    # Two-layer ReLU net, w_std = sqrt(2), no bias, unit-norm inputs scaled so |x|^2/d = 1:
    # K1 = 2 cos t; relu: T = 2 (sin t + (pi - t) cos t) / (2 pi), Tdot = (pi - t) / (2 pi);
    # readout: K = 2 T, Theta = K + 2 * K1 * Tdot.
    d = 3
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.6, 0.8, 0.0]], dtype=torch.float64) * math.sqrt(d)
    k = analytic_kernels(x, depth=1, activation="relu", w_std=math.sqrt(2))
    c = (x @ x.T / d).clamp(-1, 1)
    t = torch.arccos(c)
    nngp = 4 * ((1 - c**2).sqrt() + (math.pi - t) * c) / (2 * math.pi)
    ntk = nngp + 2 * (2 * c) * (math.pi - t) / (2 * math.pi)
    torch.testing.assert_close(k.nngp, nngp, rtol=1e-7, atol=1e-7)
    torch.testing.assert_close(k.ntk, ntk, rtol=1e-7, atol=1e-7)


def test_symmetric_matches_explicit_and_batches(dtype, device):
    x = _x(dtype=dtype, device=device)
    kw = dict(depth=3, activation="relu", w_std=1.4, b_std=0.1)
    k = analytic_kernels(x, **kw)
    k2 = analytic_kernels(x, x, **kw)
    kb = analytic_kernels(x, x, batch_size=4, **kw)
    assert k.ntk.dtype == dtype and k.ntk.device.type == device.type
    tol = dict(rtol=1e-7, atol=1e-7) if dtype == torch.float64 else dict(rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(k.ntk, k2.ntk, **tol)  # arccos round-off near the diagonal
    torch.testing.assert_close(k2.ntk, kb.ntk)
    torch.testing.assert_close(k2.nngp, kb.nngp)
    assert torch.equal(k.ntk, k.ntk.T)
    assert torch.linalg.eigvalsh(k.ntk.double()).min() > -1e-5


@pytest.mark.parametrize("activation,w_std,b_std,depth", [("relu", math.sqrt(2), 0.1, 1), ("erf", 1.5, 0.05, 2)])
def test_empirical_ntk_converges_to_analytic(activation, w_std, b_std, depth):
    # Monte-Carlo: average empirical NTK of 4 finite nets vs the analytic kernel.
    x = _x(8, 5, dtype=torch.float32)
    k = analytic_kernels(x, depth=depth, activation=activation, w_std=w_std, b_std=b_std)
    errs = {}
    for width in (64, 1024):
        emp = torch.stack([
            empirical_ntk(mlp(5, width, depth=depth, out_features=1, activation=activation, w_std=w_std, b_std=b_std,
                              generator=torch.Generator().manual_seed(s)), x, trace="mean")
            for s in range(4)
        ]).mean(0)
        errs[width] = ((emp - k.ntk).norm() / k.ntk.norm()).item()
    assert errs[1024] < 0.06, errs
    assert errs[1024] < errs[64] / 2, errs


def test_nngp_monte_carlo():
    # Outputs at initialisation: covariance over 4 nets x 256 outputs -> NNGP kernel.
    x = _x(5, 4, dtype=torch.float64)
    kw = dict(activation="erf", w_std=1.5, b_std=0.2)
    k = analytic_kernels(x, depth=2, **kw)
    outs = torch.cat([mlp(4, 1024, depth=2, out_features=256, generator=torch.Generator().manual_seed(s), dtype=torch.float64, **kw)(x)
                      for s in range(4)], 1).detach()
    cov = outs @ outs.T / outs.shape[1]
    assert ((cov - k.nngp).norm() / k.nngp.norm()).item() < 0.1


def test_standard_parameterization_matches_finite_net():
    x = _x(6, 5, dtype=torch.float64)
    kw = dict(activation="relu", w_std=math.sqrt(2), b_std=0.0, parameterization="standard")
    for width in (1024,):
        k = analytic_kernels(x, depth=1, width=width, **kw)
        emp = torch.stack([
            empirical_ntk(mlp(5, width, depth=1, out_features=1, generator=torch.Generator().manual_seed(s), dtype=torch.float64, **kw),
                          x, trace="mean") for s in range(3)
        ]).mean(0)
        assert ((emp - k.ntk).norm() / k.ntk.norm()).item() < 0.1  # 0.066 measured (3 seeds)
    # grows linearly with the width; the NNGP does not depend on the parameterisation
    k1 = analytic_kernels(x, depth=1, width=100, **kw)
    k2 = analytic_kernels(x, depth=1, width=200, **kw)
    assert 1.8 < (k2.ntk.norm() / k1.ntk.norm()).item() < 2.0
    k_ntk = analytic_kernels(x, depth=1, activation="relu", w_std=math.sqrt(2), b_std=0.0)
    torch.testing.assert_close(k1.nngp, k_ntk.nngp)


def test_registry_and_custom_activation():
    assert {"relu", "erf", "identity"} <= set(list_activations())
    act = quadrature_activation("tanh_test", torch.tanh, degree=40)
    register_activation(act, overwrite=True)
    x = _x(4, 3, dtype=torch.float64)
    k = analytic_kernels(x, depth=1, activation="tanh_test", w_std=1.2)
    emp = torch.stack([empirical_ntk(mlp(3, 2048, depth=1, out_features=1, activation=act, w_std=1.2, dtype=torch.float64,
                                         generator=torch.Generator().manual_seed(s)), x, trace="mean")
                       for s in range(3)]).mean(0)
    assert ((emp - k.ntk).norm() / k.ntk.norm()).item() < 0.06
    with pytest.raises(ValueError, match="already registered"):
        register_activation(act)
    with pytest.raises(TypeError, match="activation must be a Activation"):
        register_activation("tanh")
    assert isinstance(get_activation(act), Activation)


def test_bad_inputs():
    x = _x()
    with pytest.raises(ValueError, match="x1 must be 2-D"):
        analytic_kernels(x[0])
    with pytest.raises(ValueError, match="x2 has size 3 along axis 1 \\(d\\) but x1 has d = 5"):
        analytic_kernels(x, x[:, :3])
    with pytest.raises(ValueError, match="depth must be an integer >= 0"):
        analytic_kernels(x, depth=-1)
    with pytest.raises(ValueError, match="activation must be a registered .* unknown activation 'tanhh'"):
        analytic_kernels(x, activation="tanhh")
    with pytest.raises(ValueError, match="parameterization must be one of"):
        analytic_kernels(x, parameterization="mup")
    with pytest.raises(ValueError, match="width is required"):
        analytic_kernels(x, parameterization="standard")
    with pytest.raises(ValueError, match="w_std must be a real number > 0"):
        analytic_kernels(x, w_std=0.0)
    with pytest.raises(TypeError, match="floating-point"):
        analytic_kernels(torch.ones(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="non-finite"):
        analytic_kernels(torch.full((2, 2), float("nan")))
    with pytest.raises(ValueError, match="in_features must be an integer >= 1"):
        mlp(0, 4)
    with pytest.raises(ValueError, match="degree must be an integer in \\[2, 1024\\]"):
        quadrature_activation("q", torch.tanh, degree=1)


@pytest.mark.gpu
def test_analytic_on_cuda():
    x = _x(device="cuda", dtype=torch.float32)
    k = analytic_kernels(x, depth=2, activation="erf", w_std=1.5, b_std=0.1)
    assert k.ntk.is_cuda
    kc = analytic_kernels(x.cpu(), depth=2, activation="erf", w_std=1.5, b_std=0.1)
    torch.testing.assert_close(k.ntk.cpu(), kc.ntk, rtol=1e-4, atol=1e-5)


def test_result_is_a_dataclass_and_overflow_is_refused():
    import dataclasses

    from nips2019.ntk import Kernels

    k = analytic_kernels(_x(), depth=1)
    assert dataclasses.is_dataclass(k) and isinstance(k, Kernels)
    with pytest.raises(ValueError, match="overflow torch.float32"):
        analytic_kernels(_x(dtype=torch.float32), depth=200, w_std=3.0)
    with pytest.raises(TypeError, match="x2 has dtype torch.float32 but x1 has torch.float64"):
        analytic_kernels(_x(), _x(dtype=torch.float32))


def test_generator_rule_for_networks():
    # An int seed and a CPU generator with that seed build the same network; draws happen on the CPU.
    a = mlp(3, 8, depth=2, out_features=2, generator=5, dtype=torch.float64)
    b = mlp(3, 8, depth=2, out_features=2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    # the layers share one generator: they are not copies of each other
    assert not torch.equal(a[0].weight[:, :3], a[2].weight[:3, :3])
    with pytest.raises(TypeError, match="generator must be None, an int seed or a CPU torch.Generator"):
        mlp(3, 8, generator="seed")
    with pytest.raises(TypeError, match="dtype must be a torch.dtype with a floating-point dtype"):
        mlp(3, 8, dtype=torch.long)
    with pytest.raises(TypeError, match="x has dtype torch.float32 but the DenseNTK has torch.float64"):
        a(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="in_features = 3"):
        a(torch.zeros(2, 4, dtype=torch.float64))


@pytest.mark.gpu
def test_networks_equal_on_cpu_and_cuda():
    cpu = mlp(3, 8, depth=2, out_features=2, generator=7)
    gpu = mlp(3, 8, depth=2, out_features=2, generator=7, device="cuda")
    for p, q in zip(cpu.parameters(), gpu.parameters()):
        assert q.is_cuda and torch.equal(p, q.cpu())


# ----------------------------------------------------------------------------- issue 14


@pytest.mark.parametrize("activation", ["relu", "erf", "identity"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_default_blocks_bit_identical_to_any_batch_size(activation, dtype):
    from nips2019.ntk._analytic import default_block_rows

    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 7, generator=g).to(dtype)
    y = torch.randn(130, 7, generator=g).to(dtype)
    kw = dict(depth=3, activation=activation, w_std=1.4, b_std=0.1)
    for x2 in (None, y):
        ref = analytic_kernels(x, x2, batch_size=300, **kw)  # one block: the old default
        for bs in (None, 1, 7, 64):
            k = analytic_kernels(x, x2, batch_size=bs, **kw)
            assert torch.equal(k.nngp, ref.nngp) and torch.equal(k.ntk, ref.ntk), (x2 is None, bs)
        if x2 is None:
            assert torch.equal(ref.ntk, ref.ntk.T) and torch.equal(ref.nngp, ref.nngp.T)
    assert default_block_rows(5000, 5000) == 26 and default_block_rows(10, 5000) == 10
    assert default_block_rows(0, 0) == 1


def test_quadrature_activation_symmetric_kernel_is_averaged():
    from nips2019.ntk import quadrature_activation

    act = quadrature_activation("tanh_q14", torch.tanh, degree=12)
    x = torch.randn(40, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    k = analytic_kernels(x, depth=2, activation=act, batch_size=8)
    full = analytic_kernels(x, x, depth=2, activation=act)
    assert torch.equal(k.ntk, k.ntk.T)
    off = ~torch.eye(40, dtype=torch.bool)
    torch.testing.assert_close(k.ntk[off], (0.5 * (full.ntk + full.ntk.T))[off])


def test_overflow_detected_in_any_block():
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(2))
    with pytest.raises(ValueError, match="overflow"):
        analytic_kernels(x, depth=200, w_std=3.0, batch_size=4)
