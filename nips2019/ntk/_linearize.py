"""The linearised network and full-batch gradient-descent and natural-gradient loops for MSE."""

from __future__ import annotations

import copy
import dataclasses

import torch
from torch import nn
from torch.func import jvp, stack_module_state, vmap

from nips2019.utils import Bool, Integer, Items, Module, Real, Tensor, progress as progress_bar, validate

from ._dynamics import _psd_solve
from ._empirical import _flat_fn, _jacobian, call
from ._mlp import FORWARD_INPUT


def _safe(name: str) -> str:
    return name.replace(".", "__")


class LinearizedModel(nn.Module):
    """First-order Taylor expansion of a network around its current parameters.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

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
        out, tangent = jvp(lambda q: call(base, q, buffers, x), (p0,), (delta,))
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
    outputs : Tensor or None, shape (n_steps + 1, n, out)
        Outputs on the training inputs before each step and at the end (the
        trajectory :math:`f_t(X)`): always from :func:`train_natural_gradient_mse`,
        from :func:`train_mse` with ``record_outputs=True``, else ``None``. After
        divergence the parameters stop moving, so the outputs stop changing.
    """

    losses: torch.Tensor
    train: torch.Tensor
    test: torch.Tensor | None
    outputs: torch.Tensor | None = None


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


@validate(model=Module(), max_loss=Real(low=0, closed="neither", finite=False), record_outputs=Bool(),
          same=[("model", "x", "y", "x_test")], **_TRAIN_DECL)
def train_mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, lr: float, n_steps: int,
              x_test: torch.Tensor | None = None, max_loss: float = 1e12, record_outputs: bool = False,
              progress: bool | None = None) -> MSETrainResult:
    """Full-batch gradient descent on the summed squared loss :math:`\\tfrac12 \\lVert f(X) - Y \\rVert^2`.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

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
    record_outputs : bool
        Also return the trajectory of training outputs, ``(n_steps + 1, n, out)``
        (memory ``n_steps * n * out``; stays on the device).
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
    outputs = None
    for step in progress_bar(range(n_steps + 1), desc=func, disable=None if progress is None else not progress):
        out = model(x)
        if step == 0:
            _check_outputs(func, out, y)
            if record_outputs:
                outputs = out.detach().expand(n_steps + 1, *out.shape).clone()
        elif record_outputs:
            outputs[step] = out.detach()
        loss = 0.5 * (out - y).pow(2).sum()
        value = loss.detach().to(torch.float64)
        alive = alive & torch.isfinite(value) & (value <= max_loss)
        losses[step] = torch.where(alive, value, torch.inf)
        if step == n_steps:
            continue  # the last loss is measured, no step follows (the bar still completes)
        if step % _CHECK_EVERY == _CHECK_EVERY - 1 and not bool(alive):
            if record_outputs:
                outputs[step + 1 :] = out.detach()  # frozen parameters: the outputs stay
            break
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        with torch.no_grad():
            for p, g in zip(params, grads):
                if g is not None:
                    p.copy_(torch.where(alive, p.add(g, alpha=-lr), p))  # the SGD update
    with torch.no_grad():
        train = model(x)
        test = None if x_test is None else model(x_test)
    return MSETrainResult(losses=losses, train=train, test=test, outputs=outputs)


@validate(models=Items(Module(), min_length=1), max_loss=Real(low=0, closed="neither", finite=False),
          same=[("x", "y", "x_test")], **_TRAIN_DECL)
def train_ensemble_mse(models: "list[nn.Module]", x: torch.Tensor, y: torch.Tensor, *, lr: float, n_steps: int,
                       x_test: torch.Tensor | None = None, max_loss: float = 1e12, progress: bool | None = None
                       ) -> MSETrainResult:
    """Train many copies of one architecture at once by full-batch gradient descent (vectorised).

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

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

    apply = vmap(lambda p, b, inputs: call(base, p, b, inputs), in_dims=(0, 0, None))
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


def _gauss_newton_solve(k: torch.Tensor, r: torch.Tensor, damping: float) -> torch.Tensor:
    """:math:`(K + \\rho I)^{-1} r` for a PSD ``k``; the pseudo-inverse when ``damping == 0``."""
    if damping > 0:
        eye = torch.eye(k.shape[0], dtype=k.dtype, device=k.device)
        return torch.linalg.solve_ex(k + damping * eye, r[:, None])[0][:, 0]
    lam, v = torch.linalg.eigh(k)
    return _psd_solve(lam, v, r[:, None])[:, 0]


@validate(model=Module(), damping=Real(low=0), max_loss=Real(low=0, closed="neither", finite=False),
          batch_size=Integer(low=1), same=[("model", "x", "y", "x_test")], **_TRAIN_DECL)
def train_natural_gradient_mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, lr: float, n_steps: int,
                               damping: float = 0.0, x_test: torch.Tensor | None = None, max_loss: float = 1e12,
                               batch_size: int = 64, progress: bool | None = None) -> MSETrainResult:
    """Full-batch natural-gradient descent (Gauss-Newton) on the summed squared loss, in parameter space.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    With the Jacobian :math:`J = \\partial f(X) / \\partial \\theta` of shape
    :math:`(n \\cdot out, P)` recomputed at every step and the residual
    :math:`r = f(X) - Y`, one step preconditions the gradient :math:`J^\\top r` by
    the damped Gauss-Newton (Fisher) matrix :math:`F = J^\\top J + \\rho I`:

    .. math::

        \\theta \\leftarrow \\theta - \\eta\\, F^{-1} J^\\top r
        = \\theta - \\eta\\, J^\\top \\big(J J^\\top + \\rho I\\big)^{-1} r ,

    an :math:`(n \\cdot out) \\times (n \\cdot out)` solve with the empirical NTK
    :math:`\\hat\\Theta = J J^\\top` instead of a :math:`P \\times P` one (``damping=0``
    uses the pseudo-inverse of :math:`\\hat\\Theta`). To first order the outputs move
    as :math:`f \\leftarrow f - \\eta\\, \\hat\\Theta (\\hat\\Theta + \\rho I)^{-1} r`:
    every eigen-direction of the residual shrinks by the same factor
    :math:`1 - \\eta` (for :math:`\\rho \\ll \\lambda_i`). For a
    :class:`LinearizedModel` this is exact and the trajectory is the closed form
    :func:`natural_gradient_mse` with ``discrete=True``.

    The model is trained in place. Divergence is handled as in :func:`train_mse`
    (a loss above ``max_loss`` or not finite freezes the parameters; the remaining
    losses are ``inf``). Each step costs one Jacobian, ``n * out * P`` numbers:
    this is for small data sets and the few steps natural gradient needs.

    Parameters
    ----------
    model : torch.nn.Module
        A network or a :class:`LinearizedModel`, with the device and dtype of ``x``.
    x : Tensor, shape (n, ...)
    y : Tensor, shape (n, out)
        Targets, of the shape of ``model(x)``.
    lr : float
        Learning rate :math:`\\eta > 0` (``1`` jumps to the linearised solution).
    n_steps : int
        Number of natural-gradient steps.
    damping : float
        :math:`\\rho \\ge 0`, in the units of the NTK; in float32 a small positive
        value (e.g. ``1e-6`` times its largest eigenvalue) keeps the solve stable.
    x_test : Tensor, shape (m, ...), optional
    max_loss : float
        Divergence threshold.
    batch_size : int
        Examples per ``vmap`` call of the Jacobian (as :func:`flat_jacobian`).
    progress : bool, optional
        Show a progress bar (default: only in interactive sessions).

    Returns
    -------
    MSETrainResult
        ``losses`` (n_steps + 1,), ``train`` and ``test`` at the end, and the
        trajectory ``outputs`` of shape (n_steps + 1, n, out).

    References
    ----------
    rudner2019natural.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 1, bias=False).double()   # linear: one step with lr = 1 interpolates
    >>> x, y = torch.eye(3, dtype=torch.float64)[:2], torch.ones(2, 1, dtype=torch.float64)
    >>> res = train_natural_gradient_mse(net, x, y, lr=1.0, n_steps=1)
    >>> res.outputs.shape, bool(res.losses[-1] < 1e-20)
    (torch.Size([2, 2, 1]), True)
    """
    func = "train_natural_gradient_mse"
    _check_training_inputs(func, x, y, x_test)
    named = [(k, p) for k, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError(f"{func}: model has no trainable parameters")
    buffers = dict(model.named_buffers())
    f = _flat_fn(model, buffers)
    damping, bs = float(damping), int(batch_size)
    losses = torch.full((n_steps + 1,), torch.inf, dtype=torch.float64, device=x.device)
    alive = torch.ones((), dtype=torch.bool, device=x.device)
    outputs = None
    for step in progress_bar(range(n_steps + 1), desc=func, disable=None if progress is None else not progress):
        with torch.no_grad():
            out = model(x)
        if step == 0:
            _check_outputs(func, out, y)
            outputs = out.expand(n_steps + 1, *out.shape).clone()
        else:
            outputs[step] = out
        r = (out - y).reshape(-1)
        value = 0.5 * r.to(torch.float64).pow(2).sum()
        alive = alive & torch.isfinite(value) & (value <= max_loss)
        losses[step] = torch.where(alive, value, torch.inf)
        if step == n_steps:
            continue
        if step % _CHECK_EVERY == _CHECK_EVERY - 1 and not bool(alive):
            outputs[step + 1 :] = out
            break
        params = {k: p.detach() for k, p in named}
        jac = torch.cat([
            torch.cat([blk[k] for k in params], -1) for blk in
            (_jacobian(f, params, x[s : s + bs]) for s in range(0, x.shape[0], bs))
        ], 0).reshape(r.shape[0], -1)  # (n * out, P), rows in the order of r
        eye = torch.eye(r.shape[0], dtype=jac.dtype, device=jac.device)
        k = torch.where(alive, jac @ jac.T, eye)  # a diverged run never reaches the solver with inf
        direction = jac.T @ _gauss_newton_solve(k, torch.where(alive, r, torch.zeros_like(r)), damping)
        ok = alive & torch.isfinite(direction).all()
        with torch.no_grad():
            start = 0
            for _, p in named:
                d = direction[start : start + p.numel()].view_as(p)
                start += p.numel()
                p.copy_(torch.where(ok, p - lr * d, p))
    with torch.no_grad():
        train = model(x)
        test = None if x_test is None else model(x_test)
    return MSETrainResult(losses=losses, train=train, test=test, outputs=outputs)
