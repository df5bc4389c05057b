"""The linearised network and a plain full-batch gradient-descent loop for MSE."""

from __future__ import annotations

import copy
import dataclasses

import torch
from torch import nn
from torch.func import functional_call, jvp, stack_module_state, vmap

from nips2019.utils import Bool, Integer, Items, Module, Real, Tensor, progress as progress_bar, validate

from ._mlp import FORWARD_INPUT


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

    @validate(model=Module())
    def __init__(self, model: nn.Module):
        super().__init__()
        self._base = [model]  # hidden from .parameters() and .to(): parameters are swapped in functionally
        self._names = [k for k, v in model.named_parameters() if v.requires_grad]
        if not self._names:
            raise ValueError("LinearizedModel: model has no trainable parameters")
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

    @validate(x=FORWARD_INPUT, same=[("self", "x")])
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = self._base[0]
        buffers = {k: getattr(self, "buf__" + _safe(k)) for k in self._buf_names}
        p0, p = self.params0(), self.params()
        delta = {k: p[k] - p0[k] for k in self._names}
        out, tangent = jvp(lambda q: functional_call(base, (q, buffers), (x,)), (p0,), (delta,))
        return out + tangent


@dataclasses.dataclass
class MSETrainResult:
    """Result of :func:`train_mse` and :func:`train_ensemble_mse`.

    Attributes
    ----------
    losses : Tensor, shape (n_steps + 1,) or (M, n_steps + 1)
        :math:`\\tfrac12\\lVert f(X) - Y\\rVert^2` before each step and at the end, in float64 on
        the inputs' device. After divergence (a loss above ``max_loss`` or not finite)
        the remaining entries are ``inf`` and the parameters stay where they were.
    train : Tensor, shape (n, out) or (M, n, out)
        Final outputs on the training inputs.
    test : Tensor or None, shape (m, out) or (M, m, out)
        Final outputs on ``x_test``.
    """

    losses: torch.Tensor
    train: torch.Tensor
    test: torch.Tensor | None


#: Steps between two checks whether every run has diverged (the only host syncs of the loops).
_CHECK_EVERY = 64


def _check_training_inputs(func, x, y, x_test) -> None:
    """Cross-argument checks of the MSE training loops (the types are declared)."""
    if x.dim() < 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"{func}: y must have one row per example of x, got y of shape {tuple(y.shape)} and x of "
                         f"shape {tuple(x.shape)}")
    if x_test is not None and (x_test.dim() != x.dim() or x_test.shape[1:] != x.shape[1:]):
        raise ValueError(f"{func}: x_test must have the per-example shape of x, {tuple(x.shape[1:])}, got shape "
                         f"{tuple(x_test.shape)}")


def _check_outputs(func, out, y, what="model"):
    if out.shape != y.shape:
        raise ValueError(f"{func}: the outputs of {what} on x have shape {tuple(out.shape)} but y has shape "
                         f"{tuple(y.shape)}")


_TRAIN_DECL = dict(
    x=Tensor(dtype="floating"),
    y=Tensor(shape=(None, None), dtype="floating"),
    lr=Real(low=0, closed="neither"),
    n_steps=Integer(low=0),
    x_test=Tensor(dtype="floating", optional=True),
    progress=Bool(optional=True),
)


@validate(model=Module(), max_loss=Real(low=0, closed="neither", finite=False),
          same=[("model", "x", "y", "x_test")], **_TRAIN_DECL)
def train_mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, lr: float, n_steps: int,
              x_test: torch.Tensor | None = None, max_loss: float = 1e12, progress: bool | None = None
              ) -> MSETrainResult:
    """Full-batch gradient descent on the summed squared loss :math:`\\tfrac12 \\lVert f(X) - Y \\rVert^2`.

    See the chapter *Neural tangent kernel*.

    The *sum* convention matches :func:`gradient_descent_mse`: one step is
    :math:`\\theta \\leftarrow \\theta - \\eta\\, J^\\top (f(X) - Y)`, and in function
    space :math:`f \\leftarrow f - \\eta \\hat\\Theta (f - Y)` to first order. The
    model is trained in place (plain gradient descent, as ``torch.optim.SGD``). Once
    the loss exceeds ``max_loss`` or stops being finite the parameters stop moving
    and the remaining losses are ``inf``. The loop never waits for the device
    except every 64 steps, to stop early once training has diverged.

    Parameters
    ----------
    model : torch.nn.Module
        A network or a :class:`LinearizedModel`, with the device and dtype of ``x``.
    x : Tensor, shape (n, ...)
    y : Tensor, shape (n, out)
        Targets, of the shape of ``model(x)``.
    lr : float
        Learning rate, > 0.
    n_steps : int
        Number of gradient steps.
    x_test : Tensor, shape (m, ...), optional
    max_loss : float
        Divergence threshold.
    progress : bool, optional
        Show a progress bar (default: only in interactive sessions).

    Returns
    -------
    MSETrainResult

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(2, 1, bias=False)
    >>> x, y = torch.eye(2), torch.ones(2, 1)
    >>> res = train_mse(net, x, y, lr=0.5, n_steps=50)
    >>> bool(res.losses[-1] < 1e-10)
    True
    """
    func = "train_mse"
    _check_training_inputs(func, x, y, x_test)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{func}: model has no trainable parameters")
    losses = torch.full((n_steps + 1,), torch.inf, dtype=torch.float64, device=x.device)
    alive = torch.ones((), dtype=torch.bool, device=x.device)
    for step in progress_bar(range(n_steps + 1), desc=func, disable=None if progress is None else not progress):
        out = model(x)
        if step == 0:
            _check_outputs(func, out, y)
        loss = 0.5 * (out - y).pow(2).sum()
        value = loss.detach().to(torch.float64)
        alive = alive & torch.isfinite(value) & (value <= max_loss)
        losses[step] = torch.where(alive, value, torch.inf)
        if step == n_steps:
            continue  # the last loss is measured, no step follows (the bar still completes)
        if step % _CHECK_EVERY == _CHECK_EVERY - 1 and not bool(alive):
            break
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        with torch.no_grad():
            for p, g in zip(params, grads):
                if g is not None:
                    p.copy_(torch.where(alive, p.add(g, alpha=-lr), p))  # the SGD update
    with torch.no_grad():
        train = model(x)
        test = None if x_test is None else model(x_test)
    return MSETrainResult(losses=losses, train=train, test=test)


@validate(models=Items(Module(), min_length=1), max_loss=Real(low=0, closed="neither", finite=False),
          same=[("x", "y", "x_test")], **_TRAIN_DECL)
def train_ensemble_mse(models: "list[nn.Module]", x: torch.Tensor, y: torch.Tensor, *, lr: float, n_steps: int,
                       x_test: torch.Tensor | None = None, max_loss: float = 1e12, progress: bool | None = None
                       ) -> MSETrainResult:
    """Train many copies of one architecture at once by full-batch gradient descent (vectorised).

    See the chapter *Neural tangent kernel*.

    Same loss, update and divergence rule as :func:`train_mse`,
    :math:`\\theta_m \\leftarrow \\theta_m - \\eta \\nabla \\tfrac12 \\lVert f_m(X) - Y \\rVert^2`
    for every member :math:`m`, but all members share one batched computation
    (``torch.func.stack_module_state``, a ``vmap``-ed forward pass and one backward
    pass of the summed loss): an ensemble of small
    networks trains about as fast as one. The trained parameters are written
    back into ``models``.

    Parameters
    ----------
    models : list of torch.nn.Module
        Networks with identical structure (e.g. :func:`mlp` with different generators),
        with the device and dtype of ``x``.
    x : Tensor, shape (n, ...)
    y : Tensor, shape (n, out)
    lr : float
    n_steps : int
    x_test : Tensor, shape (m, ...), optional
    max_loss : float
        Divergence threshold, per member.
    progress : bool, optional
        Show a progress bar (default: only in interactive sessions).

    Returns
    -------
    MSETrainResult
        ``losses`` of shape ``(M, n_steps + 1)``, ``train`` ``(M, n, out)``, ``test`` ``(M, m, out)``.

    Examples
    --------
    >>> import torch
    >>> nets = [torch.nn.Linear(2, 1, bias=False) for _ in range(3)]
    >>> res = train_ensemble_mse(nets, torch.eye(2), torch.ones(2, 1), lr=0.5, n_steps=50)
    >>> res.losses.shape, bool(res.losses[:, -1].max() < 1e-10)
    (torch.Size([3, 51]), True)
    """
    func = "train_ensemble_mse"
    _check_training_inputs(func, x, y, x_test)
    for i, m in enumerate(models):
        p = next((q for q in m.parameters() if q.is_floating_point()), None)
        if p is not None and (p.device != x.device or p.dtype != x.dtype):
            raise TypeError(f"{func}: models[{i}] is {p.dtype} on {p.device} but x is {x.dtype} on {x.device}; "
                            "convert one explicitly (nothing is converted silently)")
    try:
        params, buffers = stack_module_state(list(models))
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"{func}: models must share one structure (parameter names and shapes): {exc}") from exc
    params = {k: v.detach() for k, v in params.items()}
    if not params:
        raise ValueError(f"{func}: models have no trainable parameters")
    base = copy.deepcopy(models[0]).to("meta")

    apply = vmap(lambda p, b, inputs: functional_call(base, (p, b), (inputs,)), in_dims=(0, 0, None))
    # The members' losses are separable, so the gradient of their sum w.r.t. the stacked parameters
    # holds every member's own gradient: one ordinary backward pass instead of vmap(grad).
    n_models = len(models)
    losses = torch.full((n_models, n_steps + 1), torch.inf, dtype=torch.float64, device=x.device)
    alive = torch.ones(n_models, dtype=torch.bool, device=x.device)
    for step in progress_bar(range(n_steps + 1), desc=func, disable=None if progress is None else not progress):
        leaves = {k: v.requires_grad_(True) for k, v in params.items()}
        outs = apply(leaves, buffers, x)
        if step == 0:
            _check_outputs(func, outs[0], y, "models")
        per_member = 0.5 * (outs - y).pow(2).flatten(1).sum(1)
        value = per_member.detach().to(torch.float64)
        alive = alive & torch.isfinite(value) & (value <= max_loss)
        losses[:, step] = torch.where(alive, value, torch.inf)
        if step == n_steps:
            continue  # the last loss is measured, no step follows
        if step % _CHECK_EVERY == _CHECK_EVERY - 1 and not bool(alive.any()):
            break
        grads = torch.autograd.grad(per_member.sum(), list(leaves.values()))
        with torch.no_grad():
            params = {}
            for (k, v), g in zip(leaves.items(), grads):
                keep = alive.view(-1, *([1] * (v.dim() - 1)))
                params[k] = torch.where(keep, v - lr * g, v)
    params = {k: v.detach() for k, v in params.items()}
    with torch.no_grad():
        train = apply(params, buffers, x)
        test = None if x_test is None else apply(params, buffers, x_test)
        for i, m in enumerate(models):
            for k, p in m.named_parameters():
                if k in params:
                    p.copy_(params[k][i])
    return MSETrainResult(losses=losses, train=train, test=test)
