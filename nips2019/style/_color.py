"""Colour transfer by optimal transport between pixel-colour distributions (POT underneath)."""

from __future__ import annotations

import numpy as np
import ot
import torch

from nips2019.utils import Generator, Integer, Options, Real, Tensor, as_generator, validate

from ._gaussian import _gaussian_stats, _ot_matrix
from ._quality import PATCH_SWD_SEED

_METHODS = ("exact", "sinkhorn", "gaussian")


@validate(image=Tensor(ndim=3, dtype="numeric"))
def image_to_points(image: torch.Tensor) -> torch.Tensor:
    """Flatten a (C, H, W) image into its (H*W, C) cloud of pixel values.

    Examples
    --------
    >>> image_to_points(torch.zeros(3, 2, 4)).shape
    torch.Size([8, 3])
    """
    return image.reshape(image.shape[0], -1).T


def _nearest(x: torch.Tensor, anchors: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    parts = [torch.cdist(x[i : i + chunk], anchors).argmin(dim=1) for i in range(0, x.shape[0], chunk)]
    return torch.cat(parts)


_IMAGE = Tensor(shape=("c", None, None), dtype="floating", low=0.0, high=1.0)


@validate(
    content=_IMAGE,
    style=_IMAGE,
    method=Options(*_METHODS),
    n_samples=Integer(low=2),
    reg=Real(low=0, closed="neither"),
    t=Real(0.0, 1.0),
    generator=Generator(),
    same=[("content", "style")],
)
def color_transfer(
    content: torch.Tensor,
    style: torch.Tensor,
    *,
    method: str = "exact",
    n_samples: int = 1000,
    reg: float = 0.02,
    t: float = 1.0,
    generator: int | torch.Generator | None = None,
) -> torch.Tensor:
    r"""Give ``content`` the colour distribution of ``style`` by optimal transport.

    The colours of an image are a point cloud in :math:`[0,1]^3`; the transfer moves each
    pixel's colour along an OT map from the content's cloud to the style's:

    - ``"exact"``: sample ``n_samples`` pixels of each image, solve the exact OT problem
      (``ot.emd``) for the squared Euclidean cost, map each sample to the barycentre of its
      plan row :math:`T(x_i) = \sum_j \pi_{ij} y_j / \sum_j \pi_{ij}`, and move every other
      pixel by the displacement of its nearest sample (as POT's ``EMDTransport``);
    - ``"sinkhorn"``: the same with the entropic plan (``ot.sinkhorn``, cost divided by its
      maximum so ``reg`` is relative; log-domain solver when ``reg < 0.01``): a smoother map
      that pulls colours towards the style's mean;
    - ``"gaussian"``: the closed-form linear Monge map between the two colour Gaussians
      (:func:`gaussian_ot_map`), using every pixel.

    ``t`` moves each colour only part of the way, :math:`(1-t)x + tT(x)` (McCann
    interpolation). The result is clamped to :math:`[0, 1]`.
    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Parameters
    ----------
    content : Tensor, shape (C, H, W)
        Image whose colours are changed (values in [0, 1]; usually C = 3).
    style : Tensor, shape (C, H', W')
        Image providing the colour distribution; same device and dtype as ``content``
        (convert explicitly: nothing is converted silently).
    method : {"exact", "sinkhorn", "gaussian"}
    n_samples : int
        Pixels sampled from each image for the discrete methods (at most the pixel count).
    reg : float
        Entropic regularisation, relative to the largest cost (``"sinkhorn"`` only).
    t : float
        Strength in [0, 1].
    generator : int, torch.Generator or None
        For the pixel sampling (CPU draws, see :func:`nips2019.utils.as_generator`).

    Returns
    -------
    Tensor, shape (C, H, W)
        Same device and dtype as ``content``.

    References
    ----------
    Pitié, Kokaram & Dahyot (2007); Rabin, Ferradans & Papadakis (2014); Flamary et al.,
    POT (2021), example *Color adaptation in images*.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> out = color_transfer(torch.rand(3, 8, 8), torch.rand(3, 6, 6), n_samples=30, generator=g)
    >>> out.shape
    torch.Size([3, 8, 8])
    """
    x = content.reshape(content.shape[0], -1).T
    y = style.reshape(style.shape[0], -1).T
    if method == "gaussian":
        # float64 internally (the covariance square roots), result in the input's dtype
        sx, sy = _gaussian_stats(x.double()), _gaussian_stats(y.double())
        matrix = _ot_matrix(sx.cov, sy.cov, 1e-10)
        x64 = x.double()
        out = (x64 + t * (sy.mean + (x64 - sx.mean) @ matrix.T - x64)).to(x.dtype)
    else:
        gen = as_generator(generator)
        ns, nt = min(n_samples, x.shape[0]), min(n_samples, y.shape[0])
        xs = x[torch.randperm(x.shape[0], generator=gen)[:ns].to(x.device)]
        yt = y[torch.randperm(y.shape[0], generator=gen)[:nt].to(y.device)]
        xs_np = xs.detach().to("cpu", torch.float64).numpy()
        yt_np = yt.detach().to("cpu", torch.float64).numpy()
        a, b = np.full(ns, 1.0 / ns), np.full(nt, 1.0 / nt)
        cost = ot.dist(xs_np, yt_np)
        if method == "exact":
            plan = ot.emd(a, b, cost)
        else:
            # exp(-C / reg) stays far from underflow for reg >= 0.01 (C <= 1): the plain solver is
            # several times faster; below that, the log-domain one.
            solver = "sinkhorn" if reg >= 0.01 else "sinkhorn_log"
            plan = ot.sinkhorn(a, b, cost / max(cost.max(), 1e-12), reg, method=solver)
        mapped = (plan @ yt_np) / np.maximum(plan.sum(axis=1, keepdims=True), 1e-300)
        shift = torch.from_numpy(mapped - xs_np).to(x.device, x.dtype)
        out = x + t * shift[_nearest(x, xs)]
    return out.T.reshape(content.shape).clamp(0.0, 1.0)


_COLOURS = Tensor(shape=("c", None, None), dtype="floating")


@validate(
    image=_COLOURS,
    reference=_COLOURS,
    n_samples=Integer(low=1),
    generator=Generator(),
    same=[("image", "reference")],
)
def color_wasserstein(
    image: torch.Tensor,
    reference: torch.Tensor,
    *,
    n_samples: int = 2000,
    generator: int | torch.Generator | None = PATCH_SWD_SEED,
) -> float:
    r"""Squared 2-Wasserstein distance between the colour distributions of two images (exact OT).

    Each image is a cloud of pixel colours (:func:`image_to_points`); ``n_samples`` pixels
    are drawn from each without replacement (all of them when the image has fewer), and the
    score is the exact optimal transport cost between the two uniform empirical measures
    for the squared Euclidean cost,

    .. math:: W_2^2(\hat\mu, \hat\nu) = \min_{\pi \in \Pi(\frac1n\mathbf 1, \frac1m\mathbf 1)}
       \sum_{i,j} \pi_{ij} \|x_i - y_j\|^2,

    solved by POT's network simplex (``ot.emd2``, float64 on the CPU). Positions are
    forgotten: only the palette and how much of each colour there is count. It scores
    :func:`color_transfer`; draw its samples with a seed of its own, so the score does not
    reuse the pixels that the transfer matched. The cost grows roughly like
    ``n_samples**3``: 2000 samples take about a second on a CPU.
    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Parameters
    ----------
    image, reference : Tensor, shape (C, H, W)
        Sizes may differ; same number of channels, device and dtype (nothing is converted
        silently).
    n_samples : int
        Pixels drawn from each image (at most its pixel count). With all pixels the value
        is the exact distance between the two images' colour histograms and does not
        depend on the generator.
    generator : int, torch.Generator or None
        For the pixel sampling, drawn on the CPU (default: the fixed seed
        :data:`PATCH_SWD_SEED`, so scores are comparable across calls).

    Returns
    -------
    float
        :math:`W_2^2`, in squared colour units (for colours in [0, 1], at most ``C``).

    References
    ----------
    Pitié, Kokaram & Dahyot (2007); Flamary et al., POT (2021).

    Examples
    --------
    A uniform shift of every colour by :math:`c` costs exactly :math:`\|c\|^2`:

    >>> image = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> round(color_wasserstein(image, image + 0.1), 6)
    0.03
    """
    gen = as_generator(generator)
    x = image.detach().reshape(image.shape[0], -1).T
    y = reference.detach().reshape(reference.shape[0], -1).T
    xs = x[torch.randperm(x.shape[0], generator=gen)[:n_samples].to(x.device)]
    ys = y[torch.randperm(y.shape[0], generator=gen)[:n_samples].to(y.device)]
    xs_np = xs.to("cpu", torch.float64).numpy()
    ys_np = ys.to("cpu", torch.float64).numpy()
    return max(float(ot.emd2([], [], ot.dist(xs_np, ys_np))), 0.0)
