"""Input convex neural networks (Amos, Xu & Kolter 2017) and a Hessian check of convexity."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..utils import Device, DType, Generator, Integer, IsCallable, Items, Options, Tensor, as_generator
from ..utils import rand, validate

_ACTIVATIONS = ("softplus", "celu", "leaky_relu")


def _activation(name: str):
    if name == "softplus":
        return nn.functional.softplus
    if name == "celu":
        return nn.functional.celu
    return lambda z: nn.functional.leaky_relu(z, 0.2)


class ICNN(nn.Module):
    r"""A fully input convex network :math:`f : \mathbb R^d \to \mathbb R`, convex in its input.

    With :math:`\sigma` convex and non-decreasing and hidden-to-hidden weights :math:`W_l \ge 0`,

    .. math::

        z_1 = \sigma(A_0 x + b_0), \qquad
        z_{l+1} = \sigma(W_l z_l + A_l x + b_l), \qquad
        f(x) = w^\top z_L + a^\top x + \tfrac{1}{2}\,\alpha\,\|x\|^2,

    with :math:`w \ge 0` and :math:`\alpha \ge 0`. Each :math:`z_{l+1}` is a non-decreasing convex
    function of convex functions of :math:`x` plus an affine one, hence convex, and so is
    :math:`f` (Amos, Xu & Kolter 2017, Proposition 1). The "passthrough" weights :math:`A_l`
    and the linear term :math:`a` are unconstrained. The non-negative parameters are kept
    non-negative by projection: call ``project_()`` after every optimiser step
    (the training loop of :func:`fit_icnn_transport` does).

    The quadratic term, initialised at :math:`\alpha = 1`, makes :math:`\nabla f` start near
    the identity map, which is where transport maps between similar clouds begin.

    Parameters
    ----------
    in_features : int
        :math:`d`.
    hidden : sequence of int
        Widths of the hidden layers :math:`z_1, \dots, z_L`.
    activation : {"softplus", "celu", "leaky_relu"}
        :math:`\sigma`: all three are convex and non-decreasing. Softplus and CELU give
        smooth potentials (continuous maps and non-zero Hessians); leaky ReLU gives piecewise
        affine potentials, whose gradient maps are piecewise constant.
    generator : None, int or torch.Generator
        Initialisation (uniform, PyTorch's fan-in scale; :math:`W_l` and :math:`w` start
        non-negative).
    device, dtype
        Of the parameters.

    Notes
    -----
    See the chapter :doc:`Transport maps and embedding alignment </book/transport>`.

    References
    ----------
    Amos, Xu & Kolter, *Input convex neural networks*, ICML 2017.

    Examples
    --------
    >>> import torch
    >>> f = ICNN(2, hidden=(8, 8), generator=0, dtype=torch.float64)
    >>> f(torch.zeros(5, 2, dtype=torch.float64)).shape
    torch.Size([5])
    >>> bool(hessian_min_eigenvalue(f, torch.randn(20, 2, dtype=torch.float64)).min() >= 0)
    True
    """

    @validate(
        in_features=Integer(low=1),
        hidden=Items(Integer(low=1), min_length=1),
        activation=Options(*_ACTIVATIONS),
        generator=Generator(),
        device=Device(),
        dtype=DType(optional=True),
    )
    def __init__(self, in_features: int, hidden=(64, 64), *, activation: str = "softplus", generator=None,
                 device=None, dtype=None):
        super().__init__()
        g = as_generator(generator)
        self.in_features, self.activation = int(in_features), activation
        self.hidden = tuple(int(h) for h in hidden)
        dtype = dtype or torch.get_default_dtype()

        def uniform(*shape, fan_in, low=-1.0):
            u = rand(*shape, generator=g, dtype=dtype, device=device)
            return nn.Parameter((u * (1 - low) + low) / math.sqrt(fan_in))

        d, widths = self.in_features, self.hidden
        self.input_weights = nn.ParameterList([uniform(h, d, fan_in=d) for h in widths])
        self.biases = nn.ParameterList([uniform(h, fan_in=d) for h in widths])
        self.hidden_weights = nn.ParameterList(
            [uniform(widths[i + 1], widths[i], fan_in=widths[i], low=0.0) for i in range(len(widths) - 1)])
        self.output_weight = uniform(widths[-1], fan_in=widths[-1], low=0.0)
        self.linear = uniform(d, fan_in=d)
        self.quadratic = nn.Parameter(torch.ones((), dtype=dtype, device=device))

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        act = _activation(self.activation)
        z = act(x @ self.input_weights[0].T + self.biases[0])
        for w, a, b in zip(self.hidden_weights, self.input_weights[1:], self.biases[1:]):
            z = act(z @ w.T + x @ a.T + b)
        return z @ self.output_weight + x @ self.linear + 0.5 * self.quadratic * (x * x).sum(-1)

    @validate(x=Tensor(shape=("...", None), dtype="floating"), same=[("self", "x")])
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The potential :math:`f(x)`, shape ``x.shape[:-1]``."""
        if x.dim() == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"ICNN.forward: x must have in_features = {self.in_features} entries along its "
                             f"last axis, got shape {tuple(x.shape)}")
        return self._forward(x)

    def _grad(self, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        with torch.enable_grad():
            x = x if x.requires_grad else x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self._forward(x).sum(), x, create_graph=create_graph)
        return grad

    @validate(x=Tensor(shape=("...", None), dtype="floating"), same=[("self", "x")])
    def gradient(self, x: torch.Tensor) -> torch.Tensor:
        r"""The map :math:`\nabla f(x)`, same shape as ``x`` (detached)."""
        if x.dim() == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"ICNN.gradient: x must have in_features = {self.in_features} entries along its "
                             f"last axis, got shape {tuple(x.shape)}")
        return self._grad(x).detach()

    @torch.no_grad()
    def project_(self) -> "ICNN":
        """Clamp the hidden-to-hidden and output weights and :math:`\\alpha` at 0 (in place); returns self."""
        for w in self.hidden_weights:
            w.clamp_(min=0)
        self.output_weight.clamp_(min=0)
        self.quadratic.clamp_(min=0)
        return self

    def is_input_convex(self) -> bool:
        """Whether every constrained weight is non-negative (so the network is convex in its input)."""
        ws = [*self.hidden_weights, self.output_weight, self.quadratic]
        return all(bool((w >= 0).all()) for w in ws)

    def extra_repr(self) -> str:
        return f"{self.in_features}, hidden={self.hidden}, activation={self.activation!r}"


@validate(potential=IsCallable(), x=Tensor(shape=("n", "d"), dtype="floating"), same=[("potential", "x")])
def hessian_min_eigenvalue(potential, x: torch.Tensor) -> torch.Tensor:
    r"""Smallest eigenvalue of the Hessian :math:`\nabla^2 f(x_i)` at each row of ``x``.

    .. math:: \lambda_{\min}\bigl(\nabla^2 f(x_i)\bigr), \qquad i = 1, \dots, n,

    computed exactly by ``torch.func.vmap(torch.func.hessian(f))`` and ``eigvalsh``.
    :math:`f` is convex on a convex set iff this is :math:`\ge 0` everywhere on it; on samples it is
    a necessary check (a negative value proves non-convexity). For piecewise affine
    potentials (ReLU-type activations) the Hessian is zero almost everywhere and the check
    says nothing.

    Parameters
    ----------
    potential : callable or ICNN
        Maps a tensor of shape ``(d,)`` (or ``(..., d)``) to a scalar (or ``(...)``); must be
        a pure function of its input that ``torch.func`` can transform. For an
        :class:`ICNN` its unchecked forward pass is used.
    x : Tensor, shape (n, d)

    Returns
    -------
    Tensor, shape (n,)
        On the device and dtype of ``x``.

    Notes
    -----
    See the chapter :doc:`Transport maps and embedding alignment </book/transport>`.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(4, 3, dtype=torch.float64)
    >>> hessian_min_eigenvalue(lambda v: (v ** 2).sum() - 3 * v[0] ** 2, x)
    tensor([-4., -4., -4., -4.], dtype=torch.float64)
    """
    fn = potential._forward if isinstance(potential, ICNN) else potential
    hess = torch.func.vmap(torch.func.hessian(lambda v: fn(v[None])[0] if isinstance(potential, ICNN)
                                              else fn(v)))(x)
    out = torch.linalg.eigvalsh(hess)[:, 0].detach()
    if not bool(torch.isfinite(out).all()):
        raise FloatingPointError("hessian_min_eigenvalue: the potential's Hessian is not finite at x")
    return out
