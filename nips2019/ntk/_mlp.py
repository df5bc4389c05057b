"""Finite fully connected networks whose infinite-width limit is :func:`analytic_kernels`."""

from __future__ import annotations

import math

import torch
from torch import nn

from nips2019.utils import Device, DType, Generator, Integer, Tensor, as_generator, randn, validate

from ._activations import Activation, ActivationArg, _lookup
from ._analytic import ARCHITECTURE


#: The inputs of a module's forward pass: rank and dtype only. Forward passes run inside
#: training steps and under ``torch.func`` transforms, so no value checks (no host sync).
FORWARD_INPUT = Tensor(dtype="floating", finite=False)


class DenseNTK(nn.Module):
    """A dense layer in NTK or standard parameterisation (neural-tangents' conventions).

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    .. math::

        \\text{ntk:}\\; z = \\frac{\\sigma_w}{\\sqrt{n_{in}}} W x + \\sigma_b b,\\;
        W_{ij}, b_i \\sim \\mathcal N(0, 1); \\qquad
        \\text{standard:}\\; z = W x + b,\\; W_{ij} \\sim \\mathcal N(0, \\sigma_w^2 / n_{in}),\\;
        b_i \\sim \\mathcal N(0, \\sigma_b^2).

    Both give the same function distribution at initialisation; they differ in
    the gradients, hence in the NTK and in the learning rates that work.

    Parameters
    ----------
    in_features, out_features : int
        Sizes.
    w_std : float
        :math:`\\sigma_w`.
    b_std : float or None
        :math:`\\sigma_b`; ``None`` means no bias parameter at all.
    parameterization : {"ntk", "standard"}
    generator : None, int or torch.Generator
        Randomness for the initialisation (the package's rule: a seed or a CPU
        generator; drawn on the CPU and moved to ``device``).
    device, dtype : optional
        Where the parameters live.

    Examples
    --------
    >>> import torch
    >>> layer = DenseNTK(3, 2, w_std=1.5, b_std=0.1, generator=0)
    >>> layer(torch.ones(4, 3)).shape
    torch.Size([4, 2])
    """

    @validate(
        in_features=Integer(low=1),
        out_features=Integer(low=1),
        generator=Generator(),
        device=Device(),
        dtype=DType(optional=True),
        **ARCHITECTURE,
    )
    def __init__(self, in_features, out_features, *, w_std=1.0, b_std=None, parameterization="ntk",
                 generator=None, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.w_std, self.b_std, self.parameterization = float(w_std), b_std, parameterization
        generator = as_generator(generator)
        kw = dict(generator=generator, device=device, dtype=dtype)
        w = randn(self.out_features, self.in_features, **kw)
        if parameterization == "standard":
            w = w * (self.w_std / math.sqrt(self.in_features))
        self.weight = nn.Parameter(w)
        if b_std is None:
            self.register_parameter("bias", None)
        else:
            b = randn(self.out_features, **kw)
            if parameterization == "standard":
                b = b * float(b_std)
            self.bias = nn.Parameter(b)

    @validate(x=FORWARD_INPUT, same=[("self", "x")])
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"DenseNTK.forward: x must have in_features = {self.in_features} entries along its last axis, "
                f"got shape {tuple(x.shape)}"
            )
        if self.parameterization == "ntk":
            out = x @ self.weight.T * (self.w_std / math.sqrt(self.in_features))
            if self.bias is not None:
                out = out + float(self.b_std) * self.bias
            return out
        out = x @ self.weight.T
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.out_features}, w_std={self.w_std}, b_std={self.b_std}, "
                f"parameterization={self.parameterization!r}")


class Elementwise(nn.Module):
    """Wrap a registered :class:`Activation` as a module.

    Parameters
    ----------
    activation : str or Activation
        A registered name (``"relu"``, ``"erf"``, ...) or an :class:`Activation`.

    Examples
    --------
    >>> import torch
    >>> Elementwise("relu")(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """

    @validate(activation=ActivationArg())
    def __init__(self, activation: "str | Activation"):
        super().__init__()
        self.activation = _lookup(activation)

    @validate(x=FORWARD_INPUT)
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation.fn(x)

    def extra_repr(self) -> str:
        return self.activation.name


@validate(
    in_features=Integer(low=1),
    width=Integer(low=1),
    depth=Integer(low=0),
    out_features=Integer(low=1),
    activation=ActivationArg(),
    generator=Generator(),
    device=Device(),
    dtype=DType(optional=True),
    **ARCHITECTURE,
)
def mlp(
    in_features: int,
    width: int,
    *,
    depth: int = 1,
    out_features: int = 1,
    activation: "str | Activation" = "relu",
    w_std: float = 1.0,
    b_std: float | None = None,
    parameterization: str = "ntk",
    generator: int | torch.Generator | None = None,
    device=None,
    dtype=None,
) -> nn.Sequential:
    """A fully connected network whose infinite-width kernels are :func:`analytic_kernels`.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    ``depth`` blocks ``DenseNTK(width) -> activation`` and a ``DenseNTK(out_features)``
    readout, all with the same ``w_std``/``b_std``. As ``width`` grows, the
    outputs at initialisation become a Gaussian process with kernel
    ``analytic_kernels(..., same arguments).nngp`` and the empirical NTK
    (:func:`empirical_ntk`) tends to ``.ntk`` (NTK parameterisation) at a rate
    :math:`O(\\text{width}^{-1/2})`.

    Parameters
    ----------
    in_features, width, depth, out_features : int
        Input size, hidden width, number of hidden layers, output size.
    activation, w_std, b_std, parameterization
        As in :func:`analytic_kernels`.
    generator : None, int or torch.Generator
        Randomness for the initialisation (the package's rule: a seed or a CPU
        generator, drawn on the CPU and moved to ``device``, so CPU and CUDA
        networks built with one seed are equal).
    device, dtype : optional
        Where the parameters live.

    Returns
    -------
    torch.nn.Sequential

    Examples
    --------
    >>> import torch
    >>> net = mlp(4, 16, depth=2, out_features=3, activation="erf", b_std=0.1, generator=0)
    >>> net(torch.randn(5, 4)).shape
    torch.Size([5, 3])
    """
    act = _lookup(activation)
    generator = as_generator(generator)  # one generator for all layers
    kw = dict(w_std=w_std, b_std=b_std, parameterization=parameterization, generator=generator,
              device=device, dtype=dtype)
    layers: list[nn.Module] = []
    n_in = in_features
    for _ in range(depth):
        layers += [DenseNTK(n_in, width, **kw), Elementwise(act)]
        n_in = width
    layers.append(DenseNTK(n_in, out_features, **kw))
    return nn.Sequential(*layers)
