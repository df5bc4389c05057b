"""Noise ladders, noise-conditional score networks and denoising score matching."""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from ..utils import (Bool, Generator, Integer, Module, Real, Tensor, as_generator, progress, randint, randn,
                     validate)


@validate(sigma_max=Real(low=0, closed="neither"), sigma_min=Real(low=0, closed="neither"),
          n_levels=Integer(low=1))
def geometric_sigmas(sigma_max: float, sigma_min: float, n_levels: int, *, device=None,
                     dtype=torch.float32) -> torch.Tensor:
    r"""A geometric ladder of noise levels, largest first.

    .. math::

        \sigma_i = \sigma_{\max} \left(\frac{\sigma_{\min}}{\sigma_{\max}}\right)^{(i-1)/(L-1)},
        \qquad i = 1, \dots, L,

    so that :math:`\sigma_{i}/\sigma_{i+1}` is constant, as in Song & Ermon (2019).

    Parameters
    ----------
    sigma_max, sigma_min : float
        Largest and smallest level, ``sigma_max >= sigma_min > 0``.
    n_levels : int
        Number of levels ``L`` (1: just ``sigma_max``).
    device, dtype
        Of the returned tensor.

    Returns
    -------
    Tensor, shape (n_levels,)

    Notes
    -----
    See the chapter :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> geometric_sigmas(10.0, 0.1, 3).tolist()
    [10.0, 1.0, 0.10000000149011612]
    """
    if sigma_max < sigma_min:
        raise ValueError(f"geometric_sigmas: sigma_max must be >= sigma_min = {sigma_min}, got {sigma_max}")
    if n_levels == 1:
        return torch.tensor([float(sigma_max)], device=device, dtype=dtype)
    t = torch.linspace(0, 1, int(n_levels), dtype=torch.float64)
    s = math.log(sigma_max) + t * (math.log(sigma_min) - math.log(sigma_max))
    return torch.exp(s).to(device=device, dtype=dtype)


def _sigma_column(sigma, x):
    """sigma (float or tensor of shape () / (n,)) as a column (n, 1) on x's device and dtype."""
    s = torch.as_tensor(sigma, device=x.device, dtype=x.dtype)
    if s.dim() == 0:
        s = s.expand(x.shape[0])
    return s.reshape(-1, 1)


def _init_from(module: nn.Module, generator) -> None:
    gen = as_generator(generator)
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() >= 2:
                fan_in = p[0].numel()
                p.copy_(randn(*p.shape, generator=gen, dtype=p.dtype) / math.sqrt(fan_in))
            else:
                p.zero_()


class NoiseConditionalMLP(nn.Module):
    r"""A small noise-conditional score network for vectors: :math:`s_\theta(x, \sigma) \approx
    \nabla_x \log q_\sigma(x)`.

    .. math::

        s_\theta(x, \sigma) = \frac{1}{\sigma}\, f_\theta\big(x,\ \gamma(\log \sigma)\big),

    an MLP :math:`f_\theta` (SiLU activations) fed with :math:`x` and sine/cosine features
    :math:`\gamma` of :math:`\log\sigma`. The output scaling by :math:`1/\sigma` matches the
    size of the true score of noised data, :math:`\mathbb E\|\nabla \log q_\sigma\|^2 \approx
    d/\sigma^2` for small :math:`\sigma`; it is the choice of Song & Ermon's 2020 follow-up,
    the 2019 paper conditions on the level index instead.

    With ``data_std`` :math:`= \sigma_d` given, the network is preconditioned (Karras et al.
    2022): it sees inputs scaled to about unit variance and learns a correction to the score
    of the noised Gaussian :math:`\mathcal N(0, \sigma_d^2 I)`,

    .. math::

        s_\theta(x, \sigma) = -\frac{x}{\sigma^2 + \sigma_d^2}
        + \frac{\sigma_d}{\sigma \sqrt{\sigma^2 + \sigma_d^2}}\,
        f_\theta\Big(\frac{x}{\sqrt{\sigma^2 + \sigma_d^2}},\ \gamma(\log\sigma)\Big),

    so that at large :math:`\sigma`, where the true score is nearly linear, the network's
    target is small; without it an MLP fed inputs of size :math:`\sigma` learns even the
    linear part poorly.

    Parameters
    ----------
    n_features : int
        Dimension ``d`` of the data.
    n_hidden : int
        Width of the hidden layers.
    n_layers : int
        Number of hidden layers, >= 1.
    data_std : float, optional
        :math:`\sigma_d`, the typical spread of one coordinate of the data; ``None`` (default)
        for the plain network.
    generator : None, int or torch.Generator
        Randomness of the initialisation (drawn on the CPU; move the module with ``.to``).

    Notes
    -----
    ``forward(x, sigma)`` takes ``x`` of shape (n, d) and ``sigma`` a float or a tensor of
    shape (n,); it returns shape (n, d). See the chapter
    :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> net = NoiseConditionalMLP(2, n_hidden=16, generator=0)
    >>> net(torch.zeros(5, 2), 0.5).shape
    torch.Size([5, 2])
    """

    @validate(n_features=Integer(low=1), n_hidden=Integer(low=1), n_layers=Integer(low=1),
              data_std=Real(low=0, closed="neither", optional=True), generator=Generator())
    def __init__(self, n_features: int, *, n_hidden: int = 128, n_layers: int = 3, data_std: float | None = None,
                 generator=None):
        super().__init__()
        self.n_features, self.n_freq = int(n_features), 8
        self.data_std = None if data_std is None else float(data_std)
        dims = [self.n_features + 2 * self.n_freq] + [int(n_hidden)] * int(n_layers)
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.SiLU()]
        layers.append(nn.Linear(dims[-1], self.n_features))
        self.net = nn.Sequential(*layers)
        _init_from(self, generator)

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        s = _sigma_column(sigma, x)
        freq = torch.arange(1, self.n_freq + 1, device=x.device, dtype=x.dtype)
        emb = torch.log(s) * freq
        if self.data_std is None:
            h = torch.cat([x, torch.sin(emb), torch.cos(emb)], dim=1)
            return self.net(h) / s
        r = torch.sqrt(s**2 + self.data_std**2)
        h = torch.cat([x / r, torch.sin(emb), torch.cos(emb)], dim=1)
        return -x / r**2 + self.data_std * self.net(h) / (s * r)


class NoiseConditionalCNN(nn.Module):
    r"""A small noise-conditional score network for square images, flattened to vectors.

    .. math::

        s_\theta(x, \sigma) = \frac{1}{\sigma}\, \mathrm{CNN}_\theta(x;\ \sigma),

    three 3x3 convolutions (SiLU) whose hidden channels are shifted by a learned linear
    function of sine/cosine features of :math:`\log\sigma` (a much reduced form of the
    conditional normalisation of Song & Ermon 2019).

    Parameters
    ----------
    side : int
        Image side ``h`` (inputs are vectors of ``h * h`` pixels, e.g. 8 for sklearn digits).
    n_channels : int
        Hidden channels.
    generator : None, int or torch.Generator
        Randomness of the initialisation.

    Notes
    -----
    ``forward(x, sigma)``: ``x`` of shape (n, h*h), ``sigma`` a float or shape (n,). See the
    chapter :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> net = NoiseConditionalCNN(8, n_channels=8, generator=0)
    >>> net(torch.zeros(3, 64), 1.0).shape
    torch.Size([3, 64])
    """

    @validate(side=Integer(low=2), n_channels=Integer(low=1), generator=Generator())
    def __init__(self, side: int, *, n_channels: int = 32, n_layers: int = 3, generator=None):
        super().__init__()
        self.side, self.n_freq, c = int(side), 8, int(n_channels)
        self.n_features = self.side**2
        self.convs = nn.ModuleList([nn.Conv2d(1, c, 3, padding=1)]
                                   + [nn.Conv2d(c, c, 3, padding=1) for _ in range(max(int(n_layers) - 2, 0))]
                                   + [nn.Conv2d(c, 1, 3, padding=1)])
        self.film = nn.ModuleList([nn.Linear(2 * self.n_freq, c) for _ in self.convs[:-1]])
        self.act = nn.SiLU()
        _init_from(self, generator)

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        s = _sigma_column(sigma, x)
        freq = torch.arange(1, self.n_freq + 1, device=x.device, dtype=x.dtype)
        emb = torch.log(s) * freq
        emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)
        h = x.reshape(-1, 1, self.side, self.side)
        for conv, film in zip(self.convs[:-1], self.film):
            h = self.act(conv(h) + film(emb)[:, :, None, None])
        h = self.convs[-1](h)
        return h.reshape(x.shape[0], -1) / s


def _dsm_loss(model, x, sigmas, gen):
    idx = randint(0, sigmas.shape[0], (x.shape[0],), generator=gen, device=x.device)
    s = sigmas[idx]
    z = randn(*x.shape, generator=gen, device=x.device, dtype=x.dtype)
    noisy = x + s[:, None] * z
    # lambda(sigma) = sigma^2 weighting: sigma^2 || s(x~) + z / sigma ||^2 = || sigma s(x~) + z ||^2
    resid = s[:, None] * model(noisy, s) + z
    return 0.5 * resid.pow(2).sum(1).mean()


_SIGMAS = Tensor(shape=("L",), dtype="floating", low=0, closed="neither")


@validate(model=Module(), x=Tensor(shape=("n", "d"), dtype="floating"), sigmas=_SIGMAS, generator=Generator(),
          same=[("model", "x", "sigmas")])
def dsm_loss(model: nn.Module, x: torch.Tensor, sigmas: torch.Tensor, *, generator=None) -> torch.Tensor:
    r"""Noise-conditional denoising score-matching loss with Song & Ermon's weighting.

    .. math::

        \mathcal L(\theta) = \frac{1}{n} \sum_{j=1}^n \frac{\lambda(\sigma_{i_j})}{2}
        \Big\| s_\theta(x_j + \sigma_{i_j} z_j,\ \sigma_{i_j}) + \frac{z_j}{\sigma_{i_j}} \Big\|^2,
        \qquad \lambda(\sigma) = \sigma^2,

    with a level :math:`i_j` drawn uniformly per sample and :math:`z_j \sim \mathcal N(0, I)`.
    Its minimiser in :math:`s` is the score of the noised data,
    :math:`\nabla \log q_\sigma` (Vincent 2011); :math:`\lambda = \sigma^2` makes every level
    contribute about equally.

    Parameters
    ----------
    model : nn.Module
        Called as ``model(x_noisy, sigma)`` with ``sigma`` of shape (n,).
    x : Tensor, shape (n, d)
        A batch of data.
    sigmas : Tensor, shape (L,)
        Noise levels.
    generator : None, int or torch.Generator

    Returns
    -------
    Tensor, shape ()
        Differentiable in the model's parameters.

    Notes
    -----
    See the chapter :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> net = NoiseConditionalMLP(2, n_hidden=8, generator=0)
    >>> loss = dsm_loss(net, torch.randn(16, 2), torch.tensor([1.0, 0.1]), generator=0)
    >>> loss.shape, bool(loss > 0)
    (torch.Size([]), True)
    """
    return _dsm_loss(model, x, sigmas, as_generator(generator))


@dataclasses.dataclass
class ScoreTrainResult:
    """Output of :func:`train_score`.

    Attributes
    ----------
    model : nn.Module
        The trained network (trained in place; with ``ema``, holding the averaged weights).
    losses : Tensor, shape (n_steps,)
        Denoising score-matching loss per step (of the raw, not the averaged, weights).
    """

    model: nn.Module
    losses: torch.Tensor


@validate(model=Module(), x=Tensor(shape=("n", "d"), dtype="floating"), sigmas=_SIGMAS,
          n_steps=Integer(low=1), batch_size=Integer(low=1), lr=Real(low=0, closed="neither"),
          ema=Real(low=0, high=1, closed="left", optional=True), generator=Generator(),
          progress=Bool(optional=True), same=[("model", "x", "sigmas")])
def train_score(model: nn.Module, x: torch.Tensor, sigmas: torch.Tensor, *, n_steps: int = 2000,
                batch_size: int = 128, lr: float = 1e-3, ema: float | None = None, generator=None,
                progress: bool | None = None) -> ScoreTrainResult:
    r"""Fit a noise-conditional score network by denoising score matching (Adam).

    Minimises :func:`dsm_loss` over minibatches of ``x`` drawn with replacement, with a
    cosine-decayed learning rate. With ``ema`` :math:`= \beta`, an exponential moving
    average of the weights is kept,

    .. math::

        \bar\theta_t = \beta_t \bar\theta_{t-1} + (1 - \beta_t)\, \theta_t, \qquad
        \beta_t = \min\big(\beta,\ (1 + t)/(10 + t)\big),

    (the warm-up keeps the first, poor weights from dominating a short run) and copied into
    the model at the end: Song & Ermon's 2020 technique 5 against the fluctuations of the
    last Adam steps.

    Parameters
    ----------
    model : nn.Module
        E.g. :class:`NoiseConditionalMLP`; trained in place.
    x : Tensor, shape (n, d)
        Training data.
    sigmas : Tensor, shape (L,)
        Noise levels (:func:`geometric_sigmas`).
    n_steps, batch_size : int
    lr : float
        Initial Adam learning rate.
    ema : float, optional
        Decay :math:`\beta \in [0, 1)` of the weight average (e.g. 0.999); ``None`` keeps the
        last weights.
    generator : None, int or torch.Generator
    progress : bool, optional
        Progress bar (:func:`nips2019.utils.progress`).

    Returns
    -------
    ScoreTrainResult

    Notes
    -----
    See the chapter :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> net = NoiseConditionalMLP(2, n_hidden=16, generator=0)
    >>> res = train_score(net, torch.randn(64, 2), torch.tensor([1.0, 0.3]), n_steps=5, generator=0)
    >>> res.losses.shape
    torch.Size([5])
    """
    gen = as_generator(generator)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=int(n_steps))
    losses = torch.empty(int(n_steps), device=x.device, dtype=x.dtype)
    bar = _bar(range(int(n_steps)), "train_score", progress)
    params = [p for p in model.parameters() if p.requires_grad]
    average = [p.detach().clone() for p in params] if ema is not None else None
    model.train()
    for step in bar:
        idx = randint(0, x.shape[0], (int(batch_size),), generator=gen, device=x.device)
        loss = _dsm_loss(model, x[idx], sigmas, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses[step] = loss.detach()
        if average is not None:
            weight = 1.0 - min(float(ema), (1.0 + step) / (10.0 + step))
            with torch.no_grad():
                torch._foreach_lerp_(average, [p.detach() for p in params], weight)
    if average is not None:
        with torch.no_grad():
            for p, a in zip(params, average):
                p.copy_(a)
    model.eval()
    if not bool(torch.isfinite(losses).all()):
        raise FloatingPointError("train_score: the loss became non-finite; lower lr or the largest sigma")
    return ScoreTrainResult(model=model, losses=losses)


def _bar(iterable, desc, flag):
    return progress(iterable, desc=desc, disable=None if flag is None else not flag)
