"""Wasserstein style transfer: style as the distribution of deep features, moved by optimal transport.

See the chapter :doc:`Wasserstein style transfer </book/style>`.

- images: :func:`load_image` (offline: committed paintings, scikit-image and scikit-learn
  photographs and textures), :func:`resize`, :func:`show_images`;
- colour transfer: :func:`color_transfer` (exact, entropic and Gaussian OT; POT underneath);
- Gaussian OT: :func:`gaussian_stats`, :func:`gaussian_ot_map`, :func:`wct_map`,
  :func:`bures_wasserstein`, :func:`gaussian_geodesic`, :func:`gaussian_barycenter`,
  :func:`sqrtm_psd`;
- features: :class:`VGG19Features` (offline ImageNet weights), :class:`RandomFeatures`;
- losses and synthesis: :func:`bures_loss`, :func:`sliced_wasserstein_loss`, :func:`gram_loss`,
  :func:`stylize`, :func:`stylize_multiscale`;
- evaluation: :func:`patch_swd`, :func:`color_wasserstein`.
"""

from ._color import color_transfer, color_wasserstein, image_to_points
from ._features import DEFAULT_STYLE_LAYERS, VGG_LAYERS, RandomFeatures, VGG19Features, feature_points
from ._gaussian import (
    AffineMap,
    GaussianStats,
    bures_wasserstein,
    gaussian_barycenter,
    gaussian_geodesic,
    gaussian_ot_map,
    gaussian_ot_matrix,
    gaussian_stats,
    inv_sqrtm_psd,
    sqrtm_psd,
    wct_map,
    wct_matrix,
)
from ._images import IMAGES, center_crop, load_image, resize, show_images, to_numpy_image
from ._losses import (
    BuresTarget,
    bures_loss,
    gram_loss,
    gram_matrix,
    sliced_wasserstein,
    sliced_wasserstein_loss,
)
from ._quality import PATCH_SWD_SEED, PatchSWD, laplacian_pyramid, patch_swd
from ._synthesis import TRANSPORT_RIDGE, StyleResult, feature_stats, stylize, stylize_multiscale

__all__ = [
    "AffineMap",
    "BuresTarget",
    "DEFAULT_STYLE_LAYERS",
    "GaussianStats",
    "IMAGES",
    "PATCH_SWD_SEED",
    "PatchSWD",
    "RandomFeatures",
    "StyleResult",
    "TRANSPORT_RIDGE",
    "VGG19Features",
    "VGG_LAYERS",
    "bures_loss",
    "bures_wasserstein",
    "center_crop",
    "color_transfer",
    "color_wasserstein",
    "feature_points",
    "feature_stats",
    "gaussian_barycenter",
    "gaussian_geodesic",
    "gaussian_ot_map",
    "gaussian_ot_matrix",
    "gaussian_stats",
    "gram_loss",
    "gram_matrix",
    "image_to_points",
    "inv_sqrtm_psd",
    "laplacian_pyramid",
    "load_image",
    "patch_swd",
    "resize",
    "show_images",
    "sliced_wasserstein",
    "sliced_wasserstein_loss",
    "sqrtm_psd",
    "stylize",
    "stylize_multiscale",
    "to_numpy_image",
    "wct_map",
    "wct_matrix",
]
