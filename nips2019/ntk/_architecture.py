r"""One description of an architecture for both worlds: the finite network and its kernels.

Layers are small objects composed with :func:`serial`, :func:`parallel` and :func:`residual`
(neural-tangents' ``stax`` idea, in PyTorch). Every layer object knows

* how to build its finite module (:meth:`Layer.network`), in NTK or standard parameterisation,
  with widths and fan-ins fixed by the description, and
* how its infinite-width limit transforms the kernels (:meth:`Layer.kernels`).

The kernel state carried between layers is the NNGP covariance :math:`K(x, x')` and the NTK
:math:`\Theta(x, x')` of every pair of inputs and, for images, of every pair of *positions*
(shape ``(H, W, H, W, n1, n2)``), plus each input's covariance with itself (for the
variances the activations need, also after pooling mixes positions). Conventions are
:func:`cnn_kernels`' and :func:`analytic_kernels`' (neural-tangents' ``stax``): input kernel
:math:`x^\top x'/d` (channel mean for images), TensorFlow ``"SAME"`` padding, an affine layer
maps :math:`K \mapsto \sigma_w^2 \mathcal A(K) + \sigma_b^2` where :math:`\mathcal A` is the
identity (dense) or the average over the filter's offsets (conv), and
:math:`\Theta \mapsto K_{\text{new}} + \sigma_w^2 \mathcal A(\Theta)` (NTK parameterisation) or
:math:`\text{fan-in}\cdot \mathcal A(K) + [\text{bias}] + \sigma_w^2 \mathcal A(\Theta)`
(standard). Average pooling averages over the window on both sides, global average pooling
over all pairs of positions, flatten over equal positions. The kernel map of a nonlinearity
assumes Gaussian inputs, so a nonlinearity must follow a dense or conv layer (possibly pooled,
flattened or summed with other Gaussian branches); one after the raw input or after another
nonlinearity is refused. A parallel block sums its branches'
outputs; its kernels are the sums of the branches' kernels, which is exact in the limit when
the branches are independent given the input and all but one of them end in a zero-mean
random affine layer (then the cross-covariances vanish); :func:`parallel` checks that.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nips2019.utils import (
    Device,
    DType,
    Generator,
    Integer,
    Items,
    Options,
    Real,
    Tensor,
    as_generator,
    validate,
)

from ._activations import Activation, ActivationArg, _lookup
from ._analytic import PARAMETERIZATIONS, Kernels
from ._conv import PADDINGS, ConvNTK, _out_size, _patch_mean
from ._mlp import DenseNTK, Elementwise

#: Numbers per kernel block in :meth:`Layer.kernels` (pairs of inputs x pairs of positions).
PAIR_BLOCK = 2**22

AFFINE = dict(w_std=Real(low=0, closed="neither"), b_std=Real(low=0, optional=True))


class _State:
    """Kernels between x1 and x2 and of each input with itself; ``spatial`` = image kernels."""

    def __init__(self, k12, t12, k11, k22, shape, gaussian=True):
        self.k12, self.t12, self.k11, self.k22, self.shape = k12, t12, k11, k22, shape
        #: whether the features are (in the limit) a Gaussian process: what the kernel map of a
        #: nonlinearity assumes of its input
        self.gaussian = gaussian

    @property
    def spatial(self) -> bool:
        return len(self.shape) == 3

    def map(self, fn):
        """Apply a linear map of the kernels (conv, pooling, flatten) to every kernel."""
        return fn(self.k12), fn(self.t12), fn(self.k11), fn(self.k22)


def _var(k, spatial):
    """Variance of each input at each position from its self-covariance: (H, W, n) or (n,)."""
    if not spatial:
        return k
    h, w = k.shape[0], k.shape[1]
    return k.reshape(h * w, h * w, -1).diagonal(dim1=0, dim2=1).T.reshape(h, w, -1)


class Layer:
    """A layer of an architecture: its finite module and its infinite-width kernel map.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    Build one with :func:`dense`, :func:`conv`, :func:`avg_pool`, :func:`global_avg_pool`,
    :func:`flatten`, :func:`nonlinearity` and compose with :func:`serial`,
    :func:`parallel`, :func:`residual`. Use :meth:`network` for the finite network and
    :meth:`kernels` for its infinite-width NNGP and NTK.
    """

    #: Whether the layer's output has mean zero given its input (a random affine layer, or
    #: a linear map of such an output): what :func:`parallel` needs of its branches.
    zero_mean = False

    def _out_shape(self, shape):  # pragma: no cover - every layer overrides it
        raise NotImplementedError

    def _module(self, shape, parameterization, generator, device, dtype):  # pragma: no cover
        raise NotImplementedError

    def _kernels(self, state, parameterization):  # pragma: no cover
        raise NotImplementedError

    def _zero_mean(self, upstream: bool) -> bool:
        return self.zero_mean

    @validate(
        input_shape=Items(Integer(low=1), min_length=1),
        parameterization=Options(*PARAMETERIZATIONS),
        generator=Generator(),
        device=Device(),
        dtype=DType(optional=True),
    )
    def network(self, input_shape, *, parameterization: str = "ntk", generator=None, device=None,
                dtype=None) -> nn.Module:
        """The finite network this layer describes.

        Parameters
        ----------
        input_shape : tuple of int
            Shape of one example: ``(d,)`` or ``(C, H, W)``.
        parameterization : {"ntk", "standard"}
        generator : None, int or torch.Generator
            One generator for every layer (drawn on the CPU, moved to ``device``).
        device, dtype : optional

        Returns
        -------
        torch.nn.Module
            Maps ``(n, *input_shape)`` to ``(n, *output_shape)``.
        """
        shape = _check_shape(tuple(int(s) for s in input_shape))
        self._out_shape(shape)  # shape errors before any parameter is drawn
        return self._module(shape, parameterization, as_generator(generator), device, dtype)

    @validate(
        x1=Tensor(dtype="floating"),
        x2=Tensor(dtype="floating", optional=True),
        parameterization=Options(*PARAMETERIZATIONS),
        same=[("x1", "x2")],
    )
    def kernels(self, x1: torch.Tensor, x2: torch.Tensor | None = None, *,
                parameterization: str = "ntk") -> Kernels:
        r"""Infinite-width NNGP and NTK of the network (as in the module docstring).

        Computed over blocks of pairs (an image kernel holds :math:`(HW)^2` numbers per pair),
        so memory stays bounded.

        Parameters
        ----------
        x1 : Tensor, shape (n1, d) or (n1, C, H, W)
        x2 : Tensor, shape (n2, ...), optional
            Defaults to ``x1``.
        parameterization : {"ntk", "standard"}
            The NNGP is the same for both; the standard NTK uses the fan-ins of the
            description's finite widths.

        Returns
        -------
        Kernels
            ``nngp`` and ``ntk`` of shape ``(n1, n2)`` for a network whose output is flat
            (one kernel shared by every output unit, as :func:`analytic_kernels`).
        """
        symmetric = x2 is None
        x2 = x1 if symmetric else x2
        if x1.dim() not in (2, 4) or x2.shape[1:] != x1.shape[1:]:
            raise ValueError(f"{type(self).__name__}.kernels: x1 and x2 must be (n, d) or (n, C, H, W) with one "
                             f"per-example shape, got {tuple(x1.shape)} and {tuple(x2.shape)}")
        shape = tuple(x1.shape[1:])
        out_shape = self._out_shape(shape)
        if len(out_shape) != 1:
            raise ValueError(f"{type(self).__name__}.kernels: the network's output must be flat (end with "
                             f"flatten/global_avg_pool and a dense layer), got per-example shape {out_shape}")
        # blocks of pairs: an image kernel holds (H W)^2 numbers per pair; about 2**22 per block
        per_pair = (shape[1] * shape[2]) ** 2 if len(shape) == 3 else 1
        step = max(1, int(math.sqrt(PAIR_BLOCK / per_pair)))
        n1, n2 = x1.shape[0], x2.shape[0]
        k = torch.empty(n1, n2, dtype=x1.dtype, device=x1.device)
        t = torch.empty_like(k)
        for s1 in range(0, n1, step):
            a = x1[s1 : s1 + step]
            for s2 in range(s1 if symmetric else 0, n2, step):
                diag = symmetric and s1 == s2
                state = self._kernels(_input_state(a, a if diag else x2[s2 : s2 + step], diag), parameterization)
                e1, e2 = s1 + state.k12.shape[0], s2 + state.k12.shape[1]
                k[s1:e1, s2:e2], t[s1:e1, s2:e2] = state.k12, state.t12
                if symmetric and s2 > s1:
                    k[s2:e2, s1:e1], t[s2:e2, s1:e1] = state.k12.T, state.t12.T
        if symmetric:
            k, t = 0.5 * (k + k.T), 0.5 * (t + t.T)
        if not bool(torch.isfinite(k).all() & torch.isfinite(t).all()):
            raise ValueError(f"{type(self).__name__}.kernels: the kernels overflow {x1.dtype}")
        return Kernels(nngp=k, ntk=t)


def _check_shape(shape):
    if len(shape) not in (1, 3):
        raise ValueError(f"input_shape must be (d,) or (C, H, W), got {shape}")
    return shape


def _input_state(x1, x2, symmetric):
    if x1.dim() == 2:
        d = x1.shape[1]
        k12 = x1 @ x2.T / d
        k11, k22 = (x1 * x1).mean(1), (x2 * x2).mean(1)
        if symmetric:
            k12.diagonal().copy_(k11)
    else:
        c = x1.shape[1]
        a, b = x1.permute(2, 3, 1, 0), x2.permute(2, 3, 1, 0)  # (H, W, C, n)
        k12 = torch.einsum("hwca,xycb->hwxyab", a, b).div_(c).contiguous()
        k11 = torch.einsum("hwca,xyca->hwxya", a, a).div_(c).contiguous()
        k22 = k11 if symmetric else torch.einsum("hwca,xyca->hwxya", b, b).div_(c).contiguous()
        if symmetric:
            k12.diagonal(dim1=-2, dim2=-1).copy_(k11)
    return _State(k12, torch.zeros_like(k12), k11, k22, tuple(x1.shape[1:]), gaussian=False)


class _Affine(Layer):
    zero_mean = True

    def _affine(self, state, pre, fan_in, parameterization):
        """K -> w2 A(K) + b2; Theta -> (K_new or fan_in A(K) + [bias]) + w2 A(Theta)."""
        w2 = self.w_std**2
        b2 = 0.0 if self.b_std is None else float(self.b_std) ** 2
        k12, t12, k11, k22 = state.map(pre)
        new = w2 * k12 + b2
        if parameterization == "ntk":
            t = new + w2 * t12
        else:
            t = fan_in * k12 + (0.0 if self.b_std is None else 1.0) + w2 * t12
        return new, t, w2 * k11 + b2, w2 * k22 + b2


class _Dense(_Affine):
    def __init__(self, out_features, w_std, b_std):
        self.out_features, self.w_std, self.b_std = int(out_features), float(w_std), b_std

    def __repr__(self):
        return f"dense({self.out_features}, w_std={self.w_std}, b_std={self.b_std})"

    def _out_shape(self, shape):
        if len(shape) != 1:
            raise ValueError(f"dense needs flat features (d,), got per-example shape {shape}: insert flatten() "
                             "or global_avg_pool() first")
        return (self.out_features,)

    def _module(self, shape, parameterization, generator, device, dtype):
        return DenseNTK(shape[0], self.out_features, w_std=self.w_std, b_std=self.b_std,
                        parameterization=parameterization, generator=generator, device=device, dtype=dtype)

    def _kernels(self, state, parameterization):
        self._out_shape(state.shape)
        k12, t12, k11, k22 = self._affine(state, lambda k: k, state.shape[0], parameterization)
        return _State(k12, t12, k11, k22, (self.out_features,))


class _Conv(_Affine):
    def __init__(self, out_channels, kernel_size, stride, padding, w_std, b_std):
        self.out_channels, self.kernel_size, self.stride = int(out_channels), int(kernel_size), int(stride)
        self.padding, self.w_std, self.b_std = padding, float(w_std), b_std

    def __repr__(self):
        return (f"conv({self.out_channels}, {self.kernel_size}, stride={self.stride}, padding={self.padding!r}, "
                f"w_std={self.w_std}, b_std={self.b_std})")

    def _out_shape(self, shape):
        if len(shape) != 3:
            raise ValueError(f"conv needs images (C, H, W), got per-example shape {shape}")
        k, s = self.kernel_size, self.stride
        if self.padding == "VALID" and min(shape[1:]) < k:
            raise ValueError(f"a VALID {k}x{k} conv needs images of at least {k}x{k}, got {shape[1:]}")
        return (self.out_channels, _out_size(shape[1], k, s, self.padding), _out_size(shape[2], k, s, self.padding))

    def _module(self, shape, parameterization, generator, device, dtype):
        return ConvNTK(shape[0], self.out_channels, self.kernel_size, stride=self.stride, padding=self.padding,
                       w_std=self.w_std, b_std=self.b_std, parameterization=parameterization,
                       generator=generator, device=device, dtype=dtype)

    def _kernels(self, state, parameterization):
        out = self._out_shape(state.shape)
        k, s, p = self.kernel_size, self.stride, self.padding
        fan_in = state.shape[0] * k * k
        k12, t12, k11, k22 = self._affine(state, lambda m: _patch_mean(m, True, k, s, p), fan_in,
                                          parameterization)
        return _State(k12, t12, k11, k22, out)


def _pool_dims(k, window, stride):
    """Average over windows along each of the four leading spatial dims (separable)."""
    for d in range(4):
        k = k.unfold(d, window, stride).mean(-1)
    return k.contiguous()


class _AvgPool(Layer):
    def __init__(self, window, stride):
        self.window, self.stride = int(window), int(stride if stride is not None else window)

    def __repr__(self):
        return f"avg_pool({self.window}, stride={self.stride})"

    def _zero_mean(self, upstream):
        return upstream

    def _out_shape(self, shape):
        if len(shape) != 3 or min(shape[1:]) < self.window:
            raise ValueError(f"avg_pool({self.window}) needs images (C, H, W) of at least {self.window}x"
                             f"{self.window}, got per-example shape {shape}")
        return (shape[0],) + tuple((n - self.window) // self.stride + 1 for n in shape[1:])

    def _module(self, shape, parameterization, generator, device, dtype):
        return nn.AvgPool2d(self.window, self.stride)

    def _kernels(self, state, parameterization):
        out = self._out_shape(state.shape)
        return _State(*state.map(lambda k: _pool_dims(k, self.window, self.stride)), out, state.gaussian)


class _Readout(Layer):
    def __init__(self, kind):
        self.kind = kind

    def __repr__(self):
        return f"{self.kind}()"

    def _zero_mean(self, upstream):
        return upstream

    def _out_shape(self, shape):
        if len(shape) != 3:
            raise ValueError(f"{self.kind} needs images (C, H, W), got per-example shape {shape}")
        return (shape[0] * shape[1] * shape[2],) if self.kind == "flatten" else (shape[0],)

    def _module(self, shape, parameterization, generator, device, dtype):
        return nn.Flatten() if self.kind == "flatten" else _GlobalAvgPool()

    def _kernels(self, state, parameterization):
        out = self._out_shape(state.shape)
        h, w = state.shape[1:]

        def readout(k):
            if self.kind == "global_avg_pool":
                return k.mean((0, 1, 2, 3))
            return k.reshape(h * w, h * w, *k.shape[4:]).diagonal(dim1=0, dim2=1).mean(-1)

        return _State(*state.map(readout), out, state.gaussian)


class _GlobalAvgPool(nn.Module):
    def forward(self, x):
        return x.mean((2, 3))


class _Nonlinearity(Layer):
    def __init__(self, activation: Activation):
        self.activation = activation

    def __repr__(self):
        return f"nonlinearity({self.activation.name!r})"

    def _out_shape(self, shape):
        return shape

    def _module(self, shape, parameterization, generator, device, dtype):
        return Elementwise(self.activation)

    def _kernels(self, state, parameterization):
        if not state.gaussian:
            raise ValueError(
                f"{self!r}: its kernel map assumes Gaussian inputs (the output of a dense/conv layer, pooled, "
                "flattened or summed), but it follows the network input or another nonlinearity, whose "
                "outputs are not Gaussian; put a dense or conv layer before it"
            )
        sp = state.spatial
        v1, v2 = _var(state.k11, sp), _var(state.k22, sp)
        kernel = self.activation.kernel
        if sp:
            a, b = v1[:, :, None, None, :, None], v2[None, None, :, :, None, :]
            a11, b11 = v1[:, :, None, None, :], v1[None, None, :, :, :]
            a22, b22 = v2[:, :, None, None, :], v2[None, None, :, :, :]
        else:
            a, b = v1[:, None], v2[None, :]
            a11 = b11 = v1
            a22 = b22 = v2
        k12, tdot = kernel(a, b, state.k12)
        k11 = kernel(a11, b11, state.k11)[0]
        k22 = k11 if state.k22 is state.k11 else kernel(a22, b22, state.k22)[0]
        return _State(k12, state.t12 * tdot, k11, k22, state.shape, gaussian=False)


class _Serial(Layer):
    def __init__(self, layers):
        self.layers = list(layers)

    def __repr__(self):
        return "serial(" + ", ".join(map(repr, self.layers)) + ")"

    def _zero_mean(self, upstream):
        for layer in self.layers:
            upstream = layer._zero_mean(upstream)
        return upstream

    def _out_shape(self, shape):
        for layer in self.layers:
            shape = layer._out_shape(shape)
        return shape

    def _module(self, shape, parameterization, generator, device, dtype):
        mods = []
        for layer in self.layers:
            mods.append(layer._module(shape, parameterization, generator, device, dtype))
            shape = layer._out_shape(shape)
        return nn.Sequential(*mods)

    def _kernels(self, state, parameterization):
        for layer in self.layers:
            state = layer._kernels(state, parameterization)
        return state


class _Parallel(Layer):
    def __init__(self, branches):
        self.branches = list(branches)

    def __repr__(self):
        return "parallel(" + ", ".join(map(repr, self.branches)) + ")"

    def _zero_mean(self, upstream):
        return all(b._zero_mean(upstream) for b in self.branches)

    def _out_shape(self, shape):
        shapes = [b._out_shape(shape) for b in self.branches]
        if any(s != shapes[0] for s in shapes):
            raise ValueError(f"parallel: the branches' outputs must have one shape, got {shapes}")
        return shapes[0]

    def _module(self, shape, parameterization, generator, device, dtype):
        return _SumModule([b._module(shape, parameterization, generator, device, dtype) for b in self.branches])

    def _kernels(self, state, parameterization):
        out = [b._kernels(state, parameterization) for b in self.branches]
        total = out[0]
        k12, t12, k11, k22 = total.k12, total.t12, total.k11, total.k22
        same = k22 is k11
        for s in out[1:]:
            k12, t12, k11 = k12 + s.k12, t12 + s.t12, k11 + s.k11
            k22 = k11 if same else k22 + s.k22
        return _State(k12, t12, k11, k22, total.shape, all(s.gaussian for s in out))


class _SumModule(nn.Module):
    """The sum of branch modules applied to one input (the finite parallel block)."""

    def __init__(self, branches):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        out = self.branches[0](x)
        for b in self.branches[1:]:
            out = out + b(x)
        return out


# ----------------------------------------------------------------------------- constructors


@validate(out_features=Integer(low=1), **AFFINE)
def dense(out_features: int, *, w_std: float = 1.0, b_std: float | None = None) -> Layer:
    r"""A dense layer, :math:`z = \frac{\sigma_w}{\sqrt{n_{in}}} W h + \sigma_b b` (NTK parameterisation).

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    Parameters
    ----------
    out_features : int
        Width (infinite in :meth:`Layer.kernels`, except through the standard NTK's fan-ins).
    w_std : float
    b_std : float or None
        ``None``: no bias.

    Returns
    -------
    Layer

    Examples
    --------
    >>> import torch
    >>> arch = serial(dense(64, w_std=1.5), nonlinearity("erf"), dense(1, w_std=1.5))
    >>> arch.network((3,), generator=0)(torch.randn(2, 3)).shape
    torch.Size([2, 1])
    """
    return _Dense(out_features, w_std, b_std)


@validate(out_channels=Integer(low=1), kernel_size=Integer(low=1), stride=Integer(low=1),
          padding=Options(*PADDINGS), **AFFINE)
def conv(out_channels: int, kernel_size: int = 3, *, stride: int = 1, padding: str = "SAME",
         w_std: float = 1.0, b_std: float | None = None) -> Layer:
    r"""A 2-D convolution with square filters (:class:`ConvNTK`), channels-first images.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    Parameters
    ----------
    out_channels, kernel_size, stride : int
    padding : {"SAME", "VALID"}
    w_std : float
    b_std : float or None

    Returns
    -------
    Layer

    Examples
    --------
    >>> import torch
    >>> arch = serial(conv(8, 3), nonlinearity("relu"), flatten(), dense(1))
    >>> arch.kernels(torch.randn(2, 1, 4, 4)).ntk.shape
    torch.Size([2, 2])
    """
    return _Conv(out_channels, kernel_size, stride, padding, w_std, b_std)


@validate(window=Integer(low=1), stride=Integer(low=1, optional=True))
def avg_pool(window: int = 2, *, stride: int | None = None) -> Layer:
    r"""Average pooling over ``window x window`` patches (no padding; ``stride`` defaults to ``window``).

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    Its kernel map averages :math:`K_{p q}` over the window around :math:`p` *and* the window
    around :math:`q` (every pair of offsets), unlike a convolution, which takes equal offsets.

    Parameters
    ----------
    window : int
    stride : int, optional

    Returns
    -------
    Layer

    Examples
    --------
    >>> import torch
    >>> arch = serial(conv(4, 3), nonlinearity("relu"), avg_pool(2), flatten(), dense(1))
    >>> arch.network((1, 4, 4), generator=0)(torch.randn(3, 1, 4, 4)).shape
    torch.Size([3, 1])
    """
    return _AvgPool(window, stride)


@validate()
def global_avg_pool() -> Layer:
    r"""Mean over all positions, ``(C, H, W) -> (C,)``; its kernel averages every pair of positions.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    Returns
    -------
    Layer

    Examples
    --------
    >>> global_avg_pool()
    global_avg_pool()
    """
    return _Readout("global_avg_pool")


@validate()
def flatten() -> Layer:
    r"""Flatten ``(C, H, W) -> (C H W,)``; its kernel averages the covariances of equal positions.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    Returns
    -------
    Layer

    Examples
    --------
    >>> flatten()
    flatten()
    """
    return _Readout("flatten")


@validate(activation=ActivationArg())
def nonlinearity(activation: "str | Activation" = "relu") -> Layer:
    r"""An elementwise activation (a registered name or an :class:`Activation`).

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    Parameters
    ----------
    activation : str or Activation

    Returns
    -------
    Layer

    Examples
    --------
    >>> nonlinearity("erf")
    nonlinearity('erf')
    """
    return _Nonlinearity(_lookup(activation))


def _layers(func, layers):
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(f"{func}: argument {i} must be a Layer (from dense, conv, ...), got "
                            f"{type(layer).__name__}")
    return layers


@validate()
def serial(*layers: Layer) -> Layer:
    r"""Layers applied one after the other; ``serial()`` is the identity.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    Parameters
    ----------
    *layers : Layer

    Returns
    -------
    Layer

    Examples
    --------
    >>> import torch
    >>> from nips2019.ntk import analytic_kernels
    >>> x = torch.randn(4, 3, dtype=torch.float64)
    >>> arch = serial(dense(512, w_std=1.4, b_std=0.1), nonlinearity("relu"), dense(1, w_std=1.4, b_std=0.1))
    >>> ref = analytic_kernels(x, depth=1, w_std=1.4, b_std=0.1)
    >>> bool(torch.allclose(arch.kernels(x).ntk, ref.ntk))
    True
    """
    return _Serial(_layers("serial", layers))


@validate()
def parallel(*branches: Layer) -> Layer:
    r"""Branches applied to one input, their outputs summed (``FanOut`` then ``FanInSum``).

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    The kernels of the sum are the sums of the branches' kernels. That is the limit only when
    the cross-covariances vanish, so all branches but at most one must end in a random
    affine layer (:func:`dense`/:func:`conv`, possibly followed by pooling or flatten); the
    others are refused.

    Parameters
    ----------
    *branches : Layer
        At least two.

    Returns
    -------
    Layer

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(3, 2, dtype=torch.float64)
    >>> two = parallel(dense(8), dense(8)).kernels(x)  # = one dense layer with w_std^2 = 2
    >>> bool(torch.allclose(two.nngp, dense(8, w_std=2**0.5).kernels(x).nngp))
    True
    """
    branches = _layers("parallel", branches)
    if len(branches) < 2:
        raise ValueError(f"parallel: needs at least two branches, got {len(branches)}")
    plain = [i for i, b in enumerate(branches) if not b._zero_mean(False)]
    if len(plain) > 1:
        raise ValueError(f"parallel: branches {plain} do not end in a random affine layer (dense/conv), so their "
                         "outputs are correlated and the sum of their kernels is not the kernel of the sum; at "
                         "most one such branch (e.g. the identity of a residual block) is allowed")
    return _Parallel(branches)


@validate()
def residual(*layers: Layer) -> Layer:
    r"""A residual block, :math:`h \mapsto h + g(h)` with :math:`g` = ``serial(*layers)``.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    .. math::

        K_{\text{out}} = K_{\text{in}} + K_g, \qquad \Theta_{\text{out}} = \Theta_{\text{in}} + \Theta_g,

    where :math:`g` must end in a random affine layer (so that it is uncorrelated with
    :math:`h`); the shapes of :math:`h` and :math:`g(h)` must agree.

    Parameters
    ----------
    *layers : Layer

    Returns
    -------
    Layer

    Examples
    --------
    >>> import torch
    >>> arch = serial(dense(16), residual(nonlinearity("relu"), dense(16)), dense(1))
    >>> arch.network((3,), generator=0)(torch.randn(2, 3)).shape
    torch.Size([2, 1])
    """
    return parallel(_Serial([]), _Serial(_layers("residual", layers)))
