"""Style transfer by optimising pixels to match feature distributions."""

from __future__ import annotations

import dataclasses
import time
from typing import Sequence

import torch
import torch.nn as nn

from nips2019.utils import check_tensor, progress

from ._features import feature_points
from ._gaussian import GaussianStats, gaussian_barycenter, gaussian_geodesic, gaussian_stats
from ._losses import BuresTarget, bures_loss, gram_loss, sliced_wasserstein_loss

_LOSSES = ("bures", "swd", "gram")


def _check_image(x: torch.Tensor, name: str) -> torch.Tensor:
    x = check_tensor(x, name, ndim=3, floating=True)
    if x.shape[0] != 3:
        raise ValueError(f"{name} must be an RGB image of shape (3, H, W), got {tuple(x.shape)}")
    return x


@torch.no_grad()
def feature_stats(extractor: nn.Module, image: torch.Tensor, ridge: float = 0.0) -> dict[str, GaussianStats]:
    """Mean and covariance of the features of ``image`` at every layer of ``extractor``.

    See the chapter *Wasserstein style transfer*.

    Parameters
    ----------
    extractor : nn.Module
        Maps (1, 3, H, W) to ``{layer: (1, C, h, w)}`` (e.g. :class:`VGG19Features`).
    image : Tensor, shape (3, H, W)
    ridge : float
        Relative ridge passed to :func:`gaussian_stats`.

    Returns
    -------
    dict[str, GaussianStats]

    Examples
    --------
    >>> from nips2019.style import RandomFeatures
    >>> stats = feature_stats(RandomFeatures(channels=(4,)), torch.rand(3, 8, 8))
    >>> stats["level1"].cov.shape
    torch.Size([4, 4])
    """
    image = _check_image(image, "image")
    return {k: gaussian_stats(feature_points(v), ridge) for k, v in extractor(image[None]).items()}


@dataclasses.dataclass
class StyleResult:
    """Outcome of :func:`stylize`.

    Attributes
    ----------
    image : Tensor, shape (3, H, W)
        The synthesised image, values in [0, 1].
    style_loss : Tensor, shape (steps + 1,)
        Style loss (summed over style layers) before each step and after the last one.
    content_loss : Tensor, shape (steps + 1,)
        Relative content loss at the same times.
    seconds : float
        Wall-clock time of the optimisation.
    """

    image: torch.Tensor
    style_loss: torch.Tensor
    content_loss: torch.Tensor
    seconds: float


#: Relative ridge added to a covariance before transporting *from* it (geodesics), see
#: :func:`gaussian_stats`: deep layers of small images give singular covariances.
TRANSPORT_RIDGE = 1e-3


def _ridged(s: GaussianStats) -> GaussianStats:
    d = s.cov.shape[-1]
    eye = torch.eye(d, device=s.cov.device, dtype=s.cov.dtype)
    return GaussianStats(s.mean, s.cov + TRANSPORT_RIDGE * s.cov.diagonal().sum() / d * eye)


def _bures_targets(extractor, content, styles, layers, weights, strength):
    c_stats = feature_stats(extractor, content)
    per_style = [feature_stats(extractor, s) for s in styles]
    targets = {}
    for layer in layers:
        to64 = lambda s: GaussianStats(s.mean.double(), s.cov.double())  # noqa: E731
        stats = [to64(p[layer]) for p in per_style]
        if len(stats) == 1:
            style = stats[0]
        elif len(stats) == 2:  # two Gaussians: the barycentre is a point on their geodesic (closed form)
            w2 = 0.5 if weights is None else float(weights[1])
            style = gaussian_geodesic(_ridged(stats[0]), stats[1], w2)
        else:
            style = gaussian_barycenter([_ridged(s) for s in stats], weights, n_iter=50, tol=1e-7)
        if strength < 1.0:
            style = gaussian_geodesic(_ridged(to64(c_stats[layer])), style, strength)
        dtype = content.dtype
        targets[layer] = BuresTarget(GaussianStats(style.mean.to(dtype), style.cov.to(dtype)))
    return targets


def stylize(
    content: torch.Tensor,
    style: torch.Tensor | Sequence[torch.Tensor],
    extractor: nn.Module,
    loss: str = "bures",
    steps: int = 100,
    lr: float = 0.02,
    content_weight: float = 0.1,
    content_layer: str | None = None,
    style_layers: Sequence[str] | None = None,
    strength: float = 1.0,
    style_weights: Sequence[float] | None = None,
    generator: torch.Generator | None = None,
    optimizer: str = "adam",
    init: torch.Tensor | None = None,
) -> StyleResult:
    r"""Re-paint ``content`` with the style of ``style`` by matching feature distributions.

    Starting from the content image (or ``init``), Adam or L-BFGS moves the pixels :math:`x`
    to minimise

    .. math:: \sum_{\ell} \mathcal L_{\mathrm{style}}\big(F_\ell(x), \text{target}_\ell\big)
       + \lambda\,\frac{\|F_c(x) - F_c(x_c)\|^2}{\|F_c(x_c)\|^2},

    where :math:`F_\ell` are the extractor's feature clouds (positions forgotten) and the
    style loss is ``"bures"`` (:func:`bures_loss`, Gaussian :math:`W_2`, Mroueh 2020),
    ``"swd"`` (:func:`sliced_wasserstein_loss`, Heitz et al. 2021) or ``"gram"``
    (:func:`gram_loss`, Gatys et al. 2016). With ``"bures"`` the target Gaussian of each
    layer is the style's; or the Wasserstein barycentre of several styles' Gaussians
    (``style`` a list, ``style_weights``; a geodesic point for two styles, the fixed point
    of :func:`gaussian_barycenter` for more); and ``strength`` :math:`\tau<1` moves it back
    along the Wasserstein geodesic towards the content's Gaussian (McCann interpolation).
    Covariances transported *from* get a relative ridge :data:`TRANSPORT_RIDGE`.
    Pixels are clamped to [0, 1] after every step.
    See the chapter *Wasserstein style transfer*.

    Parameters
    ----------
    content : Tensor, shape (3, H, W)
    style : Tensor, shape (3, H', W'), or a sequence of them (``"bures"`` only)
    extractor : nn.Module
        :class:`VGG19Features` or :class:`RandomFeatures` (anything with ``.layers`` that maps
        (1, 3, H, W) images to a dict of feature maps), on ``content``'s device.
    loss : {"bures", "swd", "gram"}
    steps : int
        Optimiser steps.
    lr : float
        Adam learning rate (pixels live in [0, 1]).
    content_weight : float
        :math:`\lambda`; 0 gives texture synthesis started from the content.
    content_layer : str, optional
        Defaults to the extractor's second deepest layer.
    style_layers : sequence of str, optional
        Defaults to all the extractor's layers.
    strength : float
        :math:`\tau \in [0, 1]` (``"bures"`` only).
    style_weights : sequence of float, optional
        Barycentric weights of the styles (``"bures"`` only; default uniform).
    generator : torch.Generator, optional
        Random directions of ``"swd"`` (on ``content``'s device).
    optimizer : {"adam", "lbfgs"}
        ``"lbfgs"`` runs ``torch.optim.LBFGS`` (unit step, strong Wolfe line search, one
        iteration per step; ``lr`` is ignored); it suits the deterministic ``"bures"`` and
        ``"gram"`` losses better than the resampled ``"swd"``.
    init : Tensor, shape (3, H, W), optional
        Starting image (default: the content), e.g. an upsampled coarse result
        (see :func:`stylize_multiscale`).

    Returns
    -------
    StyleResult

    Examples
    --------
    >>> from nips2019.style import RandomFeatures
    >>> net = RandomFeatures(channels=(8, 16), seed=0)
    >>> res = stylize(torch.rand(3, 16, 16), torch.rand(3, 16, 16), net, steps=3)
    >>> res.image.shape, res.style_loss.shape
    (torch.Size([3, 16, 16]), torch.Size([4]))
    """
    content = _check_image(content, "content")
    styles = [style] if isinstance(style, torch.Tensor) else list(style)
    if not styles:
        raise ValueError("style must be an image or a non-empty sequence of images")
    styles = [_check_image(s, "style").to(content.device, content.dtype) for s in styles]
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {_LOSSES}, got {loss!r}")
    if loss != "bures" and (len(styles) > 1 or strength != 1.0):
        raise ValueError("several styles and strength < 1 need loss='bures' (Gaussian barycentres / geodesics)")
    if style_weights is not None:
        w = [float(v) for v in style_weights]
        if len(w) != len(styles) or min(w) < 0 or abs(sum(w) - 1.0) > 1e-6:
            raise ValueError(f"style_weights must be {len(styles)} non-negative numbers summing to 1, got {w}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    if optimizer not in ("adam", "lbfgs"):
        raise ValueError(f"optimizer must be 'adam' or 'lbfgs', got {optimizer!r}")
    if init is not None:
        init = _check_image(init, "init")
        if init.shape != content.shape:
            raise ValueError(f"init must have the content's shape {tuple(content.shape)}, got {tuple(init.shape)}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if content_weight < 0:
        raise ValueError(f"content_weight must be >= 0, got {content_weight}")
    layers = tuple(getattr(extractor, "layers", ()))
    style_layers = layers if style_layers is None else tuple(style_layers)
    if content_layer is None and layers:
        content_layer = layers[-2] if len(layers) > 1 else layers[-1]
    for name in (*style_layers, content_layer):
        if name not in layers:
            raise ValueError(f"layer {name!r} is not produced by the extractor (layers {layers})")

    with torch.no_grad():
        content_feat = extractor(content[None])[content_layer]
        content_scale = content_feat.pow(2).mean().clamp_min(torch.finfo(content.dtype).tiny)
        if loss == "bures":
            targets = _bures_targets(extractor, content, styles, style_layers, style_weights, strength)
        else:
            feats = extractor(styles[0][None])
            targets = {k: feature_points(feats[k]) for k in style_layers}

    def layer_loss(points, target):
        if loss == "bures":
            return bures_loss(points, target)
        if loss == "gram":
            return gram_loss(points, target)
        return sliced_wasserstein_loss(points, target, generator=generator)

    start = content if init is None else init.to(content.device, content.dtype)
    x = start.detach().clone().clamp(0.0, 1.0).requires_grad_(True)

    def evaluate():
        feats = extractor(x[None])
        s_loss = sum(layer_loss(feature_points(feats[k]), targets[k]) for k in style_layers)
        c_loss = (feats[content_layer] - content_feat).pow(2).mean() / content_scale
        return s_loss, c_loss

    if optimizer == "adam":
        opt = torch.optim.Adam([x], lr=lr)
    else:
        opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=20, line_search_fn="strong_wolfe")
    s_hist, c_hist = [], []
    t0 = time.perf_counter()
    for step in progress(range(steps + 1), desc=f"stylize ({loss})"):
        if step == steps:
            with torch.no_grad():
                s_loss, c_loss = evaluate()
            s_hist.append(float(s_loss))
            c_hist.append(float(c_loss))
            break
        first = []

        def closure():
            opt.zero_grad(set_to_none=True)
            s_loss, c_loss = evaluate()
            if not first:  # the loss at the start of this step
                first.append((float(s_loss.detach()), float(c_loss.detach())))
            total = s_loss + content_weight * c_loss
            total.backward()
            return total

        opt.step(closure)
        s_hist.append(first[0][0])
        c_hist.append(first[0][1])
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
    seconds = time.perf_counter() - t0
    hist = dict(device=content.device, dtype=content.dtype)
    return StyleResult(x.detach(), torch.tensor(s_hist, **hist), torch.tensor(c_hist, **hist), seconds)


def stylize_multiscale(
    content: torch.Tensor,
    style: torch.Tensor | Sequence[torch.Tensor],
    extractor: nn.Module,
    scales: Sequence[float] = (0.5, 1.0),
    **kwargs,
) -> StyleResult:
    r"""Coarse-to-fine :func:`stylize`: solve at low resolution, upsample, refine.

    At each scale :math:`s` (increasing, the last one usually 1) the content and style
    images are resized by :math:`s`, and :func:`stylize` starts from the previous scale's
    result upsampled to the new size. Large structures of the style, which a 3x3-filter
    network sees only through deep layers, are placed cheaply at the coarse scale.
    See the chapter *Wasserstein style transfer*.

    Parameters
    ----------
    content, style, extractor
        As in :func:`stylize`.
    scales : sequence of float
        Increasing factors in (0, 1].
    **kwargs
        Passed to :func:`stylize` at every scale (``steps`` is per scale).

    Returns
    -------
    StyleResult
        The final image; loss histories of all scales concatenated; total seconds.

    Examples
    --------
    >>> from nips2019.style import RandomFeatures
    >>> net = RandomFeatures(channels=(8, 16), seed=0)
    >>> res = stylize_multiscale(torch.rand(3, 16, 16), torch.rand(3, 16, 16), net, steps=2)
    >>> res.image.shape, res.style_loss.shape
    (torch.Size([3, 16, 16]), torch.Size([6]))
    """
    from ._images import resize

    content = _check_image(content, "content")
    scales = [float(v) for v in scales]
    if not scales or any(not 0 < v <= 1 for v in scales) or scales != sorted(scales):
        raise ValueError(f"scales must be increasing numbers in (0, 1], got {scales}")
    styles = [style] if isinstance(style, torch.Tensor) else list(style)
    h, w = content.shape[-2:]
    image, parts = None, []
    for v in scales:
        size = (max(1, round(h * v)), max(1, round(w * v)))
        c_v = content if v == 1.0 else resize(content, size)
        s_v = [s if v == 1.0 else resize(_check_image(s, "style"), max(1, round(min(s.shape[-2:]) * v))) for s in styles]
        init = None if image is None else resize(image, size)
        res = stylize(c_v, s_v[0] if isinstance(style, torch.Tensor) else s_v, extractor, init=init, **kwargs)
        image = res.image
        parts.append(res)
    return StyleResult(
        image,
        torch.cat([r.style_loss for r in parts]),
        torch.cat([r.content_loss for r in parts]),
        sum(r.seconds for r in parts),
    )
