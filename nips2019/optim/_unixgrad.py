r"""UniXGrad: adaptive, universal extra-gradient for constrained convex minimisation.

Kavis, Levy, Bach & Cevher (NeurIPS 2019) couple two extragradient (mirror-prox) sequences
through a weighted average and set the step size from the observed gradient differences
only. The same algorithm, with no knowledge of the smoothness or the noise, reaches the
optimal rates :math:`O(1/T^2)` (smooth, exact gradients) and :math:`O(1/\sqrt T)` (non-smooth
or noisy). Euclidean geometry here. See the chapter :doc:`Gradients and update rules
</book/gradients>`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from nips2019.utils import InstanceOf, Options, Real, validate

from ._extragradient import ExtraGradient, _call, _grads

__all__ = ["UniXGrad"]


class UniXGrad(torch.optim.Optimizer):
    r"""UniXGrad (Euclidean) as a ``torch.optim`` optimizer.

    With weights :math:`\alpha_t = t`, :math:`A_t = \sum_{i \le t}\alpha_i` and the
    Euclidean projection :math:`\Pi_K`, each step makes two gradient calls:

    .. math::

        \tilde z_t = \frac{\alpha_t y_{t-1} + \sum_{i<t}\alpha_i x_i}{A_t},\quad
        M_t = \nabla f(\tilde z_t),\quad
        x_t = \Pi_K\big(y_{t-1} - \eta_t \alpha_t M_t\big),

    .. math::

        \bar z_t = \frac{\sum_{i\le t}\alpha_i x_i}{A_t},\quad
        g_t = \nabla f(\bar z_t),\quad
        y_t = \Pi_K\big(y_{t-1} - \eta_t \alpha_t g_t\big),\qquad
        \eta_t = \frac{2D}{\sqrt{1 + \sum_{i<t}\alpha_i^2\|g_i - M_i\|^2}}.

    The output is :math:`\bar z_t`, which the parameters hold after each step.
    :math:`D` bounds the Bregman diameter, :math:`D^2 \ge \sup_{x,y\in K} \tfrac12\|x-y\|^2`;
    this is the only setting. The norm :math:`\|g_i - M_i\|` runs over all parameters.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters or groups, as for :class:`torch.optim.SGD`.
    diameter : float
        :math:`D > 0` (for the probability simplex :math:`D = 1`; for an l1 ball of radius
        :math:`r`, :math:`D = \sqrt 2\, r`).
    constraint : {None, "simplex", "l1_ball"}
        Feasible set of each row (last axis); ``None`` leaves the problem unconstrained
        (the guarantees then need :math:`D` to bound the distance to a solution).
    radius : float
        Size of the feasible set.

    Notes
    -----
    :meth:`step` needs a closure that re-computes the loss, calls ``backward()`` and returns
    the loss; it returns the loss at :math:`\bar z_t`.

    References
    ----------
    Kavis, Levy, Bach & Cevher (2019) ``kavis2019unixgrad``.

    Examples
    --------
    >>> import torch
    >>> target = torch.tensor([0.7, 0.5, -0.2])
    >>> x = torch.full((3,), 1 / 3, requires_grad=True)
    >>> opt = UniXGrad([x], diameter=1.0, constraint="simplex")
    >>> def closure():
    ...     opt.zero_grad(); loss = ((x - target) ** 2).sum(); loss.backward(); return loss
    >>> for _ in range(200):
    ...     _ = opt.step(closure)
    >>> [round(v, 3) for v in x.tolist()]   # the projection of target onto the simplex
    [0.6, 0.4, 0.0]
    """

    @validate(params=InstanceOf(Iterable), diameter=Real(low=0, closed="neither"),
              constraint=Options("simplex", "l1_ball", optional=True), radius=Real(low=0, closed="neither"))
    def __init__(self, params, diameter=1.0, *, constraint=None, radius=1.0):
        super().__init__(params, dict(diameter=diameter, constraint=constraint, radius=radius))
        self._t = 0
        self._sum_sq = 0.0

    def state_dict(self):
        out = super().state_dict()
        out["unixgrad"] = dict(t=self._t, sum_sq=self._sum_sq)
        return out

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        extra = state_dict.pop("unixgrad", dict(t=0, sum_sq=0.0))
        super().load_state_dict(state_dict)
        self._t, self._sum_sq = int(extra["t"]), float(extra["sum_sq"])

    @torch.no_grad()
    def step(self, closure=None):
        """One UniXGrad step (two gradient evaluations); returns the loss at the new average."""
        name = type(self).__name__
        if closure is None or not callable(closure):
            _call(closure, name)  # raises the standard message
        self._t += 1
        t = self._t
        alpha, total = float(t), t * (t + 1) / 2.0
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state[p]
                if "y" not in st:
                    st["y"] = ExtraGradient._project(group, p.detach().clone())
                    st["sum_x"] = torch.zeros_like(p)
                p.copy_((alpha * st["y"] + st["sum_x"]) / total)
        _call(closure, name)
        ms = [[m.clone() for m in _grads(group, name)] for group in self.param_groups]
        sq = 0.0
        for group, m in zip(self.param_groups, ms):
            eta = 2.0 * group["diameter"] / math.sqrt(1.0 + self._sum_sq)
            group["lr"] = eta  # exposed for schedulers and logging
            for p, mp in zip(group["params"], m):
                st = self.state[p]
                x = ExtraGradient._project(group, st["y"] - eta * alpha * mp)
                st["sum_x"].add_(x, alpha=alpha)
                p.copy_(st["sum_x"] / total)
        self.zero_grad()
        loss = _call(closure, name)
        for group, m in zip(self.param_groups, ms):
            eta = group["lr"]
            for p, mp, gp in zip(group["params"], m, _grads(group, name)):
                st = self.state[p]
                st["y"] = ExtraGradient._project(group, st["y"] - eta * alpha * gp)
                sq += float(((gp - mp) ** 2).sum())
        self._sum_sq += alpha ** 2 * sq
        return loss
