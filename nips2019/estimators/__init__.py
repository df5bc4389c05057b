"""Monte Carlo gradient estimators: score function, pathwise and measure-valued.

The gradient of an expectation whose distribution depends on the parameter,
:math:`\\nabla_\\theta \\mathbb{E}_{p_\\theta}[f(x)]`, for a black-box batched ``f``:
score-function (with a leave-one-out baseline), pathwise (reparameterisation) and
measure-valued derivatives (Weibull and double-sided Maxwell decompositions) for diagonal
Gaussians, and score-function / measure-valued estimators for Bernoulli and Poisson
variables (Mohamed, Rosca, Figurnov & Mnih 2020; Rosca et al. 2019). See the chapter
:doc:`Gradients and update rules </book/gradients>`.
"""

from ._discrete import bernoulli_gradient, poisson_gradient
from ._gaussian import measure_valued_gradient, pathwise_gradient, score_function_gradient
from ._result import GaussianGradient, GradientEstimate

__all__ = [
    "GaussianGradient",
    "GradientEstimate",
    "bernoulli_gradient",
    "measure_valued_gradient",
    "pathwise_gradient",
    "poisson_gradient",
    "score_function_gradient",
]
