"""Isotropic Gaussian mixtures: samples, log-densities and exact scores, also after adding noise."""

from __future__ import annotations

import math

import torch

from ..utils import Generator, Integer, Real, Tensor, as_generator, randn, validate

_MIX = dict(
    means=Tensor(shape=("k", "d"), dtype="floating"),
    weights=Tensor(shape=("k",), dtype="floating", low=0),
    std=Real(low=0, closed="neither"),
)


def _check_weights(func: str, weights: torch.Tensor) -> None:
    total = float(weights.sum())
    if not math.isclose(total, 1.0, rel_tol=0, abs_tol=1e-5):
        raise ValueError(f"{func}: weights must sum to 1, got {total:.6g}")


def _log_responsibilities(x, means, weights, var):
    """log w_k + log N(x; mu_k, var I), shape (n, k)."""
    d = means.shape[1]
    sq = torch.cdist(x, means).pow(2)
    logw = torch.log(weights.clamp_min(torch.finfo(weights.dtype).tiny))
    return logw - sq / (2 * var) - 0.5 * d * math.log(2 * math.pi * var)


@validate(x=Tensor(shape=("n", "d"), dtype="floating"), **_MIX, sigma=Real(low=0),
          same=[("x", "means", "weights")])
def mixture_log_prob(x: torch.Tensor, means: torch.Tensor, weights: torch.Tensor, std: float = 1.0, *,
                     sigma: float = 0.0) -> torch.Tensor:
    r"""Log-density of an isotropic Gaussian mixture, optionally convolved with Gaussian noise.

    .. math::

        \log q_\sigma(x) = \log \sum_k w_k\, \mathcal N\big(x;\ \mu_k,\ (s^2 + \sigma^2) I\big),

    the density of :math:`x = y + \sigma z` with :math:`y` from the mixture (component
    standard deviation :math:`s`) and :math:`z \sim \mathcal N(0, I)`.

    Parameters
    ----------
    x : Tensor, shape (n, d)
        Points.
    means : Tensor, shape (k, d)
        Component means :math:`\mu_k`.
    weights : Tensor, shape (k,)
        Mixture weights, non-negative, summing to 1.
    std : float
        Component standard deviation :math:`s > 0`.
    sigma : float
        Noise level :math:`\sigma \ge 0` (0: the mixture itself).

    Returns
    -------
    Tensor, shape (n,)

    Notes
    -----
    Computed with ``logsumexp``: finite far from every component. See the chapter
    :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> lp = mixture_log_prob(torch.zeros(1, 1), torch.zeros(1, 1), torch.ones(1))
    >>> round(float(lp), 4)  # log N(0; 0, 1)
    -0.9189
    """
    _check_weights("mixture_log_prob", weights)
    var = std**2 + sigma**2
    return torch.logsumexp(_log_responsibilities(x, means, weights, var), dim=1)


def _mixture_score(x, means, weights, var):
    logr = _log_responsibilities(x, means, weights, var)
    r = torch.softmax(logr, dim=1)  # posterior over components, (n, k)
    return (r @ means - x) / var


@validate(x=Tensor(shape=("n", "d"), dtype="floating"), **_MIX, sigma=Real(low=0),
          same=[("x", "means", "weights")])
def mixture_score(x: torch.Tensor, means: torch.Tensor, weights: torch.Tensor, std: float = 1.0, *,
                  sigma: float = 0.0) -> torch.Tensor:
    r"""Exact score :math:`\nabla_x \log q_\sigma(x)` of a (noised) isotropic Gaussian mixture.

    .. math::

        \nabla_x \log q_\sigma(x) = \frac{\sum_k r_k(x)\, \mu_k - x}{s^2 + \sigma^2},
        \qquad r_k(x) = \frac{w_k \mathcal N(x; \mu_k, (s^2 + \sigma^2) I)}
                             {\sum_j w_j \mathcal N(x; \mu_j, (s^2 + \sigma^2) I)},

    the reference against which learned noise-conditional scores are tested, and the
    "exact score" of the annealing experiment of Song & Ermon (2019).

    Parameters
    ----------
    x : Tensor, shape (n, d)
    means : Tensor, shape (k, d)
    weights : Tensor, shape (k,)
        Non-negative, summing to 1.
    std : float
        Component standard deviation.
    sigma : float
        Noise level (0: the score of the mixture itself).

    Returns
    -------
    Tensor, shape (n, d)

    Notes
    -----
    The responsibilities come from a softmax of log-weights, so the score stays finite
    far from all components (where the densities underflow). See the chapter
    :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> mixture_score(torch.tensor([[2.0]]), torch.zeros(1, 1), torch.ones(1), 1.0, sigma=1.0)
    tensor([[-1.]])
    """
    _check_weights("mixture_score", weights)
    return _mixture_score(x, means, weights, std**2 + sigma**2)


@validate(n_samples=Integer(low=1), **_MIX, generator=Generator(), same=[("means", "weights")])
def sample_mixture(n_samples: int, means: torch.Tensor, weights: torch.Tensor, std: float = 1.0, *,
                   generator=None) -> torch.Tensor:
    r"""Exact samples of an isotropic Gaussian mixture.

    Draws a component :math:`k \sim w`, then :math:`x = \mu_k + s z`.

    Parameters
    ----------
    n_samples : int
    means : Tensor, shape (k, d)
    weights : Tensor, shape (k,)
    std : float
    generator : None, int or torch.Generator

    Returns
    -------
    Tensor, shape (n_samples, d), on the device and dtype of ``means``.

    Notes
    -----
    See the chapter :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> x = sample_mixture(4, torch.tensor([[-5.0, -5.0], [5.0, 5.0]]), torch.tensor([0.2, 0.8]),
    ...                    generator=0)
    >>> x.shape
    torch.Size([4, 2])
    """
    _check_weights("sample_mixture", weights)
    gen = as_generator(generator)
    idx = torch.multinomial(weights.detach().cpu().double(), int(n_samples), replacement=True, generator=gen)
    z = randn(int(n_samples), means.shape[1], generator=gen, device=means.device, dtype=means.dtype)
    return means[idx.to(means.device)] + std * z
