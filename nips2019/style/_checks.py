"""Checks the declared constraints cannot express: fields of Gaussians, lists of images, device/dtype pairs."""

from __future__ import annotations

import torch

from nips2019.utils import Tensor, check_arguments


def check_same_device_dtype(func: str, named: dict) -> None:
    """Refuse tensors of one computation on different devices or with different floating dtypes (never convert)."""
    first = None
    for name, x in named.items():
        if x is None:
            continue
        if first is None:
            first = (name, x)
            continue
        n0, x0 = first
        if x.device != x0.device:
            raise ValueError(f"{func}: {name} is on {x.device} but {n0} is on {x0.device}; move them to one device")
        if x.dtype != x0.dtype:
            raise TypeError(
                f"{func}: {name} has dtype {x.dtype} but {n0} has {x0.dtype}; convert one explicitly "
                "(nothing is converted silently)"
            )


def check_stats(func: str, **stats) -> None:
    """Check GaussianStats arguments: mean (d,), cov (d, d), floating, finite, one d, one device and dtype."""
    pairs = {}
    for name, s in stats.items():
        pairs[f"{name}.mean"] = (s.mean, Tensor(shape=("d",), dtype="floating"))
        pairs[f"{name}.cov"] = (s.cov, Tensor(shape=("d", "d"), dtype="floating"))
    check_arguments(func, **pairs)
    check_same_device_dtype(func, {k: v for k, (v, _) in pairs.items()})


def check_images(func: str, name: str, images, like: tuple[str, torch.Tensor] | None = None) -> list[torch.Tensor]:
    """One RGB image (3, H, W) in [0, 1], or a non-empty list of them, on the device and dtype of ``like = (name, tensor)``."""
    image = Tensor(shape=(3, None, None), dtype="floating", low=0, high=1)
    if isinstance(images, torch.Tensor):
        named = {name: images}
    else:
        named = {f"{name}[{i}]": s for i, s in enumerate(images)}
        if not named:
            raise ValueError(f"{func}: {name} must be an image or a non-empty sequence of images, got an empty one")
    check_arguments(func, **{k: (v, image) for k, v in named.items()})
    if like is not None:
        check_same_device_dtype(func, {like[0]: like[1], **named})
    return list(named.values())
