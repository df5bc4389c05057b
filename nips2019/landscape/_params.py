"""Flat parameter vectors and a functional loss: the common ground of slices, HVPs and K-FAC."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call


def _named_params(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for _, p in _named_params(model)])


def _unflatten(model: nn.Module, flat: torch.Tensor) -> dict[str, torch.Tensor]:
    out, i = {}, 0
    for name, p in _named_params(model):
        out[name] = flat[i : i + p.numel()].view_as(p)
        i += p.numel()
    return out


def _loss_fn(loss_fn):
    return torch.nn.functional.cross_entropy if loss_fn is None else loss_fn


def _functional_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn, func: str = "landscape"):
    """``f(flat) = loss(model_flat(x), y)`` for torch.func transforms (buffers kept as they are)."""
    loss_fn = _loss_fn(loss_fn)
    buffers = dict(model.named_buffers())

    def f(flat):
        try:
            out = functional_call(model, {**_unflatten(model, flat), **buffers}, (x,))
            loss = loss_fn(out, y)
        except (RuntimeError, IndexError, ValueError) as exc:
            raise ValueError(
                f"{func}: evaluating loss_fn(model(x), y) failed; check the shapes and dtypes "
                f"of x and y ({exc})"
            ) from exc
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            raise ValueError(f"{func}: loss_fn(model(x), y) must return a scalar tensor")
        return loss

    return f


def _check_model(func: str, model: nn.Module, x: torch.Tensor):
    params = [p for _, p in _named_params(model)]
    if not params:
        raise ValueError(f"{func}: model has no trainable parameters")
    p0 = params[0]
    if p0.device != x.device or p0.dtype != x.dtype:
        raise ValueError(
            f"{func}: model has {p0.dtype} on {p0.device} but x has {x.dtype} on {x.device}; "
            "convert one of them explicitly"
        )
    return sum(p.numel() for p in params)


def _check_vector(func: str, name: str, v: torch.Tensor, n_params: int, like: torch.Tensor):
    if v.shape[-1] != n_params:
        raise ValueError(
            f"{func}: {name} must have {n_params} entries per row (the model's trainable "
            f"parameters), got shape {tuple(v.shape)}"
        )
    if v.device != like.device or v.dtype != like.dtype:
        raise ValueError(
            f"{func}: {name} has {v.dtype} on {v.device} but x has {like.dtype} on {like.device}"
        )
