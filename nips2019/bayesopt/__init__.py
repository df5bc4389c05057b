"""High-dimensional Bayesian optimisation: a small exact GP, expected improvement, BO in learned features.

An exact Gaussian process with an ARD squared-exponential kernel fitted by its marginal
likelihood (optionally on a learned linear projection of the inputs), the expected
improvement acquisition, and a Bayesian-optimisation loop that runs in the full space, in
a random embedding (REMBO) or in a low-dimensional feature space learned from the data
(after Moriconi, Deisenroth & Sesh Kumar 2019), with random search as the floor; Branin
hidden in a high-dimensional box as the test problem. See the chapter
:doc:`Fourier-sparse set functions and high-dimensional BO </book/setfunctions>`.
"""

from ._bo import BRANIN_MINIMUM, BayesOptResult, bayes_opt, embedded_branin, expected_improvement
from ._gp import GaussianProcess, fit_gp, gp_log_marginal_likelihood

__all__ = [
    "BRANIN_MINIMUM",
    "BayesOptResult",
    "GaussianProcess",
    "bayes_opt",
    "embedded_branin",
    "expected_improvement",
    "fit_gp",
    "gp_log_marginal_likelihood",
]
