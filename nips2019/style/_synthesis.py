"""Style transfer by optimising pixels to match feature distributions."""

from __future__ import annotations

import dataclasses
import time
from typing import Sequence

import torch
import torch.nn as nn

from nips2019.utils import (
    Bool,
    Generator,
    InstanceOf,
    Integer,
    Items,
    Module,
    Options,
    Real,
    Tensor,
    as_generator,
    progress as progress_bar,
    validate,
)

from ._checks import check_images
from ._features import _points
from ._gaussian import GaussianStats, _barycenter, _gaussian_stats, _geodesic
from ._losses import BuresTarget, _bures_loss, _gram_loss, _sliced_wasserstein_loss

_LOSSES = ("bures", "swd", "gram")
_IMAGE = Tensor(shape=(3, "h", "w"), dtype="floating", low=0.0, high=1.0)


def _extract(extractor: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The extractor's features; the package's networks skip their input checks (done once per public call)."""
    return getattr(extractor, "_extract", extractor)(images)


@validate(
    extractor=Module(),
    image=Tensor(shape=(3, None, None), dtype="floating"),
    ridge=Real(low=0),
    same=[("extractor", "image")],
)
def feature_stats(extractor: nn.Module, image: torch.Tensor, *, ridge: float = 0.0) -> dict[str, GaussianStats]:
    """Mean and covariance of the features of ``image`` at every layer of ``extractor``.

    See the chapter :doc:`Wasserstein style transfer </book/style>`.

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
    with torch.no_grad():
        feats = extractor(image[None])
    return {k: _gaussian_stats(_points(v), ridge) for k, v in feats.items()}


@torch.no_grad()
def _feature_stats(extractor: nn.Module, image: torch.Tensor) -> dict[str, GaussianStats]:
    return _stats_of(extractor(image[None]))


def _stats_of(feats: dict[str, torch.Tensor]) -> dict[str, GaussianStats]:
    return {k: _gaussian_stats(_points(v)) for k, v in feats.items()}


@dataclasses.dataclass
class StyleResult:
    """Outcome of :func:`stylize`.

    Attributes
    ----------
    image : Tensor, shape (3, H, W)
        The synthesised image, values in [0, 1].
    style_loss : Tensor, shape (n_steps + 1,)
        Style loss (summed over style layers) before each step and after the last one.
    content_loss : Tensor, shape (n_steps + 1,)
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


def _bures_targets(extractor, content, styles, layers, weights, strength, content_feats=None):
    if strength < 1.0:  # only then is the content's Gaussian needed (from its features, if given)
        c_stats = _feature_stats(extractor, content) if content_feats is None else _stats_of(content_feats)
    per_style = [_feature_stats(extractor, s) for s in styles]
    targets = {}
    for layer in layers:
        to64 = lambda s: GaussianStats(s.mean.double(), s.cov.double())  # noqa: E731
        stats = [to64(p[layer]) for p in per_style]
        if len(stats) == 1:
            style = stats[0]
        elif len(stats) == 2:  # two Gaussians: the barycentre is a point on their geodesic (closed form)
            w2 = 0.5 if weights is None else float(weights[1])
            style = _geodesic(_ridged(stats[0]), stats[1], w2)
        else:
            ridged = [_ridged(s) for s in stats]
            w = torch.full((len(stats),), 1.0 / len(stats), dtype=torch.float64, device=content.device)
            if weights is not None:
                w = torch.tensor([float(v) for v in weights], dtype=torch.float64, device=content.device)
            style = _barycenter(ridged, w, 50, 1e-7)
        if strength < 1.0:
            style = _geodesic(_ridged(to64(c_stats[layer])), style, strength)
        # float64 statistics internally, targets in the content's dtype
        dtype = content.dtype
        targets[layer] = BuresTarget._unchecked(GaussianStats(style.mean.to(dtype), style.cov.to(dtype)))
    return targets


@validate(
    content=_IMAGE,
    style=InstanceOf(torch.Tensor, list, tuple),
    extractor=Module(),
    loss=Options(*_LOSSES),
    n_steps=Integer(low=0),
    lr=Real(low=0, closed="neither"),
    content_weight=Real(low=0),
    content_layer=InstanceOf(str, optional=True),
    style_layers=Items(InstanceOf(str), min_length=1, optional=True),
    strength=Real(0.0, 1.0),
    style_weights=Items(Real(low=0), min_length=1, optional=True),
    generator=Generator(),
    optimizer=Options("adam", "lbfgs"),
    init=Tensor(shape=(3, "h", "w"), dtype="floating", low=0.0, high=1.0, optional=True),
    progress=Bool(optional=True),
    same=[("content", "extractor", "init")],
)
def stylize(
    content: torch.Tensor,
    style: torch.Tensor | Sequence[torch.Tensor],
    extractor: nn.Module,
    *,
    loss: str = "bures",
    n_steps: int = 100,
    lr: float = 0.02,
    content_weight: float = 0.1,
    content_layer: str | None = None,
    style_layers: Sequence[str] | None = None,
    strength: float = 1.0,
    style_weights: Sequence[float] | None = None,
    generator: int | torch.Generator | None = None,
    optimizer: str = "adam",
    init: torch.Tensor | None = None,
    progress: bool | None = None,
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
    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Parameters
    ----------
    content : Tensor, shape (3, H, W)
        RGB image with values in [0, 1].
    style : Tensor, shape (3, H', W'), or a list of them (``"bures"`` only)
        Values in [0, 1], on ``content``'s device and dtype (nothing is converted silently).
    extractor : nn.Module
        :class:`VGG19Features` or :class:`RandomFeatures` (anything with ``.layers`` that maps
        (1, 3, H, W) images to a dict of feature maps), on ``content``'s device and dtype.
    loss : {"bures", "swd", "gram"}
    n_steps : int
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
    generator : int, torch.Generator or None
        Random directions of ``"swd"``, drawn on the CPU and moved to ``content``'s device
        (fresh ones at every step).
    optimizer : {"adam", "lbfgs"}
        ``"lbfgs"`` runs ``torch.optim.LBFGS`` (unit step, strong Wolfe line search, one
        iteration per step; ``lr`` is ignored); it suits the deterministic ``"bures"`` and
        ``"gram"`` losses better than the resampled ``"swd"``.
    init : Tensor, shape (3, H, W), optional
        Starting image (default: the content), e.g. an upsampled coarse result
        (see :func:`stylize_multiscale`); values in [0, 1], the content's device and dtype.
    progress : bool, optional
        Progress bar; ``None`` (default) shows it only in interactive sessions.

    Returns
    -------
    StyleResult

    Examples
    --------
    >>> from nips2019.style import RandomFeatures
    >>> net = RandomFeatures(channels=(8, 16), generator=0)
    >>> res = stylize(torch.rand(3, 16, 16), torch.rand(3, 16, 16), net, n_steps=3)
    >>> res.image.shape, res.style_loss.shape
    (torch.Size([3, 16, 16]), torch.Size([4]))
    """
    styles = check_images("stylize", "style", style, like=("content", content))
    if loss != "bures" and (len(styles) > 1 or strength != 1.0):
        raise ValueError(
            f"stylize: several styles and strength < 1 need loss='bures' (Gaussian barycentres / geodesics), "
            f"got loss={loss!r} with {len(styles)} style(s) and strength={strength}"
        )
    if style_weights is not None:
        w = [float(v) for v in style_weights]
        if len(w) != len(styles) or abs(sum(w) - 1.0) > 1e-6:
            raise ValueError(f"stylize: style_weights must be {len(styles)} non-negative numbers summing to 1, got {w}")
    layers = tuple(getattr(extractor, "layers", ()))
    style_layers = layers if style_layers is None else tuple(style_layers)
    if content_layer is None and layers:
        content_layer = layers[-2] if len(layers) > 1 else layers[-1]
    for arg, names in (("style_layers", style_layers), ("content_layer", (content_layer,))):
        for name in names:
            if name not in layers:
                raise ValueError(f"stylize: {arg}: layer {name!r} is not produced by the extractor (layers {layers})")
    gen = as_generator(generator) if loss == "swd" else None

    with torch.no_grad():
        # public calls, once: the extractor checks each image (device, dtype, size) before the loop
        content_feats = extractor(content[None])  # one pass: the content term and (strength < 1) its Gaussians
        content_feat = content_feats[content_layer]
        content_scale = content_feat.pow(2).mean().clamp_min(torch.finfo(content.dtype).tiny)
        if loss == "bures":
            targets = _bures_targets(extractor, content, styles, style_layers, style_weights, strength,
                                     content_feats)
        else:
            feats = extractor(styles[0][None])
            targets = {k: _points(feats[k]) for k in style_layers}

    def layer_loss(points, target):
        if loss == "bures":
            return _bures_loss(points, target)
        if loss == "gram":
            return _gram_loss(points, target)
        return _sliced_wasserstein_loss(points, target, None, gen)

    start = content if init is None else init
    x = start.detach().clone().clamp(0.0, 1.0).requires_grad_(True)

    def evaluate():
        feats = _extract(extractor, x[None])
        s_loss = sum(layer_loss(_points(feats[k]), targets[k]) for k in style_layers)
        c_loss = (feats[content_layer] - content_feat).pow(2).mean() / content_scale
        return s_loss, c_loss

    if optimizer == "adam":
        opt = torch.optim.Adam([x], lr=lr)
    else:
        opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=20, line_search_fn="strong_wolfe")
    s_hist, c_hist = [], []
    t0 = time.perf_counter()
    disable = None if progress is None else not progress
    for step in progress_bar(range(n_steps + 1), desc=f"stylize ({loss})", disable=disable):
        if step == n_steps:
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


@validate(
    content=_IMAGE,
    style=InstanceOf(torch.Tensor, list, tuple),
    extractor=Module(),
    scales=Items(Real(low=0, high=1, closed="right"), min_length=1),
    same=[("content", "extractor")],
)
def stylize_multiscale(
    content: torch.Tensor,
    style: torch.Tensor | Sequence[torch.Tensor],
    extractor: nn.Module,
    *,
    scales: Sequence[float] = (0.5, 1.0),
    **kwargs,
) -> StyleResult:
    r"""Coarse-to-fine :func:`stylize`: solve at low resolution, upsample, refine.

    At each scale :math:`s` (increasing, the last one usually 1) the content and style
    images are resized by :math:`s`, and :func:`stylize` starts from the previous scale's
    result upsampled to the new size. Large structures of the style, which a 3x3-filter
    network sees only through deep layers, are placed cheaply at the coarse scale.
    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Parameters
    ----------
    content, style, extractor
        As in :func:`stylize`.
    scales : sequence of float
        Increasing factors in (0, 1].
    **kwargs
        Passed to :func:`stylize` at every scale (``n_steps`` is per scale; ``init`` is
        the previous scale's result and cannot be given).

    Returns
    -------
    StyleResult
        The final image; loss histories of all scales concatenated; total seconds.

    Examples
    --------
    >>> from nips2019.style import RandomFeatures
    >>> net = RandomFeatures(channels=(8, 16), generator=0)
    >>> res = stylize_multiscale(torch.rand(3, 16, 16), torch.rand(3, 16, 16), net, n_steps=2)
    >>> res.image.shape, res.style_loss.shape
    (torch.Size([3, 16, 16]), torch.Size([6]))
    """
    from ._images import _resize

    if "init" in kwargs:
        raise TypeError("stylize_multiscale: init cannot be given (each scale starts from the previous scale's result)")
    scales = [float(v) for v in scales]
    if scales != sorted(scales):
        raise ValueError(f"stylize_multiscale: scales must be increasing numbers in (0, 1], got {scales}")
    styles = check_images("stylize_multiscale", "style", style, like=("content", content))
    h, w = content.shape[-2:]
    image, parts = None, []
    for v in scales:
        size = (max(1, round(h * v)), max(1, round(w * v)))
        c_v = content if v == 1.0 else _resize(content, size)
        s_v = [s if v == 1.0 else _resize(s, max(1, round(min(s.shape[-2:]) * v))) for s in styles]
        init = None if image is None else _resize(image, size)
        res = stylize(c_v, s_v[0] if isinstance(style, torch.Tensor) else s_v, extractor, init=init, **kwargs)
        image = res.image
        parts.append(res)
    return StyleResult(
        image,
        torch.cat([r.style_loss for r in parts]),
        torch.cat([r.content_loss for r in parts]),
        sum(r.seconds for r in parts),
    )
