"""Generated task families, and the measures the chapter reads off them."""

from __future__ import annotations

import dataclasses
import weakref
from typing import Any, Callable

import torch

from ..utils import Bool, Device, DType, Generator, Integer, IsCallable, Options, Real, Tensor, as_generator, randn, validate


@dataclasses.dataclass
class LinearTasks:
    r"""Linear-regression tasks sharing one input covariance (see :func:`make_linear_tasks`).

    Attributes
    ----------
    x_support, y_support : Tensor, shapes (n_tasks, n_support, d), (n_tasks, n_support, 1)
    x_query, y_query : Tensor, shapes (n_tasks, n_query, d), (n_tasks, n_query, 1)
    weights : Tensor, shape (n_tasks, d)
        Each task's true weights :math:`w_\tau`.
    covariance : Tensor, shape (d, d)
        The shared input covariance :math:`\Sigma`, which is also the expected Hessian of every
        task's loss.
    noise : float
        Standard deviation of the label noise.
    """

    x_support: torch.Tensor
    y_support: torch.Tensor
    x_query: torch.Tensor
    y_query: torch.Tensor
    weights: torch.Tensor
    covariance: torch.Tensor
    noise: float

    def split(self, n_train: int) -> tuple["LinearTasks", "LinearTasks"]:
        """The first ``n_train`` tasks and the rest, as two :class:`LinearTasks`."""
        def part(sl):
            return LinearTasks(self.x_support[sl], self.y_support[sl], self.x_query[sl], self.y_query[sl],
                               self.weights[sl], self.covariance, self.noise)
        return part(slice(0, n_train)), part(slice(n_train, None))

    def arrays(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x_support, y_support, x_query, y_query)``, the arguments of the meta-objectives."""
        return self.x_support, self.y_support, self.x_query, self.y_query


@validate(n_tasks=Integer(low=1), n_support=Integer(low=1), n_query=Integer(low=1), n_features=Integer(low=1),
          condition=Real(low=1), noise=Real(low=0), weight_scale=Real(low=0, closed="neither"),
          weight_cov=Options("identity", "inverse"), rotate=Bool(),
          generator=Generator(), device=Device(), dtype=DType())
def make_linear_tasks(n_tasks: int, n_support: int, n_query: int, n_features: int, *, condition: float = 100.0,
                      noise: float = 0.1, weight_scale: float = 1.0, weight_cov: str = "inverse",
                      rotate: bool = True, generator=None,
                      device=None, dtype: torch.dtype = torch.float32) -> LinearTasks:
    r"""Linear-regression tasks whose inputs share an ill-conditioned covariance.

    .. math::

        \Sigma = Q\, \operatorname{diag}(\lambda_1, \dots, \lambda_d)\, Q^\top, \quad
        \lambda_j = \kappa^{-(j-1)/(d-1)}, \qquad
        x \sim \mathcal N(0, \Sigma), \quad w_\tau \sim \mathcal N(0, s^2 I), \quad
        y = w_\tau^\top x + \varepsilon, \ \varepsilon \sim \mathcal N(0, \sigma^2),

    with :math:`Q` a random rotation (or the identity when ``rotate=False``), eigenvalues spread
    log-uniformly from 1 down to :math:`1/\kappa`, :math:`\kappa` = ``condition``. Every task's
    loss :math:`\tfrac12 \mathbb E (w^\top x - y)^2` has Hessian :math:`\Sigma`, so gradient
    descent with step :math:`\alpha` contracts the error along eigenvector :math:`j` by
    :math:`1 - \alpha \lambda_j` per step, and the preconditioner :math:`P = \Sigma^{-1}`
    (with :math:`\alpha = 1`) would solve every task in one step. Support and query samples are
    independent draws from the same task.

    Parameters
    ----------
    n_tasks, n_support, n_query, n_features : int
        Number of tasks, samples per task for adaptation and for evaluation, dimension :math:`d`.
    condition : float >= 1
        :math:`\kappa`, the condition number of :math:`\Sigma`.
    noise : float >= 0
        :math:`\sigma`.
    weight_scale : float > 0
        :math:`s`.
    rotate : bool
        Rotate the eigenvectors away from the coordinate axes (a diagonal preconditioner then
        cannot undo the conditioning).
    generator : None, int or torch.Generator
    device, dtype
        Of the returned tensors.

    Returns
    -------
    LinearTasks

    Notes
    -----
    See the chapter :doc:`Meta-learned preconditioning </book/metalearning>`.

    Examples
    --------
    >>> tasks = make_linear_tasks(3, 10, 5, 4, condition=10.0, generator=0, dtype=torch.float64)
    >>> tasks.x_support.shape, tasks.y_query.shape
    (torch.Size([3, 10, 4]), torch.Size([3, 5, 1]))
    >>> round(float(torch.linalg.cond(tasks.covariance)), 6)
    10.0
    """
    g = as_generator(generator)
    d = int(n_features)
    kw = dict(generator=g, dtype=torch.float64)
    lam = torch.tensor([1.0]) if d == 1 else torch.logspace(0, -torch.log10(torch.tensor(condition)).item(), d,
                                                            dtype=torch.float64)
    q = torch.linalg.qr(randn(d, d, **kw))[0] if rotate else torch.eye(d, dtype=torch.float64)
    cov = (q * lam) @ q.T
    root = q * lam.sqrt()  # x = root @ z, z ~ N(0, I)
    w = weight_scale * randn(n_tasks, d, **kw)
    if weight_cov == "inverse":  # w ~ N(0, s^2 Sigma^-1): every eigendirection carries the same loss
        w = w @ (q / lam.sqrt()).T

    def draw(n):
        x = randn(n_tasks, n, d, **kw) @ root.T
        y = (x @ w.unsqueeze(-1)) + noise * randn(n_tasks, n, 1, **kw)
        return x, y

    xs, ys = draw(n_support)
    xq, yq = draw(n_query)
    out = [t.to(device=device, dtype=dtype) for t in (xs, ys, xq, yq, w, (cov + cov.T) / 2)]
    return LinearTasks(*out, noise=float(noise))


@validate(p=Tensor(shape=("d", "d"), dtype="floating"), h=Tensor(shape=("d", "d"), dtype="floating"),
          same=[("p", "h")])
def preconditioned_condition_number(p: torch.Tensor, h: torch.Tensor) -> float:
    r"""The condition number of :math:`P H` for symmetric positive definite :math:`P` and :math:`H`.

    :math:`P H` is similar to :math:`P^{1/2} H P^{1/2}`, so its eigenvalues are real and positive
    and

    .. math::

        \kappa(P H) = \frac{\lambda_{\max}(P^{1/2} H P^{1/2})}{\lambda_{\min}(P^{1/2} H P^{1/2})}.

    Gradient descent preconditioned by :math:`P` on a quadratic with Hessian :math:`H` converges
    at the rate set by this number (1 is ideal: :math:`P \propto H^{-1}`). Computed in float64.

    Parameters
    ----------
    p, h : Tensor, shape (d, d)
        Symmetric positive definite (symmetrised before use).

    Returns
    -------
    float

    Notes
    -----
    See the chapter :doc:`Meta-learned preconditioning </book/metalearning>`.

    Examples
    --------
    >>> import torch
    >>> h = torch.diag(torch.tensor([1.0, 0.01]))
    >>> round(preconditioned_condition_number(torch.eye(2), h), 6)
    100.0
    >>> round(preconditioned_condition_number(torch.linalg.inv(h), h), 6)
    1.0
    """
    p64, h64 = p.detach().double(), h.detach().double()
    p64, h64 = (p64 + p64.T) / 2, (h64 + h64.T) / 2
    ev_p, vec_p = torch.linalg.eigh(p64)
    ev_h = torch.linalg.eigvalsh(h64)
    for name, ev in (("p", ev_p), ("h", ev_h)):
        if float(ev.min()) <= 0:
            raise ValueError(f"preconditioned_condition_number: {name} must be positive definite, "
                             f"got smallest eigenvalue {float(ev.min()):.3g}")
    root = (vec_p * ev_p.sqrt()) @ vec_p.T
    ev = torch.linalg.eigvalsh(root @ h64 @ root)
    return float(ev.max() / ev.min())


@dataclasses.dataclass
class GraphMemory:
    """What :func:`saved_tensor_bytes` measured.

    Attributes
    ----------
    result : Any
        The value ``fn`` returned.
    bytes : int
        Bytes of the distinct tensors saved for the backward pass and still alive when ``fn``
        returned.
    n_tensors : int
        Number of those tensors.
    """

    result: Any
    bytes: int
    n_tensors: int


@validate(fn=IsCallable())
def saved_tensor_bytes(fn: Callable[[], Any]) -> GraphMemory:
    r"""Run ``fn()`` and measure the memory autograd keeps for its backward pass.

    Every tensor that an operation saves for backward passes through
    ``torch.autograd.graph.saved_tensors_hooks``; this keeps a weak reference to each, and when
    ``fn`` returns it adds up the bytes of those still alive, i.e. held by the graph of the
    result (graphs that ``fn`` already consumed and freed, such as inner gradient steps taken
    without ``create_graph``, no longer count). Distinct tensors are counted once (by storage,
    offset and shape). Saved inputs that the caller also holds (the data, the parameters) count
    too: they are part of what a later ``backward()`` reads. The measure is the graph memory
    kept for the backward pass, on any device and independent of the allocator, so it compares
    meta-gradients on a CPU as well as on a GPU.

    Parameters
    ----------
    fn : callable
        Called without arguments; typically computes a loss.

    Returns
    -------
    GraphMemory

    Notes
    -----
    See the chapter :doc:`Meta-learned preconditioning </book/metalearning>`.

    Examples
    --------
    >>> import torch
    >>> x = torch.ones(1000, requires_grad=True)
    >>> mem = saved_tensor_bytes(lambda: (x * x).sum())
    >>> mem.bytes
    4000
    """
    saved: list = []

    def pack(t):
        if isinstance(t, torch.Tensor) and t.numel() > 0:
            saved.append(weakref.ref(t))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = fn()
    alive = {}
    for ref in saved:
        t = ref()
        if t is not None:  # still held by the graph (or by the caller)
            key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.dtype)
            alive[key] = t.numel() * t.element_size()
    return GraphMemory(result=result, bytes=int(sum(alive.values())), n_tensors=len(alive))
