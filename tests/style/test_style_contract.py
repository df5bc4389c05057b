"""Contract cases for nips2019.style (see tests/contract.py): tiny images, tiny networks.

Variants of one public function (another ``method``, ``loss``, argument type) are named
``<name>.<variant>``: the coverage test accepts dotted keys beside the exported names.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from nips2019 import style as st  # noqa: E402
from tests.contract import Bad, Case, check_case, contract_params  # noqa: E402


def _g(seed):
    return torch.Generator().manual_seed(seed)


def _img(seed, h=8, w=8, dtype=torch.float64):
    return torch.rand(3, h, w, generator=_g(seed), dtype=dtype)


def _pts(seed, n=6, d=3, dtype=torch.float64):
    return torch.randn(n, d, generator=_g(seed), dtype=dtype)


def _spd(seed, d=3, dtype=torch.float64):
    a = torch.randn(d, d, generator=_g(seed), dtype=dtype)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=dtype)


def _stats(seed, d=3, dtype=torch.float64):
    return st.GaussianStats(torch.randn(d, generator=_g(seed + 100), dtype=dtype), _spd(seed, d, dtype))


def _net(dtype=torch.float64):
    return st.RandomFeatures((4, 6), generator=0).to(dtype)


def _close(fig):
    plt.close(fig)
    return True


_NAN_STATS = st.GaussianStats(torch.full((3,), float("nan"), dtype=torch.float64), _spd(0))
_F32_STATS = _stats(1, dtype=torch.float32)
_MIXED_STATS = st.GaussianStats(torch.zeros(3), _spd(1))  # float32 mean, float64 covariance
_WRONG_D = _stats(1, d=2)
_NOT_BINARY = _img(5) * 2.0  # pixel values outside [0, 1]


CASES = [
    # -------------------------------------------------------------- Gaussian OT
    Case(st.sqrtm_psd, lambda: dict(cov=_spd(0)), bad=[Bad(dict(cov=torch.ones(2, 3, dtype=torch.float64)), "cov has size 3 along axis 1")]),
    Case(st.inv_sqrtm_psd, lambda: dict(cov=_spd(0), eps=1e-10),
         bad=[Bad(dict(cov=torch.ones(3, dtype=torch.float64)), "cov must be at least 2-D")]),
    Case(st.gaussian_stats, lambda: dict(x=_pts(0), ridge=1e-3)),
    Case(st.gaussian_ot_matrix, lambda: dict(cov_source=_spd(0), cov_target=_spd(1), eps=1e-10),
         bad=[Bad(dict(cov_target=torch.eye(2, dtype=torch.float64)), "cov_target has size 2"),
              Bad(dict(cov_target=torch.eye(3, dtype=torch.float64).expand(2, 3, 3)), "same shape")]),
    Case(st.wct_matrix, lambda: dict(cov_source=_spd(0), cov_target=_spd(1), eps=1e-10),
         bad=[Bad(dict(cov_target=_spd(1).float()), "cov_target has dtype")]),
    Case(st.gaussian_ot_map, lambda: dict(source=_stats(0), target=_stats(1), eps=1e-10),
         bad=[Bad(dict(target=_NAN_STATS), "target.mean contains"), Bad(dict(target=_WRONG_D), "target.mean has size 2"),
              Bad(dict(target=_F32_STATS), "target has dtype"), Bad(dict(target=_MIXED_STATS), "target.mean has dtype")]),
    Case(st.wct_map, lambda: dict(source=_stats(0), target=_stats(1), eps=1e-10),
         bad=[Bad(dict(source=_NAN_STATS), "source.mean contains"), Bad(dict(source=_WRONG_D), "target.mean has size 3")]),
    Case(lambda x, t: st.gaussian_ot_map(_stats(0), _stats(1))(x, t), lambda: dict(x=_pts(2), t=0.5),
         name="AffineMap.__call__",
         bad=[Bad(dict(x=_pts(2, d=4)), "last dimension"), Bad(dict(x=torch.tensor(1.0, dtype=torch.float64)), "last dimension")]),
    Case(st.bures_wasserstein, lambda: dict(source=_stats(0), target=_stats(1), squared=True),
         bad=[Bad(dict(target=_NAN_STATS), "target.mean contains"), Bad(dict(source=_F32_STATS), "has dtype")]),
    Case(st.gaussian_geodesic, lambda: dict(source=_stats(0), target=_stats(1), t=0.3, eps=1e-10),
         bad=[Bad(dict(target=_WRONG_D), "target.mean has size 2")]),
    Case(st.gaussian_barycenter, lambda: dict(stats=[_stats(0), _stats(1)], weights=[0.25, 0.75], max_iter=20, tol=1e-8),
         bad=[Bad(dict(weights=[0.7, 0.7]), "sum to 1"), Bad(dict(weights=[1.0]), "weights must have shape"),
              Bad(dict(weights=torch.tensor([0.5, 0.5])), "weights has dtype"), Bad(dict(stats=[]), "stats must have at least"),
              Bad(dict(stats=[_stats(0), _NAN_STATS]), r"stats\[1\]\.mean contains"),
              Bad(dict(stats=[_stats(0), _WRONG_D]), r"stats\[1\]\.mean has size 2")]),
    # -------------------------------------------------------------- losses
    Case(st.gram_matrix, lambda: dict(points=_pts(0)),
         bad=[Bad(dict(points=torch.zeros(0, 3, dtype=torch.float64)), "points must not be empty", why="issue 12: was NaN")]),
    Case(st.gram_loss, lambda: dict(points=_pts(0), target=_pts(1, n=4)),
         bad=[Bad(dict(target=_pts(1, d=4)), "target has size 4")]),
    Case(st.BuresTarget, lambda: dict(stats=_stats(0)),
         bad=[Bad(dict(stats=_NAN_STATS), "stats.mean contains"), Bad(dict(stats=_MIXED_STATS), "stats.cov has dtype")]),
    Case(st.bures_loss, lambda: dict(points=_pts(0), target=_stats(1)),
         bad=[Bad(dict(target=_WRONG_D), "same dimension"), Bad(dict(target=st.BuresTarget(_F32_STATS)), "target has dtype"),
              Bad(dict(target=_NAN_STATS), "target.mean contains"), Bad(dict(target=_F32_STATS), "target has dtype")]),
    Case(st.sliced_wasserstein, lambda: dict(x=_pts(0), y=_pts(1, n=4), n_directions=5, generator=_g(0)),
         bad=[Bad(dict(x=torch.zeros(0, 3, dtype=torch.float64)), "x must not be empty", why="issue 12: was NaN"),
              Bad(dict(y=_pts(1, d=2)), "y has size 2")]),
    Case(st.sliced_wasserstein_loss, lambda: dict(points=_pts(0), target=_pts(1, n=4), n_directions=5, generator=0),
         bad=[Bad(dict(target=_pts(1).float()), "target has dtype")]),
    # -------------------------------------------------------------- colour
    Case(st.image_to_points, lambda: dict(image=_img(0))),
    Case(st.color_transfer, lambda: dict(content=_img(0), style=_img(1, 6, 6), method="exact", n_samples=10, reg=0.05, t=0.8,
                                         generator=0),
         bad=[Bad(dict(style=torch.rand(4, 6, 6, dtype=torch.float64)), "style has size 4 along axis 0"),
              Bad(dict(content=_NOT_BINARY), "content must have values in"),
              Bad(dict(style=_img(1).float()), "style has dtype", why="issue 12: was converted silently")]),
    Case(st.color_transfer, lambda: dict(content=_img(0), style=_img(1, 6, 6), method="sinkhorn", n_samples=10, reg=0.05),
         name="color_transfer.sinkhorn"),
    Case(st.color_transfer, lambda: dict(content=_img(0), style=_img(1, 6, 6), method="gaussian", t=0.5),
         name="color_transfer.gaussian"),
    Case(st.color_wasserstein, lambda: dict(image=_img(0), reference=_img(1, 6, 7), n_samples=20, generator=0),
         bad=[Bad(dict(reference=torch.rand(4, 6, 6, dtype=torch.float64)), "reference has size 4 along axis 0"),
              Bad(dict(reference=_img(1).float()), "reference has dtype")]),
    # -------------------------------------------------------------- features
    Case(st.RandomFeatures, lambda: dict(channels=(2, 3), kernel_size=3, generator=0),
         bad=[Bad(dict(kernel_size=4), "kernel_size must be a positive odd"), Bad(dict(channels=()), "channels must have at least")]),
    Case(lambda image: _net()(image), lambda: dict(image=_img(0)[None]), name="RandomFeatures.forward",
         bad=[Bad(dict(image=_img(0, 3, 3)[None]), "image must be at least 4 px"),
              Bad(dict(image=_img(0).float()[None]), "image has dtype torch.float32 but the RandomFeatures has torch.float64")]),
    Case(st.VGG19Features, lambda: dict(layers=("relu1_1",), pooling="max"),
         bad=[Bad(dict(layers=("conv9",)), r"layers\[0\] must be one of"), Bad(dict(layers=()), "layers must have at least")]),
    Case(lambda image: st.VGG19Features(("relu1_1", "relu2_1"))(image), lambda: dict(image=_img(0, dtype=torch.float32)[None]),
         name="VGG19Features.forward",
         bad=[Bad(dict(image=torch.rand(1, 3, 1, 1)), "image must be at least 2 px"),
              Bad(dict(image=_img(0)[None]), "image has dtype torch.float64 but the VGG19Features has torch.float32")]),
    Case(st.feature_points, lambda: dict(fmap=torch.rand(1, 4, 2, 3)),
         bad=[Bad(dict(fmap=torch.rand(2, 4, 2, 3)), "single image")]),
    Case(st.feature_stats, lambda: dict(extractor=_net(), image=_img(0), ridge=1e-3),
         bad=[Bad(dict(image=_img(0).float()), "image has dtype")]),
    # -------------------------------------------------------------- synthesis
    Case(st.stylize, lambda: dict(content=_img(0), style=_img(1), extractor=_net(), loss="bures", n_steps=1, lr=0.05,
                                  content_weight=0.5, strength=0.5, generator=0, optimizer="adam", progress=False),
         bad=[Bad(dict(style=_img(1).float()), "style has dtype", why="issue 12: was converted silently"),
              Bad(dict(style=[_img(1), _img(2).float()]), r"style\[1\] has dtype"),
              Bad(dict(style=[]), "style must be an image or a non-empty"),
              Bad(dict(style=_NOT_BINARY), "style must have values in"),
              Bad(dict(extractor=_net(torch.float32)), "extractor has dtype"),
              Bad(dict(init=_img(3, 6, 6)), "init has size 6"),
              Bad(dict(content_layer="relu4_1"), "content_layer: layer 'relu4_1' is not produced"),
              Bad(dict(style_layers=["nope"]), "style_layers: layer 'nope'"),
              Bad(dict(style=[_img(1), _img(2)], style_weights=[0.5, 0.6]), "style_weights must be 2"),
              Bad(dict(loss="gram"), "strength < 1 need loss='bures'"),
              Bad(dict(content=_img(0, 3, 3)), "image must be at least 4 px")]),
    Case(st.stylize, lambda: dict(content=_img(0), style=_img(1), extractor=_net(), loss="swd", n_steps=1, generator=_g(0)),
         name="stylize.swd"),
    Case(st.stylize, lambda: dict(content=_img(0), style=[_img(1), _img(2), _img(3)], extractor=_net(), n_steps=1,
                                  style_weights=[0.2, 0.3, 0.5], optimizer="lbfgs"),
         name="stylize.three_styles_lbfgs"),
    Case(st.stylize_multiscale, lambda: dict(content=_img(0), style=_img(1), extractor=_net(), scales=(0.5, 1.0), n_steps=1),
         bad=[Bad(dict(scales=(1.0, 0.5)), "scales must be increasing"), Bad(dict(init=_img(0)), "init cannot be given"),
              Bad(dict(style=_img(1).float()), "style has dtype")]),
    # -------------------------------------------------------------- quality
    Case(st.laplacian_pyramid, lambda: dict(image=_img(0), levels=2),
         bad=[Bad(dict(levels=4), "image must be at least 9 px")]),
    Case(st.patch_swd, lambda: dict(image=_img(0), reference=_img(1, 9, 10), levels=2, patch_size=3, n_patches=4,
                                    n_directions=4, generator=1),
         bad=[Bad(dict(reference=_img(1).float()), "reference has dtype", why="issue 12: was converted silently"),
              Bad(dict(patch_size=5), "image must be at least 10 px"),
              Bad(dict(reference=torch.rand(1, 8, 8, dtype=torch.float64)), "reference has size 1 along axis 0")]),
    # -------------------------------------------------------------- images
    Case(st.load_image, lambda: dict(name="brick", size=8, dtype=torch.float64),
         bad=[Bad(dict(dtype=torch.int64), "dtype must be")]),
    Case(st.resize, lambda: dict(image=_img(0), size=(4, 6)), bad=[Bad(dict(size=(4,)), "size must have 2 items")]),
    Case(st.resize, lambda: dict(image=_img(0), size=5), name="resize.int_size"),
    Case(st.center_crop, lambda: dict(image=_img(0, 6, 8), size=4), bad=[Bad(dict(size=7), "center_crop: size must be in")]),
    Case(st.to_numpy_image, lambda: dict(image=_img(0))),
    Case(lambda **kw: _close(st.show_images(**kw)), lambda: dict(images=[_img(0, 4, 4)], titles=["a"], ncols=1, size=1.0,
                                                                  suptitle="s"),
         name="show_images", bad=[Bad(dict(titles=["a", "b"]), "titles must have 1 entries")]),
]

EXEMPT = {
    "AffineMap": "a result container of gaussian_ot_map/wct_map; its __call__ is attacked as 'AffineMap.__call__'",
    "GaussianStats": "a container (mean, cov); every function that takes one checks its fields (see the Bad entries of "
    "gaussian_ot_map, bures_wasserstein, gaussian_barycenter, BuresTarget)",
    "PatchSWD": "the result container of patch_swd (attacked through patch_swd)",
    "StyleResult": "the result container of stylize and stylize_multiscale (attacked through them)",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
