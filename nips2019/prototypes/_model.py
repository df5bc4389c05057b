r"""ProtoPNet and its non-interpretable twin: a CNN backbone, then prototypes or a linear head."""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from ..utils import Generator, Integer, Items, Module, Real, Tensor, as_generator, validate
from ._layer import _distances, _log_similarity


def _init_conv_(conv: nn.Conv2d, gen: torch.Generator) -> None:
    fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * math.sqrt(2.0 / fan_in))
        if conv.bias is not None:
            conv.bias.zero_()


class ConvBackbone(nn.Module):
    r"""A small CNN for small images: 3 x 3 convolutions with ReLU, an optional 2 x 2 max-pool after each.

    ``channels=(16, 32)`` and ``pool=(False, True)`` map an 8 x 8 digit to a 32 x 4 x 4
    latent map whose cells each see a window of up to 6 x 6 pixels.

    Parameters
    ----------
    in_channels : int
        Channels of the input images.
    channels : sequence of int
        Output channels of each convolution.
    pool : sequence of bool, optional
        Whether a 2 x 2 max-pool follows each convolution (default: only the last).
    generator : None, int or torch.Generator
        Randomness of the He-normal initialisation (biases start at 0).

    Notes
    -----
    The attribute ``out_channels`` is the number of channels of the output map. See the
    chapter :doc:`This looks like that: prototype layers </book/prototypes>`.

    Examples
    --------
    >>> net = ConvBackbone(1, (4, 8), generator=0)
    >>> net(torch.zeros(2, 1, 8, 8)).shape, net.out_channels
    (torch.Size([2, 8, 4, 4]), 8)
    """

    @validate(in_channels=Integer(low=1), channels=Items(Integer(low=1), min_length=1),
              pool=Items(optional=True), generator=Generator())
    def __init__(self, in_channels: int = 1, channels=(16, 32), pool=None, *, generator=None):
        super().__init__()
        channels = [int(c) for c in channels]
        pool = [False] * (len(channels) - 1) + [True] if pool is None else [bool(p) for p in pool]
        if len(pool) != len(channels):
            raise ValueError(f"ConvBackbone: pool must have one entry per convolution ({len(channels)}), "
                             f"got {len(pool)}")
        gen = as_generator(generator)
        layers, c_in = [], int(in_channels)
        for c, p in zip(channels, pool):
            conv = nn.Conv2d(c_in, c, 3, padding=1)
            _init_conv_(conv, gen)
            layers += [conv, nn.ReLU()] + ([nn.MaxPool2d(2)] if p else [])
            c_in = c
        self.layers = nn.Sequential(*layers)
        self.out_channels = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


@dataclasses.dataclass
class ProtoPNetOutput:
    """Everything a ProtoPNet computes for a batch, returned by :meth:`ProtoPNet.details`.

    Attributes
    ----------
    logits : Tensor, shape (n, K)
    similarities : Tensor, shape (n, m)
        Max-pooled similarity of each prototype: :math:`g(\\min_{r,c} D_{jrc})`.
    min_distances : Tensor, shape (n, m)
        Smallest squared distance of each prototype to a latent patch.
    distance_maps : Tensor, shape (n, m, H', W')
        Squared distance of each prototype to each latent patch.
    """

    logits: torch.Tensor
    similarities: torch.Tensor
    min_distances: torch.Tensor
    distance_maps: torch.Tensor


class ProtoPNet(nn.Module):
    r"""Prototypical part network (Chen et al. 2019): a backbone, add-on layers, prototypes, a linear layer.

    For an image :math:`x`, the backbone and two 1 x 1 convolutions (ReLU, then a sigmoid,
    as in the paper) give a latent map :math:`z = f(x) \in [0, 1]^{d \times H \times W}`.
    Prototype :math:`p_j \in \mathbb R^{d \times h \times w}` belongs to class
    :math:`c_j`; its score is the best similarity over all patches,

    .. math::

        s_j(x) = \max_{r, c} \log\frac{D_{jrc} + 1}{D_{jrc} + \varepsilon}
               = \log\frac{D_j + 1}{D_j + \varepsilon}, \qquad
        D_j = \min_{r, c} \lVert z_{[r, c]} - p_j \rVert^2,

    (:math:`g` decreases, so max-pooling similarities is min-pooling distances) and the
    logits are :math:`\ell_k(x) = \sum_j w_{kj}\, s_j(x)`, without a bias. The last layer
    starts at :math:`w_{kj} = 1` when :math:`c_j = k` and ``incorrect_strength`` (-0.5)
    otherwise. Prototypes start uniform in :math:`[0, 1]^{d \times h \times w}`, inside
    the sigmoid's range.

    Parameters
    ----------
    backbone : torch.nn.Module
        Maps images (n, C, H_img, W_img) to feature maps (n, backbone_channels, H, W).
    backbone_channels : int
        Channels of the backbone's output.
    n_classes : int
        :math:`K \ge 2`.
    n_prototypes_per_class : int
        Prototypes per class; :math:`m = K \times` this. Prototype ``j`` belongs to class
        ``j // n_prototypes_per_class``.
    n_features : int
        :math:`d`, channels of the latent map.
    patch_size : int
        :math:`h = w`, the prototypes' spatial size (1 in the paper's experiments).
    incorrect_strength : float
        Initial weight from a prototype to the logits of the other classes, <= 0.
    eps : float
        :math:`\varepsilon` of the similarity.
    generator : None, int or torch.Generator
        Randomness of the add-on layers' and prototypes' initialisation.

    Notes
    -----
    ``forward(x)`` returns the logits; :meth:`details` returns a :class:`ProtoPNetOutput`;
    :meth:`features` returns the latent map :math:`z`. Attributes: ``prototypes``
    (parameter, (m, d, h, w)), ``prototype_class`` (buffer, (m,)), ``last_layer``
    (``nn.Linear(m, K, bias=False)``). See the chapter
    :doc:`This looks like that: prototype layers </book/prototypes>`.

    References
    ----------
    chen2019looks.

    Examples
    --------
    >>> net = ProtoPNet(ConvBackbone(1, (4, 8), generator=0), 8, 3, n_features=5, generator=0)
    >>> net(torch.rand(2, 1, 8, 8)).shape, tuple(net.prototypes.shape)
    (torch.Size([2, 3]), (6, 5, 1, 1))
    >>> net.last_layer.weight[:, :3]
    tensor([[ 1.0000,  1.0000, -0.5000],
            [-0.5000, -0.5000,  1.0000],
            [-0.5000, -0.5000, -0.5000]], grad_fn=<SliceBackward0>)
    """

    @validate(backbone=Module(), backbone_channels=Integer(low=1), n_classes=Integer(low=2),
              n_prototypes_per_class=Integer(low=1), n_features=Integer(low=1), patch_size=Integer(low=1),
              incorrect_strength=Real(high=0), eps=Real(low=0, high=1, closed="neither"), generator=Generator())
    def __init__(self, backbone: nn.Module, backbone_channels: int, n_classes: int, *,
                 n_prototypes_per_class: int = 2, n_features: int = 16, patch_size: int = 1,
                 incorrect_strength: float = -0.5, eps: float = 1e-4, generator=None):
        super().__init__()
        gen = as_generator(generator)
        self.backbone = backbone
        self.n_classes, self.eps = int(n_classes), float(eps)
        self.n_prototypes = int(n_classes) * int(n_prototypes_per_class)
        d = int(n_features)
        conv1, conv2 = nn.Conv2d(int(backbone_channels), d, 1), nn.Conv2d(d, d, 1)
        _init_conv_(conv1, gen)
        _init_conv_(conv2, gen)
        self.add_on = nn.Sequential(conv1, nn.ReLU(), conv2, nn.Sigmoid())
        self.prototypes = nn.Parameter(torch.rand(self.n_prototypes, d, int(patch_size), int(patch_size),
                                                  generator=gen))
        self.register_buffer("prototype_class",
                             torch.arange(self.n_prototypes) // int(n_prototypes_per_class))
        self.last_layer = nn.Linear(self.n_prototypes, self.n_classes, bias=False)
        self.reset_last_layer(incorrect_strength)

    def class_connection(self) -> torch.Tensor:
        """The (K, m) 0/1 matrix whose entry (k, j) is 1 when prototype j belongs to class k."""
        k = torch.arange(self.n_classes, device=self.prototype_class.device)
        return (k[:, None] == self.prototype_class[None, :]).to(self.last_layer.weight.dtype)

    def reset_last_layer(self, incorrect_strength: float = -0.5) -> None:
        """Set the last layer to 1 on own-class connections and ``incorrect_strength`` elsewhere."""
        own = self.class_connection()
        with torch.no_grad():
            self.last_layer.weight.copy_(own + float(incorrect_strength) * (1 - own))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The latent map :math:`z = f(x)`, shape (n, d, H, W), values in (0, 1)."""
        return self.add_on(self.backbone(x))

    def details(self, x: torch.Tensor) -> ProtoPNetOutput:
        """Logits, similarities, smallest distances and distance maps of a batch (a :class:`ProtoPNetOutput`)."""
        maps = _distances(self.features(x), self.prototypes)
        min_d = maps.flatten(2).min(2).values
        sims = _log_similarity(min_d, self.eps)
        return ProtoPNetOutput(logits=self.last_layer(sims), similarities=sims, min_distances=min_d,
                               distance_maps=maps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.details(x).logits


class LinearHeadNet(nn.Module):
    r"""The non-interpretable twin of a :class:`ProtoPNet`: the same backbone, global average pooling, a linear layer.

    .. math::

        \ell(x) = W \,\frac{1}{HW} \sum_{r, c} \phi(x)_{:, r, c} + b,

    with :math:`\phi` the backbone. This is the baseline the paper compares with (the
    backbone's own classifier head).

    Parameters
    ----------
    backbone : torch.nn.Module
        Maps images to feature maps (n, backbone_channels, H, W).
    backbone_channels : int
        Channels of the backbone's output.
    n_classes : int
        Number of classes, >= 2.
    generator : None, int or torch.Generator
        Randomness of the linear layer's initialisation (uniform, PyTorch's scale).

    Notes
    -----
    See the chapter :doc:`This looks like that: prototype layers </book/prototypes>`.

    Examples
    --------
    >>> net = LinearHeadNet(ConvBackbone(1, (4, 8), generator=0), 8, 10, generator=0)
    >>> net(torch.zeros(3, 1, 8, 8)).shape
    torch.Size([3, 10])
    """

    @validate(backbone=Module(), backbone_channels=Integer(low=1), n_classes=Integer(low=2), generator=Generator())
    def __init__(self, backbone: nn.Module, backbone_channels: int, n_classes: int, *, generator=None):
        super().__init__()
        gen = as_generator(generator)
        self.backbone = backbone
        self.head = nn.Linear(int(backbone_channels), int(n_classes))
        bound = 1 / math.sqrt(int(backbone_channels))
        with torch.no_grad():
            self.head.weight.copy_((torch.rand(self.head.weight.shape, generator=gen) * 2 - 1) * bound)
            self.head.bias.copy_((torch.rand(self.head.bias.shape, generator=gen) * 2 - 1) * bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x).mean((2, 3)))
