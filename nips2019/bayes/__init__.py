"""The Bayesian learning rule: natural-gradient variational inference for Gaussian posteriors.

One step of the rule (Khan & Rue 2021) with Monte Carlo or delta-method expectations and
exact or squared-gradient curvature covers variational online Newton, VOGN, Newton's method
and an RMSprop-like update; a Gaussian posterior container and the logistic-regression
posterior predictive. See the chapter :doc:`Gradients and update rules </book/gradients>`.
"""

from ._blr import GaussianPosterior, blr_step, logistic_predictive

__all__ = ["GaussianPosterior", "blr_step", "logistic_predictive"]
