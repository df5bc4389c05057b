"""Declarations shared by the causal data generators."""

from __future__ import annotations

from ..utils import Device, DType, Generator

# the output arguments of every generator: where the randomness comes from, and the tensors' dtype and device
_DRAWN = dict(generator=Generator(), dtype=DType(), device=Device())
