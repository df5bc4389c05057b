"""Colour transfer, losses, feature extractors, synthesis, patch-SWD, images."""

import numpy as np
import ot
import pytest
import torch

from nips2019.style import (
    IMAGES,
    PATCH_SWD_SEED,
    GaussianStats,
    RandomFeatures,
    VGG19Features,
    bures_loss,
    bures_wasserstein,
    center_crop,
    color_transfer,
    color_wasserstein,
    feature_points,
    feature_stats,
    gaussian_stats,
    gram_loss,
    gram_matrix,
    image_to_points,
    laplacian_pyramid,
    load_image,
    patch_swd,
    resize,
    show_images,
    sliced_wasserstein,
    sliced_wasserstein_loss,
    stylize,
    stylize_multiscale,
)


def _img(seed, h=12, w=12, dtype=torch.float64):
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ---------------------------------------------------------------- colour transfer
def test_exact_color_transfer_matches_pot_emd_transport():
    content, style = _img(0, 10, 10), _img(1, 9, 9) * 0.5
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    out = color_transfer(content, style, method="exact", n_samples=40, generator=g1)
    # Same samples, then POT's EMDTransport (barycentric map + nearest-sample out-of-sample rule).
    x, y = image_to_points(content), image_to_points(style)
    xs = x[torch.randperm(100, generator=g2)[:40]].numpy()
    yt = y[torch.randperm(81, generator=g2)[:40]].numpy()
    ref = ot.da.EMDTransport().fit(Xs=xs, Xt=yt).transform(Xs=x.numpy())
    torch.testing.assert_close(out, torch.from_numpy(np.clip(ref, 0, 1)).T.reshape(3, 10, 10))


def test_exact_color_transfer_is_sorting_in_1d():
    # With every pixel sampled and equal sizes, exact OT is a permutation: output colours = style colours.
    content, style = _img(2, 6, 6), _img(3, 6, 6) * 0.8
    grey_c = content.mean(0, keepdim=True).expand(3, 6, 6).contiguous()
    grey_s = style.mean(0, keepdim=True).expand(3, 6, 6).contiguous()
    out = color_transfer(grey_c, grey_s, method="exact", n_samples=36, generator=torch.Generator().manual_seed(0))
    ranks = grey_c[0].flatten().argsort().argsort()
    torch.testing.assert_close(out[0].flatten(), grey_s[0].flatten().sort().values[ranks])


def test_gaussian_color_transfer_matches_moments(dtype):
    content, style = _img(4, 16, 16, dtype) * 0.5 + 0.25, _img(5, 16, 16, dtype) * 0.3 + 0.3  # no clamping
    out = color_transfer(content, style, method="gaussian")
    assert out.dtype == dtype
    s_out, s_sty = gaussian_stats(image_to_points(out)), gaussian_stats(image_to_points(style))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(s_out.mean, s_sty.mean, **tol)
    torch.testing.assert_close(s_out.cov, s_sty.cov, **tol)
    torch.testing.assert_close(color_transfer(content, style, method="gaussian", t=0.0), content)


def test_sinkhorn_color_transfer_moves_towards_style():
    content, style = _img(6, 16, 16), _img(7, 16, 16) * 0.4
    out = color_transfer(content, style, method="sinkhorn", n_samples=100, reg=0.05, generator=torch.Generator().manual_seed(0))
    d_before = ot.emd2([], [], ot.dist(image_to_points(content).numpy(), image_to_points(style).numpy()))
    d_after = ot.emd2([], [], ot.dist(image_to_points(out).numpy(), image_to_points(style).numpy()))
    assert d_after < 0.3 * d_before


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(method="nope"), "method"), (dict(t=-0.1), "t must be"), (dict(n_samples=1), "n_samples"), (dict(method="sinkhorn", reg=0.0), "reg")],
)
def test_color_transfer_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        color_transfer(_img(0), _img(1), **kwargs)
    with pytest.raises(ValueError, match="content"):
        color_transfer(torch.rand(3, 4), _img(1))


def test_color_wasserstein_is_the_optimal_assignment():
    # Equal pixel counts, every pixel sampled: exact OT between uniform clouds is an assignment
    # problem (Birkhoff), solved independently by scipy's Hungarian algorithm.
    from scipy.optimize import linear_sum_assignment

    a, b = _img(8, 5, 6), _img(9, 6, 5) * 0.6 + 0.2
    x, y = image_to_points(a).numpy(), image_to_points(b).numpy()
    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    assert color_wasserstein(a, b, n_samples=30) == pytest.approx(cost[rows, cols].mean(), rel=1e-10)
    # More samples than pixels: all of them, whatever the generator.
    assert color_wasserstein(a, b, n_samples=1000, generator=1) == pytest.approx(cost[rows, cols].mean(), rel=1e-10)


def test_color_wasserstein_closed_forms():
    a, b = _img(10, 7, 7), _img(11, 7, 7)
    # 1-D (one channel, equal sizes): W2^2 is the mean squared gap between sorted values.
    grey_a, grey_b = a[:1], b[:1] ** 2
    sorted_gap = (grey_a.flatten().sort().values - grey_b.flatten().sort().values).pow(2).mean()
    assert color_wasserstein(grey_a, grey_b) == pytest.approx(float(sorted_gap), rel=1e-10)
    # A uniform shift c costs |c|^2; the distance is symmetric and zero on the same image.
    shift = torch.tensor([0.1, -0.2, 0.05], dtype=torch.float64)[:, None, None]
    assert color_wasserstein(a, a + shift) == pytest.approx(float(shift.pow(2).sum()), rel=1e-10)
    assert color_wasserstein(a, b) == pytest.approx(color_wasserstein(b, a), rel=1e-10)
    assert color_wasserstein(a, a) == pytest.approx(0.0, abs=1e-12)


def test_color_wasserstein_sampling_is_seeded_and_consistent():
    a, b = _img(12, 40, 40), _img(13, 40, 40) * 0.5
    full = color_wasserstein(a, b, n_samples=1600)
    g = torch.Generator().manual_seed(4)
    s1 = color_wasserstein(a, b, n_samples=400, generator=4)
    assert s1 == color_wasserstein(a, b, n_samples=400, generator=g)  # int seed = CPU generator
    assert color_wasserstein(a, b, n_samples=400, generator=g) != s1  # the generator was advanced
    assert color_wasserstein(a, b, n_samples=400) == color_wasserstein(a, b, n_samples=400)  # fixed default seed
    assert s1 == pytest.approx(full, rel=0.2) and full > 0.02  # a subsample estimates the full distance
    with pytest.raises(ValueError, match="reference has size 4 along axis 0"):
        color_wasserstein(a, torch.rand(4, 5, 5, dtype=torch.float64))
    with pytest.raises(TypeError, match="reference has dtype"):
        color_wasserstein(a, b.float())
    with pytest.raises(ValueError, match="n_samples"):
        color_wasserstein(a, b, n_samples=0)


# ---------------------------------------------------------------- losses
def test_bures_loss_matches_bures_wasserstein_both_branches():
    g = torch.Generator().manual_seed(0)
    target = GaussianStats(torch.randn(6, generator=g, dtype=torch.float64), torch.eye(6, dtype=torch.float64) * 2)
    scale = target.cov.trace() + target.mean.pow(2).sum()
    for n in (50, 4):  # n >= d uses the d x d form, n < d the n x n form
        x = torch.randn(n, 6, generator=g, dtype=torch.float64)
        ref = bures_wasserstein(gaussian_stats(x), target, squared=True) / scale
        torch.testing.assert_close(bures_loss(x, target), ref)
        x.requires_grad_(True)
        bures_loss(x, target).backward()
        assert torch.isfinite(x.grad).all()


def test_sliced_wasserstein_1d_is_exact_and_shift_formula():
    x = torch.randn(300, 1, dtype=torch.float64)
    y = torch.randn(300, 1, dtype=torch.float64) * 2 + 1
    ref = ot.wasserstein_1d(x[:, 0].numpy(), y[:, 0].numpy(), p=2)
    torch.testing.assert_close(sliced_wasserstein(x, y, n_directions=3), torch.tensor(ref, dtype=torch.float64))
    # Translating by v: SW_2^2 = E (theta . v)^2 = |v|^2 / d (Monte Carlo).
    z = torch.randn(200, 4, dtype=torch.float64)
    v = torch.tensor([1.0, -2.0, 0.0, 2.0], dtype=torch.float64)
    sw = sliced_wasserstein(z, z + v, n_directions=20_000, generator=torch.Generator().manual_seed(1))
    assert abs(sw.item() - 9.0 / 4) < 0.08  # Monte-Carlo standard error ~0.016
    # Unequal sizes: quantiles interpolated; identical distributions give ~0.
    assert sliced_wasserstein(z, z.repeat(2, 1), n_directions=64).item() < 1e-3


def test_gram_and_swd_losses_zero_at_target_and_positive_elsewhere():
    f, h = torch.rand(40, 5), torch.rand(30, 5) * 2
    assert gram_loss(f, f).item() == 0.0 and sliced_wasserstein_loss(f, f).item() == 0.0
    assert gram_loss(f, h).item() > 0.1 and sliced_wasserstein_loss(f, h).item() > 0.05
    with pytest.raises(ValueError, match="target has size 4 along axis 1"):
        gram_loss(f, torch.rand(3, 4))
    with pytest.raises(ValueError, match="n_directions"):
        sliced_wasserstein(f, h, n_directions=0)


# ---------------------------------------------------------------- features
def test_vgg_weights_offline_and_input_convention():
    net = VGG19Features(layers=("relu1_1",))
    conv = net.convs["relu1_1"]
    assert conv.weight.shape == (64, 3, 3, 3) and not conv.weight.requires_grad
    x = torch.rand(1, 3, 8, 8)
    # Reference: BGR, 0-255, Caffe mean subtracted, then conv + ReLU.
    caffe = x[:, [2, 1, 0]] * 255 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    ref = torch.relu(torch.nn.functional.conv2d(caffe, conv.weight, conv.bias, padding=1))
    torch.testing.assert_close(net(x)["relu1_1"], ref, rtol=1e-4, atol=1e-3)
    assert len(torch.unique(conv.weight)) <= 256  # 8-bit quantised table


def test_vgg_layer_shapes_and_bad_inputs():
    net = VGG19Features(layers=("relu2_1", "relu3_1"), pooling="max")
    out = net(torch.rand(1, 3, 16, 16))
    assert list(out) == ["relu2_1", "relu3_1"] and out["relu3_1"].shape == (1, 256, 4, 4)
    assert "relu4_1" not in net.convs  # only what is needed is built
    with pytest.raises(ValueError, match="layers"):
        VGG19Features(layers=("conv9",))
    with pytest.raises(ValueError, match="pooling"):
        VGG19Features(layers=("relu1_1",), pooling="median")
    with pytest.raises(ValueError, match=r"image must have shape \(b, 3, \*, \*\)"):
        net(torch.rand(1, 4, 8, 8))
    with pytest.raises(ValueError, match="at least 4 px"):  # two poolings before relu3_1
        net(torch.rand(1, 3, 2, 2))
    with pytest.raises(TypeError, match="image has dtype torch.float64 but the VGG19Features has torch.float32"):
        net(torch.rand(1, 3, 8, 8, dtype=torch.float64))


def test_random_features_reproducible_dtype_and_bad_inputs(dtype):
    a, b = RandomFeatures((4, 8), generator=3).to(dtype), RandomFeatures((4, 8), generator=3).to(dtype)
    x = torch.rand(1, 3, 8, 8, dtype=dtype)
    fa, fb = a(x), b(x)
    torch.testing.assert_close(fa["level2"], fb["level2"])
    assert fa["level2"].dtype == dtype and feature_points(fa["level2"]).shape == (16, 8)
    assert not torch.equal(RandomFeatures((4,), generator=4)(x.float())["level1"], RandomFeatures((4,), generator=3)(x.float())["level1"])
    # an int seed and a CPU generator seeded alike build the same network
    g = torch.Generator().manual_seed(3)
    torch.testing.assert_close(RandomFeatures((4, 8), generator=g).to(dtype)(x)["level2"], fa["level2"])
    with pytest.raises(ValueError, match="at least 4 px"):  # reflect padding at the 2nd level
        a(torch.rand(1, 3, 3, 3, dtype=dtype))
    with pytest.raises(ValueError, match="kernel_size"):
        RandomFeatures(kernel_size=4)
    with pytest.raises(ValueError, match="channels"):
        RandomFeatures(channels=())
    with pytest.raises(ValueError, match="single image"):
        feature_points(torch.rand(2, 3, 4, 4))


# ---------------------------------------------------------------- synthesis
@pytest.mark.parametrize("loss", ["bures", "swd", "gram"])
def test_stylize_reduces_style_loss(loss):
    net = RandomFeatures((16, 32), generator=0)
    content = center_crop(load_image("coffee", 24), 24)
    style = load_image("starry_night", 24)
    res = stylize(content, style, net, loss=loss, n_steps=25, lr=0.05, generator=torch.Generator().manual_seed(0))
    assert res.style_loss.shape == (26,) and res.image.shape == content.shape
    assert res.image.min() >= 0 and res.image.max() <= 1
    assert res.style_loss[-1] < 0.5 * res.style_loss[0], res.style_loss


def test_stylize_strength_and_mixing_targets():
    net = RandomFeatures((8, 16), generator=0).double()
    content, s1, s2 = _img(0, 16, 16), _img(1, 16, 16) * 0.5, _img(2, 16, 16) * 0.5 + 0.5
    # strength 0 targets the content's own Gaussians (plus a 1e-3 ridge): loss ~ 0 from the start;
    # at strength 1/2 the loss is about 1/4 of the full one (constant-speed geodesic).
    full = stylize(content, s1, net, n_steps=0).style_loss[0]
    assert stylize(content, s1, net, strength=0.0, n_steps=0).style_loss[0] < 1e-4 * full
    half = stylize(content, s1, net, strength=0.5, n_steps=0).style_loss[0]
    assert 0.1 * full < half < 0.4 * full, (half, full)  # not exactly 1/4: each loss is relative to its target
    # Mixing with weights (0, 1) is the second style alone (end point of the geodesic).
    a = stylize(content, [s1, s2], net, style_weights=[0.0, 1.0], n_steps=0)
    b = stylize(content, s2, net, n_steps=0)
    torch.testing.assert_close(a.style_loss, b.style_loss, rtol=1e-4, atol=1e-8)
    # Three styles go through the fixed point; weights (0, 1, 0) again give the second style.
    c = stylize(content, [s1, s2, s1], net, style_weights=[0.0, 1.0, 0.0], n_steps=0)
    assert abs(c.style_loss[0] - b.style_loss[0]) < 0.02 * b.style_loss[0]
    with pytest.raises(ValueError, match="style_weights"):
        stylize(content, [s1, s2], net, style_weights=[0.5, 0.6], n_steps=0)


def test_feature_stats_and_stylize_bad_inputs():
    net = RandomFeatures((4, 8))
    stats = feature_stats(net, _img(0, dtype=torch.float32))
    assert set(stats) == {"level1", "level2"} and stats["level2"].cov.shape == (8, 8)
    c, s = _img(0, dtype=torch.float32), _img(1, dtype=torch.float32)
    for kwargs, match in [
        (dict(loss="l2"), "loss"),
        (dict(loss="gram", strength=0.5), "bures"),
        (dict(strength=2.0), "strength"),
        (dict(n_steps=-1), "n_steps"),
        (dict(content_layer="relu4_1"), "not produced"),
        (dict(content_weight=-1.0), "content_weight"),
    ]:
        with pytest.raises(ValueError, match=match):
            stylize(c, s, net, **kwargs)
    with pytest.raises(ValueError, match="content must have shape"):
        stylize(torch.rand(1, 8, 8), s, net)
    with pytest.raises(ValueError, match="content must have values in"):
        stylize(c + 1.0, s, net)
    with pytest.raises(TypeError, match="style has dtype torch.float64 but content has torch.float32"):
        stylize(c, s.double(), net)
    with pytest.raises(TypeError, match=r"style\[1\] has dtype torch.float64"):
        stylize(c, [s, s.double()], net)
    with pytest.raises(TypeError, match="extractor has dtype torch.float64"):
        stylize(c, s, RandomFeatures((4, 8)).double())


# ---------------------------------------------------------------- quality and images
def test_patch_swd_orders_images_and_is_seeded():
    style = load_image("starry_night", 48)
    other = load_image("coffee", 48)
    near = (style + 0.02 * torch.randn(style.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    a, b = patch_swd(near, style), patch_swd(other, style)
    assert a.mean < 0.6 * b.mean and a.per_level.shape == (3,)
    assert patch_swd(other, style).mean == b.mean  # own fixed seed: deterministic
    assert patch_swd(other, style, generator=1).mean != b.mean
    assert patch_swd(other, style, generator=torch.Generator().manual_seed(PATCH_SWD_SEED)).mean == b.mean
    with pytest.raises(ValueError, match="at least"):
        patch_swd(torch.rand(3, 10, 10), style)


def test_laplacian_pyramid_reconstructs():
    x = torch.rand(3, 16, 16, dtype=torch.float64)
    pyr = laplacian_pyramid(x, levels=3)
    rec = pyr[-1][None]
    for band in reversed(pyr[:-1]):
        rec = torch.nn.functional.interpolate(rec, size=band.shape[-2:], mode="bilinear", align_corners=False) + band
    torch.testing.assert_close(rec[0], x)


def test_images_offline_and_utilities():
    for name in IMAGES:
        img = load_image(name, size=16)
        assert img.shape[0] == 3 and min(img.shape[1:]) == 16 and 0 <= img.min() and img.max() <= 1
    assert load_image("starry_night", None).shape == (3, 204, 256)  # committed copy, see PROVENANCE.txt
    assert resize(torch.rand(2, 3, 8, 8), (4, 6)).shape == (2, 3, 4, 6)
    with pytest.raises(ValueError, match="name"):
        load_image("mona_lisa")
    with pytest.raises(ValueError, match="size"):
        center_crop(torch.rand(3, 4, 4), 5)
    fig = show_images([torch.rand(3, 4, 4)] * 3, ncols=2, suptitle="x")
    assert len(fig.axes) == 3
    import matplotlib.pyplot as plt

    plt.close(fig)


@pytest.mark.gpu
def test_style_core_on_cuda():
    net = VGG19Features(layers=("relu1_1", "relu2_1")).to("cuda")
    content, style = load_image("coffee", 32).cuda(), load_image("starry_night", 32).cuda()
    for loss in ("bures", "swd", "gram"):
        res = stylize(content, style, net, loss=loss, n_steps=5)
        assert res.image.device.type == "cuda" and res.style_loss[-1] < res.style_loss[0]
    assert color_transfer(content, style, method="exact", n_samples=200).device.type == "cuda"
    w2 = color_wasserstein(content, style, n_samples=500)
    assert w2 == pytest.approx(color_wasserstein(content.cpu(), style.cpu(), n_samples=500), rel=1e-6) and w2 > 0
    assert patch_swd(res.image, style).per_level.device.type == "cuda"


def test_stylize_lbfgs_and_multiscale():
    net = RandomFeatures((16, 32), generator=0)
    content = center_crop(load_image("coffee", 32), 32)
    style = load_image("starry_night", 32)
    res = stylize(content, style, net, n_steps=8, optimizer="lbfgs")
    assert res.style_loss.shape == (9,) and res.style_loss[-1] < 0.5 * res.style_loss[0]
    assert 0 <= res.image.min() and res.image.max() <= 1
    ms = stylize_multiscale(content, style, net, scales=(0.5, 1.0), n_steps=10, lr=0.05)
    assert ms.image.shape == content.shape and ms.style_loss.shape == (22,)
    # The fine scale starts from the upsampled coarse result, not from the content.
    fine_only = stylize(content, style, net, n_steps=0)
    assert ms.style_loss[11] < fine_only.style_loss[0]
    with pytest.raises(ValueError, match="scales"):
        stylize_multiscale(content, style, net, scales=(1.0, 0.5))
    with pytest.raises(ValueError, match="optimizer"):
        stylize(content, style, net, optimizer="sgd")
    with pytest.raises(ValueError, match="init"):
        stylize(content, style, net, init=torch.rand(3, 8, 8))


# ---------------------------------------------------------------- the package contract (issue 12)
def test_empty_inputs_are_refused_not_nan():
    empty, y = torch.zeros(0, 3), torch.rand(5, 3)
    with pytest.raises(ValueError, match="gram_matrix: points must not be empty"):
        gram_matrix(empty)
    with pytest.raises(ValueError, match="sliced_wasserstein: x must not be empty"):
        sliced_wasserstein(empty, y)
    with pytest.raises(ValueError, match="sliced_wasserstein: y must not be empty"):
        sliced_wasserstein(y, empty)
    with pytest.raises(ValueError, match="points must not be empty"):
        bures_loss(empty, gaussian_stats(y))


def test_mismatched_dtypes_are_refused_not_converted():
    f32, f64 = torch.rand(6, 3), torch.rand(6, 3, dtype=torch.float64)
    for call in (
        lambda: gram_loss(f32, f64),
        lambda: sliced_wasserstein(f32, f64),
        lambda: sliced_wasserstein_loss(f32, f64),
        lambda: bures_loss(f32, gaussian_stats(f64)),
    ):
        with pytest.raises(TypeError, match="has dtype torch.float64 but .* has torch.float32; convert one explicitly"):
            call()
    with pytest.raises(TypeError, match="style has dtype torch.float64 but content has torch.float32"):
        color_transfer(_img(0, dtype=torch.float32), _img(1))
    with pytest.raises(TypeError, match="reference has dtype torch.float64 but image has torch.float32"):
        patch_swd(_img(0, 32, 32, torch.float32), _img(1, 32, 32), levels=1)


def test_generators_follow_the_cpu_rule():
    x, y = torch.randn(20, 3), torch.randn(25, 3)
    a = sliced_wasserstein(x, y, n_directions=8, generator=5)
    b = sliced_wasserstein(x, y, n_directions=8, generator=torch.Generator().manual_seed(5))
    assert a == b
    out1 = color_transfer(_img(0), _img(1), n_samples=20, generator=3)
    out2 = color_transfer(_img(0), _img(1), n_samples=20, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(out1, out2)
