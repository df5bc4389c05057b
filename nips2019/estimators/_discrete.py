r"""Score-function and measure-valued gradients for discrete families (Bernoulli, Poisson).

No pathwise estimator exists for these: a sample is a step function of its parameter. The
measure-valued derivative is exact and simple here (Mohamed et al. 2020, table 1): the
derivative of a Bernoulli probability is the difference of the two point masses, and that
of a Poisson law is the law shifted by one minus itself. See the chapter
:doc:`Gradients and update rules </book/gradients>`.
"""

from __future__ import annotations

import torch

from nips2019.utils import Generator, Integer, IsCallable, Options, Tensor, as_generator, validate

from ._gaussian import _evaluate
from ._result import GradientEstimate

__all__ = ["bernoulli_gradient", "poisson_gradient"]

_METHOD = Options("score_function", "measure_valued")


def _score(fx: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    n = fx.shape[0]
    centred = fx - (fx.sum() - fx) / (n - 1)  # leave-one-out baseline
    return centred[:, None] * score


def _replaced(base: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    d = base.shape[1]
    eye = torch.eye(d, dtype=torch.bool, device=base.device)
    return torch.where(eye, values[:, :, None], base[:, None, :])


@validate(f=IsCallable(), probs=Tensor(shape=("d",), dtype="floating", low=0.0, high=1.0, closed="neither"),
          method=_METHOD, n_samples=Integer(low=2), generator=Generator())
def bernoulli_gradient(f, probs, *, method="measure_valued", n_samples=100, generator=None):
    r"""Gradient of :math:`\mathbb{E}[f(x)]`, :math:`x_i \sim \mathrm{Bernoulli}(p_i)` independent.

    .. math::

        \text{score function:}\quad \partial_{p_i}\mathbb{E}[f]
        = \mathbb{E}\Big[(f(x) - b)\,\frac{x_i - p_i}{p_i (1 - p_i)}\Big],
        \qquad
        \text{measure-valued:}\quad \partial_{p_i}\mathbb{E}[f]
        = \mathbb{E}\big[f(x_{-i}, 1) - f(x_{-i}, 0)\big],

    with a leave-one-out baseline :math:`b` for the score function. The measure-valued
    form needs :math:`2d` evaluations per draw and has zero variance when ``f`` is linear.

    Parameters
    ----------
    f : callable
        Maps points, shape (m, d) with entries 0./1. in ``probs``'s dtype, to values (m,).
    probs : Tensor, shape (d,)
        Success probabilities in (0, 1).
    method : {"measure_valued", "score_function"}
        Which estimator.
    n_samples : int
        Number of draws (>= 2).
    generator : None, int or torch.Generator
        Randomness.

    Returns
    -------
    GradientEstimate
        ``mean`` of shape (d,).

    References
    ----------
    Mohamed, Rosca, Figurnov & Mnih (2020) ``mohamed2020monte``.

    Examples
    --------
    >>> import torch
    >>> p = torch.tensor([0.3, 0.6], dtype=torch.float64)
    >>> g = bernoulli_gradient(lambda x: x[:, 0] * x[:, 1], p, n_samples=50, generator=0)
    >>> g.mean.shape   # exact answer (p_2, p_1) = (0.6, 0.3)
    torch.Size([2])
    """
    name = "bernoulli_gradient"
    gen = as_generator(generator)
    n, d = n_samples, probs.shape[0]
    u = torch.rand(n, d, generator=gen, dtype=probs.dtype).to(probs.device)
    x = (u < probs).to(probs.dtype)
    with torch.no_grad():
        if method == "score_function":
            samples = _score(_evaluate(f, x, name), (x - probs) / (probs * (1 - probs)))
            evals = n
        else:
            ones, zeros = torch.ones_like(x), torch.zeros_like(x)
            pts = torch.stack([_replaced(x, ones), _replaced(x, zeros)]).reshape(-1, d)
            fx = _evaluate(f, pts, name).reshape(2, n, d)
            samples, evals = fx[0] - fx[1], 2 * n * d
    return GradientEstimate(samples.mean(0), samples, evals)


@validate(f=IsCallable(), rate=Tensor(shape=("d",), dtype="floating", low=0.0, closed="neither"),
          method=_METHOD, n_samples=Integer(low=2), generator=Generator())
def poisson_gradient(f, rate, *, method="measure_valued", n_samples=100, generator=None):
    r"""Gradient of :math:`\mathbb{E}[f(x)]`, :math:`x_i \sim \mathrm{Poisson}(\lambda_i)` independent.

    .. math::

        \text{score function:}\quad \partial_{\lambda_i}\mathbb{E}[f]
        = \mathbb{E}\Big[(f(x) - b)\Big(\frac{x_i}{\lambda_i} - 1\Big)\Big],
        \qquad
        \text{measure-valued:}\quad \partial_{\lambda_i}\mathbb{E}[f]
        = \mathbb{E}\big[f(x + e_i) - f(x)\big],

    the second because :math:`\partial_\lambda \mathrm{Pois}(k; \lambda)
    = \mathrm{Pois}(k - 1; \lambda) - \mathrm{Pois}(k; \lambda)` (both sides share the draw).

    Parameters
    ----------
    f : callable
        Maps counts, shape (m, d) in ``rate``'s dtype, to values (m,).
    rate : Tensor, shape (d,)
        Rates :math:`\lambda > 0`.
    method : {"measure_valued", "score_function"}
        Which estimator.
    n_samples : int
        Number of draws (>= 2).
    generator : None, int or torch.Generator
        Randomness.

    Returns
    -------
    GradientEstimate
        ``mean`` of shape (d,).

    References
    ----------
    Mohamed, Rosca, Figurnov & Mnih (2020) ``mohamed2020monte``.

    Examples
    --------
    >>> import torch
    >>> lam = torch.tensor([2.0], dtype=torch.float64)
    >>> g = poisson_gradient(lambda x: x[:, 0] ** 2, lam, n_samples=10, generator=0)
    >>> g.mean.shape   # exact answer 1 + 2 lambda = 5
    torch.Size([1])
    """
    name = "poisson_gradient"
    gen = as_generator(generator)
    n, d = n_samples, rate.shape[0]
    x = torch.poisson(rate.detach().cpu().expand(n, d).contiguous(), generator=gen).to(rate.device)
    with torch.no_grad():
        if method == "score_function":
            samples = _score(_evaluate(f, x, name), x / rate - 1)
            evals = n
        else:
            plus = _replaced(x, x + 1).reshape(-1, d)
            f_plus = _evaluate(f, plus, name).reshape(n, d)
            f_base = _evaluate(f, x, name)
            samples, evals = f_plus - f_base[:, None], n * (d + 1)
    return GradientEstimate(samples.mean(0), samples, evals)
