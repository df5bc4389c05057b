"""A tiny coordinate network (a 2-D neural field), in the spirit of scene representation networks."""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from ..utils import Bool, Generator, Integer, Module, Real, Tensor, as_generator, progress, randn, validate
from ._raster import pixel_grid


class CoordinateNetwork(nn.Module):
    r"""An MLP from image coordinates to colours with Fourier input features.

    .. math::

        f_\theta(p) = \mathrm{MLP}_\theta\big(\sin(2\pi B p), \cos(2\pi B p)\big), \qquad
        B_{ij} \sim \mathcal N(0, \beta^2) \text{ fixed},

    a continuous representation of one scene that can be queried at any resolution.
    Scene representation networks (Sitzmann et al. 2019) map 3-D points to features and
    render them with a learned ray marcher from posed images; this 2-D version keeps only the
    idea that a scene is a function of coordinates, fitted through a differentiable
    image-formation step (here: sampling at pixel centres).

    Parameters
    ----------
    n_outputs : int
        Channels of the output colour.
    n_hidden : int
        Width of the two hidden layers.
    n_frequencies : int
        Rows of :math:`B`.
    scale : float
        :math:`\beta`, the spread of the frequencies (higher: finer detail, more aliasing).
    generator : None, int or torch.Generator

    Notes
    -----
    ``forward(points)``: (m, 2) -> (m, n_outputs). See the chapter
    :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> net = CoordinateNetwork(3, n_hidden=16, generator=0)
    >>> net(torch.rand(5, 2)).shape
    torch.Size([5, 3])
    """

    @validate(n_outputs=Integer(low=1), n_hidden=Integer(low=1), n_frequencies=Integer(low=1),
              scale=Real(low=0, closed="neither"), generator=Generator())
    def __init__(self, n_outputs: int, *, n_hidden: int = 64, n_frequencies: int = 32, scale: float = 4.0,
                 generator=None):
        super().__init__()
        gen = as_generator(generator)
        self.register_buffer("freqs", scale * randn(int(n_frequencies), 2, generator=gen))
        h = int(n_hidden)
        self.net = nn.Sequential(nn.Linear(2 * int(n_frequencies), h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(),
                                 nn.Linear(h, int(n_outputs)))
        with torch.no_grad():
            for p in self.net.parameters():
                if p.dim() == 2:
                    p.copy_(randn(*p.shape, generator=gen) * math.sqrt(2.0 / p.shape[1]))
                else:
                    p.zero_()

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        z = 2 * math.pi * points @ self.freqs.T
        return self.net(torch.cat([torch.sin(z), torch.cos(z)], dim=1))


@dataclasses.dataclass
class FieldFitResult:
    """Output of :func:`fit_coordinate_network`.

    Attributes
    ----------
    model : CoordinateNetwork
        The fitted network (fitted in place).
    losses : Tensor, shape (n_steps,)
        Mean squared error per step.
    """

    model: nn.Module
    losses: torch.Tensor


@validate(model=Module(), image=Tensor(ndim=3, dtype="floating"), n_steps=Integer(low=1),
          lr=Real(low=0, closed="neither"), progress=Bool(optional=True), same=[("model", "image")])
def fit_coordinate_network(model: nn.Module, image: torch.Tensor, *, n_steps: int = 500, lr: float = 3e-3,
                           progress: bool | None = None) -> FieldFitResult:
    r"""Fit a :class:`CoordinateNetwork` to an image by full-batch Adam on the pixel MSE.

    .. math::

        \min_\theta \frac{1}{HW} \sum_{p} \| f_\theta(p) - I(p) \|^2

    over the pixel centres :math:`p` of :func:`pixel_grid` (square images).

    Parameters
    ----------
    model : CoordinateNetwork
        With ``n_outputs`` equal to the image's channels.
    image : Tensor, shape (c, h, h)
    n_steps : int
    lr : float
    progress : bool, optional

    Returns
    -------
    FieldFitResult

    Notes
    -----
    See the chapter :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> net = CoordinateNetwork(1, n_hidden=16, generator=0)
    >>> res = fit_coordinate_network(net, torch.rand(1, 8, 8), n_steps=20)
    >>> bool(res.losses[-1] < res.losses[0])
    True
    """
    c, h, w = image.shape
    if h != w:
        raise ValueError(f"fit_coordinate_network: image must be square (c, h, h), got shape {tuple(image.shape)}")
    p = pixel_grid(h, device=image.device, dtype=image.dtype)
    target = image.reshape(c, -1).T
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = torch.empty(int(n_steps), device=image.device, dtype=image.dtype)
    for step in _steps(n_steps, progress):
        loss = (model(p) - target).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses[step] = loss.detach()
    return FieldFitResult(model=model, losses=losses)


def _steps(n_steps, flag):
    return progress(range(int(n_steps)), desc="fit_coordinate_network", disable=None if flag is None else not flag)
