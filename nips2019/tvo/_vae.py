"""A small Bernoulli VAE trained with the ELBO, the IWAE bound or the TVO, and its held-out log-likelihood."""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from ..utils import Bool, DType, Generator, Integer, Module, Options, Real, Tensor, as_generator, validate
from ..utils import progress as _progress_bar
from ..utils import randn as _randn
from ..utils import randperm as _randperm
from ._bounds import _integrand, _surrogate, moment_schedule, partition_schedule
from ._gaussian import ImportanceSample

_BINARY = Tensor(shape=("n", "p"), dtype="floating", values=(0, 1))
_OBJECTIVES = ("elbo", "iwae", "tvo", "tvo_reparam")


def _init_linear(lin: nn.Linear, g: torch.Generator) -> None:
    bound = lin.in_features ** -0.5  # PyTorch's default uniform(+-1/sqrt(fan_in)), from the package generator
    with torch.no_grad():
        for p in (lin.weight, lin.bias):
            p.copy_((torch.rand(p.shape, generator=g, dtype=torch.float64) * 2 - 1) * bound)


class BernoulliVAE(nn.Module):
    r"""A VAE for binary vectors: :math:`z \sim N(0, I)`, :math:`x_j \mid z \sim \mathrm{Bernoulli}(\sigma(g(z))_j)`.

    Encoder :math:`q_\phi(z \mid x) = N(\mu(x), \mathrm{diag}\, s(x)^2)` and decoder
    :math:`g` are one-hidden-layer tanh MLPs.

    Parameters
    ----------
    n_features : int
        Dimension :math:`p` of the binary data.
    n_latent : int
        Dimension of :math:`z`.
    hidden : int
        Width of the hidden layers.
    generator : None, int or torch.Generator
        Initialisation (float64 draws, then cast).
    dtype : torch.dtype, optional

    Notes
    -----
    See the chapter :doc:`The thermodynamic variational objective </book/tvo>`.

    Examples
    --------
    >>> vae = BernoulliVAE(4, 2, 8, generator=0)
    >>> smp = vae.importance(torch.ones(3, 4), 5, generator=0)
    >>> smp.log_weight.shape
    torch.Size([3, 5])
    """

    @validate(n_features=Integer(low=1), n_latent=Integer(low=1), hidden=Integer(low=1),
              generator=Generator(), dtype=DType(optional=True))
    def __init__(self, n_features: int, n_latent: int, hidden: int = 64, *, generator=None,
                 dtype: torch.dtype | None = None):
        super().__init__()
        g = as_generator(generator)
        self.n_latent = n_latent
        self.encoder = nn.Sequential(nn.Linear(n_features, hidden), nn.Tanh(), nn.Linear(hidden, 2 * n_latent))
        self.decoder = nn.Sequential(nn.Linear(n_latent, hidden), nn.Tanh(), nn.Linear(hidden, n_features))
        for lin in (self.encoder[0], self.encoder[2], self.decoder[0], self.decoder[2]):
            _init_linear(lin, g)
        if dtype is not None:
            self.to(dtype)

    def importance(self, x: torch.Tensor, n_samples: int, *, reparameterize: bool = True,
                   generator=None) -> ImportanceSample:
        r"""Samples :math:`z_s \sim q_\phi(z \mid x)` and :math:`\log w_s = \log p_\theta(x, z_s) - \log q_\phi(z_s \mid x)`.

        ``x`` is ``(n, p)``; the result has ``z`` of shape ``(n, s, n_latent)``. With
        ``reparameterize=False`` the samples are detached (score-function estimators).
        """
        mu, log_s = self.encoder(x).chunk(2, dim=-1)
        log_s = log_s.clamp(-8.0, 4.0)
        eps = _randn(x.shape[0], n_samples, self.n_latent, generator=as_generator(generator),
                     device=x.device, dtype=x.dtype)
        z = mu[:, None] + torch.exp(log_s)[:, None] * eps
        if not reparameterize:
            z = z.detach()
        e = (z - mu[:, None]) * torch.exp(-log_s)[:, None]
        half_log_2pi = 0.5 * math.log(2 * math.pi) * self.n_latent
        log_q = -0.5 * (e * e).sum(-1) - log_s.sum(-1)[:, None] - half_log_2pi
        log_prior = -0.5 * (z * z).sum(-1) - half_log_2pi
        logits = self.decoder(z)
        log_lik = -nn.functional.binary_cross_entropy_with_logits(
            logits, x[:, None].expand_as(logits), reduction="none").sum(-1)
        return ImportanceSample(z=z, log_weight=log_prior + log_lik - log_q, log_q=log_q)


@dataclasses.dataclass
class VAEFitResult:
    """A :class:`BernoulliVAE` trained by :func:`fit_vae`.

    Attributes
    ----------
    model : BernoulliVAE
    objective : str
        ``"elbo"``, ``"iwae"``, ``"tvo"`` or ``"tvo_reparam"``.
    betas : Tensor, shape (n_partitions + 1,)
        The partition of the last step (for the TVO objectives).
    history : Tensor, shape (n_epochs,)
        The training objective per data point, averaged over each epoch's batches (nats).
    """

    model: BernoulliVAE
    objective: str
    betas: torch.Tensor
    history: torch.Tensor


def _objective(model, xb, objective, n_samples, betas, schedule, n_partitions, g):
    if objective == "tvo":
        smp = model.importance(xb, n_samples, reparameterize=False, generator=g)
    else:
        smp = model.importance(xb, n_samples, generator=g)
    lw = smp.log_weight
    if objective == "elbo":
        return lw.mean(-1), betas
    if objective == "iwae":
        return torch.logsumexp(lw, -1) - math.log(n_samples), betas
    if schedule == "moment":
        betas = moment_schedule(lw.detach(), n_partitions, max_iter=30)
    delta = betas[1:] - betas[:-1]
    if objective == "tvo_reparam":
        return _integrand(lw, betas[:-1]) @ delta, betas
    return _surrogate(lw, smp.log_q, betas[:-1], delta), betas


@validate(x=_BINARY, objective=Options(*_OBJECTIVES), n_latent=Integer(low=1), hidden=Integer(low=1),
          n_samples=Integer(low=1), n_partitions=Integer(low=1), schedule=Options("log", "linear", "moment"),
          beta_min=Real(low=0.0, high=1.0, closed="neither"), n_epochs=Integer(low=1),
          batch_size=Integer(low=1), lr=Real(low=0.0, closed="neither"), generator=Generator(),
          progress=Bool(optional=True))
def fit_vae(x: torch.Tensor, *, objective: str = "tvo", n_latent: int = 4, hidden: int = 64,
            n_samples: int = 10, n_partitions: int = 5, schedule: str = "log", beta_min: float = 0.05,
            n_epochs: int = 50, batch_size: int = 100, lr: float = 3e-3, generator=None,
            progress: bool | None = None) -> VAEFitResult:
    r"""Train a :class:`BernoulliVAE` on binary data by maximising one of four objectives with Adam.

    With ``s = n_samples`` draws :math:`z_s \sim q_\phi(z \mid x)` per data point:

    - ``"elbo"``: :math:`\frac1S \sum_s \log w_s`, reparameterised gradient;
    - ``"iwae"``: :math:`\log \frac1S \sum_s w_s`, reparameterised gradient;
    - ``"tvo"``: the left TVO sum (:func:`tvo_bound`) with the covariance (score-function)
      gradient of Masrani et al. (:func:`tvo_surrogate`), samples detached;
    - ``"tvo_reparam"``: the same sum differentiated through reparameterised samples.

    All four see the same number of samples per data point, hence the same cost per step
    up to the few extra softmaxes of the TVO.

    Parameters
    ----------
    x : Tensor, shape (n, p), values in {0, 1}
    objective : {"elbo", "iwae", "tvo", "tvo_reparam"}
    n_latent, hidden : int
        Model size (see :class:`BernoulliVAE`).
    n_samples : int
        Samples per data point and step.
    n_partitions : int
        :math:`K` of the TVO.
    schedule : {"log", "linear", "moment"}
        :func:`partition_schedule` kinds, or :func:`moment_schedule` recomputed every step
        from the batch's weights.
    beta_min : float
        :math:`\beta_1` of the log schedule.
    n_epochs, batch_size : int
    lr : float
        Adam learning rate.
    generator : None, int or torch.Generator
        Initialisation, batch order and samples.
    progress : bool, optional
        Progress bar over epochs; ``None``: only in interactive sessions.

    Returns
    -------
    VAEFitResult

    Notes
    -----
    See the chapter :doc:`The thermodynamic variational objective </book/tvo>`.

    Examples
    --------
    >>> x = (torch.rand(40, 6, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    >>> res = fit_vae(x, objective="tvo", n_latent=2, hidden=8, n_epochs=2, batch_size=20, generator=0)
    >>> res.history.shape, res.betas.shape
    (torch.Size([2]), torch.Size([6]))
    """
    g = as_generator(generator)
    model = BernoulliVAE(x.shape[1], n_latent, hidden, generator=g).to(device=x.device, dtype=x.dtype)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    betas = partition_schedule(n_partitions, kind="linear" if schedule == "linear" else "log",
                               beta_min=beta_min, dtype=x.dtype, device=x.device)
    n = x.shape[0]
    history = torch.zeros(n_epochs, dtype=x.dtype, device=x.device)
    for epoch in _progress_bar(range(n_epochs), desc=f"fit_vae ({objective})", disable=None if progress is None
                               else not progress):
        order = _randperm(n, generator=g, device=x.device)
        total = torch.zeros((), dtype=x.dtype, device=x.device)
        for start in range(0, n, batch_size):
            xb = x[order[start:start + batch_size]]
            obj, betas = _objective(model, xb, objective, n_samples, betas, schedule, n_partitions, g)
            loss = -obj.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total = total + obj.detach().sum()
        history[epoch] = total / n
    return VAEFitResult(model=model, objective=objective, betas=betas.detach(), history=history)


@validate(model=Module(), x=_BINARY, n_samples=Integer(low=1), batch_size=Integer(low=1),
          generator=Generator(), same=[("model", "x")])
@torch.no_grad()
def estimate_log_likelihood(model: BernoulliVAE, x: torch.Tensor, *, n_samples: int = 1000,
                            batch_size: int = 100, generator=None) -> torch.Tensor:
    r"""Held-out log-likelihood estimate :math:`\log \frac1S \sum_s w_s` with many importance samples.

    The IWAE bound (:func:`iwae_bound`) with the trained encoder as proposal; it is a
    stochastic lower bound on :math:`\log p_\theta(x)` that tightens as ``n_samples``
    grows (the standard evaluation of Burda et al. 2016).

    Parameters
    ----------
    model : BernoulliVAE
    x : Tensor, shape (n, p), values in {0, 1}
    n_samples : int
    batch_size : int
        Data points per forward pass (memory: ``batch_size * n_samples`` decoder rows).
    generator : None, int or torch.Generator

    Returns
    -------
    Tensor, shape (n,)
        Nats per data point.

    Notes
    -----
    See the chapter :doc:`The thermodynamic variational objective </book/tvo>`.

    Examples
    --------
    >>> vae = BernoulliVAE(4, 2, 8, generator=0)
    >>> estimate_log_likelihood(vae, torch.ones(3, 4), n_samples=50, generator=0).shape
    torch.Size([3])
    """
    g = as_generator(generator)
    out = []
    for start in range(0, x.shape[0], batch_size):
        lw = model.importance(x[start:start + batch_size], n_samples, generator=g).log_weight
        out.append(torch.logsumexp(lw, -1) - math.log(n_samples))
    return torch.cat(out)
