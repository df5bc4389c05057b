r"""Hessian-vector products, dense Hessians, Lanczos and stochastic Lanczos quadrature."""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn
from torch.func import grad, hessian, jvp

from ..utils import Bool, Generator, Integer, IsCallable, Module, Tensor, as_generator, validate
from ..utils import progress as _progress_bar
from ..utils import randn as _randn
from ._params import _check_model, _check_vector, _flat, _functional_loss

_MODEL_ARGS = dict(
    model=Module(),
    x=Tensor(dtype="floating", nonempty=True),
    y=Tensor(dtype="numeric"),
    loss_fn=IsCallable(optional=True),
)


@validate(**_MODEL_ARGS, v=Tensor(ndim=1, dtype="floating"), same=[("model", "x", "v")])
def hessian_vector_product(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, v: torch.Tensor, *, loss_fn=None
) -> torch.Tensor:
    r"""The product :math:`H v` of the loss Hessian with a vector, without forming :math:`H`.

    .. math::

        H v = \frac{\partial}{\partial t}\,\nabla_\theta \mathcal L(\theta + t v)\Big|_{t=0},

    computed forward-over-reverse (``torch.func.jvp`` of ``torch.func.grad``): the cost of
    about two gradients, memory linear in the number of parameters.

    Parameters
    ----------
    model : nn.Module
        The network at :math:`\theta` (trainable parameters, flattened in
        ``named_parameters`` order).
    x : Tensor, shape (n, ...)
        Inputs of the batch whose loss is differentiated.
    y : Tensor
        Targets (class indices for the default mean cross-entropy).
    v : Tensor, shape (p,)
    loss_fn : callable, optional
        ``loss_fn(output, y) -> scalar``.

    Returns
    -------
    Tensor, shape (p,)

    Notes
    -----
    See the chapter :doc:`Loss landscape </book/landscape>`.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 1, bias=False)
    >>> x = torch.eye(3)
    >>> hv = hessian_vector_product(net, x, torch.zeros(3, 1), torch.ones(3),
    ...                             loss_fn=lambda o, t: 0.5 * ((o - t) ** 2).sum())
    >>> hv  # H = x^T x = I
    tensor([1., 1., 1.])
    """
    n_params = _check_model("hessian_vector_product", model, x)
    _check_vector("hessian_vector_product", "v", v, n_params, x)
    return _hvp(_functional_loss(model, x, y, loss_fn, "hessian_vector_product"), _flat(model), v)


def _hvp(f, theta, v):
    return jvp(grad(f), (theta,), (v,))[1]


def _hvp_operator(f, theta):
    """``v -> H v`` reusing one double-backward graph (cheaper per product than re-tracing ``jvp``)."""
    with torch.enable_grad():
        t = theta.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(f(t), t, create_graph=True)

    def matvec(v):
        (hv,) = torch.autograd.grad(g, t, grad_outputs=v, retain_graph=True)
        return hv.detach()

    return matvec


@validate(**_MODEL_ARGS, same=[("model", "x")])
def dense_hessian(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, loss_fn=None) -> torch.Tensor:
    r"""The full Hessian :math:`\nabla^2_\theta \mathcal L`, shape ``(p, p)``: for tiny networks and tests.

    ``torch.func.hessian`` (forward-over-reverse over all ``p`` basis vectors): memory
    :math:`O(p^2)`, so only for a few thousand parameters at most; use
    :func:`hessian_vector_product` and :func:`lanczos` beyond that.

    Parameters
    ----------
    model : nn.Module
    x : Tensor, shape (n, ...)
    y : Tensor
    loss_fn : callable, optional

    Returns
    -------
    Tensor, shape (p, p)
        Symmetric up to rounding.

    Notes
    -----
    See the chapter :doc:`Loss landscape </book/landscape>`.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(2, 1, bias=False)
    >>> h = dense_hessian(net, torch.tensor([[1.0, 2.0]]), torch.zeros(1, 1),
    ...                   loss_fn=lambda o, t: ((o - t) ** 2).sum())
    >>> h
    tensor([[2., 4.],
            [4., 8.]])
    """
    n_params = _check_model("dense_hessian", model, x)
    if n_params > 20_000:
        raise ValueError(
            f"dense_hessian: model has {n_params} parameters, a dense Hessian of that size "
            "needs too much memory; use hessian_vector_product with lanczos"
        )
    return hessian(_functional_loss(model, x, y, loss_fn, "dense_hessian"))(_flat(model))


@dataclasses.dataclass
class LanczosResult:
    r"""The tridiagonal matrix of a Lanczos run and its Ritz pairs (see :func:`lanczos`).

    Attributes
    ----------
    alpha : Tensor, shape (k,)
        Diagonal of :math:`T_k`.
    beta : Tensor, shape (k - 1,)
        Off-diagonal of :math:`T_k`.
    eigenvalues : Tensor, shape (k,)
        Ritz values (eigenvalues of :math:`T_k`), ascending.
    weights : Tensor, shape (k,)
        Squared first components of the eigenvectors of :math:`T_k`: the Gauss quadrature
        weights of the spectral measure seen from the starting vector (they sum to 1).
    n_iter : int
        Iterations done (fewer than asked when the Krylov space became invariant).
    """

    alpha: torch.Tensor
    beta: torch.Tensor
    eigenvalues: torch.Tensor
    weights: torch.Tensor
    n_iter: int


@validate(
    matvec=IsCallable(), v0=Tensor(ndim=1, dtype="floating"), n_iter=Integer(low=1), reorthogonalize=Bool()
)
def lanczos(matvec, v0: torch.Tensor, n_iter: int = 30, *, reorthogonalize: bool = True) -> LanczosResult:
    r"""Lanczos tridiagonalisation of a symmetric operator from a starting vector.

    With :math:`q_1 = v_0/\lVert v_0\rVert`, the three-term recurrence

    .. math::

        \beta_j q_{j+1} = A q_j - \alpha_j q_j - \beta_{j-1} q_{j-1},\qquad
        \alpha_j = q_j^\top A q_j,

    builds an orthonormal basis :math:`Q_k` of the Krylov space with
    :math:`Q_k^\top A Q_k = T_k` tridiagonal. The extreme eigenvalues of :math:`T_k` (Ritz
    values) converge to those of :math:`A` within a few dozen products; the pairs
    (eigenvalue, squared first eigenvector component) are the nodes and weights of a Gauss
    quadrature for :math:`v_0^\top f(A) v_0 / \lVert v_0\rVert^2`, which is what stochastic
    Lanczos quadrature averages (:func:`hessian_spectrum`). Full reorthogonalisation (the
    default) keeps :math:`Q_k` orthonormal in floating point at :math:`O(kp)` memory;
    without it, "ghost" copies of converged eigenvalues appear.

    Parameters
    ----------
    matvec : callable
        ``matvec(v) -> A v`` for a symmetric :math:`A`, tensors of shape ``(p,)``.
    v0 : Tensor, shape (p,)
        Starting vector, nonzero.
    n_iter : int
        Krylov dimension :math:`k` (capped at ``p``).
    reorthogonalize : bool

    Returns
    -------
    LanczosResult

    References
    ----------
    Ghorbani, Krishnan & Xiao, *An investigation into neural net optimization via Hessian
    eigenvalue density*, ICML 2019; Granziol, Wan, Zohren, Roberts & Osborne, *How does
    mini-batching affect curvature information for second order deep learning
    optimization?*, arXiv:2006.09092.

    Notes
    -----
    See the chapter :doc:`Loss landscape </book/landscape>`.

    Examples
    --------
    >>> import torch
    >>> a = torch.diag(torch.arange(1.0, 6.0, dtype=torch.float64))
    >>> res = lanczos(lambda v: a @ v, torch.ones(5, dtype=torch.float64), n_iter=5)
    >>> res.eigenvalues.round(decimals=6)
    tensor([1., 2., 3., 4., 5.], dtype=torch.float64)
    """
    norm0 = v0.norm()
    if not norm0 > 0:
        raise ValueError("lanczos: v0 must be nonzero")
    p = v0.shape[0]
    k = min(n_iter, p)
    q = v0 / norm0
    basis = [q]
    alphas, betas = [], []
    q_prev, b_prev = torch.zeros_like(q), torch.zeros((), dtype=q.dtype, device=q.device)
    scale = None
    for j in range(k):
        try:
            w = matvec(q)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(
                f"lanczos: matvec failed on a vector like v0 ({q.dtype}, shape {tuple(q.shape)}): {exc}"
            ) from exc
        if not isinstance(w, torch.Tensor) or w.shape != q.shape:
            raise ValueError(
                f"lanczos: matvec must return a tensor of shape {tuple(q.shape)}, got "
                f"{type(w).__name__ if not isinstance(w, torch.Tensor) else tuple(w.shape)}"
            )
        if not torch.isfinite(w).all():
            raise ValueError("lanczos: matvec returned non-finite values")
        a = torch.dot(w, q)
        alphas.append(a)
        w = w - a * q - b_prev * q_prev
        if reorthogonalize:
            qs = torch.stack(basis)
            w = w - qs.T @ (qs @ w)
            w = w - qs.T @ (qs @ w)
        b = w.norm()
        scale = max(scale or 0.0, float(a.abs()), float(b))
        if j == k - 1 or b <= 1e-10 * max(scale, 1e-300):
            break
        betas.append(b)
        q_prev, q, b_prev = q, w / b, b
        basis.append(q)
    alpha = torch.stack(alphas)
    beta = torch.stack(betas) if betas else alpha.new_zeros(0)
    t = torch.diag(alpha)
    if beta.numel():
        t = t + torch.diag(beta, 1) + torch.diag(beta, -1)
    evals, evecs = torch.linalg.eigh(t)
    return LanczosResult(alpha=alpha, beta=beta, eigenvalues=evals, weights=evecs[0] ** 2, n_iter=len(alphas))


@dataclasses.dataclass
class SpectrumResult:
    r"""A stochastic Lanczos quadrature estimate of a Hessian spectrum (see :func:`hessian_spectrum`).

    Attributes
    ----------
    nodes : Tensor, shape (n_probes, k)
        Ritz values of each probe's Lanczos run.
    weights : Tensor, shape (n_probes, k)
        Their Gauss quadrature weights (each row sums to 1).
    top_eigenvalue : float
        Largest Ritz value over the probes (converges to :math:`\lambda_{\max}` first).
    bottom_eigenvalue : float
        Smallest Ritz value over the probes.
    n_params : int
        Dimension :math:`p` of the Hessian.
    """

    nodes: torch.Tensor
    weights: torch.Tensor
    top_eigenvalue: float
    bottom_eigenvalue: float
    n_params: int

    def density(self, grid: torch.Tensor, width: float) -> torch.Tensor:
        r"""The smoothed density on ``grid``, Gaussians of width :math:`\sigma` = ``width``.

        :math:`\frac1n\sum_{l,i} w_{li}\,\mathcal N(t;\theta_{li},\sigma^2)`, ``n`` the number of probes.
        """
        grid = grid.to(self.nodes)
        z = (grid[:, None, None] - self.nodes[None]) / width
        return (self.weights[None] * torch.exp(-0.5 * z**2)).sum((1, 2)) / (
            self.nodes.shape[0] * width * math.sqrt(2 * math.pi)
        )


@validate(
    **_MODEL_ARGS,
    n_iter=Integer(low=1),
    n_probes=Integer(low=1),
    generator=Generator(),
    progress=Bool(optional=True),
    same=[("model", "x")],
)
def hessian_spectrum(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss_fn=None,
    n_iter: int = 40,
    n_probes: int = 1,
    generator=None,
    progress: bool | None = None,
) -> SpectrumResult:
    r"""Stochastic Lanczos quadrature of the loss Hessian on one batch.

    For Rademacher probes :math:`v_l` (normalised), :func:`lanczos` on :math:`H` from
    :math:`v_l` gives nodes :math:`\theta_{li}` and weights :math:`w_{li}` with

    .. math::

        \frac1p \operatorname{tr} f(H) \approx \frac{1}{n_{\text{probes}}}
        \sum_{l}\sum_{i=1}^{k} w_{li}\, f(\theta_{li}),

    a quadrature for the spectral density :math:`\frac1p\sum_j \delta(t - \lambda_j)`.
    The products :math:`Hv` reuse one double-backward graph of the gradient (the same
    :math:`Hv` as :func:`hessian_vector_product`, cheaper per product in a loop). The
    extreme Ritz values converge fastest, so ``top_eigenvalue`` is a sharp estimate of
    :math:`\lambda_{\max}` even for small ``n_iter``. Pass a mini-batch as ``x, y`` to see
    the batch Hessian, the whole data set to see the full one; Granziol et al. (2020) show
    the batch spectrum's edges are pushed outwards by a factor that grows as the batch
    shrinks.

    Parameters
    ----------
    model : nn.Module
    x : Tensor, shape (n, ...)
    y : Tensor
    loss_fn : callable, optional
    n_iter : int
        Lanczos steps per probe.
    n_probes : int
        Independent probes averaged.
    generator : None, int or torch.Generator
    progress : bool, optional

    Returns
    -------
    SpectrumResult

    References
    ----------
    Ghorbani, Krishnan & Xiao, *An investigation into neural net optimization via Hessian
    eigenvalue density*, ICML 2019; Granziol, Wan, Zohren, Roberts & Osborne, *How does
    mini-batching affect curvature information for second order deep learning
    optimization?*, arXiv:2006.09092.

    Notes
    -----
    See the chapter :doc:`Loss landscape </book/landscape>`.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 1, bias=False).double()
    >>> x = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    >>> res = hessian_spectrum(net, x, torch.zeros(3, 1, dtype=torch.float64), n_iter=3,
    ...                        loss_fn=lambda o, t: 0.5 * ((o - t) ** 2).sum(), generator=0)
    >>> round(res.top_eigenvalue, 6), round(res.bottom_eigenvalue, 6)
    (9.0, 1.0)
    """
    n_params = _check_model("hessian_spectrum", model, x)
    f = _functional_loss(model, x, y, loss_fn, "hessian_spectrum")
    theta = _flat(model)
    g = as_generator(generator)
    matvec = _hvp_operator(f, theta)
    k = min(n_iter, n_params)
    nodes = torch.zeros(n_probes, k, dtype=x.dtype, device=x.device)
    weights = torch.zeros_like(nodes)
    for l in _progress_bar(
        range(n_probes), desc="SLQ probes", disable=None if progress is None else not progress
    ):
        v = torch.sign(_randn(n_params, generator=g, device=x.device, dtype=x.dtype))
        v[v == 0] = 1
        res = lanczos(matvec, v, k)
        nodes[l, : res.n_iter] = res.eigenvalues
        nodes[l, res.n_iter :] = res.eigenvalues[-1]  # an invariant subspace: padding with zero weight
        weights[l, : res.n_iter] = res.weights
    return SpectrumResult(
        nodes=nodes,
        weights=weights,
        top_eigenvalue=float(nodes.max()),
        bottom_eigenvalue=float(nodes.min()),
        n_params=n_params,
    )
