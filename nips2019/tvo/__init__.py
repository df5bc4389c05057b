"""The thermodynamic variational objective: log-evidence as an integral along a geometric path.

Partition schedules (linear, log-spaced, equal spacing in the moment parameter), the
self-normalised estimate of the thermodynamic integrand, the left and right Riemann sums
(the TVO lower and upper bounds, with the ELBO and EUBO as the one-partition case), the
importance-weighted bound, the covariance (score-function) gradient of Masrani, Le & Wood
(2019) as a surrogate loss, a linear-Gaussian model whose whole path is Gaussian in closed
form, and a small Bernoulli VAE trained with ELBO, IWAE or TVO. See the chapter
:doc:`The thermodynamic variational objective </book/tvo>`.
"""

from ._bounds import iwae_bound, moment_schedule, partition_schedule, tvo_bound, tvo_integrand, tvo_surrogate
from ._gaussian import (
    GaussianPathResult,
    ImportanceSample,
    linear_gaussian_importance,
    linear_gaussian_log_evidence,
    linear_gaussian_path,
)
from ._vae import BernoulliVAE, VAEFitResult, estimate_log_likelihood, fit_vae

__all__ = [
    "BernoulliVAE",
    "GaussianPathResult",
    "ImportanceSample",
    "VAEFitResult",
    "estimate_log_likelihood",
    "fit_vae",
    "iwae_bound",
    "linear_gaussian_importance",
    "linear_gaussian_log_evidence",
    "linear_gaussian_path",
    "moment_schedule",
    "partition_schedule",
    "tvo_bound",
    "tvo_integrand",
    "tvo_surrogate",
]
