"""Constraints the shared validators do not provide yet (a union of constraints).

``AnyOf`` should move to :mod:`nips2019.utils` if another subpackage needs it.
"""

from __future__ import annotations

import numpy as np
import torch

from nips2019.utils import Constraint, Items, Real
from nips2019.utils._constraints import _show


class AnyOf(Constraint):
    """A value that satisfies at least one of several constraints.

    When every alternative refuses the value, the first ``ValueError`` (right kind,
    wrong value) is raised as is; if all refused its kind, a ``TypeError`` lists the
    alternatives.

    Examples
    --------
    >>> from nips2019.utils import Integer
    >>> AnyOf(Integer(low=1), Items(Integer(low=1))).check(0, "n_cells")
    Traceback (most recent call last):
    ...
    ValueError: n_cells must be an integer >= 1, got 0
    """

    def __init__(self, *constraints: Constraint, optional: bool = False):
        self.constraints = constraints
        self.optional = optional

    def check_value(self, value, name, ctx):
        errors = []
        for c in self.constraints:
            try:
                c.check(value, name, ctx)
                return
            except (TypeError, ValueError) as exc:
                errors.append(exc)
        for exc in errors:
            if isinstance(exc, ValueError):
                raise exc
        ctx.fail(TypeError, f"{name} must be {self.describe()}, got {_show(value)}")

    def describe(self):
        return " or ".join(c.describe() for c in self.constraints)


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
