"""Offline images: bundled photographs, textures and two public-domain paintings."""

from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nips2019.utils import DType, InstanceOf, Integer, Items, Options, Real, Tensor, check_arguments, validate

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


@validate(name=Options(*IMAGES), size=Integer(low=1, optional=True), dtype=DType("floating"))
def load_image(name: str, size: int | None = 128, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Load an offline image as an RGB tensor with values in :math:`[0, 1]`.

    Nothing is downloaded: the paintings are committed with the package, the
    photographs and textures come from the installed scikit-image and
    scikit-learn wheels. Grey-level textures are repeated over three channels.
    See the chapter :doc:`Wasserstein style transfer </book/style>`.

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
    arr = _read(name)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    arr = arr[..., :3]
    img = torch.from_numpy(np.array(arr, copy=True)).permute(2, 0, 1).to(torch.float64) / 255.0
    if size is not None:
        img = _resize(img, size)
    return img.to(dtype)  # the file's uint8 pixels become the requested floating dtype


@validate(
    image=Tensor(ndim=(3, 4), dtype="floating"),
    size=InstanceOf(numbers.Integral, np.integer, tuple, list),
)
def resize(image: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Antialiased bilinear resize, clamped to :math:`[0, 1]`.

    See the chapter :doc:`Wasserstein style transfer </book/style>`.

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
    if isinstance(size, (tuple, list)):
        check_arguments("resize", size=(size, Items(Integer(low=1), length=2)))
    else:
        check_arguments("resize", size=(size, Integer(low=1)))
    return _resize(image, size)


def _resize(image: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    batched = image.ndim == 4
    x = image if batched else image[None]
    h, w = x.shape[-2:]
    if not isinstance(size, (tuple, list)):
        scale = size / min(h, w)
        out = (max(1, round(h * scale)), max(1, round(w * scale)))
    else:
        out = (int(size[0]), int(size[1]))
    y = F.interpolate(x, size=out, mode="bilinear", align_corners=False, antialias=True).clamp(0.0, 1.0)
    return y if batched else y[0]


@validate(image=Tensor(ndim=(3, 4)), size=Integer(low=1))
def center_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """Crop the central ``size x size`` square of an image of shape (..., H, W).

    Examples
    --------
    >>> center_crop(torch.rand(3, 10, 14), 8).shape
    torch.Size([3, 8, 8])
    """
    h, w = image.shape[-2:]
    if size > min(h, w):
        raise ValueError(f"center_crop: size must be in [1, {min(h, w)}] for an image of shape {tuple(image.shape)}, got {size}")
    top, left = (h - size) // 2, (w - size) // 2
    return image[..., top : top + size, left : left + size]


@validate(image=Tensor(shape=(3, None, None), dtype="numeric"))
def to_numpy_image(image: torch.Tensor) -> np.ndarray:
    """Convert a (3, H, W) tensor in [0, 1] to an (H, W, 3) float array for ``imshow``.

    Examples
    --------
    >>> to_numpy_image(torch.zeros(3, 2, 5)).shape
    (2, 5, 3)
    """
    return image.detach().clamp(0, 1).permute(1, 2, 0).to("cpu", torch.float64).numpy()


@validate(
    images=Items(Tensor(shape=(3, None, None), dtype="numeric"), min_length=1),
    titles=Items(InstanceOf(str), optional=True),
    ncols=Integer(low=1, optional=True),
    size=Real(low=0, closed="neither"),
    suptitle=InstanceOf(str, optional=True),
)
def show_images(
    images, titles=None, *, ncols: int | None = None, size: float = 2.2, suptitle: str | None = None
):
    """Show a list of (3, H, W) images in a grid; return the matplotlib figure.

    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Parameters
    ----------
    images : list or tuple of Tensor, each of shape (3, H, W)
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
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"show_images: titles must have {len(images)} entries (one per image), got {len(titles)}")
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
