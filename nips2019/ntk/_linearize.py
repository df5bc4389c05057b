"""The linearised network and a plain full-batch gradient-descent loop for MSE."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
import copy

from torch.func import functional_call, jvp, stack_module_state, vmap

from nips2019.utils import check_positive, check_tensor


def _safe(name: str) -> str:
    return name.replace(".", "__")


class LinearizedModel(nn.Module):
    """First-order Taylor expansion of a network around its current parameters.

    See the chapter *Neural tangent kernel*.

    .. math::

        f^{lin}(x; \\theta) = f(x; \\theta_0) + J(x; \\theta_0)\\,(\\theta - \\theta_0),
        \\qquad J = \\partial f / \\partial \\theta .

    The forward pass is one ``torch.func.jvp`` (no Jacobian is formed). The
    trainable parameters start at :math:`\\theta_0` and can be trained with any
    ``torch.optim`` optimiser; the gradient is :math:`J(\\theta_0)^\\top \\nabla_f L`,
    so training is linear in function space with the *initial* empirical NTK.

    Parameters
    ----------
    model : torch.nn.Module
        The network; it is not modified (its parameters are copied).

    References
    ----------
    lee2019wide.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    >>> lin = LinearizedModel(net)
    >>> x = torch.randn(4, 3)
    >>> bool(torch.allclose(lin(x), net(x)))   # equal at initialisation
    True
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self._base = [model]  # hidden from .parameters() and .to(): parameters are swapped in functionally
        self._names = [k for k, v in model.named_parameters() if v.requires_grad]
        if not self._names:
            raise ValueError("model has no trainable parameters")
        params = dict(model.named_parameters())
        for k in self._names:
            self.register_buffer("theta0__" + _safe(k), params[k].detach().clone())
            setattr(self, "theta__" + _safe(k), nn.Parameter(params[k].detach().clone()))
        for k, b in model.named_buffers():
            self.register_buffer("buf__" + _safe(k), b.detach().clone())
        self._buf_names = [k for k, _ in model.named_buffers()]

    def params0(self) -> dict:
        """The expansion point :math:`\\theta_0` (name -> tensor)."""
        return {k: getattr(self, "theta0__" + _safe(k)) for k in self._names}

    def params(self) -> dict:
        """The current parameters :math:`\\theta` (name -> tensor)."""
        return {k: getattr(self, "theta__" + _safe(k)) for k in self._names}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = self._base[0]
        buffers = {k: getattr(self, "buf__" + _safe(k)) for k in self._buf_names}
        p0, p = self.params0(), self.params()
        delta = {k: p[k] - p0[k] for k in self._names}
        out, tangent = jvp(lambda q: functional_call(base, (q, buffers), (x,)), (p0,), (delta,))
        return out + tangent


class TrainResult(NamedTuple):
    """Result of :func:`train_mse`.

    Attributes
    ----------
    losses : Tensor, shape (steps + 1,)
        :math:`\\tfrac12\\lVert f(X) - Y\\rVert^2` before each step and at the end (``inf`` after divergence).
    train : Tensor, shape (n, out)
        Final outputs on the training inputs.
    test : Tensor or None, shape (m, out)
        Final outputs on ``x_test``.
    """

    losses: torch.Tensor
    train: torch.Tensor
    test: torch.Tensor | None



def _check_training_inputs(x, y, lr, steps) -> None:
    """Shared validation of the MSE training loops' inputs."""
    check_tensor(x, "x", floating=True)
    check_tensor(y, "y", ndim=2, floating=True)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have {x.shape[0]} rows like x, got shape {tuple(y.shape)}")
    check_positive(lr, "lr")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")

def train_mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int,
              x_test: torch.Tensor | None = None, max_loss: float = 1e12) -> TrainResult:
    """Full-batch gradient descent on the summed squared loss :math:`\\tfrac12 \\lVert f(X) - Y \\rVert^2`.

    See the chapter *Neural tangent kernel*.

    The *sum* convention matches :func:`gradient_descent_mse`: one step is
    :math:`\\theta \\leftarrow \\theta - \\eta\\, J^\\top (f(X) - Y)`, and in function
    space :math:`f \\leftarrow f - \\eta \\hat\\Theta (f - Y)` to first order. The
    model is trained in place (plain ``torch.optim.SGD``). Training stops early
    if the loss exceeds ``max_loss`` or stops being finite; the remaining
    losses are then ``inf``.

    Parameters
    ----------
    model : torch.nn.Module
        A network or a :class:`LinearizedModel`.
    x : Tensor, shape (n, ...)
    y : Tensor, shape (n, out)
    lr : float
    steps : int
    x_test : Tensor, shape (m, ...), optional
    max_loss : float
        Divergence threshold.

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(2, 1, bias=False)
    >>> x, y = torch.eye(2), torch.ones(2, 1)
    >>> res = train_mse(net, x, y, lr=0.5, steps=50)
    >>> bool(res.losses[-1] < 1e-10)
    True
    """
    _check_training_inputs(x, y, lr, steps)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr)
    losses = torch.full((steps + 1,), math.inf, dtype=torch.float64)
    for step in range(steps + 1):
        opt.zero_grad()
        out = model(x)
        loss = 0.5 * (out - y).pow(2).sum()
        value = loss.item()
        if not math.isfinite(value) or value > max_loss:
            break
        losses[step] = value
        if step == steps:
            break
        loss.backward()
        opt.step()
    with torch.no_grad():
        train = model(x)
        test = None if x_test is None else model(x_test)
    return TrainResult(losses, train, test)


def train_ensemble_mse(models: "list[nn.Module]", x: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int,
                       x_test: torch.Tensor | None = None) -> TrainResult:
    """Train many copies of one architecture at once by full-batch gradient descent (vectorised).

    See the chapter *Neural tangent kernel*.

    Same loss and update as :func:`train_mse`,
    :math:`\\theta_m \\leftarrow \\theta_m - \\eta \\nabla \\tfrac12 \\lVert f_m(X) - Y \\rVert^2`
    for every member :math:`m`, but all members share one batched computation
    (``torch.func.stack_module_state``, a ``vmap``-ed forward pass and one backward
    pass of the summed loss): an ensemble of small
    networks trains about as fast as one. The trained parameters are written
    back into ``models``.

    Parameters
    ----------
    models : list of torch.nn.Module
        Networks with identical structure (e.g. :func:`mlp` with different generators).
    x : Tensor, shape (n, ...)
    y : Tensor, shape (n, out)
    lr : float
    steps : int
    x_test : Tensor, shape (m, ...), optional

    Returns
    -------
    TrainResult
        ``losses`` of shape ``(M, steps + 1)``, ``train`` ``(M, n, out)``, ``test`` ``(M, m, out)``.

    Examples
    --------
    >>> import torch
    >>> nets = [torch.nn.Linear(2, 1, bias=False) for _ in range(3)]
    >>> res = train_ensemble_mse(nets, torch.eye(2), torch.ones(2, 1), lr=0.5, steps=50)
    >>> res.losses.shape, bool(res.losses[:, -1].max() < 1e-10)
    (torch.Size([3, 51]), True)
    """
    if not isinstance(models, (list, tuple)) or not models or not all(isinstance(m, nn.Module)
                                                                       for m in models):
        raise TypeError("models must be a non-empty list of torch.nn.Module")
    _check_training_inputs(x, y, lr, steps)
    params, buffers = stack_module_state(list(models))
    params = {k: v.detach() for k, v in params.items()}
    base = copy.deepcopy(models[0]).to("meta")

    apply = vmap(lambda p, b, inputs: functional_call(base, (p, b), (inputs,)), in_dims=(0, 0, None))
    # The members' losses are separable, so the gradient of their sum w.r.t. the stacked parameters
    # holds every member's own gradient: one ordinary backward pass instead of vmap(grad).
    losses = torch.empty(len(models), steps + 1, dtype=torch.float64)
    for step in range(steps + 1):
        leaves = {k: v.requires_grad_(True) for k, v in params.items()}
        per_member = 0.5 * (apply(leaves, buffers, x) - y).pow(2).flatten(1).sum(1)
        losses[:, step] = per_member.detach().to(torch.float64).cpu()
        if step == steps:
            break
        grads = torch.autograd.grad(per_member.sum(), list(leaves.values()))
        with torch.no_grad():
            params = {k: v - lr * g for (k, v), g in zip(leaves.items(), grads)}
    with torch.no_grad():
        train = apply(params, buffers, x)
        test = None if x_test is None else apply(params, buffers, x_test)
        for i, m in enumerate(models):
            for k, p in m.named_parameters():
                if k in params:
                    p.copy_(params[k][i])
    return TrainResult(losses, train, test)
