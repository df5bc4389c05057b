"""Offline images: bundled photographs, textures and two public-domain paintings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nips2019.utils import check_tensor

_DATA = Path(__file__).parent / "data"

#: Image names accepted by :func:`load_image`, with where each one comes from.
IMAGES = {
    "starry_night": "Van Gogh, The Starry Night (1889); public domain; committed copy (see data/PROVENANCE.txt)",
    "scream": "Munch, The Scream (1893); public domain; committed copy (see data/PROVENANCE.txt)",
    "astronaut": "scikit-image: Eileen Collins, NASA (public domain)",
    "coffee": "scikit-image: Rachel Michetti (CC0)",
    "chelsea": "scikit-image: Stefan van der Walt (CC0)",
    "brick": "scikit-image texture (CC0)",
    "grass": "scikit-image texture (CC0)",
    "gravel": "scikit-image texture (CC0)",
    "china": "scikit-learn: china.jpg, danielbuechele (CC BY 2.0)",
    "flower": "scikit-learn: flower.jpg, vultilion (CC BY 2.0)",
}


def _read(name: str) -> np.ndarray:
    if name in ("starry_night", "scream"):
        from PIL import Image

        with Image.open(_DATA / f"{name}.jpg") as im:
            return np.asarray(im.convert("RGB"))
    if name in ("china", "flower"):
        from PIL import Image
        import sklearn.datasets

        path = Path(sklearn.datasets.__file__).parent / "images" / f"{name}.jpg"
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    import skimage.data

    return np.asarray(getattr(skimage.data, name)())


def load_image(name: str, size: int | None = 128, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Load an offline image as an RGB tensor with values in :math:`[0, 1]`.

    Nothing is downloaded: the paintings are committed with the package, the
    photographs and textures come from the installed scikit-image and
    scikit-learn wheels. Grey-level textures are repeated over three channels.
    See the chapter *Wasserstein style transfer*.

    Parameters
    ----------
    name : str
        One of the keys of :data:`IMAGES`.
    size : int or None
        Length of the *shorter* side after an antialiased resize (aspect kept);
        ``None`` keeps the stored size.
    dtype : torch.dtype
        Floating dtype of the result.

    Returns
    -------
    Tensor, shape (3, H, W)
        On the CPU; move it with ``.to(device)``.

    Examples
    --------
    >>> load_image("starry_night", size=32).shape
    torch.Size([3, 32, 40])
    """
    if name not in IMAGES:
        raise ValueError(f"name must be one of {sorted(IMAGES)}, got {name!r}")
    arr = _read(name)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    arr = arr[..., :3]
    img = torch.from_numpy(np.array(arr, copy=True)).permute(2, 0, 1).to(torch.float64) / 255.0
    if size is not None:
        img = resize(img, size)
    return img.to(dtype)


def resize(image: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Antialiased bilinear resize, clamped to :math:`[0, 1]`.

    See the chapter *Wasserstein style transfer*.

    Parameters
    ----------
    image : Tensor, shape (3, H, W) or (B, 3, H, W)
    size : int or (int, int)
        An int sets the shorter side (aspect kept); a pair sets (height, width).

    Returns
    -------
    Tensor with the input's batch layout, device and dtype.

    Examples
    --------
    >>> resize(torch.rand(3, 20, 40), 10).shape
    torch.Size([3, 10, 20])
    """
    image = check_tensor(image, "image", ndim=(3, 4), floating=True)
    batched = image.ndim == 4
    x = image if batched else image[None]
    h, w = x.shape[-2:]
    if isinstance(size, int):
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        scale = size / min(h, w)
        out = (max(1, round(h * scale)), max(1, round(w * scale)))
    else:
        out = (int(size[0]), int(size[1]))
    y = F.interpolate(x, size=out, mode="bilinear", align_corners=False, antialias=True).clamp(0.0, 1.0)
    return y if batched else y[0]


def center_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """Crop the central ``size x size`` square of an image of shape (..., H, W).

    Examples
    --------
    >>> center_crop(torch.rand(3, 10, 14), 8).shape
    torch.Size([3, 8, 8])
    """
    image = check_tensor(image, "image", ndim=(3, 4))
    h, w = image.shape[-2:]
    if not 1 <= size <= min(h, w):
        raise ValueError(f"size must be in [1, {min(h, w)}], got {size}")
    top, left = (h - size) // 2, (w - size) // 2
    return image[..., top : top + size, left : left + size]


def to_numpy_image(image: torch.Tensor) -> np.ndarray:
    """Convert a (3, H, W) tensor in [0, 1] to an (H, W, 3) float array for ``imshow``.

    Examples
    --------
    >>> to_numpy_image(torch.zeros(3, 2, 5)).shape
    (2, 5, 3)
    """
    image = check_tensor(image, "image", ndim=3)
    if image.shape[0] != 3:
        raise ValueError(f"image must have 3 channels first, got shape {tuple(image.shape)}")
    return image.detach().clamp(0, 1).permute(1, 2, 0).to("cpu", torch.float64).numpy()


def show_images(
    images, titles=None, ncols: int | None = None, size: float = 2.2, suptitle: str | None = None
):
    """Show a list of (3, H, W) images in a grid; return the matplotlib figure.

    See the chapter *Wasserstein style transfer*.

    Parameters
    ----------
    images : sequence of Tensor, each of shape (3, H, W)
    titles : sequence of str, optional
    ncols : int, optional
        Columns of the grid (default: all in one row).
    size : float
        Inches per panel.
    suptitle : str, optional
        Figure title.

    Examples
    --------
    >>> fig = show_images([torch.rand(3, 4, 4)] * 2, titles=["a", "b"])
    >>> len(fig.axes)
    2
    """
    import matplotlib.pyplot as plt

    images = list(images)
    if not images:
        raise ValueError("images must be a non-empty sequence")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles must have {len(images)} entries, got {len(titles)}")
    ncols = len(images) if ncols is None else ncols
    nrows = -(-len(images) // ncols)
    figsize = (size * ncols, size * nrows + (0.4 if suptitle else 0))
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(images):
            ax.imshow(to_numpy_image(images[k]))
            if titles is not None:
                ax.set_title(titles[k], fontsize=9)
    for ax in axes.flat[len(images) :]:
        fig.delaxes(ax)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
