"""Activations with their infinite-width Gaussian expectations, and a registry.

An activation :math:`\\phi` enters the infinite-width recursions only through
two Gaussian expectations over :math:`(u, v) \\sim \\mathcal N(0, \\Sigma)` with
:math:`\\Sigma = \\begin{pmatrix} k_{11} & k_{12} \\\\ k_{12} & k_{22} \\end{pmatrix}`:

.. math::

    T(\\Sigma) = \\mathbb E[\\phi(u)\\phi(v)], \\qquad
    \\dot T(\\Sigma) = \\mathbb E[\\phi'(u)\\phi'(v)].

An :class:`Activation` bundles the elementwise function (for finite networks)
with a function returning ``(T, Tdot)`` (for the analytic kernels). Closed forms
are registered for ReLU, erf and the identity; :func:`quadrature_activation`
builds the pair for any smooth-enough function by Gauss-Hermite quadrature, so
new activations can be added without deriving a closed form.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import torch

from nips2019.utils import Bool, Constraint, Integer, InstanceOf, IsCallable, check_arguments, validate

KernelFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], "tuple[torch.Tensor, torch.Tensor]"]


@dataclasses.dataclass(frozen=True)
class Activation:
    """An elementwise nonlinearity and its infinite-width kernel map.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    Attributes
    ----------
    name : str
        Registry name.
    fn : callable
        Elementwise torch function used by finite networks.
    kernel : callable
        ``kernel(k11, k22, k12) -> (T, Tdot)``: broadcastable tensors of
        variances and covariance in, :math:`\\mathbb E[\\phi(u)\\phi(v)]` and
        :math:`\\mathbb E[\\phi'(u)\\phi'(v)]` out.
    """

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    kernel: KernelFn

    def __post_init__(self):
        check_arguments(
            "Activation",
            name=(self.name, InstanceOf(str)),
            fn=(self.fn, IsCallable()),
            kernel=(self.kernel, IsCallable()),
        )


_REGISTRY: dict[str, Activation] = {}


class ActivationArg(Constraint):
    """An :class:`Activation` or the name of a registered one (internal constraint type)."""

    def __init__(self, optional: bool = False):
        self.optional = optional

    def check_value(self, value, name, ctx):
        if isinstance(value, Activation):
            return
        if not isinstance(value, str):
            ctx.fail(TypeError, f"{name} must be {self.describe()}, got {type(value).__name__} {value!r}")
        if value not in _REGISTRY:
            ctx.fail(ValueError, f"{name} must be a registered activation ({', '.join(sorted(_REGISTRY))}) "
                                 f"or an Activation, got unknown activation {value!r}")

    def describe(self):
        return "the name of a registered activation or an Activation"


@validate(activation=InstanceOf(Activation), overwrite=Bool())
def register_activation(activation: Activation, *, overwrite: bool = False) -> Activation:
    """Add an :class:`Activation` to the registry used by name elsewhere.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    Parameters
    ----------
    activation : Activation
        The activation to register under ``activation.name``.
    overwrite : bool
        Allow replacing an existing entry.

    Returns
    -------
    Activation
        The registered activation.

    Examples
    --------
    >>> import torch
    >>> act = quadrature_activation("softplus_demo", torch.nn.functional.softplus)
    >>> register_activation(act, overwrite=True).name
    'softplus_demo'
    >>> get_activation("softplus_demo") is act
    True
    """
    if activation.name in _REGISTRY and not overwrite:
        raise ValueError(
            f"register_activation: activation {activation.name!r} is already registered (pass overwrite=True)"
        )
    _REGISTRY[activation.name] = activation
    return activation


@validate(activation=ActivationArg())
def get_activation(activation: "str | Activation") -> Activation:
    """Look an activation up by name (or pass an :class:`Activation` through).

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    Examples
    --------
    >>> get_activation("relu").name
    'relu'
    >>> get_activation("tanhh")
    Traceback (most recent call last):
    ...
    ValueError: get_activation: activation must be a registered activation (...) or an Activation, got unknown activation 'tanhh'
    """
    return _lookup(activation)


def _lookup(activation: "str | Activation") -> Activation:
    """Unchecked lookup (the caller declared ``ActivationArg``)."""
    return activation if isinstance(activation, Activation) else _REGISTRY[activation]


def list_activations() -> list[str]:
    """Names of the registered activations.

    Examples
    --------
    >>> {"relu", "erf", "identity"} <= set(list_activations())
    True
    """
    return sorted(_REGISTRY)


# ----------------------------------------------------------------------------- closed forms


def _relu_kernel(k11, k22, k12):
    # Arc-cosine kernel of degree 1 (Cho & Saul 2009) without the factor 2, as in
    # neural-tangents: use W_std = sqrt(2) for the He-normalised network.
    # In-place on fresh temporaries (this runs on every block of every layer).
    prod = (k11 * k22).clamp_min_(0)
    cos = k12 / prod.sqrt().clamp_min_(torch.finfo(k12.dtype).tiny)
    cos.masked_fill_(prod == 0, 1.0)  # a zero variance: angle 0 by convention
    pm = cos.clamp_(-1.0, 1.0).arccos_().neg_().add_(math.pi)  # pi - theta
    # prod - k12^2 with two roundings, not one fused: on the diagonal it is then exactly 0
    sin_part = prod.sub_(k12 * k12).clamp_min_(0).sqrt_()
    t = sin_part.add_(pm * k12).div_(2 * math.pi)
    tdot = pm.div_(2 * math.pi)
    return t, tdot


def _erf_kernel(k11, k22, k12):
    # E[erf(u) erf(v)] = (2/pi) arcsin(2 k12 / sqrt((1 + 2 k11)(1 + 2 k22)))   (Williams 1997)
    # E[erf'(u) erf'(v)] = (4/pi) / sqrt((1 + 2 k11)(1 + 2 k22) - 4 k12^2)
    a = (1 + 2 * k11) * (1 + 2 * k22)
    t = (2 / math.pi) * torch.arcsin((2 * k12 / a.sqrt()).clamp(-1.0, 1.0))
    tdot = (4 / math.pi) / (a - 4 * k12 * k12).clamp_min(torch.finfo(k12.dtype).tiny).sqrt()
    return t, tdot


def _identity_kernel(k11, k22, k12):
    return k12, torch.ones_like(k12)


register_activation(Activation("relu", torch.relu, _relu_kernel))
register_activation(Activation("erf", torch.erf, _erf_kernel))
register_activation(Activation("identity", lambda x: x, _identity_kernel))


# ----------------------------------------------------------------------------- quadrature


@validate(name=InstanceOf(str), fn=IsCallable(), degree=Integer(low=2, high=1024))
def quadrature_activation(
    name: str, fn: Callable[[torch.Tensor], torch.Tensor], *, degree: int = 32
) -> Activation:
    """Build an :class:`Activation` for any elementwise ``fn`` by Gauss-Hermite quadrature.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    .. math::

        \\mathbb E[g(u) h(v)] \\approx \\sum_{a,b} w_a w_b\\,
        g(\\sqrt{k_{11}}\\, z_a)\\,
        h\\big(\\rho \\sqrt{k_{22}}\\, z_a + \\sqrt{1-\\rho^2}\\sqrt{k_{22}}\\, z_b\\big),
        \\qquad \\rho = k_{12} / \\sqrt{k_{11} k_{22}},

    with probabilists' Hermite nodes :math:`z` and weights :math:`w` (summing to
    one). The derivative :math:`\\phi'` comes from autograd. Accurate for smooth
    activations; kinks (ReLU) converge slowly, which is why closed forms exist.

    Parameters
    ----------
    name : str
        Name of the activation.
    fn : callable
        Elementwise torch function.
    degree : int
        Number of quadrature nodes per dimension, in [2, 1024]; memory grows like
        ``degree**2`` per pair of inputs.

    Returns
    -------
    Activation

    Examples
    --------
    >>> import torch
    >>> act = quadrature_activation("erf_q", torch.erf, degree=40)
    >>> k = torch.tensor([0.7], dtype=torch.float64)
    >>> t_q, _ = act.kernel(k, k, 0.5 * k)
    >>> t_c, _ = get_activation("erf").kernel(k, k, 0.5 * k)
    >>> bool(torch.allclose(t_q, t_c, atol=1e-8))
    True
    """
    z_np, w_np = np.polynomial.hermite_e.hermegauss(int(degree))
    w_np = w_np / w_np.sum()

    def dfn(x):
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(fn(x).sum(), x)
        return g

    def kernel(k11, k22, k12):
        k11, k22, k12 = torch.broadcast_tensors(k11, k22, k12)
        z = torch.as_tensor(z_np, dtype=k12.dtype, device=k12.device)
        w = torch.as_tensor(w_np, dtype=k12.dtype, device=k12.device)
        s1 = k11.clamp_min(0).sqrt()[..., None, None]
        s2 = k22.clamp_min(0).sqrt()[..., None, None]
        denom = (k11 * k22).clamp_min(torch.finfo(k12.dtype).tiny).sqrt()
        rho = (k12 / denom).clamp(-1.0, 1.0)[..., None, None]
        za, zb = z[:, None], z[None, :]
        u = s1 * za
        v = s2 * (rho * za + (1 - rho * rho).clamp_min(0).sqrt() * zb)
        ww = w[:, None] * w[None, :]
        t = (fn(u) * fn(v) * ww).sum((-1, -2))
        tdot = (dfn(u) * dfn(v) * ww).sum((-1, -2))
        return t, tdot

    return Activation(name, fn, kernel)
