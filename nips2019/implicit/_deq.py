"""Deep equilibrium layers: a fixed-point forward pass and an implicit backward pass."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..utils import Generator, Integer, Module, Options, Real, Tensor, as_generator, rand, validate
from ._solvers import FixedPointResult, fixed_point

_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "identity": lambda t: t}


class ContractiveCell(nn.Module):
    r"""The layer :math:`f(z, x) = \sigma(W z + U x + b)` with :math:`\|W\|_2 \le \gamma < 1`.

    ``W`` is stored as a free matrix :math:`V` and used as
    :math:`W = V \min(1, \gamma / \|V\|_2)` (exact spectral norm, by ``svdvals``), so every
    value of the parameters gives :math:`\|W\|_2 \le \gamma`. With a 1-Lipschitz
    activation (tanh, ReLU, identity) the map :math:`z \mapsto f(z, x)` is then a
    :math:`\gamma`-contraction for every input :math:`x`: it has exactly one fixed point, plain
    iteration converges to it with error :math:`O(\gamma^k)`, and :math:`I - \partial f/\partial z`
    is invertible, so the implicit gradient exists. This is a sufficient guarantee, not the
    paper's (Bai et al. rely on weight normalisation and observe convergence empirically).

    Row vectors: ``z`` has shape ``(B, n_hidden)``, ``x`` shape ``(B, n_inputs)``.

    Parameters
    ----------
    n_inputs, n_hidden : int
        Sizes, >= 1.
    activation : {"tanh", "relu", "identity"}
    contraction : float
        :math:`\gamma` in (0, 1).
    generator : None, int or torch.Generator
        Randomness of the initialisation (uniform, PyTorch's default scale), drawn on the CPU.

    Notes
    -----
    See the chapter :doc:`One shared weight, infinitely many layers </book/equilibrium>`.

    Examples
    --------
    >>> import torch
    >>> cell = ContractiveCell(3, 4, contraction=0.5, generator=0)
    >>> bool(torch.linalg.matrix_norm(cell.weight(), 2) <= 0.5 + 1e-6)
    True
    >>> cell(torch.zeros(2, 4), torch.ones(2, 3)).shape
    torch.Size([2, 4])
    """

    @validate(n_inputs=Integer(low=1), n_hidden=Integer(low=1), activation=Options(*_ACTIVATIONS),
              contraction=Real(low=0, high=1, closed="neither"), generator=Generator())
    def __init__(self, n_inputs: int, n_hidden: int, *, activation: str = "tanh", contraction: float = 0.9,
                 generator=None):
        super().__init__()
        gen = as_generator(generator)
        self.n_inputs, self.n_hidden = int(n_inputs), int(n_hidden)
        self.activation, self.contraction = activation, float(contraction)
        s_in, s_h = 1 / math.sqrt(n_inputs), 1 / math.sqrt(n_hidden)
        self.v = nn.Parameter(s_h * (2 * rand(n_hidden, n_hidden, generator=gen) - 1))
        self.u = nn.Parameter(s_in * (2 * rand(n_hidden, n_inputs, generator=gen) - 1))
        self.b = nn.Parameter(s_in * (2 * rand(n_hidden, generator=gen) - 1))

    def weight(self) -> torch.Tensor:
        """The recurrent matrix :math:`W` (spectral norm at most ``contraction``)."""
        norm = torch.linalg.matrix_norm(self.v, 2)
        return self.v * torch.clamp(self.contraction / norm.clamp_min(1e-12), max=1.0)

    def inject(self, x: torch.Tensor) -> torch.Tensor:
        """The input injection :math:`U x + b`, shape (B, n_hidden): compute once per solve."""
        return x @ self.u.T + self.b

    def step(self, z: torch.Tensor, injection: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        """:math:`\\sigma(W z + \\text{injection})` (unchecked; ``w`` precomputed or ``None``)."""
        w = self.weight() if w is None else w
        return _ACTIVATIONS[self.activation](z @ w.T + injection)

    @validate(z=Tensor(shape=("B", "h"), dtype="floating"), x=Tensor(shape=("B", "d"), dtype="floating"),
              same=[("z", "x")])
    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """One application :math:`f(z, x)`; ``z`` (B, n_hidden), ``x`` (B, n_inputs)."""
        _check_sizes("ContractiveCell.forward", self, z, x)
        return self.step(z, self.inject(x))


def _check_sizes(name, cell, z, x):
    if z.shape[1] != cell.n_hidden:
        raise ValueError(f"{name}: z must have shape (B, {cell.n_hidden}), got {tuple(z.shape)}")
    if x.shape[1] != cell.n_inputs:
        raise ValueError(f"{name}: x must have shape (B, {cell.n_inputs}), got {tuple(x.shape)}")
    p = cell.v
    if x.dtype != p.dtype or x.device != p.device:
        raise TypeError(f"{name}: x has {x.dtype} on {x.device} but the cell has {p.dtype} on {p.device}")


class DEQ(nn.Module):
    r"""A deep equilibrium layer: the output is the fixed point :math:`z^\star = f(z^\star, x)`.

    **Forward.** :func:`fixed_point` solves :math:`z = f(z, x)` under ``torch.no_grad()``
    (nothing of the iterations is stored), then one more application
    :math:`z^\star \leftarrow f(z^\star, x)` is recorded by autograd to attach the parameters.

    **Backward** (``backward="implicit"``). By the implicit function theorem, for a loss
    :math:`\ell(z^\star)`,

    .. math::

        \frac{\partial \ell}{\partial \theta} = g^\top \frac{\partial f(z^\star, x)}{\partial \theta},
        \qquad g = \Big(I - \frac{\partial f}{\partial z}\Big|_{z^\star}\Big)^{-\top}
        \frac{\partial \ell}{\partial z^\star},

    and :math:`g` is itself a fixed point, :math:`g = J^\top g + \partial\ell/\partial z^\star`
    with :math:`J = \partial f/\partial z`, solved by the same solvers with one
    vector-Jacobian product (``torch.autograd.grad``) per iteration; a hook on the output
    replaces the incoming gradient by :math:`g`. ``backward="unroll"`` instead runs
    ``max_iter`` plain iterations with autograd on (memory linear in the iterations):
    the reference the implicit gradient is tested against.

    Parameters
    ----------
    cell : nn.Module
        ``cell(z, x) -> z`` with ``z`` of shape ``(B, ...)``; :class:`ContractiveCell` or any
        module (a contraction in ``z`` is the caller's guarantee then).
    method, backward_method : {"anderson", "broyden", "picard"}
        Solvers of the forward and backward fixed points.
    max_iter, backward_max_iter : int
    tol, backward_tol : float
        Relative residuals at which the solves stop (defaults 1e-5 and 1e-6 suit float32;
        float64 can go to 1e-12).
    backward : {"implicit", "unroll"}
    m : int
        Solver memory (Anderson/Broyden).

    Attributes
    ----------
    forward_result, backward_result : FixedPointResult or None
        The last solves (``backward_result`` is set during ``.backward()``).

    Notes
    -----
    See the chapter :doc:`One shared weight, infinitely many layers </book/equilibrium>`.
    torchdeq (Geng & Kolter 2023) organises the same ideas (solver registry, implicit and
    phantom gradients); this module is a small independent implementation.

    References
    ----------
    S. Bai, J. Z. Kolter and V. Koltun, *Deep equilibrium models*, NeurIPS 2019.

    Examples
    --------
    >>> import torch
    >>> cell = ContractiveCell(3, 5, contraction=0.5, generator=0).double()
    >>> deq = DEQ(cell, tol=1e-10)
    >>> x = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> z = deq(x)
    >>> bool(torch.allclose(z, cell(z, x), atol=1e-8)), deq.forward_result.converged
    (True, True)
    >>> z.sum().backward()
    >>> deq.backward_result.converged
    True
    """

    @validate(cell=Module(), method=Options("anderson", "broyden", "picard"), max_iter=Integer(low=1),
              tol=Real(low=0, closed="neither"), backward=Options("implicit", "unroll"),
              backward_method=Options("anderson", "broyden", "picard"), backward_max_iter=Integer(low=1),
              backward_tol=Real(low=0, closed="neither"), m=Integer(low=1))
    def __init__(self, cell: nn.Module, *, method: str = "anderson", max_iter: int = 50, tol: float = 1e-5,
                 backward: str = "implicit", backward_method: str = "anderson", backward_max_iter: int = 50,
                 backward_tol: float = 1e-6, m: int = 5):
        super().__init__()
        self.cell = cell
        self.method, self.max_iter, self.tol, self.m = method, max_iter, tol, m
        self.backward = backward
        self.backward_method, self.backward_max_iter, self.backward_tol = (backward_method, backward_max_iter,
                                                                           backward_tol)
        self.forward_result: FixedPointResult | None = None
        self.backward_result: FixedPointResult | None = None

    def _f(self, x):
        cell = self.cell
        if isinstance(cell, ContractiveCell):  # hoist the input injection and W out of the loop
            inj, w = cell.inject(x), cell.weight()
            return lambda z: cell.step(z, inj, w)
        return lambda z: cell(z, x)

    @validate(x=Tensor(ndim=(2, 3, 4), dtype="floating"), z0=Tensor(ndim=(2, 3, 4), dtype="floating",
                                                                       optional=True),
              same=[("x", "z0")])
    def forward(self, x: torch.Tensor, z0: torch.Tensor | None = None) -> torch.Tensor:
        """The equilibrium :math:`z^\\star(x)`; ``x`` (B, ...), ``z0`` the start (zeros by default)."""
        if isinstance(self.cell, ContractiveCell):
            _check_sizes("DEQ.forward", self.cell, x.new_zeros(x.shape[0], self.cell.n_hidden), x)
            shape = (x.shape[0], self.cell.n_hidden)
        else:
            shape = x.shape
        if z0 is None:
            z0 = x.new_zeros(shape)
        elif z0.shape != torch.Size(shape):
            raise ValueError(f"DEQ.forward: z0 must have shape {tuple(shape)}, got {tuple(z0.shape)}")
        if self.backward == "unroll":
            return self._unrolled(x, z0)
        with torch.no_grad():
            res = fixed_point(self._f(x), z0, method=self.method, max_iter=self.max_iter, tol=self.tol, m=self.m)
        self.forward_result = res
        if not torch.is_grad_enabled():
            return res.z
        z = self._f(x)(res.z)  # re-attach parameters and x (one differentiable step)
        if z.requires_grad:
            z_star = res.z.detach().requires_grad_()
            with torch.enable_grad():
                f_star = self._f(x.detach())(z_star)

            def hook(grad):
                if grad is None:
                    return None
                def vjp_map(y):
                    (jt_y,) = torch.autograd.grad(f_star, z_star, y, retain_graph=True)
                    return jt_y + grad

                bres = fixed_point(vjp_map, grad, method=self.backward_method, max_iter=self.backward_max_iter,
                                   tol=self.backward_tol, m=self.m)
                self.backward_result = bres
                return bres.z

            z.register_hook(hook)
        return z

    def _unrolled(self, x, z0):
        f = self._f(x)
        z = z0
        hist = []
        for _ in range(self.max_iter):
            fz = f(z)
            hist.append(float(((fz - z).detach().flatten(1).norm(dim=1) / (fz.detach().flatten(1).norm(dim=1) + 1e-12)).max()))
            z = fz
        res = hist[-1]
        self.forward_result = FixedPointResult(z=z.detach(), n_iter=self.max_iter,
                                               residual=torch.full((z.shape[0],), res), converged=res <= self.tol,
                                               history=hist, method="unroll")
        return z


class WeightTiedStack(nn.Module):
    r"""An explicit stack of ``n_layers`` copies of one cell: :math:`z_{l+1} = f(z_l, x)`, :math:`z_0 = 0`.

    The finite-depth counterpart of :class:`DEQ` with the same parameters; ordinary
    backpropagation stores every layer's activations (memory linear in depth).

    Parameters
    ----------
    cell : nn.Module
        ``cell(z, x) -> z``; for a :class:`ContractiveCell` the state has ``n_hidden`` columns,
        otherwise ``x``'s shape.
    n_layers : int
        Depth, >= 1.

    Notes
    -----
    See the chapter :doc:`One shared weight, infinitely many layers </book/equilibrium>`.

    Examples
    --------
    >>> import torch
    >>> cell = ContractiveCell(2, 3, generator=0)
    >>> WeightTiedStack(cell, 4)(torch.ones(5, 2)).shape
    torch.Size([5, 3])
    """

    @validate(cell=Module(), n_layers=Integer(low=1))
    def __init__(self, cell: nn.Module, n_layers: int):
        super().__init__()
        self.cell, self.n_layers = cell, int(n_layers)

    @validate(x=Tensor(ndim=(2, 3, 4), dtype="floating"))
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The state after ``n_layers`` applications, from zero."""
        cell = self.cell
        if isinstance(cell, ContractiveCell):
            _check_sizes("WeightTiedStack.forward", cell, x.new_zeros(x.shape[0], cell.n_hidden), x)
            inj, w = cell.inject(x), cell.weight()
            z = x.new_zeros(x.shape[0], cell.n_hidden)
            for _ in range(self.n_layers):
                z = cell.step(z, inj, w)
            return z
        z = torch.zeros_like(x)
        for _ in range(self.n_layers):
            z = cell(z, x)
        return z

