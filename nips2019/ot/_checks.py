"""The ``reg_m`` constraint (a number or a pair of penalties), built on :class:`nips2019.utils.AnyOf`."""

from __future__ import annotations

import numpy as np
import torch

from nips2019.utils import AnyOf, Items, Real


def MarginalPenalty() -> AnyOf:  # noqa: N802 - reads like a type
    """``reg_m``: a positive number or a pair ``(source, target)``; ``inf`` enforces a marginal exactly."""
    positive = Real(low=0, closed="neither", finite=False)
    return AnyOf(positive, Items(positive, length=2))


def _reg_m_pair(reg_m) -> tuple[float, float]:
    """The validated ``reg_m`` as a pair of floats."""
    if isinstance(reg_m, (torch.Tensor, np.ndarray)):
        reg_m = reg_m.tolist()
    if isinstance(reg_m, (list, tuple)):
        return float(reg_m[0]), float(reg_m[1])
    return float(reg_m), float(reg_m)
