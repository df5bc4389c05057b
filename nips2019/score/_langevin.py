"""Langevin dynamics and Song & Ermon's annealed Langevin dynamics."""

from __future__ import annotations

import math

import torch

from ..utils import Bool, Generator, Integer, IsCallable, Real, Tensor, as_generator, randn, validate
from ._dsm import _bar


def _call_score(func: str, score, x, *args):
    out = score(x, *args)
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"{func}: score must return a tensor of shape {tuple(x.shape)}, got {shape}")
    return out


def _check_finite(func: str, x):
    if not bool(torch.isfinite(x).all()):
        raise FloatingPointError(f"{func}: the chain diverged (non-finite samples); lower the step size")
    return x


@validate(score=IsCallable(), x=Tensor(shape=("n", "d"), dtype="floating"),
          step_size=Real(low=0, closed="neither"), n_steps=Integer(low=0), generator=Generator(),
          progress=Bool(optional=True))
def langevin(score, x: torch.Tensor, *, step_size: float = 0.1, n_steps: int = 1000, generator=None,
             progress: bool | None = None) -> torch.Tensor:
    r"""Unadjusted Langevin dynamics driven by a score function.

    .. math::

        x_{t+1} = x_t + \frac{\epsilon}{2} \nabla_x \log p(x_t) + \sqrt{\epsilon}\, z_t,
        \qquad z_t \sim \mathcal N(0, I),

    whose law tends to :math:`p` as :math:`\epsilon \to 0,\ t \to \infty` (Welling & Teh 2011).
    Between well-separated modes it mixes exponentially slowly: each chain stays in the
    basin where it started.

    Parameters
    ----------
    score : callable
        ``score(x)`` returning a tensor of the shape of ``x``.
    x : Tensor, shape (n, d)
        Initial points (n independent chains).
    step_size : float
        :math:`\epsilon > 0`.
    n_steps : int
    generator : None, int or torch.Generator
    progress : bool, optional

    Returns
    -------
    Tensor, shape (n, d)
        The chains after ``n_steps``; device and dtype of ``x``.

    Notes
    -----
    Runs under ``torch.no_grad``. See the chapter
    :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> y = langevin(lambda x: -x, torch.zeros(4000, 1), step_size=0.05, n_steps=300, generator=0)
    >>> abs(float(y.var()) - 1) < 0.1  # N(0, 1) up to O(step) bias
    True
    """
    gen = as_generator(generator)
    eps = float(step_size)
    with torch.no_grad():
        for _ in _bar(range(int(n_steps)), "langevin", progress):
            g = _call_score("langevin", score, x)
            x = x + 0.5 * eps * g + math.sqrt(eps) * randn(*x.shape, generator=gen, device=x.device, dtype=x.dtype)
    return _check_finite("langevin", x)


@validate(score=IsCallable(), x=Tensor(shape=("n", "d"), dtype="floating"),
          sigmas=Tensor(shape=("L",), dtype="floating", low=0, closed="neither"),
          step_size=Real(low=0, closed="neither"), n_steps_each=Integer(low=1), generator=Generator(),
          denoise=Bool(), progress=Bool(optional=True), same=[("x", "sigmas")])
def annealed_langevin(score, x: torch.Tensor, sigmas: torch.Tensor, *, step_size: float = 2e-5,
                      n_steps_each: int = 100, generator=None, denoise: bool = False,
                      progress: bool | None = None) -> torch.Tensor:
    r"""Annealed Langevin dynamics (Algorithm 1 of Song & Ermon 2019).

    For each level :math:`\sigma_1 > \dots > \sigma_L`, with step
    :math:`\alpha_i = \epsilon\, \sigma_i^2 / \sigma_L^2`, run :math:`T` steps

    .. math::

        x \leftarrow x + \frac{\alpha_i}{2}\, s(x, \sigma_i) + \sqrt{\alpha_i}\, z,

    each level starting from the previous level's samples. The step scales like
    :math:`\sigma_i^2` so that the signal-to-noise ratio of the update is the same at every
    level. With ``denoise=True`` a last Tweedie step :math:`x + \sigma_L^2 s(x, \sigma_L)`
    removes the remaining noise of level :math:`\sigma_L` (Jolicoeur-Martineau et al. 2020).

    Parameters
    ----------
    score : callable
        ``score(x, sigma)`` with ``sigma`` a Python float, returning the shape of ``x``:
        the exact :func:`mixture_score` or a trained :class:`NoiseConditionalMLP`.
    x : Tensor, shape (n, d)
        Initial points.
    sigmas : Tensor, shape (L,)
        Noise levels, largest first (:func:`geometric_sigmas`).
    step_size : float
        :math:`\epsilon`, the step at the smallest level.
    n_steps_each : int
        :math:`T`, steps per level.
    generator : None, int or torch.Generator
    denoise : bool
    progress : bool, optional

    Returns
    -------
    Tensor, shape (n, d)

    Notes
    -----
    See the chapter :doc:`Generative models beyond GANs </book/generative>`.

    Examples
    --------
    >>> import torch
    >>> sig = torch.tensor([3.0, 1.0, 0.3])
    >>> s = lambda x, sigma: -x / (1 + sigma**2)  # N(0, I) noised by sigma
    >>> y = annealed_langevin(s, torch.zeros(2000, 1), sig, step_size=0.05, generator=0)
    >>> abs(float(y.var()) - 1.09) < 0.15
    True
    """
    if bool((sigmas[1:] > sigmas[:-1]).any()):
        raise ValueError("annealed_langevin: sigmas must be non-increasing (largest first)")
    gen = as_generator(generator)
    levels = [float(s) for s in sigmas.detach().cpu()]
    last = levels[-1]
    steps = [(sigma, step_size * (sigma / last) ** 2) for sigma in levels for _ in range(int(n_steps_each))]
    with torch.no_grad():
        for sigma, alpha in _bar(steps, "annealed_langevin", progress):
            g = _call_score("annealed_langevin", score, x, sigma)
            x = x + 0.5 * alpha * g + math.sqrt(alpha) * randn(*x.shape, generator=gen, device=x.device,
                                                              dtype=x.dtype)
        if denoise:
            x = x + last**2 * _call_score("annealed_langevin", score, x, last)
    return _check_finite("annealed_langevin", x)
