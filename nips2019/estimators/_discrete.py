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
from ._result import _from_samples

__all__ = ["bernoulli_gradient", "poisson_gradient"]

# the declared arguments both families share (each adds its parameter tensor)
_SHARED = dict(f=IsCallable(), method=Options("score_function", "measure_valued"), n_samples=Integer(low=2),
               generator=Generator())


def _score(fx: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    n = fx.shape[0]
    centred = fx - (fx.sum() - fx) / (n - 1)  # leave-one-out baseline
    return centred[:, None] * score


def _replaced(base: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    d = base.shape[1]
    eye = torch.eye(d, dtype=torch.bool, device=base.device)
    return torch.where(eye, values[:, :, None], base[:, None, :])


def _estimate(f, x, method, name, score, measure_valued):
    """The estimate from the draws ``x`` (n, d): ``score(x)`` is the score of each draw,
    ``measure_valued(f, x, name)`` returns the single-draw estimates and the evaluations used."""
    with torch.no_grad():
        if method == "score_function":
            samples, evals = _score(_evaluate(f, x, name), score(x)), x.shape[0]
        else:
            samples, evals = measure_valued(f, x, name)
    return _from_samples(samples, evals)


def _bernoulli_measure_valued(f, x, name):
    """f at x with coordinate i set to 1, minus f with it set to 0: 2d evaluations per draw."""
    n, d = x.shape
    ones, zeros = torch.ones_like(x), torch.zeros_like(x)
    pts = torch.stack([_replaced(x, ones), _replaced(x, zeros)]).reshape(-1, d)
    fx = _evaluate(f, pts, name).reshape(2, n, d)
    return fx[0] - fx[1], 2 * n * d


def _poisson_measure_valued(f, x, name):
    """f at x + e_i minus f at x, on the same draw: d + 1 evaluations per draw."""
    n, d = x.shape
    plus = _replaced(x, x + 1).reshape(-1, d)
    f_plus = _evaluate(f, plus, name).reshape(n, d)
    f_base = _evaluate(f, x, name)
    return f_plus - f_base[:, None], n * (d + 1)


@validate(probs=Tensor(shape=("d",), dtype="floating", low=0.0, high=1.0, closed="neither"), **_SHARED)
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
        Which estimator: the difference of the two point masses, or the score with a baseline.
    n_samples : int
        Number of draws (>= 2: the leave-one-out baseline needs a second draw).
    generator : None, int or torch.Generator
        Randomness of the uniform variables thresholded at ``probs``.

    Returns
    -------
    GradientEstimate
        ``mean`` of shape (d,); ``n_evaluations`` is ``n_samples`` (score function) or
        ``2 d n_samples`` (measure-valued).

    References
    ----------
    Mohamed, Rosca, Figurnov & Mnih (2020) ``mohamed2020monte``, table 1 (the Bernoulli row).

    Examples
    --------
    >>> import torch
    >>> p = torch.tensor([0.3, 0.6], dtype=torch.float64)
    >>> g = bernoulli_gradient(lambda x: x[:, 0] * x[:, 1], p, n_samples=50, generator=0)
    >>> g.mean.shape   # exact answer (p_2, p_1) = (0.6, 0.3)
    torch.Size([2])
    """
    u = torch.rand(n_samples, probs.shape[0], generator=as_generator(generator), dtype=probs.dtype)
    x = (u.to(probs.device) < probs).to(probs.dtype)
    return _estimate(f, x, method, "bernoulli_gradient", lambda x: (x - probs) / (probs * (1 - probs)),
                     _bernoulli_measure_valued)


@validate(rate=Tensor(shape=("d",), dtype="floating", low=0.0, closed="neither"), **_SHARED)
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
        Which estimator: the law shifted by one minus itself, or the score with a baseline.
    n_samples : int
        How many counts are drawn (at least 2).
    generator : None, int or torch.Generator
        Randomness of the Poisson draws (made on the CPU, then moved to ``rate``'s device).

    Returns
    -------
    GradientEstimate
        The estimate for ``rate``; ``n_evaluations`` is ``n_samples`` or
        ``(d + 1) n_samples``.

    References
    ----------
    Mohamed et al. (2020), section 6 (``mohamed2020monte``).

    Examples
    --------
    >>> import torch
    >>> lam = torch.tensor([2.0], dtype=torch.float64)
    >>> g = poisson_gradient(lambda x: x[:, 0] ** 2, lam, n_samples=10, generator=0)
    >>> g.mean.shape   # exact answer 1 + 2 lambda = 5
    torch.Size([1])
    """
    rates = rate.detach().cpu().expand(n_samples, rate.shape[0]).contiguous()
    x = torch.poisson(rates, generator=as_generator(generator)).to(rate.device)
    return _estimate(f, x, method, "poisson_gradient", lambda x: x / rate - 1, _poisson_measure_valued)
