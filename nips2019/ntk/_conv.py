"""Infinitely wide convolutional networks: closed-form CNN-GP and CNTK, matching finite CNNs,
and a Monte-Carlo estimator of both kernels.

Conventions are neural-tangents' ``stax`` ones (NTK parameterisation), written for PyTorch's
channels-first images ``(n, C, H, W)``:

* a convolution with ``C_in`` input channels and a ``k_h x k_w`` filter computes
  :math:`z = \\frac{\\sigma_w}{\\sqrt{C_{in} k_h k_w}}\\, W * x + \\sigma_b b`, with
  :math:`W, b \\sim \\mathcal N(0, 1)`; ``padding="SAME"`` pads with zeros as TensorFlow/JAX do
  (``total = max((ceil(H/s) - 1) s + k - H, 0)``, the smaller half before), and the padded
  zeros still count in the :math:`k_h k_w` of the normalisation;
* the input kernel is the channel mean :math:`K^0_{hw,h'w'}(x, x') = \\frac1C \\sum_c
  x_{c h w}\\, x'_{c h' w'}`;
* a convolution maps the covariance of every pair of positions to the average over the
  filter's offsets, :math:`K \\leftarrow \\sigma_w^2\\, \\frac{1}{k_h k_w} \\sum_{\\delta}
  K_{h + \\delta_h, w + \\delta_w, h' + \\delta_h, w' + \\delta_w} + \\sigma_b^2` (strided),
  and :math:`\\Theta \\leftarrow \\sigma_w^2\\, \\mathcal A(\\Theta) + K_{\\text{new}}`, as a
  dense layer does; an activation acts elementwise on every pair of positions, with the
  variances of the two positions;
* ``readout="flatten"`` (flatten then a dense layer) averages the covariances of *equal*
  positions, :math:`\\frac{1}{HW}\\sum_{hw} K_{hw,hw}`, so only those are ever computed;
  ``readout="gap"`` (global average pooling then a dense layer) averages *all* pairs of
  positions, :math:`\\frac{1}{(HW)^2}\\sum K_{hw,h'w'}`, which needs the full
  :math:`(H W)^2` covariance of every pair of inputs (Arora et al. 2019's CNTK-GAP).

Input images with one pixel and ``kernel_size=1`` give the dense kernels of
:func:`analytic_kernels`.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from nips2019.utils import (
    Device,
    DType,
    Generator,
    InstanceOf,
    Integer,
    IsCallable,
    Options,
    Real,
    Tensor,
    as_generator,
    randn,
    validate,
)

from ._activations import Activation, ActivationArg, _lookup
from ._analytic import Kernels
from ._mlp import FORWARD_INPUT, DenseNTK, Elementwise

PADDINGS = ("SAME", "VALID")
READOUTS = ("flatten", "gap")

#: Declarations shared by :func:`cnn`, :func:`cnn_kernels` and :class:`ConvNTK` (one
#: description of the architecture for the finite network and for its kernels).
CNN_ARCHITECTURE = dict(
    depth=Integer(low=0),
    kernel_size=Integer(low=1),
    stride=Integer(low=1),
    padding=Options(*PADDINGS),
    readout=Options(*READOUTS),
    activation=ActivationArg(),
    w_std=Real(low=0, closed="neither"),
    b_std=Real(low=0, optional=True),
)


def _same_pad(size: int, k: int, s: int) -> tuple[int, int]:
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _out_size(size: int, k: int, s: int, padding: str) -> int:
    if padding == "SAME":
        return -(-size // s)
    return (size - k) // s + 1


class ConvNTK(nn.Module):
    """A 2-D convolution in NTK parameterisation (neural-tangents' ``stax.Conv``).

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    .. math::

        z = \\frac{\\sigma_w}{\\sqrt{C_{in} k^2}}\\, W * x + \\sigma_b b, \\qquad W, b \\sim \\mathcal N(0, 1),

    or, with ``parameterization="standard"``, :math:`z = W * x + b` with
    :math:`W \\sim \\mathcal N(0, \\sigma_w^2 / (C_{in} k^2))`, :math:`b \\sim \\mathcal N(0, \\sigma_b^2)`
    (same function distribution, different gradients),

    on channels-first images ``(n, C_in, H, W)``, with TensorFlow's ``"SAME"`` zero padding or
    ``"VALID"`` (none).

    Parameters
    ----------
    in_channels, out_channels, kernel_size, stride : int
    padding : {"SAME", "VALID"}
    w_std : float
    b_std : float or None
        ``None``: no bias parameter.
    parameterization : {"ntk", "standard"}
    generator : None, int or torch.Generator
    device, dtype : optional

    Examples
    --------
    >>> import torch
    >>> conv = ConvNTK(1, 4, 3, generator=0)
    >>> conv(torch.ones(2, 1, 5, 5)).shape
    torch.Size([2, 4, 5, 5])
    """

    @validate(
        in_channels=Integer(low=1),
        out_channels=Integer(low=1),
        kernel_size=Integer(low=1),
        stride=Integer(low=1),
        padding=Options(*PADDINGS),
        w_std=Real(low=0, closed="neither"),
        b_std=Real(low=0, optional=True),
        parameterization=Options("ntk", "standard"),
        generator=Generator(),
        device=Device(),
        dtype=DType(optional=True),
    )
    def __init__(self, in_channels, out_channels, kernel_size=3, *, stride=1, padding="SAME", w_std=1.0,
                 b_std=None, parameterization="ntk", generator=None, device=None, dtype=None):
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.padding = int(kernel_size), int(stride), padding
        self.w_std, self.b_std, self.parameterization = float(w_std), b_std, parameterization
        kw = dict(generator=as_generator(generator), device=device, dtype=dtype)
        k = self.kernel_size
        std = parameterization == "standard"
        w = randn(self.out_channels, self.in_channels, k, k, **kw)
        self.weight = nn.Parameter(w * (self.w_std / math.sqrt(self.in_channels * k * k)) if std else w)
        if b_std is None:
            self.register_parameter("bias", None)
        else:
            b = randn(self.out_channels, **kw)
            self.bias = nn.Parameter(b * float(b_std) if std else b)

    @validate(x=FORWARD_INPUT, same=[("self", "x")])
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"ConvNTK.forward: x must be (n, {self.in_channels}, H, W), got shape {tuple(x.shape)}")
        k, s = self.kernel_size, self.stride
        if self.padding == "SAME":
            (t, b), (l, r) = _same_pad(x.shape[2], k, s), _same_pad(x.shape[3], k, s)
            x = F.pad(x, (l, r, t, b))
        elif x.shape[2] < k or x.shape[3] < k:
            raise ValueError(f"ConvNTK.forward: a {k}x{k} VALID filter needs images of at least {k}x{k}, got "
                             f"{tuple(x.shape[2:])}")
        if self.parameterization == "standard":
            out = F.conv2d(x, self.weight, stride=s)
            return out if self.bias is None else out + self.bias[:, None, None]
        scale = self.w_std / math.sqrt(self.in_channels * k * k)
        out = F.conv2d(x, self.weight, stride=s) * scale
        if self.bias is not None:
            out = out + float(self.b_std) * self.bias[:, None, None]
        return out

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding!r}, w_std={self.w_std}, b_std={self.b_std}, "
                f"parameterization={self.parameterization!r}")


class _Readout(nn.Module):
    """Flatten or global average pooling (parameter-free)."""

    def __init__(self, readout: str):
        super().__init__()
        self.readout = readout

    def forward(self, x):
        return x.flatten(1) if self.readout == "flatten" else x.mean((2, 3))

    def extra_repr(self) -> str:
        return self.readout


@validate(
    in_channels=Integer(low=1),
    image_size=Integer(low=1),
    channels=Integer(low=1),
    out_features=Integer(low=1),
    generator=Generator(),
    device=Device(),
    dtype=DType(optional=True),
    **CNN_ARCHITECTURE,
)
def cnn(
    in_channels: int,
    image_size: int,
    channels: int,
    *,
    depth: int = 1,
    kernel_size: int = 3,
    stride: int = 1,
    padding: str = "SAME",
    readout: str = "flatten",
    out_features: int = 1,
    activation: "str | Activation" = "relu",
    w_std: float = 1.0,
    b_std: float | None = None,
    generator: int | torch.Generator | None = None,
    device=None,
    dtype=None,
) -> nn.Sequential:
    """A convolutional network whose infinite-channel kernels are :func:`cnn_kernels`.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    ``depth`` blocks ``ConvNTK(channels) -> activation`` on square ``image_size`` images, then
    the readout (``"flatten"`` or ``"gap"``, global average pooling) and a
    :class:`DenseNTK` layer to ``out_features``, all with the same ``w_std``/``b_std``. As
    ``channels`` grows, the empirical NTK tends to ``cnn_kernels(..., same arguments).ntk``.

    Parameters
    ----------
    in_channels, image_size, channels : int
        Input channels, input height (= width), hidden channels.
    depth, kernel_size, stride, padding, readout, activation, w_std, b_std
        As in :func:`cnn_kernels`.
    out_features : int
    generator : None, int or torch.Generator
        One generator for every layer, drawn on the CPU and moved to ``device``.
    device, dtype : optional

    Returns
    -------
    torch.nn.Sequential

    Examples
    --------
    >>> import torch
    >>> net = cnn(1, 8, 16, depth=2, readout="gap", out_features=3, generator=0)
    >>> net(torch.randn(5, 1, 8, 8)).shape
    torch.Size([5, 3])
    """
    act = _lookup(activation)
    g = as_generator(generator)
    kw = dict(w_std=w_std, b_std=b_std, generator=g, device=device, dtype=dtype)
    layers: list[nn.Module] = []
    c, size = in_channels, image_size
    for _ in range(depth):
        if padding == "VALID" and size < kernel_size:
            raise ValueError(f"cnn: {depth} VALID {kernel_size}x{kernel_size} convolutions need larger images than "
                             f"{image_size}x{image_size}")
        layers += [ConvNTK(c, channels, kernel_size, stride=stride, padding=padding, **kw), Elementwise(act)]
        c, size = channels, _out_size(size, kernel_size, stride, padding)
    layers.append(_Readout(readout))
    n_in = c * size * size if readout == "flatten" else c
    layers.append(DenseNTK(n_in, out_features, **kw))
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------- closed form


def _pad_leading(k: torch.Tensor, n_spatial: int, pads) -> torch.Tensor:
    """Zero-pad the leading ``n_spatial`` dims of ``k`` by ``pads`` (one (lo, hi) per dim)."""
    shape = list(k.shape)
    for d in range(n_spatial):
        shape[d] += sum(pads[d])
    out = k.new_zeros(shape)
    out[tuple(slice(lo, lo + k.shape[d]) for d, (lo, _) in enumerate(pads))] = k
    return out


def _patch_mean(k: torch.Tensor, full: bool, ksize: int, stride: int, padding: str) -> torch.Tensor:
    """The convolution's covariance map: average over filter offsets, applied to the same offset
    on both sides. Spatial dims lead, pairs of inputs trail (contiguous, so every shifted slice
    is a fast vectorised add): ``k`` is (H, W, ...) (equal positions) or (H, W, H, W, ...)."""
    h, w = k.shape[0], k.shape[1]
    n_spatial = 4 if full else 2
    if padding == "SAME":
        ph, pw = _same_pad(h, ksize, stride), _same_pad(w, ksize, stride)
        if max(ph + pw) > 0:
            k = _pad_leading(k, n_spatial, [ph, pw, ph, pw][:n_spatial])
    oh = _out_size(h, ksize, stride, padding)
    ow = _out_size(w, ksize, stride, padding)
    span_h, span_w = stride * (oh - 1) + 1, stride * (ow - 1) + 1
    acc = None
    for dh in range(ksize):
        sh = slice(dh, dh + span_h, stride)
        for dw in range(ksize):
            sw = slice(dw, dw + span_w, stride)
            term = k[sh, sw, sh, sw] if full else k[sh, sw]
            acc = term.clone() if acc is None else acc.add_(term)
    return acc.div_(ksize * ksize)


def _conv_recursion(k12, v1, v2, full, depth, ksize, stride, padding, readout, act, w2, b2):
    """NNGP and NTK through depth conv+activation blocks and the readout dense layer.

    ``k12`` is (H, W, H, W, b1, b2) or (H, W, b1, b2); ``v1``/``v2`` are (H, W, b)."""
    nngp, ntk = k12, torch.zeros_like(k12)
    for _ in range(depth):
        nngp = _patch_mean(nngp, full, ksize, stride, padding).mul_(w2).add_(b2)
        ntk = _patch_mean(ntk, full, ksize, stride, padding).mul_(w2).add_(nngp)
        v1 = _patch_mean(v1, False, ksize, stride, padding).mul_(w2).add_(b2)
        v2 = _patch_mean(v2, False, ksize, stride, padding).mul_(w2).add_(b2)
        if full:  # variances of the first position (and input) and of the second
            a, b = v1[:, :, None, None, :, None], v2[None, None, :, :, None, :]
        else:  # the same position
            a, b = v1[:, :, :, None], v2[:, :, None, :]
        t, tdot = act.kernel(a, b, nngp)
        ntk = ntk.mul_(tdot)
        nngp = t
        v1 = act.kernel(v1, v1, v1)[0]
        v2 = act.kernel(v2, v2, v2)[0]
    dims = (0, 1, 2, 3) if full else (0, 1)
    nngp = w2 * nngp.mean(dims) + b2
    ntk = w2 * ntk.mean(dims) + nngp
    return nngp, ntk


@validate(
    x1=Tensor(shape=("n1", "c", "h", "w"), dtype="floating"),
    x2=Tensor(shape=("n2", "c", "h", "w"), dtype="floating", optional=True),
    batch_size=Integer(low=1, optional=True),
    same=[("x1", "x2")],
    **CNN_ARCHITECTURE,
)
def cnn_kernels(
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    depth: int = 1,
    kernel_size: int = 3,
    stride: int = 1,
    padding: str = "SAME",
    readout: str = "flatten",
    activation: "str | Activation" = "relu",
    w_std: float = 1.0,
    b_std: float | None = None,
    batch_size: int | None = None,
) -> Kernels:
    """NNGP (CNN-GP) and NTK (CNTK) of an infinitely wide convolutional network, in closed form.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    The network is :func:`cnn`'s: ``depth`` blocks ``conv -> activation`` and a readout
    (``"flatten"`` or global average pooling ``"gap"``) followed by a dense layer. The
    conventions are neural-tangents' ``stax`` ones (module docstring of ``nips2019.ntk._conv``):
    NTK parameterisation, channel-mean input kernel, TensorFlow ``"SAME"`` padding whose zeros
    count in the normalisation, so that a 1x1 filter on a one-pixel image is a dense layer.
    With ``readout="flatten"`` only the covariances of equal positions enter (cost
    :math:`O(n_1 n_2 H W k^2)` per layer, Novak et al. 2019); ``"gap"`` needs every pair of
    positions (:math:`O(n_1 n_2 (HW)^2 k^2)`, Arora et al. 2019), computed over blocks of
    pairs so that memory stays bounded.

    Parameters
    ----------
    x1 : Tensor, shape (n1, C, H, W)
    x2 : Tensor, shape (n2, C, H, W), optional
        Defaults to ``x1`` (then only the upper block triangle is computed).
    depth : int
        Convolutional blocks (``0``: the readout on the raw image).
    kernel_size, stride : int
        Square filters.
    padding : {"SAME", "VALID"}
    readout : {"flatten", "gap"}
    activation : str or Activation
    w_std, b_std : float
        Shared by every layer; ``b_std=None`` means no bias.
    batch_size : int, optional
        Rows of ``x1`` per block (default: chosen so that a block holds about ``2**22``
        numbers).

    Returns
    -------
    Kernels
        ``nngp`` and ``ntk``, shape ``(n1, n2)``, on ``x1``'s device and dtype.

    References
    ----------
    novak2019bayesian, arora2019exact, novak2020neural.

    Examples
    --------
    >>> import torch
    >>> from nips2019.ntk import analytic_kernels
    >>> x = torch.randn(4, 3, dtype=torch.float64)
    >>> conv = cnn_kernels(x[:, :, None, None], kernel_size=1, w_std=1.5, b_std=0.1)
    >>> dense = analytic_kernels(x, depth=1, w_std=1.5, b_std=0.1)
    >>> bool(torch.allclose(conv.ntk, dense.ntk)) and bool(torch.allclose(conv.nngp, dense.nngp))
    True
    """
    symmetric = x2 is None
    x2 = x1 if symmetric else x2
    act = _lookup(activation)
    n1, c, h, w = x1.shape
    n2 = x2.shape[0]
    size = h
    for _ in range(depth):
        if padding == "VALID" and min(h, w) < kernel_size:
            raise ValueError(f"cnn_kernels: {depth} VALID {kernel_size}x{kernel_size} convolutions need images larger "
                             f"than {tuple(x1.shape[2:])}")
        h, w = _out_size(h, kernel_size, stride, padding), _out_size(w, kernel_size, stride, padding)
    del size
    full = readout == "gap"
    hw = x1.shape[2] * x1.shape[3]
    per_pair = hw * hw if full else hw
    # Blocks of (rows x cols) pairs of about 2**18 numbers per temporary (a few MB, in cache).
    if full:
        side = max(1, int(math.sqrt(2**18 / per_pair)))
        step = int(batch_size) if batch_size is not None else side
        col_step = step
    else:
        step = int(batch_size) if batch_size is not None else max(1, min(n1, 2**18 // max(per_pair * n2, 1)))
        col_step = n2
    w2 = float(w_std) ** 2
    b2 = 0.0 if b_std is None else float(b_std) ** 2
    args = (full, depth, kernel_size, stride, padding, readout, act, w2, b2)
    xs1 = x1.permute(2, 3, 1, 0)  # (H, W, C, n1): positions lead, inputs trail
    xs2 = x2.permute(2, 3, 1, 0)
    v1_all = (x1 * x1).mean(1).permute(1, 2, 0)  # (H, W, n1) variances at each position
    v2_all = (x2 * x2).mean(1).permute(1, 2, 0)
    nngp = torch.empty(n1, n2, dtype=x1.dtype, device=x1.device)
    ntk = torch.empty_like(nngp)
    for s1 in range(0, n1, step):
        a = xs1[..., s1 : s1 + step]
        for s2 in range(s1 if symmetric else 0, n2, col_step) if full else [0]:
            b = xs2[..., s2 : s2 + col_step]
            if full:
                k12 = torch.einsum("hwca,xycb->hwxyab", a, b).div_(c).contiguous()
            else:
                k12 = torch.einsum("hwca,hwcb->hwab", a, b).div_(c).contiguous()
            if symmetric:
                # An image against itself at one position: exactly its variance, as the recursion
                # of the variances sees it (otherwise arccos turns 1e-16 into 1e-8 on the diagonal).
                for i in range(a.shape[-1]):
                    j = s1 + i - s2
                    if 0 <= j < k12.shape[-1]:
                        v = v1_all[..., s1 + i]
                        if full:
                            k12[..., i, j].view(hw, hw).diagonal().copy_(v.reshape(-1))
                        else:
                            k12[..., i, j].copy_(v)
            nn_, nt_ = _conv_recursion(k12, v1_all[..., s1 : s1 + step], v2_all[..., s2 : s2 + col_step], *args)
            e1, e2 = s1 + nn_.shape[0], s2 + nn_.shape[1]
            nngp[s1:e1, s2:e2], ntk[s1:e1, s2:e2] = nn_, nt_
            if symmetric and full and s2 > s1:
                nngp[s2:e2, s1:e1], ntk[s2:e2, s1:e1] = nn_.T, nt_.T
    if symmetric:
        nngp = 0.5 * (nngp + nngp.T)
        ntk = 0.5 * (ntk + ntk.T)
    if not bool(torch.isfinite(nngp).all() & torch.isfinite(ntk).all()):
        raise ValueError(f"cnn_kernels: the kernels overflow {x1.dtype}; use float64 inputs or a smaller w_std/depth")
    return Kernels(nngp=nngp, ntk=ntk)


# ----------------------------------------------------------------------------- Monte Carlo


@validate(
    build=IsCallable(),
    x1=Tensor(dtype="floating"),
    x2=Tensor(dtype="floating", optional=True),
    n_samples=Integer(low=1),
    generator=Generator(),
    method=InstanceOf(str),
    same=[("x1", "x2")],
)
def monte_carlo_kernels(
    build,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    n_samples: int = 8,
    generator: int | torch.Generator | None = None,
    method: str = "auto",
) -> Kernels:
    """Monte-Carlo NNGP and NTK: averages over random finite networks.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    .. math::

        \\hat K(x, x') = \\frac{1}{S\\,k} \\sum_{s=1}^S f_s(x)^\\top f_s(x'), \\qquad
        \\hat\\Theta(x, x') = \\frac1S \\sum_{s=1}^S \\frac1k \\operatorname{tr} \\hat\\Theta_s(x, x'),

    over ``S = n_samples`` networks ``f_s = build(generator)`` with ``k`` outputs (the
    empirical NTK is :func:`empirical_ntk` with ``trace="mean"``). For a network from
    :func:`cnn` or :func:`mlp` both converge to the closed forms (:func:`cnn_kernels`,
    :func:`analytic_kernels`) as the width grows and as ``n_samples`` grows.

    Parameters
    ----------
    build : callable
        ``build(generator) -> nn.Module``: a random network drawn with the given CPU
        generator, on the inputs' device and dtype.
    x1 : Tensor, shape (n1, ...)
    x2 : Tensor, shape (n2, ...), optional
    n_samples : int
    generator : None, int or torch.Generator
        Passed to every ``build`` call (advanced in place, so the networks differ).
    method : str
        As in :func:`empirical_ntk`.

    Returns
    -------
    Kernels
        Detached, shape ``(n1, n2)``.

    Examples
    --------
    >>> import torch
    >>> from nips2019.ntk import mlp
    >>> x = torch.randn(3, 2)
    >>> mc = monte_carlo_kernels(lambda g: mlp(2, 64, generator=g), x, n_samples=2, generator=0)
    >>> mc.nngp.shape, mc.ntk.shape
    (torch.Size([3, 3]), torch.Size([3, 3]))
    """
    from ._empirical import METHODS, _flatten_out, empirical_ntk

    if method not in METHODS:
        raise ValueError(f"monte_carlo_kernels: method must be one of {METHODS}, got {method!r}")
    g = as_generator(generator)
    nngp = ntk = None
    for _ in range(int(n_samples)):
        net = build(g)
        if not isinstance(net, nn.Module):
            raise TypeError(f"monte_carlo_kernels: build must return an nn.Module, got {type(net).__name__}")
        try:  # checks the inputs against the network (names x1/x2 in its messages)
            t = empirical_ntk(net, x1, x2, trace="mean", method=method)
        except (TypeError, ValueError) as exc:
            raise type(exc)(str(exc).replace("empirical_ntk:", "monte_carlo_kernels:", 1)) from exc
        with torch.no_grad():
            f1 = _flatten_out(net(x1), x1.shape[0])
            f2 = f1 if x2 is None else _flatten_out(net(x2), x2.shape[0])
        k = f1 @ f2.T / f1.shape[1]
        nngp = k if nngp is None else nngp + k
        ntk = t if ntk is None else ntk + t
    return Kernels(nngp=nngp / n_samples, ntk=ntk / n_samples)
