"""Positional normalisation (PONO) and the moment shortcut (MS)."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..utils import Bool, Real, Tensor, validate


@dataclasses.dataclass
class PositionalMoments:
    """The output of :func:`positional_normalize`.

    Attributes
    ----------
    output : Tensor, shape ``(B, C, *spatial)``
        :math:`(x - \\mu) / \\sigma`, zero mean and unit (population) standard deviation over
        the channels at every position.
    mean : Tensor, shape ``(B, 1, *spatial)``
        :math:`\\mu`, the first moment across channels at each position.
    std : Tensor, shape ``(B, 1, *spatial)``
        :math:`\\sigma = \\sqrt{\\operatorname{Var} + \\epsilon}`.
    """

    output: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor


def _pono(x, eps):
    var, mean = torch.var_mean(x, dim=1, correction=0, keepdim=True)
    std = (var + eps).sqrt()
    return (x - mean) / std, mean, std


@validate(x=Tensor(ndim=(3, 4, 5), dtype="floating"), eps=Real(low=0, closed="neither"))
def positional_normalize(x: torch.Tensor, *, eps: float = 1e-5) -> PositionalMoments:
    r"""Positional normalisation (Li, Wu, Weinberger & Belongie 2019): moments across channels.

    For a feature map :math:`x \in \mathbb R^{B \times C \times H \times W}`, every sample
    :math:`b` and position :math:`(h, w)` is normalised over its :math:`C` channels only:

    .. math::

        \mu_{b,h,w} = \frac1C \sum_c x_{b,c,h,w}, \qquad
        \sigma_{b,h,w} = \sqrt{\frac1C \sum_c (x_{b,c,h,w} - \mu_{b,h,w})^2 + \epsilon},
        \qquad \mathrm{PONO}(x) = \frac{x - \mu}{\sigma}.

    Batch, instance and layer normalisation average over positions and throw the
    statistics away; here the statistics are two maps of the image's size that carry its
    structure (edges, shapes), and the paper's point is to keep them: :math:`\mu` and
    :math:`\sigma` are returned so that a later layer can re-inject them
    (:func:`moment_shortcut`). At each position this is layer normalisation of the channel
    vector (``F.layer_norm`` over the channel axis moved last, which the tests compare with).

    Parameters
    ----------
    x : Tensor, shape (B, C, L), (B, C, H, W) or (B, C, D, H, W)
        Channels on axis 1 (PyTorch's layout), any number of spatial axes from 1 to 3.
    eps : float
        Added to the variance (numerical floor; it also keeps a constant channel vector finite).

    Returns
    -------
    PositionalMoments
        ``output``, ``mean`` and ``std``; differentiable with respect to ``x``.

    Notes
    -----
    The variance is the population one (divide by :math:`C`), so ``output`` has exactly unit
    standard deviation across channels when :math:`\epsilon \to 0`. See the chapter
    :doc:`Depth as a regulariser, moments as features </book/factorization>`.

    References
    ----------
    Li, Wu, Weinberger & Belongie, *Positional normalization*, NeurIPS 2019.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(2, 8, 4, 4, generator=torch.Generator().manual_seed(0))
    >>> m = positional_normalize(x)
    >>> m.output.mean(1).abs().max() < 1e-6, m.mean.shape
    (tensor(True), torch.Size([2, 1, 4, 4]))
    """
    if x.shape[1] < 2:
        raise ValueError(f"positional_normalize: x needs at least 2 channels (axis 1) to normalise across, "
                         f"got shape {tuple(x.shape)}")
    return PositionalMoments(*_pono(x, eps))


@validate(x=Tensor(ndim=(3, 4, 5), dtype="floating"), mean=Tensor(ndim=(3, 4, 5), dtype="floating"),
          std=Tensor(ndim=(3, 4, 5), dtype="floating"), same=[("x", "mean", "std")])
def moment_shortcut(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    r"""The moment shortcut: re-inject positional moments into a later feature map.

    .. math::

        \mathrm{MS}(x) = \gamma\, x + \beta, \qquad \gamma = \sigma, \ \beta = \mu,

    with :math:`\mu, \sigma` taken by :func:`positional_normalize` from an earlier layer of
    the same spatial size and broadcast over the channels of :math:`x`. Applied to the
    normalised map itself it undoes PONO exactly; placed in a decoder it passes the
    encoder's structure around everything in between, at the cost of two maps per layer
    and no parameters.

    Parameters
    ----------
    x : Tensor, shape ``(B, C, *spatial)``
    mean, std : Tensor, shape ``(B, 1, *spatial)`` or ``(B, C, *spatial)``
        Broadcast against ``x``.

    Returns
    -------
    Tensor, shape of ``x``

    Notes
    -----
    See the chapter :doc:`Depth as a regulariser, moments as features </book/factorization>`.

    References
    ----------
    Li, Wu, Weinberger & Belongie, *Positional normalization*, NeurIPS 2019.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(1, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    >>> m = positional_normalize(x, eps=1e-12)
    >>> torch.allclose(moment_shortcut(m.output, m.mean, m.std), x, atol=1e-6)
    True
    """
    for name, t in (("mean", mean), ("std", std)):
        try:
            torch.broadcast_shapes(t.shape, x.shape)
        except RuntimeError:
            raise ValueError(f"moment_shortcut: {name} of shape {tuple(t.shape)} does not broadcast against x "
                             f"of shape {tuple(x.shape)}") from None
        if t.dim() != x.dim():
            raise ValueError(f"moment_shortcut: {name} must have x's rank {x.dim()}, got shape {tuple(t.shape)}")
    if bool((std < 0).any()):
        raise ValueError("moment_shortcut: std must be non-negative")
    return x * std + mean


class PositionalNorm(nn.Module):
    r"""PONO as a layer: normalise across channels at each position, optionally keep the moments.

    With ``return_moments=True`` the forward pass returns a :class:`PositionalMoments`
    whose ``mean`` and ``std`` a decoder layer gives to :class:`MomentShortcut`; otherwise it
    returns the normalised tensor (for ``nn.Sequential``). See :func:`positional_normalize`.

    Parameters
    ----------
    return_moments : bool
    eps : float

    Examples
    --------
    >>> import torch
    >>> PositionalNorm()(torch.ones(1, 3, 2, 2)).abs().max().item()
    0.0
    """

    @validate(return_moments=Bool(), eps=Real(low=0, closed="neither"))
    def __init__(self, *, return_moments: bool = False, eps: float = 1e-5):
        super().__init__()
        self.return_moments, self.eps = return_moments, eps

    @validate(x=Tensor(ndim=(3, 4, 5), dtype="floating"))
    def forward(self, x: torch.Tensor):
        """Normalise ``x`` of shape ``(B, C, *spatial)``; see :func:`positional_normalize`."""
        moments = positional_normalize(x, eps=self.eps)
        return moments if self.return_moments else moments.output

    def extra_repr(self) -> str:
        return f"return_moments={self.return_moments}, eps={self.eps}"


class MomentShortcut(nn.Module):
    r"""The moment shortcut as a layer: ``forward(x, mean, std) = x * std + mean``.

    See :func:`moment_shortcut`. No parameters; the paper's *dynamic* variant, which
    predicts :math:`\beta, \gamma` from :math:`\mu, \sigma` with a small conv net, is not
    implemented here.

    Examples
    --------
    >>> import torch
    >>> MomentShortcut()(torch.zeros(1, 2, 2, 2), torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2)).sum().item()
    8.0
    """

    @validate()
    def __init__(self):
        super().__init__()

    @validate(x=Tensor(ndim=(3, 4, 5), dtype="floating"), mean=Tensor(ndim=(3, 4, 5), dtype="floating"),
              std=Tensor(ndim=(3, 4, 5), dtype="floating"), same=[("x", "mean", "std")])
    def forward(self, x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """Return ``x * std + mean``; see :func:`moment_shortcut`."""
        return moment_shortcut(x, mean, std)
