"""A network-free quality score: multi-scale patch sliced Wasserstein distance."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from nips2019.utils import Generator, Integer, Tensor, as_generator, validate

#: Default ``generator`` of the scores :func:`patch_swd` and :func:`color_wasserstein` (a seed);
#: deliberately unrelated to any optimisation seed.
PATCH_SWD_SEED = 20191208


@dataclasses.dataclass
class PatchSWD:
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


def _smallest_for_pyramid(levels: int) -> int:
    """Smallest side that survives ``levels - 1`` reflect-padded (2 px) blurs and halvings."""
    side = 1
    for _ in range(levels - 1):
        side = max(2 * side - 1, 3)  # the blur needs 3 px; halving keeps ceil(side / 2)
    return side


@validate(image=Tensor(ndim=3, dtype="floating"), levels=Integer(low=1))
def laplacian_pyramid(image: torch.Tensor, *, levels: int) -> list[torch.Tensor]:
    """Laplacian pyramid of a (C, H, W) image: ``levels - 1`` band-pass images, then the low-pass residual.

    Each side of ``image`` must survive ``levels - 1`` blurs with reflect padding of 2 px
    and halvings (at least 3 px for 2 levels, 5 for 3, 9 for 4, ...).
    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Examples
    --------
    >>> [tuple(p.shape) for p in laplacian_pyramid(torch.rand(3, 16, 16), levels=3)]
    [(3, 16, 16), (3, 8, 8), (3, 4, 4)]
    """
    smallest = _smallest_for_pyramid(levels)
    if min(image.shape[-2:]) < smallest:
        raise ValueError(
            f"laplacian_pyramid: image must be at least {smallest} px on each side for levels={levels}, "
            f"got shape {tuple(image.shape)}"
        )
    return _pyramid(image, levels)


def _pyramid(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
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


@validate(
    image=Tensor(shape=("c", None, None), dtype="floating"),
    reference=Tensor(shape=("c", None, None), dtype="floating"),
    levels=Integer(low=1),
    patch_size=Integer(low=1),
    n_patches=Integer(low=2),
    n_directions=Integer(low=1),
    generator=Generator(),
    same=[("image", "reference")],
)
def patch_swd(
    image: torch.Tensor,
    reference: torch.Tensor,
    *,
    levels: int = 3,
    patch_size: int = 7,
    n_patches: int = 256,
    n_directions: int = 512,
    generator: int | torch.Generator | None = PATCH_SWD_SEED,
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
    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Parameters
    ----------
    image, reference : Tensor, shape (C, H, W)
        Sizes may differ; each side must be at least ``patch_size * 2**(levels-1)``.
        Same device and dtype (nothing is converted silently).
    levels : int
        Pyramid levels.
    patch_size : int
    n_patches : int
        Patches per image per level.
    n_directions : int
    generator : int, torch.Generator or None
        Randomness of the patch positions and directions, drawn on the CPU (default: the
        fixed seed :data:`PATCH_SWD_SEED`, so scores are comparable across calls).

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
    smallest = max(patch_size * 2 ** (levels - 1), _smallest_for_pyramid(levels))
    for x, name in ((image, "image"), (reference, "reference")):
        if min(x.shape[-2:]) < smallest:
            raise ValueError(
                f"patch_swd: {name} must be at least {smallest} px on each side for levels={levels} of "
                f"patch_size={patch_size} px patches, got shape {tuple(x.shape)}"
            )
    gen = as_generator(generator)
    scores = []
    pa, pb = _pyramid(image, levels), _pyramid(reference, levels)
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
