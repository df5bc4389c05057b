"""Checks shared by the hebbian modules (private)."""

from __future__ import annotations

import torch


def check_batch_dims(func: str, a_name: str, a_batch: torch.Size, b_name: str, b_batch: torch.Size) -> None:
    """Refuse leading (batch) dimensions of two arguments that do not broadcast."""
    try:
        torch.broadcast_shapes(a_batch, b_batch)
    except RuntimeError:
        raise ValueError(
            f"{func}: the batch dimensions of {a_name} {tuple(a_batch)} and {b_name} {tuple(b_batch)} do not broadcast"
        ) from None
