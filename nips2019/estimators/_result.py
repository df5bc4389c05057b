"""Result containers of the gradient estimators."""

from __future__ import annotations

import dataclasses

import torch

__all__ = ["GaussianGradient", "GradientEstimate"]


@dataclasses.dataclass
class GradientEstimate:
    r"""A Monte Carlo estimate of :math:`\nabla_\theta \mathbb{E}_{p_\theta}[f(x)]` for one parameter.

    Attributes
    ----------
    mean : Tensor, shape (d,)
        The estimate: the average of ``samples`` over the draws.
    samples : Tensor, shape (n_samples, d)
        The single-draw estimates (each one is itself unbiased); their spread is the
        estimator's variance.
    n_evaluations : int
        How many times ``f`` was evaluated at one point (its cost).
    """

    mean: torch.Tensor
    samples: torch.Tensor
    n_evaluations: int

    @property
    def variance(self) -> torch.Tensor:
        """Per-coordinate sample variance of one draw's estimate, shape (d,)."""
        return self.samples.var(dim=0) if self.samples.shape[0] > 1 else torch.zeros_like(self.mean)

    @property
    def stderr(self) -> torch.Tensor:
        """Standard error of ``mean``, shape (d,)."""
        return (self.variance / self.samples.shape[0]).sqrt()


@dataclasses.dataclass
class GaussianGradient:
    r"""Gradient estimates with respect to the mean and the scale of a diagonal Gaussian.

    Attributes
    ----------
    loc : GradientEstimate
        Estimate of :math:`\partial \mathbb{E}[f(x)] / \partial \mu`, shape (d,).
    scale : GradientEstimate
        Estimate of :math:`\partial \mathbb{E}[f(x)] / \partial \sigma`, shape (d,).
    method : str
        ``"score_function"``, ``"pathwise"`` or ``"measure_valued"``.
    """

    loc: GradientEstimate
    scale: GradientEstimate
    method: str


def _from_samples(samples: torch.Tensor, n_evaluations: int) -> GradientEstimate:
    """The estimate whose single-draw estimates are the rows of ``samples``."""
    return GradientEstimate(samples.mean(0), samples, n_evaluations)


def _gaussian(loc_samples, scale_samples, n_evaluations: int, method: str) -> GaussianGradient:
    """Both parts of a Gaussian estimate, each at the same cost."""
    return GaussianGradient(_from_samples(loc_samples, n_evaluations), _from_samples(scale_samples, n_evaluations),
                            method)
