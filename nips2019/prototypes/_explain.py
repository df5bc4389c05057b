r"""Explanations of a ProtoPNet's decisions: which prototypes fired, where, and what they added to each logit."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from ..utils import InstanceOf, Integer, Items, Tensor, validate
from ._layer import _log_similarity
from ._model import ProtoPNet


@dataclasses.dataclass
class Explanation:
    """The decomposition of a ProtoPNet's logits into prototype contributions, returned by :func:`explain`.

    Attributes
    ----------
    logits : Tensor, shape (n, K)
        The model's logits.
    similarities : Tensor, shape (n, m)
        Similarity score of each prototype (max-pooled over patches).
    min_distances : Tensor, shape (n, m)
        Squared distance of each prototype to its nearest latent patch.
    location : Tensor, shape (n, m, 2)
        (row, column) in the latent map of the patch nearest to each prototype.
    contributions : Tensor, shape (n, K, m)
        :math:`w_{kj} s_j(x)`: what prototype j adds to logit k; summing over j gives the logits.
    prototype_class : Tensor, shape (m,)
        The class of each prototype.
    """

    logits: torch.Tensor
    similarities: torch.Tensor
    min_distances: torch.Tensor
    location: torch.Tensor
    contributions: torch.Tensor
    prototype_class: torch.Tensor


@validate(model=InstanceOf(ProtoPNet), x=Tensor(shape=("n", None, None, None), dtype="floating"),
          same=[("model", "x")])
@torch.no_grad()
def explain(model: ProtoPNet, x: torch.Tensor) -> Explanation:
    r"""Explain a ProtoPNet's logits as a sum of prototype contributions ("this looks like that").

    The logits are linear in the similarity scores, so the decomposition is exact:

    .. math::

        \ell_k(x) = \sum_{j=1}^m \underbrace{w_{kj}\, s_j(x)}_{\text{contribution}}, \qquad
        s_j(x) = g\big(\min_{r, c} D_{jrc}(x)\big),

    and the patch :math:`(r, c)` that attains the minimum is *where* prototype j fired.

    Parameters
    ----------
    model : ProtoPNet
        The network (put in eval mode).
    x : Tensor, shape (n, C, H, W)
        Images to explain.

    Returns
    -------
    Explanation

    References
    ----------
    chen2019looks.

    Notes
    -----
    See the chapter :doc:`This looks like that: prototype layers </book/prototypes>`.

    Examples
    --------
    >>> from nips2019.prototypes import ConvBackbone, ProtoPNet
    >>> net = ProtoPNet(ConvBackbone(1, (4, 8), generator=0), 8, 3, n_features=5, generator=0)
    >>> ex = explain(net, torch.rand(2, 1, 8, 8))
    >>> bool(torch.allclose(ex.contributions.sum(-1), ex.logits, atol=1e-6))
    True
    """
    model.eval()
    out = model.details(x)
    width = out.distance_maps.shape[3]
    arg = out.distance_maps.flatten(2).argmin(2)  # (n, m)
    location = torch.stack([arg // width, arg % width], dim=-1)
    w = model.last_layer.weight
    contributions = w[None, :, :] * out.similarities[:, None, :]
    return Explanation(logits=out.logits, similarities=out.similarities, min_distances=out.min_distances,
                       location=location, contributions=contributions,
                       prototype_class=model.prototype_class.clone())


@validate(model=InstanceOf(ProtoPNet), x=Tensor(shape=("n", None, None, None), dtype="floating"),
          size=Items(Integer(low=1), length=2, optional=True), same=[("model", "x")])
@torch.no_grad()
def activation_map(model: ProtoPNet, x: torch.Tensor, *, size=None) -> torch.Tensor:
    r"""Where in the image each prototype is similar: the similarity map, upsampled to the image.

    The map of prototype j is :math:`g(D_{jrc})` over the latent positions :math:`(r, c)`,
    resized bilinearly to the input's height and width, as the paper does (it uses bicubic
    resizing) to draw heat maps and boxes on the image. It is a visual aid: a latent cell
    depends on its whole receptive field, not only on the pixels under its upsampled square.

    Parameters
    ----------
    model : ProtoPNet
        The network.
    x : Tensor, shape (n, C, H, W)
        Images.
    size : pair of int, optional
        Output (height, width); default the images' own.

    Returns
    -------
    Tensor, shape (n, m, height, width)

    References
    ----------
    chen2019looks.

    Notes
    -----
    See the chapter :doc:`This looks like that: prototype layers </book/prototypes>`.

    Examples
    --------
    >>> from nips2019.prototypes import ConvBackbone, ProtoPNet
    >>> net = ProtoPNet(ConvBackbone(1, (4, 8), generator=0), 8, 3, n_features=5, generator=0)
    >>> activation_map(net, torch.rand(2, 1, 8, 8)).shape
    torch.Size([2, 6, 8, 8])
    """
    model.eval()
    sims = _log_similarity(model.details(x).distance_maps, model.eps)
    size = tuple(x.shape[2:]) if size is None else (int(size[0]), int(size[1]))
    return F.interpolate(sims, size=size, mode="bilinear", align_corners=False)
