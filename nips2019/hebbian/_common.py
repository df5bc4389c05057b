"""Constraints and checks shared by the hebbian modules (private)."""

from __future__ import annotations

import torch

from ..utils import Constraint

#: Ranks admitted for batched tensors ``(..., a, b)``: the last two axes plus up to six batch axes.
BATCHED = tuple(range(2, 9))
#: Ranks admitted for batched vectors ``(..., d)``.
BATCHED_VECTOR = tuple(range(1, 9))


class Device(Constraint):
    """A device for functions that create tensors: a ``torch.device`` or a string naming one."""

    def __init__(self, optional: bool = True):
        self.optional = optional

    def check_value(self, value, name, ctx):
        if not isinstance(value, (str, torch.device)):
            ctx.fail(TypeError, f"{name} must be {self.describe()}, got {type(value).__name__} {value!r}")
        try:
            torch.device(value)
        except (RuntimeError, ValueError):
            ctx.fail(ValueError, f"{name} must name a device such as 'cpu' or 'cuda', got {value!r}")

    def describe(self):
        return "a torch.device or a device string"


class FloatDtype(Constraint):
    """A floating-point ``torch.dtype``."""

    def __init__(self, optional: bool = False):
        self.optional = optional

    def check_value(self, value, name, ctx):
        if not isinstance(value, torch.dtype):
            ctx.fail(TypeError, f"{name} must be {self.describe()}, got {type(value).__name__} {value!r}")
        if not value.is_floating_point:
            ctx.fail(TypeError, f"{name} must be {self.describe()}, got {value}")

    def describe(self):
        return "a floating-point torch.dtype"


def check_batch_dims(func: str, a_name: str, a_batch: torch.Size, b_name: str, b_batch: torch.Size) -> None:
    """Refuse leading (batch) dimensions of two arguments that do not broadcast."""
    try:
        torch.broadcast_shapes(a_batch, b_batch)
    except RuntimeError:
        raise ValueError(
            f"{func}: the batch dimensions of {a_name} {tuple(a_batch)} and {b_name} {tuple(b_batch)} do not broadcast"
        ) from None
