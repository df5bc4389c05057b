r"""Gradients through blackbox combinatorial solvers (Vlastelica, Paulus, Musil, Martius & Rolínek 2020).

A solver :math:`y(w) = \arg\min_{y \in Y} \langle w, y \rangle` over a finite set :math:`Y` is
piecewise constant in :math:`w`: its Jacobian is zero almost everywhere and undefined on the
boundaries. Given the incoming gradient :math:`\nabla L = \partial L / \partial y` at
:math:`\hat y = y(\hat w)`, the method replaces the loss :math:`L(y(w))` by the piecewise-affine,
continuous interpolation

.. math::

    f_\lambda(w) = \frac{\phi(w + \lambda \nabla L) - \phi(w)}{\lambda}, \qquad
    \phi(w) = \min_{y \in Y} \langle w, y \rangle,

(the paper's :math:`f_\lambda`, up to an additive constant), whose gradient is
:math:`-\big(y(w) - y(w + \lambda \nabla L)\big)/\lambda`: one extra solver call per backward pass.
"""

from __future__ import annotations

import torch

from nips2019.utils import IsCallable, Real, Tensor, validate


def _call(solver, w, func):
    y = solver(w)
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{func}: solver must return a torch.Tensor, got {type(y).__name__}")
    if y.shape != w.shape:
        raise ValueError(f"{func}: solver must return a tensor of w's shape {tuple(w.shape)}, "
                         f"got {tuple(y.shape)}")
    return y.to(dtype=w.dtype, device=w.device)


class _Blackbox(torch.autograd.Function):
    """Exact solver forward; the interpolation gradient backward."""

    @staticmethod
    def forward(ctx, w, solver, lam):
        y = _call(solver, w.detach(), "blackbox_solve")
        ctx.save_for_backward(w.detach(), y)
        ctx.solver, ctx.lam = solver, lam
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y):
        w, y = ctx.saved_tensors
        y_lam = _call(ctx.solver, w + ctx.lam * grad_y, "blackbox_solve")
        return -(y - y_lam) / ctx.lam, None, None


_SOLVE = dict(w=Tensor(dtype="floating"), solver=IsCallable(), lam=Real(low=0, closed="neither"))


@validate(**_SOLVE)
def blackbox_solve(w: torch.Tensor, solver, *, lam: float = 10.0) -> torch.Tensor:
    r"""Call a combinatorial solver as a differentiable layer: exact forward, interpolation gradient backward.

    Forward: :math:`\hat y = y(w)`, whatever ``solver`` returns (e.g. :func:`argmin_shortest_path`,
    :func:`argmin_assignment`, ``functools.partial(argmin_top_k, k=3)`` or your own). Backward,
    given :math:`\nabla L = \partial L/\partial \hat y`: one more call at the perturbed weights
    :math:`w' = w + \lambda \nabla L` and

    .. math::

        \frac{\partial f_\lambda}{\partial w} = -\frac{y(w) - y(w')}{\lambda},

    the exact gradient of the piecewise-affine interpolation :math:`f_\lambda` of the linearised
    loss (:func:`blackbox_interpolation`). ``lam`` (:math:`\lambda`) trades informativeness for
    faithfulness: too small and :math:`y(w') = y(w)`, so the gradient is zero; too large and
    :math:`f_\lambda` is far from the true loss. :math:`\lambda \nabla L` is added to ``w``, so the
    useful range depends on the scales of ``w`` and of the loss. The solver must minimise
    :math:`\langle w, y\rangle` (negate the weights of a maximiser), accept a batch with the shape
    of ``w`` and return a tensor of that shape; it is called on detached tensors. See the chapter
    :doc:`/book/discrete`.

    Parameters
    ----------
    w : Tensor
        Solver weights (any shape the solver accepts, batch included).
    solver : callable
        ``solver(w) -> y``, a tensor of ``w``'s shape.
    lam : float
        Interpolation strength :math:`\lambda > 0`.

    Returns
    -------
    Tensor
        ``solver(w)``, with the interpolation gradient attached.

    References
    ----------
    Vlastelica, Paulus, Musil, Martius & Rolínek (2020), *Differentiation of blackbox combinatorial
    solvers*, ICLR.

    Examples
    --------
    >>> import functools, torch
    >>> from nips2019.discrete import argmin_top_k
    >>> w = torch.tensor([3.0, -1.0, 2.0, 0.0], requires_grad=True)
    >>> y = blackbox_solve(w, functools.partial(argmin_top_k, k=2), lam=5.0)
    >>> y
    tensor([0., 1., 0., 1.], grad_fn=<_BlackboxBackward>)
    >>> target = torch.tensor([1.0, 1.0, 0.0, 0.0])
    >>> (y - target).abs().sum().backward()  # Hamming loss to the set {0, 1}
    >>> w.grad  # lower w[0], raise w[3]
    tensor([ 0.2000,  0.0000,  0.0000, -0.2000])
    """
    y = _Blackbox.apply(w, solver, float(lam))
    return y


@validate(**_SOLVE, grad_y=Tensor(dtype="floating"), same=[("w", "grad_y")])
def blackbox_interpolation(w: torch.Tensor, solver, grad_y: torch.Tensor, *,
                           lam: float = 10.0) -> torch.Tensor:
    r"""The interpolation :math:`f_\lambda(w) = [\phi(w + \lambda \nabla L) - \phi(w)] / \lambda`.

    :math:`\phi(w) = \langle w, y(w)\rangle` is the solver's optimal value (summed over the batch);
    ``grad_y`` is the fixed linearisation :math:`\nabla L` of the loss at the current solution. For a
    loss that is linear in :math:`y` (the Hamming loss to a 0/1 target) :math:`f_\lambda` equals
    :math:`L(y(w + \lambda \nabla L)) - \tfrac{1}{\lambda}[\langle w, y(w)\rangle - \langle w, y(w + \lambda
    \nabla L)\rangle]` up to a constant: a continuous function that agrees with the true,
    piecewise-constant loss where the solution does not change and whose gradient is what
    :func:`blackbox_solve` back-propagates. No gradient is attached (evaluate it along a line to
    plot it). See the chapter :doc:`/book/discrete`.

    Parameters
    ----------
    w : Tensor
    solver : callable
    grad_y : Tensor, shape of ``w``
    lam : float

    Returns
    -------
    Tensor, scalar

    Examples
    --------
    >>> import functools, torch
    >>> from nips2019.discrete import argmin_top_k
    >>> top1 = functools.partial(argmin_top_k, k=1)
    >>> w, g = torch.tensor([0.0, 1.0]), torch.tensor([1.0, -1.0])
    >>> blackbox_interpolation(w, top1, g, lam=0.4)  # solution unchanged: <g, y(w)>
    tensor(1.)
    >>> blackbox_interpolation(w, top1, g, lam=2.0)  # past the switch point
    tensor(-0.5000)
    """
    if grad_y.shape != w.shape:
        raise ValueError(f"blackbox_interpolation: grad_y must have w's shape {tuple(w.shape)}, "
                         f"got {tuple(grad_y.shape)}")
    with torch.no_grad():
        w_lam = w + lam * grad_y
        phi = (w * _call(solver, w, "blackbox_interpolation")).sum()
        phi_lam = (w_lam * _call(solver, w_lam, "blackbox_interpolation")).sum()
    return (phi_lam - phi) / lam
