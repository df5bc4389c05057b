r"""Extragradient and entropic mirror-prox for saddle-point problems, as ``torch.optim`` optimizers.

The two-step update a gradient step to a trial point, then a step from the *old* point
with the gradient at the trial point, is Korpelevich's extragradient method (1976);
with a Bregman divergence in place of the Euclidean distance it is Nemirovski's
mirror-prox (2004). See the chapter :doc:`Gradients and update rules </book/gradients>`.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from nips2019.utils import Bool, InstanceOf, Options, Real, validate

from ._projections import _project_l1_ball, _project_simplex

__all__ = ["ExtraGradient", "MirrorProx"]


def _call(closure, name):
    if closure is None or not callable(closure):
        raise TypeError(f"{name}.step: closure must be a callable that re-evaluates the loss and calls "
                        f"backward(); got {type(closure).__name__}")
    with torch.enable_grad():
        loss = closure()
    return loss


def _grads(group, name):
    out = []
    for p in group["params"]:
        if p.grad is None:
            out.append(torch.zeros_like(p))
            continue
        g = p.grad.detach()
        out.append(-g if group.get("maximize", False) else g)
    return out


class _TwoStep:
    """The two-step update both optimizers share, and the running averages of the points where the
    second gradient was taken (the ergodic iterate).

    A subclass says how to move from a start along a direction (``_move``) and may correct the
    final point (``_settle``).
    """

    def _settle(self, group, z):
        return z

    def _two_steps(self, closure):
        """x_t -> y_t with F(x_t), then x_t -> x_{t+1} with F(y_t); returns the loss at x_t."""
        name = type(self).__name__
        loss = _call(closure, name)
        starts = [[p.detach().clone() for p in g["params"]] for g in self.param_groups]
        for group, start in zip(self.param_groups, starts):
            for p, z in zip(group["params"], self._move(group, start, _grads(group, name))):
                p.copy_(z)
        self.zero_grad()
        _call(closure, name)
        for group, start in zip(self.param_groups, starts):
            mids = [p.detach().clone() for p in group["params"]]
            new = self._move(group, start, _grads(group, name))
            self._accumulate(group, mids, group["lr"])
            for p, z in zip(group["params"], new):
                p.copy_(self._settle(group, z))
        return loss

    def _accumulate(self, group, points, weight):
        for p, z in zip(group["params"], points):
            st = self.state[p]
            if "average" not in st:
                st["average"] = torch.zeros_like(p)
                st["weight"] = 0.0
            st["weight"] += weight
            st["average"].add_(z - st["average"], alpha=weight / st["weight"])

    def averaged_params(self) -> list[torch.Tensor]:
        """Step-size-weighted averages of the extrapolated points, one per parameter (copies).

        The classical guarantees of extragradient and mirror-prox (an :math:`O(1/T)`
        duality gap for convex-concave problems) are for this average.
        """
        return [self.state[p]["average"].clone() if "average" in self.state[p] else p.detach().clone()
                for g in self.param_groups for p in g["params"]]


class ExtraGradient(_TwoStep, torch.optim.Optimizer):
    r"""Extragradient (projected, Euclidean) for minimisation or saddle-point problems.

    .. math::

        y_{t} = \Pi_K\big(x_t - \eta\, F(x_t)\big),\qquad
        x_{t+1} = \Pi_K\big(x_t - \eta\, F(y_t)\big),

    where :math:`F` is the gradient for minimised parameters and minus the gradient for
    parameter groups with ``maximize=True`` (the other player of a game). With ``F``
    Lipschitz and monotone (convex-concave games) the iterates converge for
    :math:`\eta < 1/L`, where simultaneous gradient descent-ascent cycles or diverges.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters or parameter groups, as for :class:`torch.optim.SGD`.
    lr : float
        Step size :math:`\eta > 0`.
    maximize : bool
        Ascend instead of descend (per group: the max player of a game).
    constraint : {None, "simplex", "l1_ball"}
        Feasible set :math:`K` of each row (last axis): unconstrained, the simplex scaled by
        ``radius``, or the l1 ball of that radius.
    radius : float
        Size of the feasible set.

    Notes
    -----
    :meth:`step` needs a closure (it evaluates the gradient twice) that re-computes the
    loss and calls ``backward()`` and returns the loss; it returns the loss at
    :math:`x_t`. ``averaged_params()`` gives the ergodic average of the :math:`y_t`.

    References
    ----------
    Korpelevich (1976); Nemirovski (2004) ``nemirovski2004prox``.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([1.0], requires_grad=True); y = torch.tensor([1.0], requires_grad=True)
    >>> opt = ExtraGradient([{"params": [x]}, {"params": [y], "maximize": True}], lr=0.5)
    >>> def closure():
    ...     opt.zero_grad(); loss = (x * y).sum(); loss.backward(); return loss
    >>> for _ in range(100):
    ...     _ = opt.step(closure)
    >>> bool(x.abs() < 1e-3 and y.abs() < 1e-3)   # the saddle point (0, 0)
    True
    """

    @validate(params=InstanceOf(Iterable), lr=Real(low=0, closed="neither"), maximize=Bool(),
              constraint=Options("simplex", "l1_ball", optional=True), radius=Real(low=0, closed="neither"))
    def __init__(self, params, lr=0.1, *, maximize=False, constraint=None, radius=1.0):
        super().__init__(params, dict(lr=lr, maximize=maximize, constraint=constraint, radius=radius))

    @staticmethod
    def _project(group, z):
        if group["constraint"] == "simplex":
            return _project_simplex(z, group["radius"]) if z.dim() else z
        if group["constraint"] == "l1_ball":
            return _project_l1_ball(z, group["radius"]) if z.dim() else z
        return z

    def _move(self, group, start, direction):
        return [self._project(group, s - group["lr"] * g) for s, g in zip(start, direction)]

    @torch.no_grad()
    def step(self, closure=None):
        """One extragradient step (two gradient evaluations); returns the loss at the current point."""
        return self._two_steps(closure)


class MirrorProx(_TwoStep, torch.optim.Optimizer):
    r"""Entropic mirror-prox on probability simplices (rows of each parameter).

    .. math::

        y_t = \frac{x_t \odot e^{-\eta F(x_t)}}{\langle x_t, e^{-\eta F(x_t)}\rangle}\,r,\qquad
        x_{t+1} = \frac{x_t \odot e^{-\eta F(y_t)}}{\langle x_t, e^{-\eta F(y_t)}\rangle}\,r,

    the extragradient step in the geometry of the negative entropy (multiplicative
    weights twice per step). For a matrix game with payoffs bounded by :math:`\|A\|_\infty`
    the averaged iterates have duality gap :math:`O(\|A\|_\infty \log(mn) / T)` with
    :math:`\eta = 1/\|A\|_{\max}`, against :math:`O(1/\sqrt T)` for plain mirror descent.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters (each row a point of the simplex, all entries > 0), or groups.
    lr : float
        Step size :math:`\eta > 0`.
    maximize : bool
        Ascend instead of descend (per group).
    radius : float
        Total mass :math:`r` of each row.

    Notes
    -----
    :meth:`step` needs a closure, like :class:`ExtraGradient`. Parameters that are not
    strictly positive rows summing to ``radius`` are refused at the first step.

    References
    ----------
    Nemirovski (2004) ``nemirovski2004prox``; Juditsky, Nemirovski & Tauvel (2011).

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)  # matching pennies
    >>> x = torch.tensor([0.9, 0.1], dtype=torch.float64, requires_grad=True)
    >>> y = torch.tensor([0.2, 0.8], dtype=torch.float64, requires_grad=True)
    >>> opt = MirrorProx([{"params": [x]}, {"params": [y], "maximize": True}], lr=0.5)
    >>> def closure():
    ...     opt.zero_grad(); loss = x @ a @ y; loss.backward(); return loss
    >>> for _ in range(200):
    ...     _ = opt.step(closure)
    >>> [round(v, 4) for v in x.tolist()]
    [0.5, 0.5]
    """

    @validate(params=InstanceOf(Iterable), lr=Real(low=0, closed="neither"), maximize=Bool(),
              radius=Real(low=0, closed="neither"))
    def __init__(self, params, lr=0.1, *, maximize=False, radius=1.0):
        super().__init__(params, dict(lr=lr, maximize=maximize, radius=radius))

    def _check(self, group):
        for p in group["params"]:
            if p.dim() == 0 or not bool((p > 0).all()) or not torch.allclose(
                    p.sum(-1), torch.full_like(p.sum(-1), group["radius"]), rtol=1e-5, atol=1e-6):
                raise ValueError(f"MirrorProx: each row of every parameter must be strictly positive and sum "
                                 f"to radius = {group['radius']:g} (a point inside the simplex); got a "
                                 f"parameter of shape {tuple(p.shape)} with row sums {p.sum(-1).tolist()}")

    @staticmethod
    def _move(group, start, direction):
        return [torch.softmax(s.log() - group["lr"] * g, dim=-1) * group["radius"]
                for s, g in zip(start, direction)]

    def _settle(self, group, z):
        # stay strictly inside the simplex: exp underflow would stop the method forever
        tiny = torch.finfo(z.dtype).tiny
        z = z.clamp_min(tiny)
        return z / z.sum(-1, keepdim=True) * group["radius"]

    @torch.no_grad()
    def step(self, closure=None):
        """One mirror-prox step (two gradient evaluations); returns the loss at the current point."""
        if not self.state:  # first step: the starting points must lie inside the simplex
            for group in self.param_groups:
                self._check(group)
        return self._two_steps(closure)
