r"""aProx: stochastic (approximate) proximal point methods with better models than SGD's.

Asi & Duchi (PNAS 2019): at each step minimise a model of the sampled loss plus a proximal
term, :math:`x_{k+1} = \arg\min_x f_{x_k}(x) + \frac{1}{2\alpha_k}\|x - x_k\|^2`. The linear
model gives SGD; the linear model truncated at a known lower bound (0 for non-negative
losses) gives a step that can never overshoot the model's minimum; the full loss gives the
stochastic proximal point method. The better models converge over a much wider range of step
sizes. See the chapter :doc:`Gradients and update rules </book/gradients>`.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from nips2019.utils import InstanceOf, Integer, Options, Real, validate

from ._extragradient import _call

__all__ = ["AProx"]


class AProx(torch.optim.Optimizer):
    r"""aProx (Asi & Duchi 2019) as a ``torch.optim`` optimizer.

    For the loss :math:`f` of the current sample at :math:`x_k`, with gradient :math:`g`
    and a known lower bound :math:`\ell \le \inf f`, the step minimises
    :math:`m(x) + \sum_G \frac{1}{2\alpha_G}\|x_G - x_{k,G}\|^2` (one step size
    :math:`\alpha_G` per parameter group, ``lr``):

    - ``model="linear"``: :math:`m(x) = f + g^\top(x - x_k)`, the SGD step;
    - ``model="truncated"``: :math:`m(x) = \max(f + g^\top(x - x_k), \ell)`, solved in closed form:

      .. math::

          x_{k+1} = x_k - \min\Big(1, \frac{f - \ell}{g^\top \mathrm{D}_\alpha g}\Big)\,\mathrm{D}_\alpha g,
          \qquad \mathrm{D}_\alpha = \operatorname{diag}(\alpha_G);

    - ``model="proximal"``: :math:`m = f` itself, the stochastic proximal point step,
      solved by L-BFGS (strong-Wolfe line search) on the strongly convex subproblem
      with the closure, up to ``max_iter`` inner iterations.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters or groups, as for :class:`torch.optim.SGD`.
    lr : float
        Step size :math:`\alpha > 0` (per group; learning-rate schedulers work as usual).
    model : {"truncated", "linear", "proximal"}
        The model of the loss.
    lower_bound : float
        :math:`\ell`, a lower bound of every sampled loss (0 for squared, absolute,
        hinge and logistic losses).
    max_iter : int
        Inner L-BFGS iterations for ``model="proximal"``.

    Notes
    -----
    :meth:`step` needs a closure that re-computes the sampled loss, calls ``backward()``
    and returns the loss (a scalar tensor); it returns the loss before the step.

    References
    ----------
    Asi & Duchi (2019) ``asi2019importance``.

    Examples
    --------
    >>> import torch
    >>> w = torch.zeros(2, requires_grad=True)
    >>> a, b = torch.tensor([1.0, 2.0]), torch.tensor(3.0)
    >>> opt = AProx([w], lr=100.0, model="truncated")   # a huge step, no overshoot
    >>> def closure():
    ...     opt.zero_grad(); loss = 0.5 * (a @ w - b) ** 2; loss.backward(); return loss
    >>> _ = opt.step(closure)
    >>> round(float((a @ w - b).detach()), 6)   # the residual -3 halves, whatever lr is
    -1.5
    """

    @validate(params=InstanceOf(Iterable), lr=Real(low=0, closed="neither"),
              model=Options("truncated", "linear", "proximal"), lower_bound=Real(),
              max_iter=Integer(low=1))
    def __init__(self, params, lr=0.1, *, model="truncated", lower_bound=0.0, max_iter=20):
        super().__init__(params, dict(lr=lr))
        self.model, self.lower_bound, self.max_iter = model, float(lower_bound), max_iter

    def _params(self):
        return [(g["lr"], p) for g in self.param_groups for p in g["params"]]

    @torch.no_grad()
    def step(self, closure=None):
        """One aProx step; returns the sampled loss at the current point."""
        name = type(self).__name__
        loss = _call(closure, name)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise TypeError(f"{name}.step: closure must return the loss as a scalar tensor, "
                            f"got {type(loss).__name__}")
        if self.model == "proximal":
            self._proximal(closure)
            return loss
        pairs = [(lr, p, p.grad) for lr, p in self._params() if p.grad is not None]
        if self.model == "linear":
            for lr, p, g in pairs:
                p.add_(g, alpha=-lr)
            return loss
        gdg = sum(lr * float((g * g).sum()) for lr, _, g in pairs)
        gap = float(loss.detach()) - self.lower_bound
        if gdg <= 0.0 or gap <= 0.0:
            return loss  # the model is flat at its floor: stay
        scale = min(1.0, gap / gdg)
        for lr, p, g in pairs:
            p.add_(g, alpha=-scale * lr)
        return loss

    def _proximal(self, closure):
        pairs = self._params()
        params = [p for _, p in pairs]
        anchors = [p.detach().clone() for p in params]
        inner = torch.optim.LBFGS(params, lr=1.0, max_iter=self.max_iter, tolerance_grad=1e-12,
                                  tolerance_change=1e-15, history_size=20, line_search_fn="strong_wolfe")

        def prox_closure():
            loss = closure()
            prox = loss.detach().clone()
            with torch.no_grad():
                for (lr, p), a in zip(pairs, anchors):
                    diff = p - a
                    prox = prox + (diff * diff).sum() / (2 * lr)
                    if p.grad is None:
                        p.grad = diff / lr
                    else:
                        p.grad.add_(diff / lr)
            return prox

        with torch.enable_grad():
            inner.step(prox_closure)
