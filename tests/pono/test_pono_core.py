"""Reference tests for nips2019.pono: per-position moments, layer_norm, torch.func gradients, the shortcut."""

import pytest
import torch
import torch.nn.functional as F

from nips2019 import pono
from tests.conftest import TOL


def _x(shape=(3, 6, 5, 4), dtype=torch.float64, seed=0):
    return 2.0 + 3.0 * torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("shape", [(2, 5, 7), (3, 6, 5, 4), (2, 4, 3, 2, 3)])
def test_zero_mean_unit_std_at_every_position(shape, dtype, tol):
    x = _x(shape, dtype)
    m = pono.positional_normalize(x, eps=1e-12)
    torch.testing.assert_close(m.output.mean(1), torch.zeros_like(m.output.mean(1)), rtol=0, atol=tol["atol"] * 10)
    std = m.output.std(1, unbiased=False)
    torch.testing.assert_close(std, torch.ones_like(std), **tol)
    assert m.mean.shape == (shape[0], 1, *shape[2:]) and m.output.dtype == dtype


def test_matches_a_naive_loop_and_layer_norm():
    x = _x()
    m = pono.positional_normalize(x, eps=1e-5)
    naive = torch.empty_like(x)
    for b in range(x.shape[0]):
        for h in range(x.shape[2]):
            for w in range(x.shape[3]):
                v = x[b, :, h, w]
                naive[b, :, h, w] = (v - v.mean()) / (v.var(unbiased=False) + 1e-5).sqrt()
    torch.testing.assert_close(m.output, naive, **TOL[torch.float64])
    ln = F.layer_norm(x.movedim(1, -1), (x.shape[1],), eps=1e-5).movedim(-1, 1)
    torch.testing.assert_close(m.output, ln, **TOL[torch.float64])


def test_jacobian_matches_torch_func_of_the_naive_formula():
    x = _x((1, 4, 2, 2))

    def naive(t):
        mu = t.sum(1, keepdim=True) / t.shape[1]
        var = ((t - mu) ** 2).sum(1, keepdim=True) / t.shape[1]
        return (t - mu) / torch.sqrt(var + 1e-5)

    ours = torch.func.jacrev(lambda t: pono.positional_normalize(t, eps=1e-5).output)(x)
    ref = torch.func.jacrev(naive)(x)
    torch.testing.assert_close(ours, ref, **TOL[torch.float64])
    assert torch.autograd.gradcheck(lambda t: pono.positional_normalize(t).output, (x.clone().requires_grad_(),))


def test_moment_shortcut_inverts_pono_and_broadcasts():
    x = _x()
    m = pono.positional_normalize(x, eps=1e-5)
    # std already includes eps, so the shortcut undoes PONO exactly
    torch.testing.assert_close(pono.moment_shortcut(m.output, m.mean, m.std), x, **TOL[torch.float64])
    y = torch.zeros(3, 2, 5, 4, dtype=torch.float64)
    out = pono.MomentShortcut()(y, m.mean, m.std)
    torch.testing.assert_close(out, m.mean.expand(3, 2, 5, 4))


def test_layers_and_constant_input_stay_finite():
    x = torch.ones(2, 3, 4, 4)
    out = pono.PositionalNorm()(x)
    assert torch.isfinite(out).all() and out.abs().max() == 0
    m = pono.PositionalNorm(return_moments=True)(x)
    assert isinstance(m, pono.PositionalMoments) and torch.allclose(m.mean, torch.ones(2, 1, 4, 4))


def test_pono_differs_from_batch_and_instance_norm():
    """Across channels at each position, not across positions: instance norm gives other numbers."""
    x = _x()
    ours = pono.positional_normalize(x).output
    inst = F.instance_norm(x)
    assert (ours - inst).abs().max() > 0.1
    torch.testing.assert_close(inst.mean((2, 3)), torch.zeros(3, 6, dtype=torch.float64), rtol=0, atol=1e-10)
    assert ours.mean((2, 3)).abs().max() > 0.01


@pytest.mark.parametrize("normalization", ["none", "pono", "pono-ms"])
def test_autoencoder_shapes_and_moment_paths(normalization):
    net = pono.PonoAutoencoder(normalization, n_channels=4, n_latent=2, generator=0).double()
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = net(x)
    assert out.shape == x.shape
    # with moment shortcuts, the output depends on the input through a path that skips the bottleneck
    net.down.weight.data.zero_()
    net.down.bias.data.zero_()
    x2 = x.clone()
    x2[:, :, 3, 3] += 1.0
    changed = (net(x2) - net(x)).abs().max().item()
    assert (changed > 1e-6) == (normalization == "pono-ms"), changed


def test_training_reduces_the_loss_and_is_reproducible():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 8, 8, generator=g)
    fits = [pono.train_autoencoder(pono.PonoAutoencoder("pono-ms", n_channels=4, n_latent=2, generator=1), x, x,
                                   n_steps=40, batch_size=16, lr=1e-2, generator=2) for _ in range(2)]
    torch.testing.assert_close(fits[0].losses, fits[1].losses)
    assert fits[0].losses[-10:].mean() < 0.5 * fits[0].losses[:5].mean()


@pytest.mark.gpu
def test_gpu_matches_cpu():
    x = _x((2, 6, 5, 4), torch.float32)
    cpu = pono.positional_normalize(x)
    gpu = pono.positional_normalize(x.cuda())
    assert gpu.output.device.type == "cuda"
    torch.testing.assert_close(gpu.output.cpu(), cpu.output, **TOL[torch.float32])
    net = pono.PonoAutoencoder("pono-ms", n_channels=4, n_latent=2, generator=0)
    imgs = torch.rand(4, 1, 8, 8)
    ref = net(imgs)
    torch.testing.assert_close(net.cuda()(imgs.cuda()).cpu(), ref, **TOL[torch.float32])
