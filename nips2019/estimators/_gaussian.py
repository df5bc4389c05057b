r"""Three unbiased estimators of the gradient of a Gaussian expectation.

For :math:`x \sim \mathcal{N}(\mu, \operatorname{diag}\sigma^2)` and a black-box
:math:`f`, the gradient of :math:`\mathbb{E}[f(x)]` with respect to :math:`\mu` and
:math:`\sigma` can be written as an expectation in three different ways (Mohamed, Rosca,
Figurnov & Mnih 2020): differentiate the density (score function), differentiate a sample
path (pathwise) or differentiate the measure and split the result into a difference of two
probability measures (measure-valued). See the chapter :doc:`Gradients and update rules
</book/gradients>`.
"""

from __future__ import annotations

import math

import torch

from nips2019.utils import (AnyOf, Bool, Generator, Integer, IsCallable, Options, Real, Tensor, as_generator,
                            validate)

from ._result import _gaussian

__all__ = ["measure_valued_gradient", "pathwise_gradient", "score_function_gradient"]

# the declared arguments of the three Gaussian estimators (each adds its n_samples and options)
_SHARED = dict(f=IsCallable(), loc=Tensor(shape=("d",), dtype="floating"),
               scale=Tensor(shape=("d",), dtype="floating", low=0.0, closed="neither"), generator=Generator(),
               same=[("loc", "scale")])


def _evaluate(f, x: torch.Tensor, func: str) -> torch.Tensor:
    """Call ``f`` on a batch of points and check what comes back."""
    out = f(x)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"{func}: f must return a torch.Tensor, got {type(out).__name__}")
    if out.shape != x.shape[:1]:
        raise ValueError(f"{func}: f must map points of shape (m, d) to values of shape (m,); "
                         f"got {tuple(out.shape)} for input {tuple(x.shape)}")
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"{func}: f returned non-finite values")
    return out


def _normal(n, d, loc, generator):
    return torch.randn(n, d, generator=generator, dtype=loc.dtype).to(loc.device)


def _uniform(n, d, loc, generator):
    return torch.rand(n, d, generator=generator, dtype=loc.dtype).to(loc.device)


@validate(n_samples=Integer(low=2), baseline=AnyOf(Options("none", "leave_one_out"), Real()), **_SHARED)
def score_function_gradient(f, loc, scale, *, n_samples=100, baseline="leave_one_out", generator=None):
    r"""Score-function (REINFORCE, likelihood-ratio) estimate of a Gaussian expectation's gradient.

    .. math::

        \nabla_\theta \mathbb{E}_{p_\theta}[f(x)]
        = \mathbb{E}_{p_\theta}\big[(f(x) - b)\,\nabla_\theta \log p_\theta(x)\big],
        \qquad
        \partial_{\mu_i} \log p = \frac{\epsilon_i}{\sigma_i},\quad
        \partial_{\sigma_i} \log p = \frac{\epsilon_i^2 - 1}{\sigma_i},

    with :math:`x = \mu + \sigma \epsilon`. Any baseline :math:`b` that does not depend on
    the draw keeps the estimate unbiased because the score has mean zero. ``f`` is only
    evaluated, never differentiated.

    Parameters
    ----------
    f : callable
        Maps a batch of points, shape (m, d), to values, shape (m,). Must act row by row.
    loc : Tensor, shape (d,)
        Mean :math:`\mu`.
    scale : Tensor, shape (d,)
        Standard deviations :math:`\sigma > 0`; the score grows like :math:`1/\sigma`, and
        so does the variance of the estimate.
    n_samples : int
        Number of draws (>= 2: the leave-one-out baseline needs a second draw).
    baseline : {"leave_one_out", "none"} or float
        Control variate subtracted from :math:`f`: the mean of the other draws' values
        (unbiased, no tuning), none, or a constant.
    generator : None, int or torch.Generator
        Randomness (see ``CONTRIBUTING.md``).

    Returns
    -------
    GaussianGradient
        Estimates for ``loc`` and ``scale``; ``n_evaluations = n_samples``.

    References
    ----------
    Williams (1992); Mohamed, Rosca, Figurnov & Mnih (2020), section 4 (``mohamed2020monte``).

    Examples
    --------
    >>> import torch
    >>> g = score_function_gradient(lambda x: (x ** 2).sum(-1), torch.tensor([1.0]),
    ...                             torch.tensor([1.0]), n_samples=20_000, generator=0)
    >>> abs(g.loc.mean.item() - 2.0) < 0.1   # d/dmu E[x^2] = 2 mu
    True
    """
    name = "score_function_gradient"
    gen = as_generator(generator)
    d = loc.shape[0]
    eps = _normal(n_samples, d, loc, gen)
    with torch.no_grad():
        fx = _evaluate(f, loc + scale * eps, name)
    if baseline == "leave_one_out":
        # f_j - mean of the other draws: independent of draw j, so the score keeps mean zero
        centred = fx - (fx.sum() - fx) / (n_samples - 1)
    elif baseline == "none":
        centred = fx
    else:
        centred = fx - float(baseline)
    w = centred[:, None]
    loc_s = w * eps / scale
    scale_s = w * (eps * eps - 1) / scale
    return _gaussian(loc_s, scale_s, n_samples, "score_function")


@validate(n_samples=Integer(low=1), **_SHARED)
def pathwise_gradient(f, loc, scale, *, n_samples=100, generator=None):
    r"""Pathwise (reparameterisation) estimate of a Gaussian expectation's gradient.

    .. math::

        x = \mu + \sigma\epsilon,\ \epsilon \sim \mathcal{N}(0, I):\qquad
        \partial_{\mu_i} \mathbb{E}[f(x)] = \mathbb{E}[\partial_i f(x)],\qquad
        \partial_{\sigma_i} \mathbb{E}[f(x)] = \mathbb{E}[\partial_i f(x)\,\epsilon_i].

    Needs ``f`` differentiable by autograd. Unbiased only when ``f`` is (absolutely)
    continuous: for a step function autograd returns zero almost everywhere and the
    estimate is silently zero (the chapter shows it).

    Parameters
    ----------
    f : callable
        Differentiable map of points, shape (m, d), to values, shape (m,), row by row.
    loc : Tensor, shape (d,)
        Mean :math:`\mu` (used detached: the estimate is returned, not back-propagated).
    scale : Tensor, shape (d,)
        Standard deviations :math:`\sigma > 0`, detached likewise.
    n_samples : int
        Number of draws, each one evaluation of ``f`` and its share of one backward pass.
    generator : None, int or torch.Generator
        Randomness.

    Returns
    -------
    GaussianGradient
        Estimates for ``loc`` and ``scale``; ``n_evaluations = n_samples`` (each with
        one backward pass).

    Raises
    ------
    ValueError
        If ``f``'s output does not depend on its input through autograd.

    References
    ----------
    Kingma & Welling (2014); Mohamed et al. (2020), section 5 (``mohamed2020monte``).

    Examples
    --------
    >>> import torch
    >>> loc, scale = torch.tensor([1.0]), torch.tensor([0.5])
    >>> g = pathwise_gradient(lambda x: (x ** 2).sum(-1), loc, scale, n_samples=20_000, generator=0)
    >>> abs(g.scale.mean.item() - 1.0) < 0.05   # d/dsigma E[x^2] = 2 sigma
    True
    """
    name = "pathwise_gradient"
    gen = as_generator(generator)
    eps = _normal(n_samples, loc.shape[0], loc, gen)
    with torch.enable_grad():
        x = (loc.detach() + scale.detach() * eps).requires_grad_(True)
        fx = _evaluate(f, x, name)
        if not fx.requires_grad:
            raise ValueError(f"{name}: f's output does not depend on x through autograd; the pathwise "
                             "estimator needs a differentiable f (use score_function_gradient or "
                             "measure_valued_gradient)")
        (grad,) = torch.autograd.grad(fx.sum(), x, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(x)
    grad = grad.detach()
    scale_s = grad * eps
    return _gaussian(grad, scale_s, n_samples, "pathwise")


@validate(n_samples=Integer(low=1), coupling=Bool(), **_SHARED)
def measure_valued_gradient(f, loc, scale, *, n_samples=100, coupling=True, generator=None):
    r"""Measure-valued (weak-derivative) estimate of a Gaussian expectation's gradient.

    The derivative of the density in one coordinate is a constant times a difference of
    two densities, :math:`\partial_\theta p = c_\theta (p^+ - p^-)`, so

    .. math::

        \partial_{\mu_i} \mathbb{E}[f] = \frac{1}{\sigma_i\sqrt{2\pi}}\,
        \mathbb{E}_W\big[f(x_{-i}, \mu_i + \sigma_i W) - f(x_{-i}, \mu_i - \sigma_i W)\big],
        \qquad W \sim \mathrm{Weibull}(\sqrt2, 2)

    (a Rayleigh variable, :math:`W = \sqrt{-2\log U}`), and

    .. math::

        \partial_{\sigma_i} \mathbb{E}[f] = \frac{1}{\sigma_i}\,
        \mathbb{E}\big[f(x_{-i}, \mu_i + \sigma_i M) - f(x_{-i}, \mu_i + \sigma_i \epsilon)\big],

    with :math:`M` double-sided Maxwell (density :math:`m^2 e^{-m^2/2}/\sqrt{2\pi}`) and
    :math:`\epsilon` standard normal; the other coordinates :math:`x_{-i}` are one shared
    Gaussian draw. With ``coupling=True`` the two sides share their randomness
    (the same :math:`W`; :math:`\epsilon = M U` with :math:`U` uniform, which is exactly
    Gaussian), which lowers the variance without bias. ``f`` is only evaluated, never
    differentiated, so it may be discontinuous. Cost: :math:`4 d` evaluations per draw, made
    in one call of ``f`` on a batch of :math:`4 n d` points (memory :math:`4 n d^2` entries;
    split ``n_samples`` over several calls for large ``d``).

    Parameters
    ----------
    f : callable
        Maps points, shape (m, d), to values, shape (m,), row by row.
    loc : Tensor, shape (d,)
        Mean :math:`\mu`.
    scale : Tensor, shape (d,)
        Standard deviations :math:`\sigma > 0`; the estimates divide by it.
    n_samples : int
        Number of draws, each of :math:`4 d` evaluations.
    coupling : bool
        Share randomness between the positive and negative parts.
    generator : None, int or torch.Generator
        Randomness.

    Returns
    -------
    GaussianGradient
        Estimates for ``loc`` and ``scale``; ``n_evaluations = 4 d n_samples``.

    References
    ----------
    Pflug (1989); Rosca, Figurnov, Mohamed & Mnih (2019) ``rosca2019measure``; Mohamed et
    al. (2020), section 6 and table 1 (``mohamed2020monte``).

    Examples
    --------
    >>> import torch
    >>> step = lambda x: (x[:, 0] > 0).double()
    >>> g = measure_valued_gradient(step, torch.tensor([0.0], dtype=torch.float64),
    ...                             torch.tensor([1.0], dtype=torch.float64),
    ...                             n_samples=20_000, generator=0)
    >>> abs(g.loc.mean.item() - 0.3989) < 0.01   # density of N(0, 1) at 0
    True
    """
    name = "measure_valued_gradient"
    gen = as_generator(generator)
    n, d = n_samples, loc.shape[0]
    base = loc + scale * _normal(n, d, loc, gen)  # (n, d): the shared coordinates
    # Weibull(sqrt 2, 2) = Rayleigh(1)
    w = torch.sqrt(-2.0 * torch.log1p(-_uniform(n, d, loc, gen)))
    w_minus = w if coupling else torch.sqrt(-2.0 * torch.log1p(-_uniform(n, d, loc, gen)))
    sign = torch.where(_uniform(n, d, loc, gen) < 0.5, -1.0, 1.0).to(loc.dtype)
    maxwell = sign * torch.linalg.vector_norm(
        torch.randn(n, d, 3, generator=gen, dtype=loc.dtype).to(loc.device), dim=-1)
    gauss = maxwell * _uniform(n, d, loc, gen) if coupling else _normal(n, d, loc, gen)
    eye = torch.eye(d, dtype=torch.bool, device=loc.device)

    def replaced(values):  # (n, d) -> (n, d, d): row i of sample j has coordinate i set
        return torch.where(eye, values[:, :, None], base[:, None, :])

    points = torch.stack([replaced(loc + scale * w), replaced(loc - scale * w_minus),
                          replaced(loc + scale * maxwell), replaced(loc + scale * gauss)])
    with torch.no_grad():
        fx = _evaluate(f, points.reshape(-1, d), name).reshape(4, n, d)
    loc_s = (fx[0] - fx[1]) / (scale * math.sqrt(2 * math.pi))
    scale_s = (fx[2] - fx[3]) / scale
    return _gaussian(loc_s, scale_s, 4 * d * n, "measure_valued")
