"""A small convolutional autoencoder with optional PONO and moment shortcuts, and its training loop."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..utils import Bool, Generator, Integer, Module, Options, Real, Tensor, as_generator, randint, validate
from ..utils import progress as _progress
from ._pono import moment_shortcut, positional_normalize


class PonoAutoencoder(nn.Module):
    r"""An image-to-image network for small images: two conv layers down, a bottleneck, two up.

    Encoder: ``conv 3x3 (1 -> C)``, ``conv 3x3 stride 2 (C -> 2C)``, each followed by the
    chosen normalisation and a ReLU; a linear bottleneck of ``n_latent`` units; decoder:
    ``conv-transpose 4x4 stride 2 (2C -> C)`` and ``conv 3x3 (C -> 1)``. With
    ``normalization="pono-ms"`` the moments :math:`\mu, \sigma` of each encoder layer are
    re-injected by :func:`moment_shortcut` just before the decoder convolution that reads a
    map of the same size, as Li et al. (2019) place them (PONO after the encoder's
    convolutions, MS before the decoder's). The moment maps then bypass the bottleneck: two
    numbers per position and layer, at full resolution.

    Parameters
    ----------
    normalization : {"none", "pono", "pono-ms"}
        No normalisation; PONO with the moments discarded; PONO with moment shortcuts.
    n_channels : int
        :math:`C`.
    n_latent : int
        Width of the bottleneck.
    image_size : int
        Side of the square input, divisible by 2.
    generator : None, int or torch.Generator
        Initial weights (PyTorch's default initialisation, drawn from this generator).

    Notes
    -----
    Inputs have shape ``(B, 1, image_size, image_size)``. See the chapter
    :doc:`Depth as a regulariser, moments as features </book/factorization>`.

    Examples
    --------
    >>> import torch
    >>> net = PonoAutoencoder("pono-ms", n_channels=4, n_latent=3, image_size=8, generator=0)
    >>> net(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 1, 8, 8])
    """

    @validate(normalization=Options("none", "pono", "pono-ms"), n_channels=Integer(low=2), n_latent=Integer(low=1),
              image_size=Integer(low=2), generator=Generator())
    def __init__(self, normalization: str = "pono-ms", *, n_channels: int = 16, n_latent: int = 8,
                 image_size: int = 8, generator=None):
        super().__init__()
        if image_size % 2:
            raise ValueError(f"PonoAutoencoder: image_size must be even, got {image_size}")
        self.normalization, self.image_size = normalization, image_size
        c, half = n_channels, image_size // 2
        gen = as_generator(generator)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(randint(0, 2**62, (1,), generator=gen)))
            self.enc1 = nn.Conv2d(1, c, 3, padding=1)
            self.enc2 = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)
            self.down = nn.Linear(2 * c * half * half, n_latent)
            self.up = nn.Linear(n_latent, 2 * c * half * half)
            self.dec1 = nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1)
            self.dec2 = nn.Conv2d(c, 1, 3, padding=1)
        self._shape = (2 * c, half, half)

    def _norm(self, h):
        if self.normalization == "none":
            return h, None
        m = positional_normalize(h)
        return m.output, (m.mean, m.std)

    @validate(x=Tensor(shape=(None, 1, None, None), dtype="floating"), same=[("self", "x")])
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map images ``(B, 1, S, S)`` to images of the same shape."""
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"PonoAutoencoder.forward: x must be (B, 1, {self.image_size}, {self.image_size}), "
                             f"got {tuple(x.shape)}")
        h1, mom1 = self._norm(self.enc1(x))
        h1 = torch.relu(h1)
        h2, mom2 = self._norm(self.enc2(h1))
        h2 = torch.relu(h2)
        z = self.down(h2.flatten(1))
        g = torch.relu(self.up(z)).view(-1, *self._shape)
        if self.normalization == "pono-ms":
            g = moment_shortcut(g, *mom2)
        g = torch.relu(self.dec1(g))
        if self.normalization == "pono-ms":
            g = moment_shortcut(g, *mom1)
        return self.dec2(g)


@dataclasses.dataclass
class AutoencoderFit:
    """The outcome of :func:`train_autoencoder`.

    Attributes
    ----------
    model : nn.Module
        The trained network (the one passed in, trained in place).
    losses : Tensor, shape (n_steps,)
        Mean squared error of each training batch.
    """

    model: nn.Module
    losses: torch.Tensor


@validate(
    model=Module(),
    inputs=Tensor(shape=("n", None, None, None), dtype="floating"),
    targets=Tensor(shape=("n", None, None, None), dtype="floating"),
    n_steps=Integer(low=1),
    batch_size=Integer(low=1),
    lr=Real(low=0, closed="neither"),
    generator=Generator(),
    progress=Bool(optional=True),
    same=[("model", "inputs", "targets")],
)
def train_autoencoder(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, *, n_steps: int = 1000,
                      batch_size: int = 64, lr: float = 3e-3, generator=None,
                      progress: bool | None = None) -> AutoencoderFit:
    r"""Train an image-to-image ``model`` by Adam on the mean squared error to ``targets``.

    Each step draws ``batch_size`` rows uniformly with replacement from ``generator``.

    Parameters
    ----------
    model : nn.Module
        Maps ``inputs``-shaped batches to ``targets``-shaped batches; trained in place.
    inputs, targets : Tensor, shape (n, C, H, W)
    n_steps, batch_size : int
    lr : float
    generator : None, int or torch.Generator
    progress : bool, optional

    Returns
    -------
    AutoencoderFit

    Notes
    -----
    See the chapter :doc:`Depth as a regulariser, moments as features </book/factorization>`.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    >>> net = PonoAutoencoder("pono", n_channels=4, n_latent=2, generator=0)
    >>> fit = train_autoencoder(net, x, x, n_steps=20, batch_size=8, generator=0)
    >>> fit.losses.shape
    torch.Size([20])
    """
    gen = as_generator(generator)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = torch.empty(n_steps, dtype=inputs.dtype, device=inputs.device)
    model.train()
    for step in _progress(range(n_steps), desc="train", disable=None if progress is None else not progress):
        idx = randint(0, inputs.shape[0], (batch_size,), generator=gen, device=inputs.device)
        loss = (model(inputs[idx]) - targets[idx]).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses[step] = loss.detach()
    model.eval()
    if not bool(torch.isfinite(losses).all()):
        raise FloatingPointError(f"train_autoencoder: the loss became non-finite; lower lr (got {lr})")
    return AutoencoderFit(model=model, losses=losses)
