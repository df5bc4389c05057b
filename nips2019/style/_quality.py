"""A network-free quality score: multi-scale patch sliced Wasserstein distance."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from nips2019.utils import check_tensor

#: Default seed of :func:`patch_swd`; deliberately unrelated to any optimisation seed.
PATCH_SWD_SEED = 20191208


class PatchSWD(NamedTuple):
    """Result of :func:`patch_swd`.

    Attributes
    ----------
    per_level : Tensor, shape (levels,)
        Sliced Wasserstein distance per pyramid level, finest first.
    mean : float
        Their average, the score.
    """

    per_level: torch.Tensor
    mean: float


def _blur_down(x: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=x.device, dtype=x.dtype)
    k2 = (k[:, None] * k[None, :]) / 256.0
    w = k2.expand(x.shape[1], 1, 5, 5)
    y = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), w, groups=x.shape[1])
    return y[..., ::2, ::2]


def laplacian_pyramid(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Laplacian pyramid of a (3, H, W) image: ``levels - 1`` band-pass images, then the low-pass residual.

    See the chapter *Wasserstein style transfer*.

    Examples
    --------
    >>> [tuple(p.shape) for p in laplacian_pyramid(torch.rand(3, 16, 16), 3)]
    [(3, 16, 16), (3, 8, 8), (3, 4, 4)]
    """
    image = check_tensor(image, "image", ndim=3, floating=True)
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    out, x = [], image[None]
    for _ in range(levels - 1):
        small = _blur_down(x)
        up = F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)
        out.append((x - up)[0])
        x = small
    out.append(x[0])
    return out


def _random_patches(x: torch.Tensor, size: int, n: int, gen: torch.Generator) -> torch.Tensor:
    c, h, w = x.shape
    i = torch.randint(0, h - size + 1, (n,), generator=gen).to(x.device)
    j = torch.randint(0, w - size + 1, (n,), generator=gen).to(x.device)
    ar = torch.arange(size, device=x.device)
    rows = (i[:, None] + ar)[:, :, None].expand(n, size, size)
    cols = (j[:, None] + ar)[:, None, :].expand(n, size, size)
    return x[:, rows, cols].permute(1, 0, 2, 3).reshape(n, -1)


def patch_swd(
    image: torch.Tensor,
    reference: torch.Tensor,
    levels: int = 3,
    patch_size: int = 7,
    n_patches: int = 256,
    n_directions: int = 512,
    seed: int = PATCH_SWD_SEED,
) -> PatchSWD:
    r"""Multi-scale patch sliced Wasserstein distance between two images (Karras et al. 2018).

    At every level of both images' Laplacian pyramids, ``n_patches`` random
    ``patch_size`` x ``patch_size`` patches become descriptors of dimension
    :math:`3p^2`, standardised per colour channel with the pooled mean and standard
    deviation of both descriptor sets (Karras et al. standardise each set on its own,
    which hides the global colour differences that are part of a style); the level's score is

    .. math:: \mathrm{SWD} = \frac1K\sum_{k=1}^K \frac1n\sum_{i=1}^n
       \big|(\theta_k^\top a)_{(i)} - (\theta_k^\top b)_{(i)}\big| \times 10^3,

    the mean absolute difference of sorted projections on :math:`K` random unit directions.
    It uses no neural network and its own seed, so it measures a stylisation without
    reusing the features (or random directions) that produced it.
    See the chapter *Wasserstein style transfer*.

    Parameters
    ----------
    image, reference : Tensor, shape (3, H, W)
        Sizes may differ; each side must be at least ``patch_size * 2**(levels-1)``.
    levels : int
        Pyramid levels.
    patch_size : int
    n_patches : int
        Patches per image per level.
    n_directions : int
    seed : int
        Seed of the patch positions and directions.

    Returns
    -------
    PatchSWD

    References
    ----------
    Karras, Aila, Laine & Lehtinen, *Progressive growing of GANs*, ICLR 2018.

    Examples
    --------
    >>> x, y = torch.rand(3, 32, 32), torch.rand(3, 32, 32)
    >>> patch_swd(x, y, levels=2, n_directions=16).per_level.shape
    torch.Size([2])
    >>> patch_swd(x, y).mean < patch_swd(x, 0.5 * y).mean  # a darker copy is further away
    True
    """
    image = check_tensor(image, "image", ndim=3, floating=True)
    reference = check_tensor(reference, "reference", ndim=3, floating=True).to(image.device, image.dtype)
    if image.shape[0] != reference.shape[0]:
        raise ValueError("image and reference must have the same number of channels")
    smallest = patch_size * 2 ** (levels - 1)
    for x, name in ((image, "image"), (reference, "reference")):
        if min(x.shape[-2:]) < smallest:
            raise ValueError(f"{name} must be at least {smallest} px on each side for {levels} levels of {patch_size}-px patches")
    if n_patches < 2 or n_directions < 1:
        raise ValueError(f"n_patches must be >= 2 and n_directions >= 1, got {n_patches}, {n_directions}")
    gen = torch.Generator().manual_seed(int(seed))
    scores = []
    pa, pb = laplacian_pyramid(image, levels), laplacian_pyramid(reference, levels)
    for a_img, b_img in zip(pa, pb):
        both = torch.stack([_random_patches(img, patch_size, n_patches, gen) for img in (a_img, b_img)])
        per_channel = both.reshape(2 * n_patches, a_img.shape[0], -1)
        mean = per_channel.mean(dim=(0, 2)).repeat_interleave(patch_size**2)
        std = per_channel.std(dim=(0, 2)).clamp_min(1e-8).repeat_interleave(patch_size**2)
        descs = (both - mean) / std
        theta = torch.randn(descs[0].shape[1], n_directions, generator=gen).to(image.device, image.dtype)
        theta = theta / theta.norm(dim=0, keepdim=True)
        pa_s = (descs[0] @ theta).sort(dim=0).values
        pb_s = (descs[1] @ theta).sort(dim=0).values
        scores.append((pa_s - pb_s).abs().mean() * 1e3)
    per_level = torch.stack(scores)
    return PatchSWD(per_level, float(per_level.mean()))
