"""Inner-loop adaptation and the meta-objectives of WarpGrad and MAML."""

from __future__ import annotations

import dataclasses
import time

import torch

from ..utils import Bool, Generator, Integer, Module, Options, Real, Tensor, as_generator, randint, validate
from ..utils import progress as _progress_bar
from ._model import WarpedMLP

_TASKS = dict(
    x_support=Tensor(shape=("t", "n", "d"), dtype="floating"),
    y_support=Tensor(shape=("t", "n", "o"), dtype="floating"),
    x_query=Tensor(shape=("t", "m", "d"), dtype="floating"),
    y_query=Tensor(shape=("t", "m", "o"), dtype="floating"),
)
_SAME = [("model", "x_support", "y_support", "x_query", "y_query")]


def _check_model(func: str, model, x, y):
    if not isinstance(model, WarpedMLP):
        raise TypeError(f"{func}: model must be a WarpedMLP, got {type(model).__name__}")
    if x.shape[-1] != model.sizes[0] or y.shape[-1] != model.sizes[-1]:
        raise ValueError(f"{func}: the model maps {model.sizes[0]} features to {model.sizes[-1]} outputs, "
                         f"got x_support with {x.shape[-1]} features and y_support with {y.shape[-1]} outputs")


def _losses(model: WarpedMLP, x, y, task) -> torch.Tensor:
    """Per-task loss 0.5 * mean over samples of the squared error, shape (n_tasks,)."""
    return 0.5 * (model._forward(x, task) - y).pow(2).sum(-1).mean(-1)


def _step(model, x, y, task, lr, create_graph):
    loss = _losses(model, x, y, task)
    grads = torch.autograd.grad(loss.sum(), task, create_graph=create_graph)
    return [t - lr * g for t, g in zip(task, grads)], loss


@dataclasses.dataclass
class AdaptResult:
    """The result of :func:`adapt`: ``n_steps`` of gradient descent on each task's support set.

    Attributes
    ----------
    task : list of Tensor
        Final task parameters, each with a leading task dimension.
    support_loss : Tensor, shape (n_steps + 1, n_tasks)
        Support-set loss before each step and after the last.
    query_loss : Tensor, shape (n_steps + 1, n_tasks) or None
        Query-set loss at the same parameters (when a query set was given).
    trajectory : list of list of Tensor
        The task parameters before each step (``n_steps`` entries, detached), the points
        WarpGrad's meta-objective samples from.
    """

    task: list
    support_loss: torch.Tensor
    query_loss: torch.Tensor | None
    trajectory: list


@validate(model=Module(), x_support=_TASKS["x_support"], y_support=_TASKS["y_support"],
          x_query=Tensor(shape=("t", "m", "d"), dtype="floating", optional=True),
          y_query=Tensor(shape=("t", "m", "o"), dtype="floating", optional=True),
          n_steps=Integer(low=0), lr=Real(low=0, closed="neither"), create_graph=Bool(), same=_SAME)
def adapt(model: WarpedMLP, x_support: torch.Tensor, y_support: torch.Tensor,
          x_query: torch.Tensor | None = None, y_query: torch.Tensor | None = None, *,
          n_steps: int = 5, lr: float = 0.1, create_graph: bool = False) -> AdaptResult:
    r"""Adapt the task parameters to each task by plain gradient descent, warps held fixed.

    From :math:`\theta_0` = the model's initialisation (:meth:`WarpedMLP.task_init`),

    .. math::

        \theta_{k+1} = \theta_k - \alpha\, \nabla_\theta L^{\mathrm{s}}(\theta_k; \phi), \qquad
        L^{\mathrm{s}}(\theta; \phi) = \frac{1}{2n} \sum_{j=1}^{n} \lVert f(x_j; \theta, \phi) - y_j \rVert^2,

    for every task at once (each task's gradient is its own). The warps :math:`\phi` shape the
    gradient but are not updated.

    Parameters
    ----------
    model : WarpedMLP
    x_support : Tensor, shape (n_tasks, n, d)
    y_support : Tensor, shape (n_tasks, n, o)
    x_query, y_query : Tensor, shapes (n_tasks, m, d) and (n_tasks, m, o), optional
        Held-out samples of the same tasks; their loss is recorded along the way.
    n_steps : int
        Gradient steps :math:`k`.
    lr : float
        Step size :math:`\alpha`.
    create_graph : bool
        Keep the graph of every step (MAML's differentiable inner loop); otherwise the
        result is detached.

    Returns
    -------
    AdaptResult

    Notes
    -----
    See the chapter :doc:`Meta-learned preconditioning </book/metalearning>`.

    Examples
    --------
    >>> from nips2019.warpgrad import WarpedMLP, make_linear_tasks
    >>> tasks = make_linear_tasks(4, 20, 20, 3, generator=0)
    >>> net = WarpedMLP([3, 1], bias=False, init_scale=0.0)
    >>> res = adapt(net, tasks.x_support, tasks.y_support, n_steps=10, lr=0.5)
    >>> bool((res.support_loss[-1] < res.support_loss[0]).all())
    True
    """
    _check_model("adapt", model, x_support, y_support)
    if (x_query is None) != (y_query is None):
        raise ValueError("adapt: give both x_query and y_query, or neither")
    task = model.task_init(x_support.shape[0])
    if not create_graph:
        task = [t.detach().clone().requires_grad_() for t in task]
    s_loss, q_loss, traj = [], [], []
    with torch.enable_grad():
        for _ in range(n_steps):
            traj.append([t.detach() for t in task])
            if x_query is not None:
                q_loss.append(_losses(model, x_query, y_query, task).detach())
            task, loss = _step(model, x_support, y_support, task, lr, create_graph)
            s_loss.append(loss.detach())
            if not create_graph:
                task = [t.detach().requires_grad_() for t in task]
        s_loss.append(_losses(model, x_support, y_support, task).detach())
        if x_query is not None:
            q_loss.append(_losses(model, x_query, y_query, task).detach())
    if not create_graph:
        task = [t.detach() for t in task]
    support_loss = torch.stack(s_loss)
    if not bool(torch.isfinite(support_loss).all()):
        raise FloatingPointError("adapt: the loss became non-finite; lower lr")
    return AdaptResult(task=task, support_loss=support_loss,
                       query_loss=torch.stack(q_loss) if x_query is not None else None, trajectory=traj)


def _warpgrad_loss(model, xs, ys, xq, yq, n_steps, lr, n_points, g):
    task = [t.detach().clone().requires_grad_() for t in model.task_init(xs.shape[0])]
    points = []
    for _ in range(n_steps):  # the trajectory: no graph through the warps is kept
        points.append(task)
        task, _ = _step(model, xs, ys, task, lr, create_graph=False)
        task = [t.detach().requires_grad_() for t in task]
    if n_points is not None and n_points < n_steps:
        points = [points[int(i)] for i in randint(0, n_steps, (n_points,), generator=g)]
    total = 0.0
    for theta in points:  # theta is a constant (stop-gradient); one step is differentiated w.r.t. phi
        nxt, _ = _step(model, xs, ys, theta, lr, create_graph=True)
        total = total + _losses(model, xq, yq, nxt).mean()
    return total / len(points)


@validate(model=Module(), **_TASKS, n_steps=Integer(low=1), lr=Real(low=0, closed="neither"),
          n_points=Integer(low=1, optional=True), generator=Generator(), same=_SAME)
def warpgrad_meta_loss(model: WarpedMLP, x_support: torch.Tensor, y_support: torch.Tensor,
                       x_query: torch.Tensor, y_query: torch.Tensor, *, n_steps: int = 5, lr: float = 0.1,
                       n_points: int | None = None, generator=None) -> torch.Tensor:
    r"""WarpGrad's meta-objective: one-step look-ahead losses at points of the task trajectories.

    Each task adapts for ``n_steps`` steps (:func:`adapt`, no graph kept), giving points
    :math:`\theta_0, \dots, \theta_{k-1}`. At each point, treated as a constant (a stop-gradient),
    one more step is taken and scored on the query set:

    .. math::

        L(\phi) = \frac{1}{|\mathcal T|\,|K|} \sum_{\tau} \sum_{k \in K}
        L^{\mathrm q}_\tau\bigl(\bar\theta_k - \alpha \nabla_\theta L^{\mathrm s}_\tau(\bar\theta_k; \phi);
        \ \phi\bigr), \qquad \bar\theta_k = \operatorname{stop\_gradient}(\theta_k),

    with :math:`K` all points (``n_points=None``) or ``n_points`` drawn uniformly with
    replacement. The gradient w.r.t. the warps :math:`\phi` needs second derivatives through
    **one** step only: its memory is that of ``|K|`` single steps, whatever the trajectory's
    length, where MAML's (:func:`maml_meta_loss`) grows with ``n_steps``. The task
    initialisation gets no gradient from this objective.

    Parameters
    ----------
    model : WarpedMLP
    x_support, y_support : Tensor, shapes (n_tasks, n, d), (n_tasks, n, o)
        Data the task parameters adapt on.
    x_query, y_query : Tensor, shapes (n_tasks, m, d), (n_tasks, m, o)
        Data the look-ahead step is scored on.
    n_steps : int
        Length :math:`k` of each trajectory.
    lr : float
        Inner step size :math:`\alpha`.
    n_points : int, optional
        Trajectory points sampled per call; ``None`` uses every point.
    generator : None, int or torch.Generator
        Sampling of the points (unused when ``n_points`` is None).

    Returns
    -------
    Tensor, scalar
        Differentiable w.r.t. :meth:`WarpedMLP.warp_parameters`.

    Notes
    -----
    This is Flennerhag et al.'s objective with the trajectory regenerated at every call; their
    reference code instead stores the points visited while tasks adapt in a buffer and makes
    several meta-updates from it. See the chapter
    :doc:`Meta-learned preconditioning </book/metalearning>`.

    Examples
    --------
    >>> from nips2019.warpgrad import WarpedMLP, make_linear_tasks
    >>> tasks = make_linear_tasks(4, 20, 20, 3, generator=0)
    >>> net = WarpedMLP([3, 1], bias=False, init_scale=0.0)
    >>> loss = warpgrad_meta_loss(net, tasks.x_support, tasks.y_support, tasks.x_query,
    ...                           tasks.y_query, n_steps=5, lr=0.3)
    >>> loss.backward()
    >>> net.warp_parameters()[0].grad.shape
    torch.Size([3, 3])
    """
    _check_model("warpgrad_meta_loss", model, x_support, y_support)
    with torch.enable_grad():
        return _warpgrad_loss(model, x_support, y_support, x_query, y_query, n_steps, lr, n_points,
                              as_generator(generator))


def _maml_loss(model, xs, ys, xq, yq, n_steps, lr, first_order):
    task = model.task_init(xs.shape[0])
    for _ in range(n_steps):
        loss = _losses(model, xs, ys, task)
        grads = torch.autograd.grad(loss.sum(), task, create_graph=not first_order)
        task = [t - lr * gr for t, gr in zip(task, grads)]
    return _losses(model, xq, yq, task).mean()


@validate(model=Module(), **_TASKS, n_steps=Integer(low=1), lr=Real(low=0, closed="neither"),
          first_order=Bool(), same=_SAME)
def maml_meta_loss(model: WarpedMLP, x_support: torch.Tensor, y_support: torch.Tensor, x_query: torch.Tensor,
                   y_query: torch.Tensor, *, n_steps: int = 5, lr: float = 0.1,
                   first_order: bool = False) -> torch.Tensor:
    r"""MAML's meta-objective: the query loss after ``n_steps`` differentiable inner steps.

    .. math::

        L(\theta_0, \phi) = \frac{1}{|\mathcal T|} \sum_\tau L^{\mathrm q}_\tau\bigl(\theta_k(\theta_0, \phi);
        \phi\bigr), \qquad
        \theta_{j+1} = \theta_j - \alpha \nabla_\theta L^{\mathrm s}_\tau(\theta_j; \phi),

    differentiated through every step (Finn, Abbeel & Levine 2017): the gradient w.r.t. the
    initialisation :math:`\theta_0` carries the product of the :math:`k` matrices
    :math:`I - \alpha \nabla^2 L^{\mathrm s}_\tau(\theta_j)`, and the graph of all :math:`k`
    steps is kept until the backward pass. Differentiating w.r.t. the warps instead learns a
    preconditioner by backpropagating through adaptation, as Meta-SGD, T-nets and MT-nets do.
    ``first_order=True`` drops the second derivatives (first-order MAML).

    Parameters
    ----------
    model : WarpedMLP
    x_support, y_support, x_query, y_query : Tensor
        As in :func:`warpgrad_meta_loss`.
    n_steps : int
        Inner steps :math:`k`.
    lr : float
        Inner step size :math:`\alpha`.
    first_order : bool
        Treat the inner gradients as constants.

    Returns
    -------
    Tensor, scalar
        Differentiable w.r.t. all parameters of ``model``.

    Notes
    -----
    See the chapter :doc:`Meta-learned preconditioning </book/metalearning>`.

    References
    ----------
    C. Finn, P. Abbeel, S. Levine, "Model-agnostic meta-learning for fast adaptation of deep
    networks", ICML 2017.

    Examples
    --------
    >>> from nips2019.warpgrad import WarpedMLP, make_linear_tasks
    >>> tasks = make_linear_tasks(4, 20, 20, 3, generator=0)
    >>> net = WarpedMLP([3, 1], bias=False, init_scale=0.0)
    >>> maml_meta_loss(net, tasks.x_support, tasks.y_support, tasks.x_query, tasks.y_query,
    ...                n_steps=3, lr=0.3).backward()
    >>> net.task_parameters()[0].grad.shape
    torch.Size([1, 3])
    """
    _check_model("maml_meta_loss", model, x_support, y_support)
    with torch.enable_grad():
        return _maml_loss(model, x_support, y_support, x_query, y_query, n_steps, lr, first_order)


@dataclasses.dataclass
class MetaTrainResult:
    """The result of :func:`meta_train`.

    Attributes
    ----------
    model : WarpedMLP
        The model, trained in place.
    method : str
        ``"warpgrad"``, ``"maml"`` or ``"unrolled"``.
    loss_history : Tensor, shape (n_meta_steps,)
        Meta-objective of each meta step (on its batch of tasks).
    cpu_seconds : float
        Process CPU time spent in the loop.
    """

    model: WarpedMLP
    method: str
    loss_history: torch.Tensor
    cpu_seconds: float


@validate(model=Module(), **_TASKS, method=Options("warpgrad", "maml", "unrolled"), n_steps=Integer(low=1),
          lr=Real(low=0, closed="neither"), meta_lr=Real(low=0, closed="neither"), n_meta_steps=Integer(low=1),
          batch_size=Integer(low=1), n_points=Integer(low=1, optional=True),
          schedule=Options("cosine", "constant"), generator=Generator(), progress=Bool(optional=True), same=_SAME)
def meta_train(model: WarpedMLP, x_support: torch.Tensor, y_support: torch.Tensor, x_query: torch.Tensor,
               y_query: torch.Tensor, *, method: str = "warpgrad", n_steps: int = 5, lr: float = 0.1,
               meta_lr: float = 1e-2, n_meta_steps: int = 200, batch_size: int = 16, n_points: int | None = None,
               schedule: str = "cosine", generator=None, progress: bool | None = None) -> MetaTrainResult:
    r"""Meta-train ``model`` on a pool of tasks with Adam on a meta-objective.

    Each meta step draws ``batch_size`` tasks from the pool (uniformly, with replacement) and
    takes one Adam step (of size ``meta_lr``, decayed to zero along a cosine by default, which
    removes most of the minibatch noise from the final warps) on

    - ``"warpgrad"``: :func:`warpgrad_meta_loss` w.r.t. the warps (initialisation fixed);
    - ``"maml"``: :func:`maml_meta_loss` w.r.t. the initialisation (warps fixed; with
      ``warp="none"`` this is plain MAML);
    - ``"unrolled"``: :func:`maml_meta_loss` w.r.t. the warps, i.e. a preconditioner learned by
      backpropagating through the ``n_steps`` inner steps (the approach of Meta-SGD and T-nets
      that WarpGrad avoids).

    Parameters
    ----------
    model : WarpedMLP
        Trained in place.
    x_support, y_support, x_query, y_query : Tensor
        The pool of tasks, as in :func:`warpgrad_meta_loss`.
    method : {"warpgrad", "maml", "unrolled"}
    n_steps : int
        Inner steps.
    lr : float
        Inner step size.
    meta_lr : float
        Adam's (initial) step size.
    n_meta_steps : int
        Meta steps.
    batch_size : int
        Tasks per meta step.
    n_points : int, optional
        Trajectory points per task batch for ``"warpgrad"``.
    schedule : {"cosine", "constant"}
        Meta step size :math:`\eta_t = \eta (1 + \cos(\pi t / T)) / 2` or constant.
    generator : None, int or torch.Generator
        Task batches and trajectory points.
    progress : bool, optional
        Progress bar; ``None``: only in interactive sessions.

    Returns
    -------
    MetaTrainResult

    Notes
    -----
    See the chapter :doc:`Meta-learned preconditioning </book/metalearning>`.

    Examples
    --------
    >>> from nips2019.warpgrad import WarpedMLP, make_linear_tasks
    >>> tasks = make_linear_tasks(64, 20, 20, 3, generator=0)
    >>> net = WarpedMLP([3, 1], bias=False, init_scale=0.0)
    >>> res = meta_train(net, tasks.x_support, tasks.y_support, tasks.x_query, tasks.y_query,
    ...                  n_steps=3, lr=0.3, n_meta_steps=5, generator=0)
    >>> res.loss_history.shape
    torch.Size([5])
    """
    _check_model("meta_train", model, x_support, y_support)
    if method in ("warpgrad", "unrolled") and model.warp == "none":
        raise ValueError(f"meta_train: method={method!r} learns warps, but the model has warp='none'")
    g = as_generator(generator)
    params = model.task_parameters() if method == "maml" else model.warp_parameters()
    opt = torch.optim.Adam(params, lr=meta_lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, n_meta_steps) if schedule == "cosine" else None
    history = torch.empty(n_meta_steps, dtype=x_support.dtype)
    start = time.process_time()
    n_tasks = x_support.shape[0]
    with torch.enable_grad():
        for it in _progress_bar(range(n_meta_steps), desc=f"meta-train ({method})",
                                disable=None if progress is None else not progress):
            idx = randint(0, n_tasks, (batch_size,), generator=g, device=x_support.device)
            batch = (x_support[idx], y_support[idx], x_query[idx], y_query[idx])
            if method == "warpgrad":
                loss = _warpgrad_loss(model, *batch, n_steps, lr, n_points, g)
            else:
                loss = _maml_loss(model, *batch, n_steps, lr, first_order=False)
            for p, gr in zip(params, torch.autograd.grad(loss, params)):
                p.grad = gr
            opt.step()
            if sched is not None:
                sched.step()
            history[it] = loss.detach()
    if not bool(torch.isfinite(history).all()):
        raise FloatingPointError("meta_train: the meta-loss became non-finite; lower lr or meta_lr")
    return MetaTrainResult(model=model, method=method, loss_history=history,
                           cpu_seconds=time.process_time() - start)
